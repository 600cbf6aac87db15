"""The one results schema every benchmark writes (files are written through :mod:`uedpo.io`).

A results JSON looks like::

    {"bench": "amber", "metrics": {"generative": {"CHAIR": 7.8, ...}, ...},
     "n_items": 15220, "variant": "official", "config": {...},
     "versions": {"uedpo": "0.1.0", "uedpo_git": "<sha>", "nltk": "3.10.4", ...}, "data_sha256": {...},
     "date": "2026-12-04T01:00:00+00:00", "model": {"ckpt": {...}, "adapter": {...}} or null}

``variant`` names everything that is not the official protocol (a parser, a similarity backend, a judge other
than the official snapshot, ``+partial:n/N`` coverage); :mod:`evaluation.provenance` fills ``date``,
``versions`` and ``model``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Direction of every metric name used in results; the table prints ↑/↓ and the regression
# check compares in this direction.
HIGHER_IS_BETTER: dict[str, bool] = {
    "CHAIR": False, "Cover": True, "Hal": False, "Cog": False,
    "Accuracy": True, "Precision": True, "Recall": True, "F1": True,
    "CHAIRs": False, "CHAIRi": False,  # CHAIR Len has no better direction: reported, never gated
    "score": True, "hallucination_rate": False,
    # MMHal per-type averages (0-6 ratings)
    "attribute": True, "adversarial": True, "comparison": True, "counting": True,
    "relation": True, "environment": True, "holistic": True, "other": True,
    # ShapesWorld (benchmarks_data.shapesworld.metrics): co-occurrence hallucination, coverage, yes/no by role and by margin
    "target_rate": False, "other_rate": False, "coverage": True, "CHAIRs_breaking": False,
    "target_fp": False, "absent_fp": False, "present_tp": True,
    "target_fp_margin": False, "absent_fp_margin": False, "present_tp_margin": True,
    "margin_Accuracy": True, "margin_Precision": True, "margin_Recall": True, "margin_F1": True,
    # POPE means over the splits scored (yes_ratio, gt_yes_ratio and the counts have no better direction)
    "F1_mean": True, "Accuracy_mean": True, "Precision_mean": True, "Recall_mean": True,
}


@dataclass
class BenchResult:
    bench: str
    metrics: dict[str, dict[str, float]]
    n_items: int
    variant: str = "official"
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    data_sha256: dict[str, str] = field(default_factory=dict)
    date: str | None = None
    model: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "bench": self.bench, "metrics": self.metrics, "n_items": self.n_items,
            "variant": self.variant, "config": self.config, "versions": self.versions,
            "data_sha256": self.data_sha256, "date": self.date, "model": self.model,
        }
