"""uedpo.interrupts.deferred_sigint: the one Ctrl-C holder of the trainer's checkpoints and uedpo-eval's
results swap (held until the block ends, then handled as the previous handler would)."""

import os
import signal
import time

import pytest

from uedpo.interrupts import deferred_sigint


def _ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.05)


def test_held_until_the_block_ends_then_the_previous_handler_runs():
    seen = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: seen.append("handler"))
    try:
        with deferred_sigint():
            _ctrl_c()
            seen.append("block done")
        assert seen == ["block done", "handler"]
    finally:
        signal.signal(signal.SIGINT, previous)


def test_an_ignored_sigint_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with deferred_sigint():
            _ctrl_c()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_an_error_of_the_block_wins_over_the_held_interrupt():
    with pytest.raises(OSError, match="disk full"), deferred_sigint():
        _ctrl_c()
        raise OSError("disk full")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
