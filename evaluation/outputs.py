"""Writing a benchmark's outputs and checking them against a baseline (shared by both uedpo-eval modes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evaluation.benches import Scored, UsageError
from evaluation.regression import compare, format_report
from evaluation.results import atomic_write_json, atomic_write_jsonl, atomic_write_text
from evaluation.tables import result_heading, results_frame, sections_markdown


def write_outputs(scored: Scored, results_path: Path) -> None:
    """results JSON, per-item JSONL, markdown and CSV tables; each written atomically."""
    result = scored.result.to_dict()
    atomic_write_json(results_path, result)
    atomic_write_jsonl(results_path.with_name(results_path.stem + ".items.jsonl"), scored.items)
    atomic_write_text(results_path.with_name("table.md"),
                      f"{result_heading(result)}\n\n{sections_markdown(result)}\n")
    frame = results_frame([(result["bench"], result)])
    frame.insert(0, "variant", result["variant"])  # a CSV row never loses what it measured
    atomic_write_text(results_path.with_name("table.csv"), frame.to_csv())


def check_baseline(result: dict[str, Any], baseline_path: Path, tolerance: float) -> int:
    try:
        baseline = json.loads(baseline_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise UsageError(f"{baseline_path}: cannot read the baseline results JSON ({err}); pass a results.json "
                         "written by uedpo-eval") from None
    report = compare(result, baseline, tolerance)
    print(format_report(report, tolerance))
    return 0 if report.ok else 1
