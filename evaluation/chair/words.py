"""``caption_to_words``: the COCO object mentions of a caption, as the official CHAIR scripts find them.

Sources:

* ``LEMMA_POS`` (Maxlinn port, used for CHAIR): ``shikiw/OPERA`` @ 61426efe4e2e53207f32d9112a86ba5f8364d1d9
  ``chair.py`` ``CHAIR.caption_to_words``: ``word_tokenize(caption.lower())`` -> ``pos_tag`` -> WordNet lemma
  with the tag's POS (J: adjective, V: verb, N: noun, R: adverb, anything else: noun).
* ``LEMMA_NOUN`` (RLHF-V/RLAIF-V Object HalBench non-GPT path and its ground-truth captions):
  ``RLHF-V/RLAIF-V`` @ 83d917b2e8118ca8e7877a796d72af9bb3e6b356 ``eval/eval_gpt_obj_halbench.py``
  ``CHAIR.caption_to_words``: ``word_tokenize(caption.lower())`` -> ``lemmatize(w)`` (noun POS, no tagger).

Then, in both: greedy left-to-right merge of two-token windows found in the double-word table; if both
"toilet" and "seat" remain, every "seat" is deleted; keep the words that are COCO synonyms (duplicates kept)
and map them to their class. Official quirks kept (see SCORERS.md addendum):

* ``idxs`` are positions in the token list BEFORE merging, recorded per merged word; after a "seat" deletion
  the official code indexes them with positions of the shortened list, so they shift (kept as is);
* verbs count ("phoning" -> "phone" -> cell phone, "seated" -> "seat" -> chair), "sports ball" never merges
  ("sports" lemmatises to "sport"), "kiting" -> "kit" -> nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tqdm import tqdm

from benchmarks_data.coco_vocab import CocoVocabulary
from evaluation.chair.morphy import ADJ, ADV, NOUN, VERB
from evaluation.chair.nlp import NltkPipeline, load_pipeline
from uedpo.errors import InputError

LEMMA_POS = "pos"  # POS-tagged WordNet lemmas (Maxlinn CHAIR)
LEMMA_NOUN = "noun"  # WordNet noun lemmas, no tagger (RLHF-V Object HalBench)
LEMMA_MODES = (LEMMA_POS, LEMMA_NOUN)

# Maxlinn chair.py get_wordnet_pos: the first letter of the Penn tag; unknown -> None -> NOUN.
TAG_PREFIX_TO_WORDNET = {"J": ADJ, "V": VERB, "N": NOUN, "R": ADV}
# The official "toilet seat is not chair" rule.
TOILET, SEAT = "toilet", "seat"


@dataclass(frozen=True)
class CaptionWords:
    """The official ``caption_to_words`` return values, named.

    ``words``: COCO synonyms found (surface lemma, e.g. "child"); ``node_words``: their classes ("person");
    ``idxs``: official token positions of ``words``; ``raw_words``: all lemmas after the double-word merge
    (the per-sentence ``words`` field of the official output, whose length is the caption's ``Len``).
    """

    words: tuple[str, ...]
    node_words: tuple[str, ...]
    idxs: tuple[int, ...]
    raw_words: tuple[str, ...]


def wordnet_pos(tag: str) -> str:
    """The WordNet POS the Maxlinn code lemmatises a Penn-tagged token with."""
    return TAG_PREFIX_TO_WORDNET.get(tag[:1], NOUN)


def merge_double_words(lemmas: Sequence[str], double_words: Mapping[str, str]) -> tuple[list[str], list[int]]:
    """Greedy two-token merge: the merged words and, for each, the position of its first token."""
    merged: list[str] = []
    idxs: list[int] = []
    i = 0
    while i < len(lemmas):
        idxs.append(i)
        pair = " ".join(lemmas[i : i + 2])
        if pair in double_words:
            merged.append(double_words[pair])
            i += 2
        else:
            merged.append(lemmas[i])
            i += 1
    return merged, idxs


def coco_mentions(merged: Sequence[str], idxs: Sequence[int], vocab: CocoVocabulary) -> CaptionWords:
    """Toilet/seat rule, keep COCO synonyms, map to classes (the end of official ``caption_to_words``)."""
    words = list(merged)
    if TOILET in words and SEAT in words:
        words = [w for w in words if w != SEAT]
    objects = vocab.object_set
    # Official: `[idxs[idx] for idx, word in enumerate(words) if word in objects]` on the (possibly
    # shortened) list, so positions shift after a "seat" deletion.
    kept_idxs = tuple(idxs[k] for k, w in enumerate(words) if w in objects)
    kept = tuple(w for w in words if w in objects)
    return CaptionWords(kept, tuple(vocab.synonym_to_class[w] for w in kept), kept_idxs, tuple(merged))


def lemmas_of(tokens: Sequence[str], mode: str, pipeline: NltkPipeline) -> list[str]:
    """The lemma of every token: POS-tagged (``LEMMA_POS``) or noun-only (``LEMMA_NOUN``)."""
    if mode == LEMMA_NOUN:
        return [pipeline.lemmatize(t, NOUN) for t in tokens]
    if mode != LEMMA_POS:
        raise InputError(f"unknown lemma mode {mode!r}; use one of {', '.join(LEMMA_MODES)}")
    return [
        pipeline.lemmatize(t, wordnet_pos(tag)) for t, tag in zip(tokens, pipeline.tag(tokens), strict=True)
    ]


def caption_to_words(
    caption: str, vocab: CocoVocabulary, mode: str = LEMMA_POS, pipeline: NltkPipeline | None = None
) -> CaptionWords:
    """The COCO mentions of one caption (see the module docstring)."""
    pipeline = pipeline or load_pipeline()
    lemmas = lemmas_of(pipeline.tokenize(caption.lower()), mode, pipeline)
    merged, idxs = merge_double_words(lemmas, vocab.double_words)
    return coco_mentions(merged, idxs, vocab)


def captions_to_words(
    captions: Sequence[str],
    vocab: CocoVocabulary,
    mode: str = LEMMA_POS,
    pipeline: NltkPipeline | None = None,
    progress: bool | None = None,
) -> list[CaptionWords]:
    """``caption_to_words`` for many captions (one pipeline, a progress bar on a terminal)."""
    pipeline = pipeline or load_pipeline()
    disable = None if progress is None else not progress
    return [
        caption_to_words(c, vocab, mode, pipeline)
        for c in tqdm(captions, desc="CHAIR words", unit="caption", disable=disable, leave=False)
    ]
