"""The near-synonym step of AMBER's generative scorer, and its similarity backends.

Source: ``junyangwang0410/AMBER`` @ 534babf6bbfcce2e735c26289dedfb21cef3c939, ``inference.py``
``check_synonyms_word``: ``nlp(word1).similarity(nlp(word2)) > similarity_score`` with spaCy
``en_core_web_lg`` and a default threshold of 0.8 (strict ``>``). spaCy's ``Doc.similarity`` returns 1.0 for
docs with identical token texts, 0.0 when either vector is all zeros (out-of-vocabulary), else the cosine of
the mean token vectors; it is symmetric.

The official loop calls spaCy for every (mention, word) pair of every answer. Both words of every pair come
from the fixed AMBER vocabulary (418 words), so :class:`SimilarWords` asks the backend once per unordered
pair and reuses the boolean decision; the results are identical, the calls are far fewer.

Backends (specs for ``--similarity``): ``spacy[:MODEL]`` (official values; by default read from the model's
word vectors without running spaCy, identical by test: :mod:`evaluation.amber.spacy_backends`),
``spacy-pipeline[:MODEL]`` (the same values from the real ``nlp(w1).similarity(nlp(w2))`` call),
:class:`ExactSimilarity` (``exact``: equal strings only) and :class:`TableSimilarity` (``table:PATH``, e.g.
from :func:`build_similarity_table`). Reading a table file is the loader's job
(``benchmarks_data.amber.load_similarity_table``; ``evaluation.benches.amber.parse_similarity_spec``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from tqdm import tqdm

from evaluation.amber.constants import SIMILARITY_THRESHOLD, SPACY_MODEL
from uedpo.errors import InputError


class SimilarityBackendError(InputError):
    """A similarity backend cannot run (missing package or model); the message says how to fix it."""


class SimilarityBackend(Protocol):
    """What the scorer needs from a backend: a name for the results and a pairwise similarity."""

    name: str

    def prepare(self) -> None:
        """Load whatever the backend needs; raise :class:`SimilarityBackendError` if it cannot."""

    def similarity(self, word1: str, word2: str) -> float: ...


class ExactSimilarity:
    """1.0 for equal strings, else 0.0: no near-synonyms at all (not the official numbers)."""

    name = "exact"

    def prepare(self) -> None:
        pass

    def similarity(self, word1: str, word2: str) -> float:
        return 1.0 if word1 == word2 else 0.0


class TableSimilarity:
    """Similarities from a ``{"w1": {"w2": sim}}`` table.

    Like spaCy, identical strings give 1.0 and the table is read symmetrically: ``(w1, w2)`` is looked up,
    then ``(w2, w1)``; a pair in neither order gives 0.0 (spaCy's value for a word without a vector).
    """

    def __init__(self, table: Mapping[str, Mapping[str, float]], source: str = "memory"):
        self._table = table
        self.name = f"table:{source}"

    def prepare(self) -> None:
        pass

    def similarity(self, word1: str, word2: str) -> float:
        if word1 == word2:
            return 1.0
        value = self._table.get(word1, {}).get(word2)
        if value is None:
            value = self._table.get(word2, {}).get(word1, 0.0)
        return float(value)


# Spec kinds whose argument is a spaCy model name or folder (default: the official en_core_web_lg).
SPACY_KINDS = ("spacy", "spacy-pipeline")


def parse_backend_name(spec: str) -> tuple[str, str]:
    """Split a backend spec ``spacy[:MODEL]`` / ``spacy-pipeline[:MODEL]`` / ``exact`` / ``table:PATH`` into
    (kind, argument). MODEL is a model name or a model folder path."""
    kind, _, arg = spec.partition(":")
    if kind in SPACY_KINDS:
        return kind, arg or SPACY_MODEL
    if kind == "exact" and not arg:
        return kind, ""
    if kind == "table" and arg:
        return kind, arg
    raise InputError(
        f"unknown AMBER similarity backend {spec!r}; use spacy[:MODEL] (official: spacy:{SPACY_MODEL}; "
        "MODEL may be a model folder), spacy-pipeline[:MODEL] (same values from the full spaCy pipeline), "
        "exact, or table:PATH"
    )


class SimilarWords:
    """Cached decisions ``backend.similarity(w1, w2) > threshold``, one backend call per unordered pair.

    Symmetry is safe: spaCy's cosine (and the identical-text shortcut) does not depend on the order.
    ``calls`` counts the backend calls actually made.
    """

    def __init__(self, backend: SimilarityBackend, threshold: float = SIMILARITY_THRESHOLD):
        self.backend = backend
        self.threshold = threshold
        self.calls = 0
        self._rows: dict[str, dict[str, bool]] = {}

    def __call__(self, word1: str, word2: str) -> bool:
        row = self._rows.setdefault(word1, {})
        decision = row.get(word2)
        if decision is None:
            decision = self._decide(word1, word2, row)
        return decision

    def first_similar(self, word: str, words: Sequence[str]) -> int | None:
        """Index of the first ``w`` in ``words`` similar to ``word`` (the official loops ``break`` there)."""
        row = self._rows.setdefault(word, {})
        for index, other in enumerate(words):
            decision = row.get(other)
            if decision is None:
                decision = self._decide(word, other, row)
            if decision:
                return index
        return None

    def _decide(self, word1: str, word2: str, row: dict[str, bool]) -> bool:
        self.calls += 1
        decision = self.backend.similarity(word1, word2) > self.threshold
        row[word2] = decision
        self._rows.setdefault(word2, {})[word1] = decision
        return decision


def build_similarity_table(
    vocabulary: Iterable[str],
    spacy_model: str | Callable[[str], Any] = SPACY_MODEL,
    *,
    progress: bool | None = None,
) -> dict[str, dict[str, float]]:
    """Every pairwise spaCy similarity over ``vocabulary``, for the ``table:PATH`` backend.

    ``spacy_model`` is a model name or folder (run as the full pipeline, the official call) or an
    already-built ``nlp`` callable. Each unordered pair is stored once, under the alphabetically first word
    (:class:`TableSimilarity` reads both orders; identical words are 1.0 by rule). Values are the backend's
    floats, unrounded, so ``> 0.8`` decisions made from the table equal spaCy's.
    """
    from evaluation.amber.spacy_backends import SpacySimilarity

    if isinstance(spacy_model, str):
        backend = SpacySimilarity(model=spacy_model)
    else:
        backend = SpacySimilarity(model=getattr(spacy_model, "name", "custom"), nlp=spacy_model)
    backend.prepare()
    words = sorted(set(vocabulary))
    table: dict[str, dict[str, float]] = {}
    for i, first in enumerate(
        tqdm(words, desc="AMBER similarity table", disable=None if progress is None else not progress)
    ):
        row = {second: backend.similarity(first, second) for second in words[i + 1 :]}
        if row:
            table[first] = row
    return table
