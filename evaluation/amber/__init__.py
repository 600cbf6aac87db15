"""AMBER scorer with official parity (``junyangwang0410/AMBER`` @ 534babf6bbfcce2e735c26289dedfb21cef3c939,
``inference.py``). Load data with ``benchmarks_data.amber``; score with :func:`score_amber`."""

from benchmarks_data.amber_types import AmberAnnotation, AmberData, AmberResponse
from evaluation.amber.discriminative import normalize_answer
from evaluation.amber.nlp import (
    NltkDataError,
    NounExtractor,
    fast_noun_extractor,
    installed_nltk_noun_extractor,
    nltk_noun_extractor,
    official_noun_extractor,
)
from evaluation.amber.records import DiscriminativeRecord, GenerativeRecord, MentionRecord
from evaluation.amber.score import AmberResult, amber_versions, score_amber
from evaluation.amber.similarity import (
    ExactSimilarity,
    SimilarityBackend,
    SimilarityBackendError,
    SimilarWords,
    TableSimilarity,
    build_similarity_table,
)
from evaluation.amber.spacy_backends import SpacySimilarity, SpacyVectorsSimilarity

__all__ = [
    "AmberAnnotation",
    "AmberData",
    "AmberResponse",
    "AmberResult",
    "DiscriminativeRecord",
    "ExactSimilarity",
    "GenerativeRecord",
    "MentionRecord",
    "NltkDataError",
    "NounExtractor",
    "SimilarWords",
    "SimilarityBackend",
    "SimilarityBackendError",
    "SpacySimilarity",
    "SpacyVectorsSimilarity",
    "TableSimilarity",
    "amber_versions",
    "build_similarity_table",
    "fast_noun_extractor",
    "installed_nltk_noun_extractor",
    "nltk_noun_extractor",
    "official_noun_extractor",
    "normalize_answer",
    "score_amber",
]
