"""One module per benchmark that wires loaders to scorers for ``uedpo-eval`` (files in, a :class:`Scored` out).

Each module exposes ``score_file(path, opts) -> Scored`` and, for generation, ``items(opts)`` (what to ask the
model); the CLI only dispatches. These are the only modules that import both loaders and scorers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evaluation.results import BenchResult


@dataclass
class Scored:
    """A benchmark result, its per-item rows (for the per-item JSONL) and lines to print after the table."""

    result: BenchResult
    items: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)


class UsageError(ValueError):
    """Bad input or options; the CLI prints the one-line message and exits with code 2."""


def bench_module(bench: str):
    """The ``evaluation.benches`` module that scores ``bench``."""
    if bench.startswith("amber"):
        from evaluation.benches import amber as module
    elif bench == "mmhal":
        from evaluation.benches import mmhal as module
    elif bench in ("chair", "objhal"):
        from evaluation.benches import coco as module
    elif bench == "shapes":
        from evaluation.benches import shapes as module
    else:
        raise UsageError(f"--bench {bench}: scoring a responses file is not supported for this benchmark")
    return module
