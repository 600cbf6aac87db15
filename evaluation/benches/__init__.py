"""The benchmark registry of ``uedpo-eval``: one :class:`Benchmark` per ``--bench`` name.

A benchmark is one file that wires its loader to its scorer (a responses file in, a :class:`Scored` out), says
what to ask a checkpoint (``items``: prompts, images, generation budgets) and names its sections and variants,
and one line in the ``uedpo.benchmarks`` entry-point group (pyproject.toml) naming that object; the CLI and the
checkpoint runner only look names up here. Built in: ``evaluation.benches.amber`` / ``coco`` / ``mmhal`` /
``pope``, and ShapesWorld's ``benchmarks_data.shapesworld.bench``. Another installed distribution can add
benchmarks the same way, without touching the toolkit. These wiring modules are the only ones that import both
loaders and scorers.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from evaluation.results import BenchResult
from uedpo.errors import InputError


@dataclass
class Scored:
    """A benchmark result, its per-item rows (for the per-item JSONL) and lines to print after the table."""

    result: BenchResult
    items: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)


class UsageError(InputError):
    """Bad input or options; the CLI prints the one-line message and exits with code 2."""


PARTIAL_FIX = "pass --allow-partial to score the answered items (the result is then labelled partial n/N)"
ENTRY_POINT_GROUP = "uedpo.benchmarks"


@dataclass(frozen=True)
class Benchmark:
    """One ``--bench`` value. Hooks take ``(bench, opts, ...)`` so one file can serve several names."""

    name: str
    # loader + scorer: ``score_file(bench, responses_path, opts, out_dir) -> Scored``
    score_file: Callable[..., Scored]
    # what to ask a checkpoint: ``items(bench, opts) -> list[GenItem]``; None: responses files only
    items: Callable[..., list] | None = None
    loader: Callable | None = None  # the loader that reads a responses file (benchmarks_data), for reference
    scorer: Callable | None = None  # the pure scorer it feeds (evaluation.<bench>), for reference
    prompt: str | None = None  # the generation prompt; None when each item brings its own (a dataset's question)
    max_new_tokens: int | Mapping[str, int] | None = None  # generation budget (per part where it has parts)
    sections: tuple[str, ...] = ()  # the result's metric sections, in printed order
    variants: tuple[str, ...] = ("official",)  # the scorer variants it can report (each result names its own)
    family: str | None = None  # names whose responses files score each other (AMBER's parts): the same family
    # built-in data: write it and set opts.image_dir before items are read: ``prepare(bench, opts)``
    prepare: Callable[..., None] | None = None
    # scores only the model can give (ShapesWorld's yes/no margins): ``model_scores(adapter, bench, items,
    # opts, bench_dir)``, after generation and before scoring
    model_scores: Callable[..., None] | None = None
    needs_judge: bool = False  # an LLM judge (or its cached replies) is needed to score checkpoint answers
    # blind spots (evaluation.blindspots): ``blindspot_cases(rows, bench, opts)`` -> a function from a per-item
    # row to ``(object cases, unlocated words)``; None: no object annotations to probe
    blindspot_cases: Callable[..., Callable] | None = None
    # the benchmark's own command-line options: ``add_arguments(parser)`` adds an argument group to uedpo-eval
    # (once per function, so names sharing a file share it) and ``check_options(opts)`` checks them before
    # anything is read (UsageError)
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    check_options: Callable[[argparse.Namespace], None] | None = None


@lru_cache(maxsize=1)
def _declared() -> dict[str, object]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def benchmark_names() -> tuple[str, ...]:
    """Every registered ``--bench`` name (read from the entry points; nothing is imported)."""
    return tuple(_declared())


@cache
def get_benchmark(bench: str) -> Benchmark:
    """The registered :class:`Benchmark` called ``bench`` (its module is imported on first use)."""
    entry = _declared().get(bench)
    if entry is None:
        raise UsageError(f"--bench {bench}: no such benchmark; use one of {', '.join(benchmark_names())}")
    found = entry.load()
    if not isinstance(found, Benchmark) or found.name != bench:
        raise TypeError(f"entry point {ENTRY_POINT_GROUP}:{bench} = {entry.value} is not the Benchmark {bench!r}")
    return found


def family(bench: str) -> str:
    """The family of ``bench`` (itself unless its entry names one); unknown names are their own family."""
    if bench not in _declared():
        return bench
    return get_benchmark(bench).family or bench


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


def check_input_file(path: Path, flag: str) -> None:
    """An input file that exists, is a file and can be read (its content is the loaders' to check)."""
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a directory; pass the file")
    try:
        with open(path, "rb") as f:
            f.read(1)
    except FileNotFoundError:
        raise UsageError(f"{flag} {path}: not found; check the path") from None
    except OSError as err:
        raise UsageError(f"{flag} {path}: cannot read it ({err.strerror}); check its permissions") from None
