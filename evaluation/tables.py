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


def sections_markdown(result: Mapping[str, Any], decimals: int | None = None) -> str:
    """One result as a markdown table: a row per section, a column per metric (with ↑/↓)."""
    metric_names: list[str] = []
    for metrics in result["metrics"].values():
        metric_names += [m for m in metrics if m not in metric_names]
    frame = pd.DataFrame(
        [{"section": s, **{f"{m}{arrow(m)}": v for m, v in ms.items()}} for s, ms in result["metrics"].items()],
        columns=["section", *[f"{m}{arrow(m)}" for m in metric_names]],
    ).set_index("section")
    if decimals is not None:
        frame = frame.round(decimals)
    return frame.to_markdown(floatfmt="g", missingval="")
