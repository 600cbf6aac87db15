"""POPE metrics of one split from parsed predictions and labels, with each scorer's own arithmetic.

Positive = "yes" everywhere. The formulas are written as the sources write them (same operations, same order),
so the floats are bit-identical to the scripts' output:

* ``official``, ``llava``, ``opera`` (``AoiDragon/POPE`` @ f3ec604337f1d1c9723ef8d01b4accacf8badb3d ``evaluate.py``
  l.36-58; LLaVA ``eval_pope.py`` and OPERA ``pope_eval.py`` ``print_acc`` are copies):
  ``P = float(TP)/float(TP+FP)``, ``R = float(TP)/float(TP+FN)``, ``F1 = 2*P*R/(P+R)``,
  ``Acc = (TP+TN)/(TP+TN+FP+FN)``, ``yes_ratio = #pred yes / #answers``.
* ``vcd`` (``DAMO-NLP-SG/VCD`` @ d6568ff81b8fd306a49e630df44f2db5c2300191 ``experiments/eval/eval_pope.py``
  l.52-57): the same P/R/F1; ``Acc = (TP+TN)/len(gt)`` and ``yes = (TP+FP)/len(gt)``.
* ``lmms-eval`` (``EvolvingLMMs-Lab/lmms-eval`` @ 75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3
  ``lmms_eval/tasks/pope/utils.py``): Acc = exact-match share; P counts only ``pred == "yes"``; R's FN needs
  ``pred == "no"`` (unparsed answers on positives leave recall's denominator); guarded to 0. Its
  ``pope_yes_ratio`` is the GROUND-TRUTH yes share: reported here as ``gt_yes_ratio``, never as ``yes_ratio``.
* ``vlmevalkit`` (``open-compass/VLMEvalKit`` @ e8e78f05f3080fe28154f2130321f17951c3be94
  ``vlmeval/dataset/utils/yorn.py`` ``POPE_rating``): Acc = share of answers whose extraction equals the label
  (Unknown is wrong); P/R/F1 with ``y_pred = 1 iff Yes`` (Unknown acts as No); guarded to 0. VLMEvalKit prints
  x100; every parser here reports fractions in 0..1.

``yes_ratio`` is always the model's predicted-yes share (the official definition); VLMEvalKit prints none and
lmms-eval prints the ground-truth share instead (kept as ``gt_yes_ratio``).

Where the official script divides by zero (no predicted positives, no positive labels, P + R = 0) it crashes
with ZeroDivisionError; here the value is :data:`ZERO_DIVISION_VALUE` and the metric is named in
``zero_divisions`` so the result can say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evaluation.pope.parsers import NO, PARSERS, YES
from uedpo.errors import InputError

# A ratio whose denominator is 0 (e.g. precision with no predicted yes). The official script raises
# ZeroDivisionError; lmms-eval and VLMEvalKit return 0, as we do for every parser.
ZERO_DIVISION_VALUE = 0.0
GUARDED_BY_SOURCE = ("lmms-eval", "vlmevalkit")  # their code has the `if ... > 0 else 0` guards


@dataclass(frozen=True)
class SplitMetrics:
    """Counts and ratios of one split. ``unparsed``: answers read as neither yes nor no (lmms-eval's
    non-matching answers, VLMEvalKit's Unknown); always 0 for the other parsers, which read every answer."""

    n: int
    TP: int
    FP: int
    TN: int
    FN: int
    unparsed: int
    accuracy: float
    precision: float
    recall: float
    f1: float
    yes_ratio: float
    gt_yes_ratio: float | None = None
    zero_divisions: tuple[str, ...] = ()


def _ratio(num: float, den: float, name: str, zeros: list[str]) -> float:
    if den == 0:
        zeros.append(name)
        return ZERO_DIVISION_VALUE
    return num / den


def _count(preds: Sequence[str], labels: Sequence[str], pred: str, label: str) -> int:
    return sum(p == pred and g == label for p, g in zip(preds, labels, strict=True))


def split_metrics(preds: Sequence[str], labels: Sequence[str], parser: str = "official") -> SplitMetrics:
    """Metrics of one split: ``preds`` from :func:`~evaluation.pope.parsers.parse_answer`, ``labels``
    "yes"/"no", aligned (the caller matched them by question id)."""
    if parser not in PARSERS:
        raise InputError(f"unknown POPE parser {parser!r}; choose one of: {', '.join(PARSERS)}")
    if len(preds) != len(labels):
        raise InputError(f"{len(preds)} predictions for {len(labels)} labels; match answers to questions first")
    if not preds:
        raise InputError("no answers in this split; the official script divides by zero here")
    if parser == "lmms-eval":
        return _lmms_eval(preds, labels)
    if parser == "vlmevalkit":
        return _vlmevalkit(preds, labels)
    return _official(preds, labels, per_question_denominator=parser == "vcd")


def _official(preds: Sequence[str], labels: Sequence[str], *, per_question_denominator: bool) -> SplitMetrics:
    tp, fp = _count(preds, labels, YES, YES), _count(preds, labels, YES, NO)
    tn, fn = _count(preds, labels, NO, NO), _count(preds, labels, NO, YES)
    zeros: list[str] = []
    precision = _ratio(float(tp), float(tp + fp), "precision", zeros)
    recall = _ratio(float(tp), float(tp + fn), "recall", zeros)
    f1 = _ratio(2 * precision * recall, precision + recall, "f1", zeros)
    if per_question_denominator:  # VCD: accuracy and yes share over len(gt)
        accuracy, yes_ratio = (tp + tn) / len(labels), (tp + fp) / len(labels)
    else:
        accuracy, yes_ratio = (tp + tn) / (tp + tn + fp + fn), list(preds).count(YES) / len(preds)
    return SplitMetrics(n=len(preds), TP=tp, FP=fp, TN=tn, FN=fn, unparsed=0, accuracy=accuracy,
                        precision=precision, recall=recall, f1=f1, yes_ratio=yes_ratio,
                        zero_divisions=tuple(zeros))


def _lmms_eval(preds: Sequence[str], labels: Sequence[str]) -> SplitMetrics:
    tp, fp = _count(preds, labels, YES, YES), _count(preds, labels, YES, NO)
    tn, fn = _count(preds, labels, NO, NO), _count(preds, labels, NO, YES)  # FN needs pred == "no"
    zeros: list[str] = []
    total_score = 0  # pope_aggregate_accuracy: a sum of 1.0 / 0.0 scores over all answers
    for p, g in zip(preds, labels, strict=True):
        total_score += 1.0 if p == g else 0.0
    precision = _ratio(tp, tp + fp, "precision", zeros)
    recall = _ratio(tp, tp + fn, "recall", zeros)
    f1 = _ratio(2 * (precision * recall), precision + recall, "f1", zeros)
    gt_yes, gt_no = list(labels).count(YES), list(labels).count(NO)
    return SplitMetrics(n=len(preds), TP=tp, FP=fp, TN=tn, FN=fn, unparsed=len(preds) - tp - fp - tn - fn,
                        accuracy=total_score / len(preds), precision=precision, recall=recall, f1=f1,
                        yes_ratio=list(preds).count(YES) / len(preds), gt_yes_ratio=gt_yes / (gt_yes + gt_no),
                        zero_divisions=tuple(zeros))


def _vlmevalkit(preds: Sequence[str], labels: Sequence[str]) -> SplitMetrics:
    # y_pred = 1 iff 'Yes': an Unknown answer counts as No in TP/FP/FN (and so in TN here).
    tp, fp = _count(preds, labels, YES, YES), _count(preds, labels, YES, NO)
    fn = sum(p != YES and g == YES for p, g in zip(preds, labels, strict=True))
    tn = sum(p != YES and g == NO for p, g in zip(preds, labels, strict=True))
    zeros: list[str] = []
    precision = _ratio(tp, tp + fp, "precision", zeros)
    recall = _ratio(tp, tp + fn, "recall", zeros)
    f1 = _ratio(2 * (precision * recall), precision + recall, "f1", zeros)
    correct = sum(p == g for p, g in zip(preds, labels, strict=True))  # score = answer == extracted
    return SplitMetrics(n=len(preds), TP=tp, FP=fp, TN=tn, FN=fn, unparsed=sum(p not in (YES, NO) for p in preds),
                        accuracy=correct / len(preds), precision=precision, recall=recall, f1=f1,
                        yes_ratio=list(preds).count(YES) / len(preds), zero_divisions=tuple(zeros))
