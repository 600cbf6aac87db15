"""The NLTK steps of CHAIR: word tokenizer, POS tagger, WordNet lemmatiser, behind one small interface.

Official calls (``shikiw/OPERA`` @ 61426ef ``chair.py`` ``CHAIR.caption_to_words``): ``nltk.word_tokenize``,
``nltk.pos_tag``, ``WordNetLemmatizer().lemmatize(word, pos)``. Two backends give the same answers:

* ``"fast"`` (default): the nltk 3.9.1 tokenizer (:mod:`.nltk_compat`), :class:`.FastPerceptronTagger` and
  :class:`.WordNetMorphy` (same model and data as nltk, faster loading and tagging);
* ``"nltk"``: the nltk 3.9.1 tokenizer with nltk's own ``pos_tag`` and ``WordNetLemmatizer``, the reference
  the fast parts are tested against.

The tokenizer is the nltk 3.9.1 one in both, because the official outputs were made with nltk 3.8.1 (same
tokenization as 3.9.1) and later nltk releases tokenize dashes and leading quotes differently.

Resources load lazily, once per process (``load_pipeline`` is cached). A missing resource raises
``NltkDataError`` with one line naming it and the fix.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from evaluation.chair.nltk_compat import legacy_word_tokenize
from uedpo.errors import InputError

NLTK_RESOURCES = (
    "tokenizers/punkt_tab/english/",
    "taggers/averaged_perceptron_tagger_eng/",
    "corpora/wordnet",
)
BACKENDS = ("fast", "nltk")


class NltkDataError(InputError):
    """NLTK data is missing; the message names the resource and how to get it."""


@dataclass(frozen=True)
class NltkPipeline:
    """``tokenize(text)``, ``tag(tokens)`` (tags only), ``lemmatize(word, pos)``; see the module docstring."""

    backend: str
    tokenize: Callable[[str], list[str]]
    tag: Callable[[Sequence[str]], list[str]]
    lemmatize: Callable[[str, str], str]


def nlp_versions(pipeline: NltkPipeline | None = None) -> dict[str, str]:
    """Versions to record in a result: installed nltk, the tokenizer behaviour, the backend."""
    import nltk

    from evaluation.chair.nltk_compat import NLTK_REFERENCE_VERSION

    versions = {"nltk": nltk.__version__, "nltk_word_tokenize": f"as nltk {NLTK_REFERENCE_VERSION}"}
    if pipeline is not None:
        versions["nltk_backend"] = pipeline.backend
    return versions


def _missing_resources() -> list[str]:
    import nltk

    missing = []
    for resource in NLTK_RESOURCES:
        try:
            nltk.data.find(resource)
        except LookupError:
            missing.append(resource)
    return missing


@functools.lru_cache(maxsize=2)
def load_pipeline(backend: str = "fast") -> NltkPipeline:
    """The NLTK pipeline (``backend`` "fast" or "nltk"), loaded once per process."""
    if backend not in BACKENDS:
        raise InputError(f"unknown NLTK backend {backend!r}; use one of {', '.join(BACKENDS)}")
    missing = _missing_resources()
    if missing:
        raise NltkDataError(
            f"NLTK data missing: {', '.join(missing)}; set NLTK_DATA to a folder that has punkt_tab, "
            "averaged_perceptron_tagger_eng and wordnet, or run "
            "`python -m nltk.downloader punkt_tab averaged_perceptron_tagger_eng wordnet`"
        )
    if backend == "fast":
        from evaluation.chair.morphy import WordNetMorphy
        from evaluation.chair.tagger import FastPerceptronTagger

        tagger = FastPerceptronTagger.from_nltk_data()
        morphy = WordNetMorphy.from_nltk_data()
        return NltkPipeline("fast", legacy_word_tokenize, tagger.tag, morphy.lemmatize)

    import nltk
    from nltk.stem import WordNetLemmatizer

    def nltk_tags(tokens: Sequence[str]) -> list[str]:
        return [tag for _, tag in nltk.pos_tag(list(tokens))]

    return NltkPipeline("nltk", legacy_word_tokenize, nltk_tags, WordNetLemmatizer().lemmatize)
