"""CHAIR (COCO, Maxlinn protocol) and Object HalBench (RLHF-V / RLAIF-V) scorers with official parity.

Scorers are pure: they take responses, image ids, a ground-truth mapping ``{image id: classes}`` and a
:class:`CocoVocabulary`; loading files is the job of ``benchmarks_data`` (``coco``, ``chair_inputs``,
``objhal``). NLTK resources are loaded lazily, once, by :func:`load_pipeline`.
"""

from benchmarks_data.coco_vocab import ORIGINAL, REFINED, CocoVocabulary, build_vocabulary
from evaluation.chair.chair import ChairItem, ChairResult, score_chair, score_chair_words
from evaluation.chair.nlp import NltkDataError, NltkPipeline, load_pipeline, nlp_versions
from evaluation.chair.objhal import ObjHalItem, ObjHalResult, score_objhal_extracted, score_objhal_text
from evaluation.chair.objhal_prompt import extraction_prompt, is_short_answer, parse_extraction_reply
from evaluation.chair.words import LEMMA_NOUN, LEMMA_POS, CaptionWords, caption_to_words, captions_to_words

__all__ = [
    "LEMMA_NOUN",
    "LEMMA_POS",
    "ORIGINAL",
    "REFINED",
    "CaptionWords",
    "ChairItem",
    "ChairResult",
    "CocoVocabulary",
    "NltkDataError",
    "NltkPipeline",
    "ObjHalItem",
    "ObjHalResult",
    "build_vocabulary",
    "caption_to_words",
    "captions_to_words",
    "extraction_prompt",
    "is_short_answer",
    "load_pipeline",
    "nlp_versions",
    "parse_extraction_reply",
    "score_chair",
    "score_chair_words",
    "score_objhal_extracted",
    "score_objhal_text",
]
