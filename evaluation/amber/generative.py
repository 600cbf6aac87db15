"""AMBER generative scoring (CHAIR, Cover, Hal, Cog), with the official order of operations.

Source: ``junyangwang0410/AMBER`` @ 534babf6bbfcce2e735c26289dedfb21cef3c939, ``inference.py`` ``main``, the
``ground_truth[id-1]['type'] == 'generative'`` branch and the ``dimension['g']`` print block. Per answer:

1. candidate mentions = lemmatised nouns that are in the vocabulary (keys and values of ``relation.json``),
   duplicates kept, case kept;
2. ``safe_words`` = association words of truth[0], truth[1], ..., then the truth words; ``ha_words`` likewise
   from ``hallu``. Each entry belongs to one object (its "owner"); a match sets the owner's flag. Only the
   FIRST match in list order counts, so a duplicated truth word can only ever cover its first copy;
3. per mention: (a) a global safe word is skipped (still in CHAIR's denominator); (b) exactly in
   ``safe_words`` -> cover flag, next mention; (c) exactly in ``ha_words`` -> Cog flag, NO ``continue``;
   (d) first ``ha_words`` entry with similarity > threshold -> Cog flag (may be a different object than c);
   (e) first ``safe_words`` entry with similarity > threshold -> cover flag, not hallucinated; (f) else
   hallucinated.

A mention's decision depends only on the word and the answer's lists, and flags are only ever set, so each
distinct word is decided once per answer and its record reused for repeats (same flags, same counts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from benchmarks_data.amber_types import AmberAnnotation, AmberData
from evaluation.amber.constants import DENOMINATOR_SEED, ROUND_DIGITS, SCORE_SEED
from evaluation.amber.records import (
    EXACT_SAFE,
    GLOBAL_SAFE,
    HALLUCINATED,
    SIMILAR_SAFE,
    GenerativeRecord,
    MentionRecord,
)
from evaluation.amber.similarity import SimilarWords
from uedpo.errors import InputError


@dataclass(frozen=True)
class _Expanded:
    """``words`` (association words of every object, then the objects) and each word's owner index."""

    words: tuple[str, ...]
    owners: tuple[int, ...]
    first_index: Mapping[str, int]


def _expand(item_id: int, objects: Sequence[str], association: Mapping[str, Sequence[str]]) -> _Expanded:
    words: list[str] = []
    owners: list[int] = []
    for owner, obj in enumerate(objects):
        if obj not in association:
            raise InputError(
                f"AMBER id {item_id}: object {obj!r} is not a key of relation.json; "
                "use the official annotations.json and relation.json together"
            )
        words += association[obj]
        owners += [owner] * len(association[obj])
    words += objects
    owners += range(len(objects))
    first_index: dict[str, int] = {}
    for index, word in enumerate(words):
        first_index.setdefault(word, index)
    return _Expanded(tuple(words), tuple(owners), first_index)


def score_generative_item(
    annotation: AmberAnnotation,
    nouns: Sequence[str],
    data: AmberData,
    similar: SimilarWords,
) -> GenerativeRecord:
    """Decide every candidate mention of one answer (``nouns``: its lemmatised nouns, in order)."""
    truth, hallu = tuple(annotation.truth), annotation.hallu
    safe = _expand(annotation.id, truth, data.association)
    ha = _expand(annotation.id, hallu, data.association)
    covered = [False] * len(truth)
    cog = [False] * len(hallu)
    decided: dict[str, MentionRecord] = {}
    mentions = []
    for word in nouns:
        if word not in data.vocabulary:
            continue
        record = decided.get(word)
        if record is None:
            record = decided[word] = _decide(word, truth, hallu, safe, ha, covered, cog, data, similar)
        mentions.append(record)
    return GenerativeRecord(
        id=annotation.id,
        nouns=tuple(nouns),
        mentions=tuple(mentions),
        truth=truth,
        hallu=hallu,
        covered=tuple(covered),
        cog=tuple(cog),
    )


def _decide(
    word: str,
    truth: Sequence[str],
    hallu: Sequence[str],
    safe: _Expanded,
    ha: _Expanded,
    covered: list[bool],
    cog: list[bool],
    data: AmberData,
    similar: SimilarWords,
) -> MentionRecord:
    if word in data.safe_words:  # (a)
        return MentionRecord(word, GLOBAL_SAFE)
    index = safe.first_index.get(word)  # (b)
    if index is not None:
        owner = safe.owners[index]
        covered[owner] = True
        return MentionRecord(word, EXACT_SAFE, safe_match=word, covered_truth=truth[owner])
    exact_hallu = similar_hallu = None
    index = ha.first_index.get(word)  # (c): no `continue` here
    if index is not None:
        owner = ha.owners[index]
        cog[owner] = True
        exact_hallu = hallu[owner]
    index = similar.first_similar(word, ha.words)  # (d)
    if index is not None:
        owner = ha.owners[index]
        cog[owner] = True
        similar_hallu = hallu[owner]
    index = similar.first_similar(word, safe.words)  # (e)
    if index is not None:
        owner = safe.owners[index]
        covered[owner] = True
        return MentionRecord(
            word,
            SIMILAR_SAFE,
            safe_match=safe.words[index],
            covered_truth=truth[owner],
            exact_hallu=exact_hallu,
            similar_hallu=similar_hallu,
        )
    return MentionRecord(word, HALLUCINATED, exact_hallu=exact_hallu, similar_hallu=similar_hallu)  # (f)


@dataclass
class GenerativeCounters:
    """The official running counters (``data/metrics.txt`` names), seeded and accumulated in input order
    exactly like the official loop, so the float denominators are bit-identical."""

    chair_score: int = SCORE_SEED
    chair_num: float = DENOMINATOR_SEED
    safe_cover_score: int = SCORE_SEED
    safe_cover_num: float = DENOMINATOR_SEED
    hallu_cover_score: int = SCORE_SEED
    hallu_cover_num: float = DENOMINATOR_SEED
    non_hallu_score: int = SCORE_SEED
    non_hallu_num: float = DENOMINATOR_SEED
    items: int = 0

    def add(self, record: GenerativeRecord) -> None:
        self.chair_score += len(record.hallucinated)
        self.chair_num += len(record.mentions)
        self.safe_cover_score += sum(record.covered)
        self.safe_cover_num += len(record.truth)
        self.hallu_cover_score += sum(record.cog)
        self.hallu_cover_num += len(record.hallu)
        if not record.is_hallucinated:
            self.non_hallu_score += 1
        self.non_hallu_num += 1
        self.items += 1

    def raw_metrics(self) -> dict[str, float]:
        """Unrounded values, written exactly as the official expressions (same operation order)."""
        return {
            "CHAIR": self.chair_score / self.chair_num * 100,
            "Cover": self.safe_cover_score / self.safe_cover_num * 100,
            "Hal": 100 - self.non_hallu_score / self.non_hallu_num * 100,
            "Cog": self.hallu_cover_score / self.hallu_cover_num * 100,
        }

    def metrics(self) -> dict[str, float]:
        """The values the official script prints (``round(x, 1)``)."""
        return {name: round(value, ROUND_DIGITS) for name, value in self.raw_metrics().items()}
