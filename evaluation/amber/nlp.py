"""Noun extraction exactly as the official AMBER ``extract_nouns``.

Source: ``junyangwang0410/AMBER`` @ 534babf6bbfcce2e735c26289dedfb21cef3c939, ``inference.py``
``extract_nouns``: ``nltk.word_tokenize(text)`` -> ``nltk.pos_tag`` -> keep tags starting with ``"NN"`` ->
``WordNetLemmatizer().lemmatize(word)`` (default noun POS). There is NO lower-casing: "Dog" stays "Dog" and
never matches the vocabulary word "dog"; "leaves" lemmatises to "leaf", not to the vocabulary word "leave".

The three steps are injectable so bookkeeping tests can stub them; :func:`nltk_noun_extractor` gives the real
ones (NLTK imported lazily; missing NLTK data raises one clear error instead of NLTK's long LookupError).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from evaluation.amber.constants import NOUN_TAG_PREFIX

Tokenize = Callable[[str], list[str]]
PosTag = Callable[[Sequence[str]], list[tuple[str, str]]]
Lemmatize = Callable[[str], str]

# The NLTK resources the three official calls need (nltk >= 3.9 names), and how to get them.
NLTK_RESOURCES = ("punkt_tab", "averaged_perceptron_tagger_eng", "wordnet")


class NltkDataError(ValueError):
    """NLTK or its data is missing; the message says which and how to get it."""


@dataclass(frozen=True)
class NounExtractor:
    """``tokenize`` -> ``pos_tag`` -> keep ``NN*`` -> ``lemmatize``; see the module docstring."""

    tokenize: Tokenize
    pos_tag: PosTag
    lemmatize: Lemmatize
    _cache: dict[str, tuple[str, ...]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __call__(self, text: str) -> tuple[str, ...]:
        """The lemmatised nouns of ``text``, in order, duplicates kept (memoised per distinct text)."""
        cached = self._cache.get(text)
        if cached is None:
            tagged = self.pos_tag(self.tokenize(text))
            cached = tuple(self.lemmatize(word) for word, tag in tagged if tag.startswith(NOUN_TAG_PREFIX))
            self._cache[text] = cached
        return cached


def nltk_noun_extractor() -> NounExtractor:
    """The official NLTK pipeline, checked once so a missing resource fails before scoring starts."""
    try:
        import nltk
        from nltk.stem import WordNetLemmatizer
    except ImportError as exc:
        raise NltkDataError(f"AMBER noun extraction needs nltk ({exc}); run `pip install nltk`") from None
    # One lemmatiser instance: the official code builds one per call, but it is stateless.
    lemmatize = WordNetLemmatizer().lemmatize
    extractor = NounExtractor(tokenize=nltk.word_tokenize, pos_tag=nltk.pos_tag, lemmatize=lemmatize)
    try:
        extractor("Two dogs sit.")
    except LookupError as exc:
        first_line = next((ln.strip() for ln in str(exc).splitlines() if "Resource" in ln), "a resource")
        raise NltkDataError(
            f"NLTK data missing for AMBER noun extraction ({first_line}); set NLTK_DATA to a folder with "
            f"{', '.join(NLTK_RESOURCES)} or run `python -m nltk.downloader {' '.join(NLTK_RESOURCES)}`"
        ) from None
    extractor._cache.clear()
    return extractor


def fast_noun_extractor() -> NounExtractor:
    """The same three steps on :mod:`evaluation.chair.nlp`'s ``fast`` pipeline: nltk's perceptron tagger and
    WordNet morphology, re-implemented to load in about 0.5 s instead of about 3 s, with tags and lemmas
    identical to nltk's (tested there), and nltk 3.9.1 tokenization. Used where start-up time matters (the
    ShapesWorld demo); :func:`nltk_noun_extractor` stays the default for AMBER itself."""
    from evaluation.chair.nlp import NltkDataError as PipelineDataError
    from evaluation.chair.nlp import load_pipeline

    try:
        pipeline = load_pipeline("fast")
    except PipelineDataError as err:
        raise NltkDataError(str(err)) from None
    return NounExtractor(
        tokenize=pipeline.tokenize,
        pos_tag=lambda tokens: list(zip(tokens, pipeline.tag(tokens), strict=True)),
        lemmatize=lambda word: pipeline.lemmatize(word, "n"),
    )
