"""Turn LLM-extracted object strings into the object names Object HalBench counts.

Source: ``RLHF-V/RLAIF-V`` @ 83d917b2e8118ca8e7877a796d72af9bb3e6b356 ``eval/eval_gpt_obj_halbench.py``
``CHAIR.get_pred_objs_match``, ``get_double_words_only`` and ``postagging`` (same in ``RLHF-V/RLHF-V`` @
8daac8a). For each extracted string ``o`` the official code parses ``"a " + o`` with spaCy ``en_core_web_trf``
and

1. if any two-token window of the token lemmas is a double word, keeps ONLY those double words (mapped);
2. otherwise joins every run of tokens tagged NN/NNS/NNP/NNPS into one object (lemmas, space-separated):
   "coffee cup" -> "coffee cup" (not a COCO word, so dropped later), "red car" -> "car";

then de-duplicates the objects of the response (first occurrence kept).

spaCy's ``en_core_web_trf`` is not installable here. :func:`load_chunker` uses it when it loads and otherwise
stands in the nltk 3.9.1 word tokenizer, ``nltk.pos_tag`` and the WordNet lemmatiser (POS-aware, as Maxlinn
CHAIR), and says so in the returned variant name. The two can disagree on tags and lemmas (e.g. capitalised
words), so results with the stand-in are not the official numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from evaluation.chair.nlp import NltkPipeline, load_pipeline
from evaluation.chair.words import wordnet_pos

# Official postagging(): token.tag_ in ["NNP", "NNPS", "NN", "NNS"].
NOUN_TAGS = frozenset({"NN", "NNS", "NNP", "NNPS"})
# Official: text = f"a {text}" before parsing (so a bare noun is parsed as a noun phrase).
ARTICLE_PREFIX = "a "
SPACY_MODEL = "en_core_web_trf"  # official: spacy.load("en_core_web_trf") (3.7.2)

CHUNKER_SPACY = "spacy-trf"
CHUNKER_WORDNET = "wordnet-fallback"


@dataclass(frozen=True)
class ParsedPhrase:
    """Lemma and Penn tag of every token of ``"a " + object``."""

    lemmas: tuple[str, ...]
    tags: tuple[str, ...]


Chunker = Callable[[str], ParsedPhrase]


def double_words_only(lemmas: Sequence[str], double_words: Mapping[str, str]) -> list[str]:
    """Official ``get_double_words_only``: the mapped double words of the greedy window, nothing else."""
    found = []
    i = 0
    while i < len(lemmas):
        pair = " ".join(lemmas[i : i + 2])
        if pair in double_words:
            found.append(double_words[pair])
            i += 2
        else:
            i += 1
    return found


def noun_runs(phrase: ParsedPhrase) -> list[str]:
    """Official ``postagging``: every run of NN* tokens, lemmas joined with spaces."""
    runs, current = [], []
    for lemma, tag in zip(phrase.lemmas, phrase.tags, strict=True):
        if tag in NOUN_TAGS:
            current.append(lemma)
        elif current:
            runs.append(" ".join(current))
            current = []
    if current:
        runs.append(" ".join(current))
    return runs


def refine_objects(extracted: Sequence[str], double_words: Mapping[str, str], chunker: Chunker) -> list[str]:
    """The de-duplicated object names of one response (official ``get_pred_objs_match``)."""
    refined: list[str] = []
    for obj in extracted:
        phrase = chunker(ARTICLE_PREFIX + obj)
        found = double_words_only(phrase.lemmas, double_words)
        refined += found if found else noun_runs(phrase)
    return list(dict.fromkeys(refined))


def wordnet_chunker(pipeline: NltkPipeline | None = None) -> Chunker:
    """Stand-in for spaCy: nltk 3.9.1 tokens, ``pos_tag`` tags, POS-aware WordNet lemmas."""
    pipeline = pipeline or load_pipeline()

    def parse(text: str) -> ParsedPhrase:
        tokens = pipeline.tokenize(text)
        tags = pipeline.tag(tokens)
        return ParsedPhrase(
            tuple(pipeline.lemmatize(t, wordnet_pos(g)) for t, g in zip(tokens, tags, strict=True)),
            tuple(tags),
        )

    return parse


def spacy_chunker(nlp) -> Chunker:
    """The official parser: a loaded spaCy pipeline's ``token.lemma_`` and ``token.tag_``."""

    def parse(text: str) -> ParsedPhrase:
        doc = nlp(text)
        return ParsedPhrase(tuple(t.lemma_ for t in doc), tuple(t.tag_ for t in doc))

    return parse


def load_chunker(prefer_spacy: bool = True, pipeline: NltkPipeline | None = None) -> tuple[Chunker, str]:
    """``(chunker, name)``: spaCy ``en_core_web_trf`` when it loads, else the WordNet stand-in."""
    if prefer_spacy:
        try:
            import spacy

            return spacy_chunker(spacy.load(SPACY_MODEL)), CHUNKER_SPACY
        except (ImportError, OSError, ValueError):
            pass  # spaCy or the model is not installed (or unusable): fall back, the variant name says so
    return wordnet_chunker(pipeline), CHUNKER_WORDNET
