"""Noun extraction exactly as the official AMBER ``extract_nouns``, with the official nltk behaviour.

Source: ``junyangwang0410/AMBER`` @ 534babf6bbfcce2e735c26289dedfb21cef3c939, ``inference.py``
``extract_nouns``: ``nltk.word_tokenize(text)`` -> ``nltk.pos_tag`` -> keep tags starting with ``"NN"`` ->
``WordNetLemmatizer().lemmatize(word)`` (default noun POS). There is NO lower-casing: "Dog" stays "Dog" and
never matches the vocabulary word "dog"; "leaves" lemmatises to "leaf", not to the vocabulary word "leave".

The official outputs we reproduce were made with nltk 3.9.1. Later nltk releases tokenize differently (3.9.4
splits em/en dashes, 3.10 splits a leading quote: "sofa—a" and "'cars" change), which changes the nouns of 97
of the 1,004 validation descriptions and CHAIR/Hal with them. So the DEFAULT, :func:`official_noun_extractor`,
tokenizes as nltk 3.9.1 whatever nltk is installed (:mod:`evaluation.chair.nltk_compat`, shared with CHAIR):

* backend ``"fast"`` (default): nltk's perceptron tagger and WordNet morphology re-implemented to load in
  about 0.5 s instead of about 3 s, tags and lemmas identical to nltk's (tested in ``tests/test_chair_nlp.py``
  and ``tests/test_amber_fast_nouns.py``);
* backend ``"nltk"``: nltk's own ``pos_tag`` and ``WordNetLemmatizer``, the reference for the fast one.

:func:`installed_nltk_noun_extractor` runs the installed nltk's own ``word_tokenize`` (not the official
numbers on nltk >= 3.9.4). The three steps are injectable (:class:`NounExtractor`) so bookkeeping tests can
stub them. A missing NLTK resource raises one clear :class:`NltkDataError` instead of NLTK's long LookupError.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from evaluation.amber.constants import NOUN_TAG_PREFIX
from uedpo.errors import InputError

Tokenize = Callable[[str], list[str]]
PosTag = Callable[[Sequence[str]], list[tuple[str, str]]]
Lemmatize = Callable[[str], str]

# The NLTK resources the three official calls need (nltk >= 3.9 names), and how to get them.
NLTK_RESOURCES = ("punkt_tab", "averaged_perceptron_tagger_eng", "wordnet")
# `WordNetLemmatizer().lemmatize(word)`: the official call passes no POS, so WordNet's noun default applies.
LEMMA_POS = "n"
DEFAULT_BACKEND = "fast"


class NltkDataError(InputError):
    """NLTK or its data is missing; the message says which and how to get it."""


@dataclass(frozen=True)
class NounExtractor:
    """``tokenize`` -> ``pos_tag`` -> keep ``NN*`` -> ``lemmatize``; see the module docstring.

    ``name`` says which implementation produced the nouns (for the results' ``versions``).
    """

    tokenize: Tokenize
    pos_tag: PosTag
    lemmatize: Lemmatize
    name: str = "custom"
    _cache: dict[str, tuple[str, ...]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __call__(self, text: str) -> tuple[str, ...]:
        """The lemmatised nouns of ``text``, in order, duplicates kept (memoised per distinct text)."""
        cached = self._cache.get(text)
        if cached is None:
            tagged = self.pos_tag(self.tokenize(text))
            cached = tuple(self.lemmatize(word) for word, tag in tagged if tag.startswith(NOUN_TAG_PREFIX))
            self._cache[text] = cached
        return cached


def _fix() -> str:
    return (f"set NLTK_DATA to a folder with {', '.join(NLTK_RESOURCES)} or run "
            f"`python -m nltk.downloader {' '.join(NLTK_RESOURCES)}`")


def official_noun_extractor(backend: str = DEFAULT_BACKEND) -> NounExtractor:
    """The official steps with nltk 3.9.1 tokenization (the default for AMBER); ``backend`` "fast" or
    "nltk" chooses the tagger/lemmatiser implementation (identical output). Loaded once per process."""
    from evaluation.chair.nlp import NltkDataError as PipelineDataError
    from evaluation.chair.nlp import load_pipeline

    try:
        pipeline = load_pipeline(backend)
    except PipelineDataError as err:
        raise NltkDataError(f"AMBER noun extraction: {err}") from None
    from evaluation.chair.nltk_compat import NLTK_REFERENCE_VERSION

    tag = pipeline.tag
    return NounExtractor(
        tokenize=pipeline.tokenize,
        pos_tag=lambda tokens: list(zip(tokens, tag(tokens), strict=True)),
        lemmatize=lambda word: pipeline.lemmatize(word, LEMMA_POS),
        name=f"{backend} (word_tokenize as nltk {NLTK_REFERENCE_VERSION})",
    )


def fast_noun_extractor() -> NounExtractor:
    """:func:`official_noun_extractor` on the fast pipeline (what AMBER and ShapesWorld use by default)."""
    return official_noun_extractor("fast")


def nltk_noun_extractor() -> NounExtractor:
    """:func:`official_noun_extractor` on nltk's own tagger and lemmatiser (the reference implementation)."""
    return official_noun_extractor("nltk")


def installed_nltk_noun_extractor() -> NounExtractor:
    """The three official calls on the INSTALLED nltk, its own ``word_tokenize`` included: equal to the
    official nouns only on nltk <= 3.9.1 (kept to measure the difference; never a default)."""
    try:
        import nltk
        from nltk.stem import WordNetLemmatizer
    except ImportError as exc:
        raise NltkDataError(f"AMBER noun extraction needs nltk ({exc}); run `pip install nltk`") from None
    # One lemmatiser instance: the official code builds one per call, but it is stateless.
    extractor = NounExtractor(tokenize=nltk.word_tokenize, pos_tag=nltk.pos_tag,
                              lemmatize=WordNetLemmatizer().lemmatize,
                              name=f"installed nltk {nltk.__version__}")
    try:
        extractor("Two dogs sit.")
    except LookupError as exc:
        first_line = next((ln.strip() for ln in str(exc).splitlines() if "Resource" in ln), "a resource")
        raise NltkDataError(f"NLTK data missing for AMBER noun extraction ({first_line}); {_fix()}") from None
    extractor._cache.clear()
    return extractor
