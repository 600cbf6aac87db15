"""``score_split`` / ``score_pope``: POPE per split and the mean over splits, as a :class:`PopeResult`.

Parsing: :mod:`evaluation.pope.parsers`; arithmetic: :mod:`evaluation.pope.metrics` (each parser's source is
named there). Sections of the results file: ``pope_random``, ``pope_popular``, ``pope_adversarial`` (the splits
present) and ``pope`` (means over those splits; LLaVA-style papers report ``F1_mean``, "F1 (mean of 3 splits)",
e.g. LLaVA-1.5-13B's 85.9 in ``haotian-liu/LLaVA`` docs/MODEL_ZOO.md).

How much the parser decides, per split: ``non_plain_answers`` counts answers that are neither a plain "yes" nor
a plain "no" (:func:`~evaluation.pope.parsers.plain_form`: ``strip()``, one trailing "." removed, case-folded);
``yes_not_plain_yes`` counts answers the parser reads as yes that are not a plain "yes", e.g. "NO", "Nope",
"Not sure", "I cannot tell", "Yes, there is a dog" under the official parser, whose default is yes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evaluation.pope.metrics import GUARDED_BY_SOURCE, ZERO_DIVISION_VALUE, SplitMetrics, split_metrics
from evaluation.pope.parsers import PARSERS, YES, parse_answer, plain_form
from evaluation.results import BenchResult
from uedpo.errors import InputError

SPLITS = ("random", "popular", "adversarial")  # the POPE paper's order
SECTION_PREFIX = "pope_"
SUMMARY_SECTION = "pope"
VARIANT_OFFICIAL = "official"
MEANS = (("F1_mean", "f1"), ("Accuracy_mean", "accuracy"), ("Precision_mean", "precision"),
         ("Recall_mean", "recall"))
FRACTIONS_NOTE = "all ratios are fractions in 0..1 (VLMEvalKit prints them x100)"


@dataclass(frozen=True)
class SplitScore:
    """One split: metrics, the parsed prediction per answer (input order) and the parser-decides counts."""

    metrics: SplitMetrics
    predictions: tuple[str, ...]
    non_plain_answers: int
    yes_not_plain_yes: int

    def section(self) -> dict[str, float]:
        m = self.metrics
        row: dict[str, float] = {"Accuracy": m.accuracy, "Precision": m.precision, "Recall": m.recall, "F1": m.f1,
                                 "yes_ratio": m.yes_ratio}
        if m.gt_yes_ratio is not None:
            row["gt_yes_ratio"] = m.gt_yes_ratio
        row.update(TP=m.TP, FP=m.FP, TN=m.TN, FN=m.FN, unparsed=m.unparsed, n=m.n,
                   non_plain_answers=self.non_plain_answers, yes_not_plain_yes=self.yes_not_plain_yes)
        return row


@dataclass(frozen=True)
class PopeResult:
    parser: str
    data_version: str
    splits: dict[str, SplitScore]  # present splits, in SPLITS order
    means: dict[str, float]  # F1_mean, Accuracy_mean, Precision_mean, Recall_mean over the present splits
    notes: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        return sum(s.metrics.n for s in self.splits.values())

    @property
    def variant(self) -> str:
        base = VARIANT_OFFICIAL if self.parser == "official" else f"parser:{self.parser}"
        return base + ("" if self.data_version == "official" else f"+data:{self.data_version}")

    def metrics(self) -> dict[str, dict[str, float]]:
        sections = {f"{SECTION_PREFIX}{name}": score.section() for name, score in self.splits.items()}
        summary = dict(self.means)
        summary["non_plain_answers"] = sum(s.non_plain_answers for s in self.splits.values())
        summary["yes_not_plain_yes"] = sum(s.yes_not_plain_yes for s in self.splits.values())
        return {**sections, SUMMARY_SECTION: summary}

    def to_bench_result(self, data_sha256: dict[str, str] | None = None,
                        versions: dict[str, str] | None = None) -> BenchResult:
        config = {**self.config, "parser": self.parser, "data": self.data_version, "splits": list(self.splits),
                  "notes": list(self.notes)}
        return BenchResult(bench="pope", metrics=self.metrics(), n_items=self.n_items, variant=self.variant,
                           config=config, versions=dict(versions or {}), data_sha256=dict(data_sha256 or {}))


def score_split(texts: Sequence[str], labels: Sequence[str], *, parser: str = "official") -> SplitScore:
    """Parse every answer with ``parser`` and compute the split's metrics (answers aligned with labels)."""
    if parser not in PARSERS:
        raise InputError(f"unknown POPE parser {parser!r}; choose one of: {', '.join(PARSERS)}")
    preds = tuple(parse_answer(parser, t, g) for t, g in zip(texts, labels, strict=True))
    plain = [plain_form(t) for t in texts]
    return SplitScore(
        metrics=split_metrics(preds, labels, parser),
        predictions=preds,
        non_plain_answers=sum(p is None for p in plain),
        yes_not_plain_yes=sum(pred == YES and form != YES for pred, form in zip(preds, plain, strict=True)),
    )


def score_pope(answers_by_split: Mapping[str, Sequence[tuple[str, str]]], *, parser: str = "official",
               data_version: str = "official") -> PopeResult:
    """``answers_by_split``: ``{split: [(answer text, label), ...]}`` for one or more splits. Splits with no
    answers are left out; at least one answer is needed. ``data_version`` only names the result's variant."""
    unknown = sorted(set(answers_by_split) - set(SPLITS))
    if unknown:
        raise InputError(f"unknown POPE split(s) {', '.join(unknown)}; choose from {', '.join(SPLITS)}")
    splits = {name: score_split([t for t, _ in answers_by_split[name]], [g for _, g in answers_by_split[name]],
                                parser=parser)
              for name in SPLITS if answers_by_split.get(name)}
    if not splits:
        raise InputError("no POPE answers to score")
    means = {name: math.fsum(getattr(s.metrics, attr) for s in splits.values()) / len(splits)
             for name, attr in MEANS}
    return PopeResult(parser=parser, data_version=data_version, splits=splits, means=means,
                      notes=tuple(_notes(parser, splits)))


def _notes(parser: str, splits: Mapping[str, SplitScore]) -> list[str]:
    notes = [FRACTIONS_NOTE]
    for name, score in splits.items():
        if score.metrics.zero_divisions:
            what = ", ".join(score.metrics.zero_divisions)
            source = ("as its source does" if parser in GUARDED_BY_SOURCE
                      else "where the official script raises ZeroDivisionError")
            notes.append(f"{name}: {what} divided by zero; reported as {ZERO_DIVISION_VALUE} ({source})")
    if parser == "lmms-eval":
        notes.append("lmms-eval's pope_yes_ratio is the ground-truth yes share: reported as gt_yes_ratio; "
                     "yes_ratio is the model's predicted-yes share")
    return notes
