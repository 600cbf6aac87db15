"""``score_amber``: the whole AMBER benchmark (generative + discriminative) for any subset of ids.

Source: ``junyangwang0410/AMBER`` @ 534babf6bbfcce2e735c26289dedfb21cef3c939, ``inference.py`` ``main``. The
per-section algorithms live in :mod:`evaluation.amber.generative` and :mod:`evaluation.amber.discriminative`.

Sections are the official printed blocks: ``generative`` {CHAIR, Cover, Hal, Cog}; ``discriminative``
(pooled), ``existence``, ``attribute``, ``state``, ``number``, ``action``, ``relation`` {Accuracy, Precision,
Recall, F1}. Deliberate difference: a section with no scored items is left out, where the official script
(with ``-a``) prints 0.0 for it. Inputs are checked (unknown or duplicate ids raise ``ValueError``) where the
official script would count a duplicate twice or index ``ground_truth[id-1]`` blindly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from benchmarks_data.amber_types import AmberData, AmberResponse
from evaluation.amber.constants import (
    ATTRIBUTE_SECTION,
    ATTRIBUTE_SUB_BUCKETS,
    EXISTENCE,
    GENERATIVE_SECTION,
    POOLED_SECTION,
    RELATION,
    SECTION_ORDER,
    SIMILARITY_THRESHOLD,
    VARIANT_NORMALIZED_ANSWERS,
    VARIANT_OFFICIAL,
)
from evaluation.amber.discriminative import DiscriminativeCounters, discriminative_metrics, judge_answer
from evaluation.amber.generative import GenerativeCounters, score_generative_item
from evaluation.amber.nlp import official_noun_extractor
from evaluation.amber.records import DiscriminativeRecord, GenerativeRecord
from evaluation.amber.similarity import SimilarityBackend, SimilarWords
from evaluation.amber.spacy_backends import SpacyVectorsSimilarity
from evaluation.results import BenchResult
from uedpo.errors import InputError


@dataclass(frozen=True)
class AmberResult:
    """Scores as the official script prints them (``metrics``), unrounded (``raw``), and per item.

    ``non_yes_no_answers`` counts, per discriminative section, answers that were not exactly "Yes"/"No"
    (after normalisation, when enabled): the official scorer silently counts them as wrong.
    ``similarity_calls`` is how many times the similarity backend was asked (once per distinct pair).
    """

    metrics: dict[str, dict[str, float]]
    raw: dict[str, dict[str, float]]
    n_items: int
    variant: str
    config: dict[str, Any]
    non_yes_no_answers: dict[str, int]
    similarity_calls: int
    generative_records: tuple[GenerativeRecord, ...] = field(repr=False)
    discriminative_records: tuple[DiscriminativeRecord, ...] = field(repr=False)

    def to_bench_result(
        self, versions: dict[str, str] | None = None, data_sha256: dict[str, str] | None = None
    ) -> BenchResult:
        config = {**self.config, "non_yes_no_answers": self.non_yes_no_answers, "raw": self.raw}
        return BenchResult(
            bench="amber",
            metrics=self.metrics,
            n_items=self.n_items,
            variant=self.variant,
            config=config,
            versions=dict(versions or {}),
            data_sha256=dict(data_sha256 or {}),
        )


def amber_versions(similarity: SimilarityBackend | None = None) -> dict[str, str]:
    """Versions that change AMBER numbers: nltk and the tokenizer behaviour of the default nouns (nltk
    3.9.1's, whatever nltk is installed) and, for spaCy backends, the spaCy, model and numpy versions and
    which implementation computed the similarities. For the results file's ``versions``."""
    import nltk

    from evaluation.chair.nltk_compat import NLTK_REFERENCE_VERSION

    versions = {"nltk": nltk.__version__, "nltk_word_tokenize": f"as nltk {NLTK_REFERENCE_VERSION}"}
    versions.update(getattr(similarity, "versions", dict)())
    return versions


def _check_ids(responses: Sequence[AmberResponse], data: AmberData) -> None:
    seen: set[int] = set()
    for position, item in enumerate(responses):
        if item.id in seen:
            raise InputError(f"AMBER responses: item {position} repeats id {item.id}; keep one answer per id")
        seen.add(item.id)
        data.annotation(item.id)
        if not isinstance(item.response, str):
            raise InputError(
                f"AMBER responses: item {position} (id {item.id}) has a "
                f"{type(item.response).__name__} response; responses must be strings"
            )


def score_amber(
    responses: Sequence[AmberResponse],
    data: AmberData,
    *,
    similarity: SimilarityBackend | None = None,
    nouns: Callable[[str], Sequence[str]] | None = None,
    similarity_threshold: float = SIMILARITY_THRESHOLD,
    normalize_answers: bool = False,
    progress: bool | None = None,
) -> AmberResult:
    """Score ``responses`` (any subset of AMBER ids) with the official algorithm.

    ``similarity`` defaults to spaCy ``en_core_web_lg`` (the official values, read from its vectors) and
    ``nouns`` (text -> lemmatised nouns) to the official NLTK steps with nltk 3.9.1's tokenizer
    (:func:`~evaluation.amber.nlp.official_noun_extractor`); both are set up, and fail early with a clear
    error, only when a generative answer is present. ``similarity_threshold`` is the official
    ``--similarity_score``.
    ``normalize_answers`` applies :func:`~evaluation.amber.discriminative.normalize_answer` and names the
    variant ``normalized-answers``. ``progress``: ``None`` shows a bar on a terminal only.
    """
    _check_ids(responses, data)
    generative = [item for item in responses if data.annotations[item.id].is_generative]
    if generative:
        similarity = similarity if similarity is not None else SpacyVectorsSimilarity()
        similarity.prepare()
        nouns = nouns if nouns is not None else official_noun_extractor()
    similar = SimilarWords(similarity, similarity_threshold) if generative else None

    gen_counters = GenerativeCounters()
    buckets: dict[str, DiscriminativeCounters] = {
        name: DiscriminativeCounters()
        for name in (POOLED_SECTION, EXISTENCE, *ATTRIBUTE_SUB_BUCKETS, RELATION)
    }
    gen_records: list[GenerativeRecord] = []
    disc_records: list[DiscriminativeRecord] = []
    bar = tqdm(responses, desc="AMBER", unit="answer", disable=None if progress is None else not progress)
    for item in bar:
        annotation = data.annotations[item.id]
        if annotation.is_generative:
            record = score_generative_item(annotation, nouns(item.response), data, similar)
            gen_counters.add(record)
            gen_records.append(record)
        else:
            record = judge_answer(annotation, item.response, normalize=normalize_answers)
            buckets[POOLED_SECTION].add(record)
            buckets[record.bucket].add(record)
            disc_records.append(record)

    metrics, raw = _sections(gen_counters, buckets)
    return AmberResult(
        metrics=metrics,
        raw=raw,
        n_items=len(responses),
        variant=VARIANT_NORMALIZED_ANSWERS if normalize_answers else VARIANT_OFFICIAL,
        config={
            "similarity": similarity.name if generative else None,
            "nouns": getattr(nouns, "name", "custom") if generative else None,
            "similarity_threshold": similarity_threshold,
            "normalize_answers": normalize_answers,
        },
        non_yes_no_answers=_non_yes_no(metrics, buckets),
        similarity_calls=similar.calls if similar else 0,
        generative_records=tuple(gen_records),
        discriminative_records=tuple(disc_records),
    )


def _non_yes_no(
    metrics: dict[str, dict[str, float]], buckets: dict[str, DiscriminativeCounters]
) -> dict[str, int]:
    """Answers that were not exactly "Yes"/"No", per reported discriminative section."""
    counts = {name: buckets[name].non_yes_no for name in metrics if name in buckets}
    if ATTRIBUTE_SECTION in metrics:
        counts[ATTRIBUTE_SECTION] = sum(buckets[name].non_yes_no for name in ATTRIBUTE_SUB_BUCKETS)
    return {name: counts[name] for name in SECTION_ORDER if name in counts}


def _sections(
    gen: GenerativeCounters,
    buckets: dict[str, DiscriminativeCounters],
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """Printed and raw metrics of every section that has at least one item, in the official print order."""
    metrics: dict[str, dict[str, float]] = {}
    raw: dict[str, dict[str, float]] = {}
    if gen.items:
        metrics[GENERATIVE_SECTION], raw[GENERATIVE_SECTION] = gen.metrics(), gen.raw_metrics()
    state, number, action = (buckets[name] for name in ATTRIBUTE_SUB_BUCKETS)
    disc = {**buckets, ATTRIBUTE_SECTION: state + number + action}
    for name in SECTION_ORDER:
        if name in disc and disc[name].items:
            metrics[name], raw[name] = discriminative_metrics(disc[name], name)
    return metrics, raw
