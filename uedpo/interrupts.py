"""Holding Ctrl-C (SIGINT) while a block must finish: a checkpoint, a results set being swapped in.

A leaf module (standard library only) so that the trainer and ``uedpo-eval`` share one mechanism.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def deferred_sigint() -> Iterator[None]:
    """SIGINT inside the block is held until the block ends, then handled as it would have been (the default
    handler raises ``KeyboardInterrupt``; an ignored SIGINT stays ignored). If the block itself raises, that
    error propagates and the held interrupt is dropped. Outside the main thread (where Python delivers no
    signals and none can be installed) it does nothing. A SIGKILL cannot be held."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        if callable(previous):
            previous(signal.SIGINT, None)  # default_int_handler raises KeyboardInterrupt
        elif previous == signal.SIG_DFL:
            raise KeyboardInterrupt
