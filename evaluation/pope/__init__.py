"""POPE scorer with official parity (``AoiDragon/POPE`` @ f3ec604337f1d1c9723ef8d01b4accacf8badb3d ``evaluate.py``)
and five peers' parsers as named variants. Pure functions: no model, no judge, no file access (load the data
with ``benchmarks_data.pope``); torch is never imported."""

from evaluation.pope.metrics import ZERO_DIVISION_VALUE, SplitMetrics, split_metrics
from evaluation.pope.parsers import NO, OTHER, PARSERS, YES, parse_answer, plain_form, process_punctuation
from evaluation.pope.score import SPLITS, PopeResult, SplitScore, score_pope, score_split

__all__ = [
    "NO",
    "OTHER",
    "PARSERS",
    "SPLITS",
    "YES",
    "ZERO_DIVISION_VALUE",
    "PopeResult",
    "SplitMetrics",
    "SplitScore",
    "parse_answer",
    "plain_form",
    "process_punctuation",
    "score_pope",
    "score_split",
    "split_metrics",
]
