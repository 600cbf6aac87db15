"""One module per benchmark that wires loaders to scorers for ``uedpo-eval`` (files in, a :class:`Scored` out).

Each module exposes ``score_file(path, opts) -> Scored`` and, for generation, ``items(opts)`` (what to ask the
model); the CLI only dispatches. These are the only modules that import both loaders and scorers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
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


# Benchmarks whose responses files are interchangeable (AMBER's parts score each other's files).
BENCH_FAMILY = {"amber-g": "amber", "amber-d": "amber"}
PARTIAL_FIX = "pass --allow-partial to score the answered items (the result is then labelled partial n/N)"


def family(bench: str) -> str:
    return BENCH_FAMILY.get(bench, bench)


def _written_for(path: Path) -> tuple[str, str] | None:
    """``(bench, evidence)`` when ``path`` says which benchmark it was written for, else None.

    Evidence: the settings file ``uedpo-eval --ckpt`` keeps beside its ``responses.jsonl``, or a ``bench`` field
    in the rows (new ``responses.jsonl`` rows and every ``results.items.jsonl`` row carry one). Unreadable
    files are left to the loaders, which report them properly.
    """
    settings = path.with_name(path.stem + ".settings.json")
    try:
        bench = json.loads(settings.read_text(encoding="utf-8")).get("bench")
        if isinstance(bench, str):
            return bench, str(settings)
    except (OSError, ValueError, AttributeError):
        pass
    try:
        text = path.read_text(encoding="utf-8")
        rows = json.loads(text) if path.suffix == ".json" else [json.loads(ln) for ln in text.splitlines()
                                                                  if ln.strip()]
    except (OSError, ValueError, RecursionError):
        return None
    for n, row in enumerate(rows if isinstance(rows, list) else []):
        if isinstance(row, dict) and isinstance(row.get("bench"), str):
            return row["bench"], f"row {n + 1}"
    return None


def check_written_for(path: str | Path, bench: str) -> None:
    """Refuse a responses file that ``uedpo-eval`` wrote for another benchmark (it would score with exit 0)."""
    found = _written_for(Path(path))
    if found and family(found[0]) != family(bench):
        raise UsageError(f"{path}: written by uedpo-eval for --bench {found[0]} ({found[1]}), not for "
                         f"--bench {bench}; score it with --bench {found[0]} or pass the {bench} responses")


def check_coverage(path: str | Path, bench: str, answered: int, expected: int, missing: Sequence[Any],
                   opts: Any) -> dict[str, Any] | None:
    """None for a complete file; the coverage record of an allowed partial one; else :class:`UsageError`."""
    if answered >= expected:
        return None
    shown = ", ".join(map(str, list(missing)[:5])) + (", ..." if len(missing) > 5 else "")
    if not getattr(opts, "allow_partial", False):
        raise UsageError(f"{path}: answers {answered} of the {expected} {bench} items (missing: {shown}); "
                         + PARTIAL_FIX)
    return {"n": answered, "of": expected, "n_missing": len(missing), "missing": list(missing)[:50]}


def label_partial(result: BenchResult, coverage: dict[str, Any] | None) -> BenchResult:
    """Name a partial result as such in its variant and config (tables print the variant)."""
    if coverage:
        result.variant = f"{result.variant}+partial:{coverage['n']}/{coverage['of']}"
        result.config["coverage"] = coverage
    return result


def bench_module(bench: str):
    """The ``evaluation.benches`` module that scores ``bench``."""
    if bench.startswith("amber"):
        from evaluation.benches import amber as module
    elif bench == "mmhal":
        from evaluation.benches import mmhal as module
    elif bench in ("chair", "objhal"):
        from evaluation.benches import coco as module
    elif bench in ("shapes", "shapes-faint"):
        from evaluation.benches import shapes as module
    elif bench == "pope":
        from evaluation.benches import pope as module
    else:
        raise UsageError(f"--bench {bench}: scoring a responses file is not supported for this benchmark")
    return module
