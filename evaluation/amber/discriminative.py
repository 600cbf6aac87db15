"""AMBER discriminative scoring (Accuracy, Precision, Recall, F1 with "No" as the positive class).

Source: ``junyangwang0410/AMBER`` @ 534babf6bbfcce2e735c26289dedfb21cef3c939, ``inference.py`` ``main``, the
non-generative branch and the ``de``/``da``/``dr`` print blocks. Official behaviour kept:

* ``response == 'Yes'`` / ``response == 'No'``: exact and case-sensitive. "yes", "No." or " Yes" are wrong
  for both truths and never count as answering "No";
* the pooled "discriminative" counters are their own accumulators (seed 0.001); "attribute" ADDS the
  state + number + action counters, seeds included (denominators start at 0.003);
* every value ``round(x, 1)``; F1 from the ROUNDED P and R, epsilon 0.001 for existence, 0.0001 elsewhere.

:func:`normalize_answer` is an opt-in pre-processing step (the official README leaves normalisation to the
user); results that use it are reported as the variant ``normalized-answers``.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from benchmarks_data.amber_types import AmberAnnotation
from evaluation.amber.constants import (
    ANSWER_NO,
    ANSWER_YES,
    DENOMINATOR_SEED,
    EXISTENCE,
    EXISTENCE_F1_EPSILON,
    F1_EPSILON,
    ROUND_DIGITS,
    SCORE_SEED,
    TRUTH_NO,
    TRUTH_YES,
    bucket_of,
)
from evaluation.amber.records import DiscriminativeRecord


def normalize_answer(response: str) -> str:
    """Opt-in rule: the first whitespace-separated word, stripped of ASCII punctuation, compared
    case-insensitively: "yes" -> ``"Yes"``, "no" -> ``"No"``; anything else is returned unchanged (and so
    stays a non-Yes/No answer). "Yes, there is a dog." -> "Yes"; " no." -> "No"; "Not really" and
    "There is no dog" are unchanged."""
    words = response.split(maxsplit=1)
    first = words[0].strip(string.punctuation).lower() if words else ""
    if first == TRUTH_YES:
        return ANSWER_YES
    if first == TRUTH_NO:
        return ANSWER_NO
    return response


def judge_answer(annotation: AmberAnnotation, response: str, normalize: bool = False) -> DiscriminativeRecord:
    """The official correctness test for one yes/no answer."""
    answer = normalize_answer(response) if normalize else response
    truth = annotation.truth
    correct = (truth == TRUTH_YES and answer == ANSWER_YES) or (truth == TRUTH_NO and answer == ANSWER_NO)
    return DiscriminativeRecord(
        id=annotation.id,
        type=annotation.type,
        bucket=bucket_of(annotation.type),
        truth=str(truth),
        response=response,
        answer=answer,
        correct=correct,
        is_yes_no=answer in (ANSWER_YES, ANSWER_NO),
    )


@dataclass
class DiscriminativeCounters:
    """One bucket's official counters (``*_qa_correct_num`` ... ``*_qa_ans_no_score``), seeded like
    ``data/metrics.txt`` and accumulated item by item in input order."""

    correct_num: float = DENOMINATOR_SEED
    correct_score: int = SCORE_SEED
    no_num: float = DENOMINATOR_SEED
    no_score: int = SCORE_SEED
    ans_no_num: float = DENOMINATOR_SEED
    ans_no_score: int = SCORE_SEED
    items: int = 0
    non_yes_no: int = 0

    def add(self, record: DiscriminativeRecord) -> None:
        self.items += 1
        self.non_yes_no += not record.is_yes_no
        self.correct_num += 1
        self.correct_score += record.correct
        if record.truth == TRUTH_NO:
            self.no_num += 1
            self.no_score += record.answer == ANSWER_NO
        if record.answer == ANSWER_NO:
            self.ans_no_num += 1
            self.ans_no_score += record.truth == TRUTH_NO

    def __add__(self, other: DiscriminativeCounters) -> DiscriminativeCounters:
        """Field-wise sum, as the official attribute block adds the state, number and action counters."""
        return DiscriminativeCounters(
            correct_num=self.correct_num + other.correct_num,
            correct_score=self.correct_score + other.correct_score,
            no_num=self.no_num + other.no_num,
            no_score=self.no_score + other.no_score,
            ans_no_num=self.ans_no_num + other.ans_no_num,
            ans_no_score=self.ans_no_score + other.ans_no_score,
            items=self.items + other.items,
            non_yes_no=self.non_yes_no + other.non_yes_no,
        )


def f1_epsilon(section: str) -> float:
    return EXISTENCE_F1_EPSILON if section == EXISTENCE else F1_EPSILON


def discriminative_metrics(
    counters: DiscriminativeCounters, section: str
) -> tuple[dict[str, float], dict[str, float]]:
    """(printed, raw) metrics of one section. Raw F1 is the official expression before its final rounding,
    i.e. still computed from the rounded P and R."""
    raw = {
        "Accuracy": counters.correct_score / counters.correct_num * 100,
        "Precision": counters.ans_no_score / counters.ans_no_num * 100,
        "Recall": counters.no_score / counters.no_num * 100,
    }
    printed = {name: round(value, ROUND_DIGITS) for name, value in raw.items()}
    p, r = printed["Precision"], printed["Recall"]
    raw["F1"] = 2 * (p / 100) * (r / 100) / ((p / 100) + (r / 100) + f1_epsilon(section)) * 100
    printed["F1"] = round(raw["F1"], ROUND_DIGITS)
    return printed, raw
