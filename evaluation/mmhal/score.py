"""MMHal-Bench scoring: judge replies -> average score, hallucination rate, per-type averages.

Official source: ``llava-rlhf/LLaVA-RLHF`` @ 830a083fd83e607da3c35f2e6aef833523c1e722,
``Eval/summarize_gpt_mmhal.py`` (the same code ends ``Eval/eval_gpt_mmhal.py``; forks ``RLHF-V/RLHF-V``
@ 8daac8a and ``RLHF-V/RLAIF-V`` @ 83d917b ``eval/eval_gpt_mmhal.py``):

* each reply is parsed by :func:`evaluation.mmhal.parse.parse_rating` (unparseable -> 0);
* hallucination = ``score < 3``, so an unparseable reply counts as a hallucination;
* score and hallucination rate are plain means over all items;
* per-type averages: the official takes the type from the POSITION, ``question_type = i % 8`` ("assuming
  order of 96 questions is not changed"). Here the type comes from each record's ``question_type`` field,
  so a reordered file is still scored correctly. On the official template the two agree (the template is
  ordered so that position mod 8 gives the type); ``MMHalResult.types_follow_official_order`` says whether
  they agree for the records given, i.e. whether the official script would give the same per-type row.

Known deviations (input handling only, never the numbers on the official layout): the official asserts
exactly 96 records (the loader checks that; the scorer accepts any non-empty list so subsets can be scored,
and omits a type with no items from ``by_type``), and the official only prints a warning for an unparseable
reply where this module also counts them (``n_unparseable``).

All values in the result are unrounded. The official printout rounds (``{:.2f}`` for score and rate,
``round(x, 2)`` per type); :func:`official_printout` reproduces it for display.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from evaluation.mmhal.parse import parse_rating
from evaluation.results import BenchResult
from uedpo.errors import InputError

# Official order of the per-type row (position i in the template has type QUESTION_TYPES[i % 8]).
QUESTION_TYPES: tuple[str, ...] = (
    "attribute", "adversarial", "comparison", "counting", "relation", "environment", "holistic", "other",
)
# Official: `if s >= 3: hallucination.append(0) else: hallucination.append(1)`.
HALLUCINATION_BELOW = 3
# Official printout decimals; RLAIF-V prints the hallucination rate with 3.
OFFICIAL_DECIMALS = 2

# The judge of the published numbers (LLaVA-RLHF's eval_gpt_mmhal.py: `model='gpt-4-0314'`); a result is
# labelled "official" only when every reply was served by this snapshot.
OFFICIAL_JUDGE = "gpt-4-0314"
UNKNOWN_JUDGE = "unknown"

SECTION = "mmhal"
SECTION_BY_TYPE = "mmhal_by_type"


class ScoredRecord(Protocol):
    """What scoring needs from a record (``benchmarks_data.mmhal.MMHalRecord`` satisfies it)."""

    index: int
    question_type: str


@dataclass(frozen=True)
class MMHalItem:
    """One scored item. ``index`` is the record's index in the official template (its id)."""

    index: int
    question_type: str
    score: int
    hallucinated: bool
    parseable: bool
    review: str


@dataclass(frozen=True)
class MMHalResult:
    score: float
    hallucination_rate: float
    by_type: dict[str, float]
    n_items: int
    n_unparseable: int
    types_follow_official_order: bool
    items: tuple[MMHalItem, ...]

    def metrics(self) -> dict[str, dict[str, float]]:
        """The results-schema sections, unrounded."""
        return {
            SECTION: {"score": self.score, "hallucination_rate": self.hallucination_rate},
            SECTION_BY_TYPE: dict(self.by_type),
        }

    def to_bench_result(self, config: dict[str, Any] | None = None, **fields: Any) -> BenchResult:
        """A :class:`BenchResult`; ``config`` also records the unparseable count (never hidden)."""
        config = {**(config or {}), "n_unparseable": self.n_unparseable}
        return BenchResult(bench=SECTION, metrics=self.metrics(), n_items=self.n_items, config=config, **fields)


def judge_variant(requested: str | None, served: Sequence[str]) -> str:
    """``official`` only when every reply came from :data:`OFFICIAL_JUDGE`; else ``judge:<served model(s)>``.

    The served model (the API's ``model`` field) is what judged, whatever was requested; when no reply says,
    the requested name is given with ``(served unknown)``, and saved replies without either are ``judge:unknown``.
    """
    served = sorted(set(served))
    if served == [OFFICIAL_JUDGE]:
        return "official"
    if served:
        return "judge:" + "+".join(served)
    return f"judge:{requested}(served unknown)" if requested else f"judge:{UNKNOWN_JUDGE}"


def official_type_of_position(position: int) -> str:
    """The type the official script assumes for the record at ``position`` (``i % 8``)."""
    return QUESTION_TYPES[position % len(QUESTION_TYPES)]


def score_item(record: ScoredRecord, review: str) -> MMHalItem:
    """Score one judge reply for ``record``."""
    if record.question_type not in QUESTION_TYPES:
        raise InputError(
            f"MMHal item {record.index}: unknown question_type {record.question_type!r}; "
            f"expected one of {', '.join(QUESTION_TYPES)} (use the official template's records)"
        )
    parsed = parse_rating(review)
    return MMHalItem(
        index=record.index, question_type=record.question_type, score=parsed.score,
        hallucinated=parsed.score < HALLUCINATION_BELOW, parseable=parsed.parseable, review=review,
    )


def aggregate(items: Sequence[MMHalItem]) -> MMHalResult:
    """Means over ``items`` (in the order given, which is the order the judge saw them)."""
    if not items:
        raise InputError("MMHal: no items to score; pass the 96 records and their judge replies")
    by_type = {}
    for qtype in QUESTION_TYPES:
        scores = [it.score for it in items if it.question_type == qtype]
        if scores:
            by_type[qtype] = sum(scores) / len(scores)
    n = len(items)
    return MMHalResult(
        score=sum(it.score for it in items) / n,
        hallucination_rate=sum(it.hallucinated for it in items) / n,
        by_type=by_type,
        n_items=n,
        n_unparseable=sum(not it.parseable for it in items),
        types_follow_official_order=all(
            it.question_type == official_type_of_position(pos) for pos, it in enumerate(items)
        ),
        items=tuple(items),
    )


def score_mmhal(records: Sequence[ScoredRecord], reviews: Sequence[str]) -> MMHalResult:
    """Score judge replies ``reviews`` aligned by position with ``records`` (as the official saves them)."""
    if len(records) != len(reviews):
        raise InputError(
            f"MMHal: {len(reviews)} judge replies for {len(records)} records; "
            "the replies must be aligned one-to-one with the responses (re-run the judge or fix the file)"
        )
    return aggregate([score_item(rec, rev) for rec, rev in zip(records, reviews, strict=True)])


def official_printout(result: MMHalResult, rate_decimals: int = OFFICIAL_DECIMALS) -> list[str]:
    """The three lines the official script prints, byte for byte (``rate_decimals=3`` for RLAIF-V).

    Per-type values use ``str(round(x, 2))`` as the official does, so 1.5 prints as ``1.5``, not ``1.50``.
    """
    per_type = ",".join(str(round(result.by_type[t], OFFICIAL_DECIMALS)) for t in QUESTION_TYPES
                        if t in result.by_type)
    return [
        f"Average score: {result.score:.{OFFICIAL_DECIMALS}f}",
        f"Hallucination rate: {result.hallucination_rate:.{rate_decimals}f}",
        f"Average score for each question type: {per_type}",
    ]


def rounded_metrics(result: MMHalResult, decimals: int = OFFICIAL_DECIMALS) -> dict[str, dict[str, float]]:
    """``result.metrics()`` rounded for display (the stored results stay unrounded)."""
    return {sec: {k: round(v, decimals) for k, v in vals.items()} for sec, vals in result.metrics().items()}
