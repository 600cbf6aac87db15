"""Regression check of a results JSON against a baseline results JSON (``uedpo-eval --baseline``).

Every metric present in both is compared in the direction that is better for it (``HIGHER_IS_BETTER``); a
metric regresses when it is worse than the baseline by more than ``tolerance`` (absolute, in the metric's own
units). Metrics with no known direction are reported but never fail the check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evaluation.results import HIGHER_IS_BETTER
from uedpo.errors import InputError


@dataclass(frozen=True)
class MetricDiff:
    section: str
    metric: str
    baseline: float
    current: float
    higher_is_better: bool | None
    regressed: bool

    @property
    def change(self) -> float:
        return self.current - self.baseline


@dataclass(frozen=True)
class RegressionReport:
    diffs: tuple[MetricDiff, ...]
    missing: tuple[str, ...]  # "section/metric" in the baseline but not in the current results

    @property
    def regressions(self) -> tuple[MetricDiff, ...]:
        return tuple(d for d in self.diffs if d.regressed)

    @property
    def ok(self) -> bool:
        return not self.regressions and not self.missing


def compare(current: Mapping[str, Any], baseline: Mapping[str, Any], tolerance: float = 0.0) -> RegressionReport:
    """Compare two results dicts (the results-JSON schema)."""
    if tolerance < 0:
        raise InputError(f"tolerance: expected a non-negative number, got {tolerance}")
    diffs, missing = [], []
    for section, metrics in baseline["metrics"].items():
        for metric, base in metrics.items():
            cur = current["metrics"].get(section, {}).get(metric)
            if cur is None:
                missing.append(f"{section}/{metric}")
                continue
            better = HIGHER_IS_BETTER.get(metric)
            worse_by = (base - cur) if better else (cur - base)
            regressed = better is not None and worse_by > tolerance
            diffs.append(MetricDiff(section, metric, float(base), float(cur), better, regressed))
    return RegressionReport(tuple(diffs), tuple(missing))


def format_report(report: RegressionReport, tolerance: float) -> str:
    lines = []
    for d in report.regressions:
        direction = "higher" if d.higher_is_better else "lower"
        lines.append(f"REGRESSION {d.section}/{d.metric}: {d.current:g} vs baseline {d.baseline:g} "
                     f"({d.change:+g}; {direction} is better; tolerance {tolerance:g})")
    for name in report.missing:
        lines.append(f"MISSING {name}: in the baseline but not in these results")
    if report.ok:
        lines.append(f"no regression: {len(report.diffs)} metrics within tolerance {tolerance:g} of the baseline")
    return "\n".join(lines)
