"""Benchmark tables: one row per run, one column per (section, metric), with ↑/↓ from ``HIGHER_IS_BETTER``.

Pure functions from result dicts (the results-JSON schema) to pandas frames and text; the CLI prints and
writes them (markdown, CSV).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from evaluation.results import HIGHER_IS_BETTER


def arrow(metric: str) -> str:
    better = HIGHER_IS_BETTER.get(metric)
    return "" if better is None else ("↑" if better else "↓")


def column_name(section: str, metric: str) -> str:
    return f"{section}/{metric}{arrow(metric)}"


def results_frame(rows: Sequence[tuple[str, Mapping[str, Any]]]) -> pd.DataFrame:
    """A frame indexed by run name with one column per section/metric, in first-seen order."""
    records, columns = [], []
    for _, result in rows:
        for section, metrics in result["metrics"].items():
            for metric in metrics:
                col = column_name(section, metric)
                if col not in columns:
                    columns.append(col)
    for name, result in rows:
        flat = {column_name(s, m): v for s, ms in result["metrics"].items() for m, v in ms.items()}
        records.append({"run": name, **flat})
    return pd.DataFrame.from_records(records, columns=["run", *columns]).set_index("run")


def result_heading(result: Mapping[str, Any]) -> str:
    """``bench: N items, variant V`` with a plain PARTIAL warning when only part of the benchmark was scored."""
    line = f"{result['bench']}: {result['n_items']} items, variant {result['variant']}"
    coverage = (result.get("config") or {}).get("coverage")
    if coverage:
        line += f" (PARTIAL: {coverage['n']} of {coverage['of']} items answered; not comparable with full runs)"
    return line


def sections_markdown(result: Mapping[str, Any], decimals: int | None = None) -> str:
    """One result as markdown: sections with the same metrics share a table (row per section, ↑/↓ columns)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for section, metrics in result["metrics"].items():
        groups.setdefault(tuple(metrics), []).append(section)
    tables = []
    for metric_names, sections in groups.items():
        frame = pd.DataFrame(
            [[result["metrics"][s][m] for m in metric_names] for s in sections],
            index=pd.Index(sections, name="section"), columns=[f"{m}{arrow(m)}" for m in metric_names],
        )
        if decimals is not None:
            frame = frame.round(decimals)
        tables.append(frame.to_markdown(floatfmt="g"))
    return "\n\n".join(tables)
