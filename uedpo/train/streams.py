"""On-the-fly training streams by name (``data: NAME`` or ``data: NAME:OPTIONS``), registered by their owners.

The trainer knows no benchmark: a stream is a factory ``(options) -> IterableDataset`` of
:class:`uedpo.train.data.StreamRow` (``options`` is the text after the first ``:``, "" when none). A package
registers one with :func:`register_stream`, or declares it in the ``uedpo.train_streams`` entry-point group of
its distribution, which is how the built-in ShapesWorld stream (``data: shapesworld[:seed=N]``,
:mod:`benchmarks_data.shapesworld.stream`) is found without the trainer importing it by name::

    [project.entry-points."uedpo.train_streams"]
    shapesworld = "benchmarks_data.shapesworld.stream:stream"
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

ENTRY_POINT_GROUP = "uedpo.train_streams"

StreamFactory = Callable[[str], Any]
_REGISTERED: dict[str, StreamFactory] = {}


def register_stream(name: str, factory: StreamFactory) -> None:
    """Make ``data: name[:options]`` build ``factory(options)``."""
    if not name or ":" in name:
        raise ValueError(f"stream name {name!r}: give a non-empty name without ':'")
    _REGISTERED[name] = factory


@lru_cache(maxsize=1)
def _declared() -> dict[str, Any]:
    """Entry points of installed distributions, read once per process."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def stream_names() -> list[str]:
    return sorted({*_REGISTERED, *_declared()})


def stream_name(data: str) -> str | None:
    """The registered stream ``data`` names, or None (then ``data`` is a file, a folder or a hub id)."""
    name = data.partition(":")[0]
    return name if name in _REGISTERED or name in _declared() else None


def open_stream(data: str):
    """The ``IterableDataset`` that ``data`` (``NAME[:OPTIONS]``) names; ``KeyError`` when none does."""
    name, _, options = data.partition(":")
    factory = _REGISTERED.get(name)
    if factory is None:
        factory = _declared()[name].load()
    return factory(options)
