"""Object HalBench (RLHF-V / RLAIF-V): response-level "Resp." and mention-level "Ment." hallucination.

Source: ``RLHF-V/RLAIF-V`` @ 83d917b2e8118ca8e7877a796d72af9bb3e6b356 ``eval/eval_gpt_obj_halbench.py``
(``CHAIR.compute_chair``, ``caption_objects_to_coco_objects``) and
``eval/summarize_gpt_obj_halbench_review.py`` (same logic in ``RLHF-V/RLHF-V`` @ 8daac8a). Over all responses:

* ``CHAIRs_refine`` = hallucinated responses / responses with >= 1 COCO object: printed as "Response Hall",
  the papers' **Resp.** (:data:`RESP_DENOMINATOR_NOTE`); plain ``CHAIRs`` (over all responses) is computed but
  not printed by the official summary;
* ``CHAIRi`` = hallucinated objects / COCO objects, printed as "Object Hall", the papers' **Ment.**;
* ``obj_rec`` = sum of unique correct classes per response / sum of GT classes; ``avg_word_len`` = mean of
  ``len(answer.strip().split(" "))`` (single-space split: repeated spaces count, :data:`WORD_SPLIT`).

Two ways to get a response's objects, reported as different variants:

* LLM path (published numbers; ``--use_gpt``): the caller passes the extracted object strings per response
  (see :mod:`.objhal_prompt`); answers with <= 3 whitespace tokens get no objects; the strings are refined by
  :func:`.objhal_refine.refine_objects` and de-duplicated per response, then the toilet/seat rule, the synonym
  filter and the class mapping apply (no further double-word merge);
* NLTK path (official non-GPT path): ``caption_to_words`` on the raw answer with WordNet NOUN lemmas and the
  refined synonyms; mentions are counted with repetition.

Ground truth: officially COCO 2014 train+val instances plus captions parsed with the noun lemmatiser and the
REFINED synonyms (``benchmarks_data.coco`` can build it from the annotation files). The GT cache in the data
directory is the Maxlinn one (original synonyms, POS lemmas): it differs on the caption-derived side, so the
caller records which GT was used in the result's config. Unknown image ids raise ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks_data.coco_vocab import CocoVocabulary
from evaluation.chair.chair import EMPTY_RATIO, check_image_ids, check_texts
from evaluation.chair.nlp import NltkPipeline
from evaluation.chair.objhal_prompt import is_short_answer
from evaluation.chair.objhal_refine import CHUNKER_SPACY, Chunker, load_chunker, refine_objects
from evaluation.chair.words import LEMMA_NOUN, CaptionWords, captions_to_words, coco_mentions
from evaluation.results import BenchResult
from uedpo.errors import InputError

BENCH = "objhal"  # the uedpo-eval --bench name (data folder: object_halbench)
SECTION = "objhal"
VARIANT_LLM_SPACY = "llm-objects+spacy-trf"  # the official pipeline (given the official extractor)
VARIANT_LLM_WORDNET = "llm-objects+wordnet-fallback"  # spaCy en_core_web_trf absent: NLTK stand-in
VARIANT_NLTK = "nltk-noun-lemmas"  # official non-GPT path, no LLM
RESP_DENOMINATOR_NOTE = "responses mentioning at least one COCO object"
WORD_SPLIT = " "  # official: len(cap.strip().split(" "))
# Official marker stored when the extractor failed FAIL_LIMIT times; compute_chair asserts it never occurs.
FAILED_EXTRACTION = "-1\n<no_response>"


def _ratio(num: float, den: float) -> float:
    return num / den if den else EMPTY_RATIO


@dataclass(frozen=True)
class ObjHalItem:
    """One response: its objects, which are hallucinated and why, and whether it counts for Resp."""

    image_id: int
    question: str
    answer: str
    extracted: tuple[str, ...] | None  # LLM strings as given (None on the NLTK path)
    objects: tuple[str, ...]  # refined, de-duplicated objects (LLM) or merged lemmas (NLTK): official "words"
    words: tuple[str, ...]  # COCO synonyms among them
    mentioned: tuple[str, ...]  # their classes
    hallucinated: tuple[tuple[str, str], ...]
    hallucination_idxs: tuple[int, ...]
    gt_objects: frozenset[str]
    recalled: frozenset[str]

    @property
    def chair_s(self) -> int:
        return int(bool(self.hallucinated))

    @property
    def chair_i(self) -> float:
        return len(self.hallucinated) / float(len(self.words)) if self.words else 0.0

    @property
    def mentions_coco(self) -> bool:
        """Counts in the Resp. denominator (official ``len(words) > 0``)."""
        return bool(self.words)

    @property
    def dropped(self) -> tuple[str, ...]:
        """Objects that are not COCO synonyms and so play no part (e.g. "coffee cup")."""
        return tuple(o for o in self.objects if o not in self.words)

    def why(self) -> list[str]:
        """One line per hallucinated object, saying why it counts."""
        gt = ", ".join(sorted(self.gt_objects)) or "nothing"
        return [
            f"{word!r} means {cls!r}, which is not among the image's ground-truth objects ({gt})"
            for word, cls in self.hallucinated
        ]

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready per-item record: objects, hallucinations and why, and the response's metrics."""
        return {
            "image_id": self.image_id,
            "extracted": None if self.extracted is None else list(self.extracted),
            "objects": list(self.objects),
            "mentioned": list(self.mentioned),
            "hallucinated": [list(pair) for pair in self.hallucinated],
            "why": self.why(),
            "not_coco": list(self.dropped),
            "gt_objects": sorted(self.gt_objects),
            "counts_for_resp": self.mentions_coco,
            "CHAIRs": self.chair_s,
            "CHAIRi": self.chair_i,
        }


@dataclass(frozen=True)
class ObjHalResult:
    """Overall Object HalBench numbers (official fractions) and every response's record."""

    items: tuple[ObjHalItem, ...]
    chair_s: float  # over all responses (not printed officially)
    chair_s_refine: float  # Resp.
    chair_i: float  # Ment.
    obj_rec: float
    avg_word_len: float
    coco_sentence_num: int
    coco_word_count: int  # official name; it counts unique CORRECT classes per response
    gt_word_count: int
    variant: str

    def metrics_percent(self) -> dict[str, float]:
        """The results-schema section: CHAIRs (= Resp., CHAIRs_refine) and CHAIRi (= Ment.), in percent."""
        return {"CHAIRs": 100 * self.chair_s_refine, "CHAIRi": 100 * self.chair_i}

    def summary(self) -> dict[str, float | int]:
        """What ``summarize_gpt_obj_halbench_review.py`` prints (x100 where it does; unrounded)."""
        return {
            "Response Hall": 100 * self.chair_s_refine,
            "Object Hall": 100 * self.chair_i,
            "Response Correct": 100 * (1 - self.chair_s_refine),
            "Object Correct": 100 * (1 - self.chair_i),
            "Object Recall": 100 * self.obj_rec,
            "Average Length": self.avg_word_len,
            "COCO Sent Number": self.coco_sentence_num,
            "COCO Word Number": self.coco_word_count,
            "GT Word Number": self.gt_word_count,
        }

    def to_bench_result(
        self,
        config: dict[str, Any] | None = None,
        versions: dict[str, str] | None = None,
        data_sha256: dict[str, str] | None = None,
    ) -> BenchResult:
        return BenchResult(
            bench=BENCH,
            metrics={SECTION: self.metrics_percent()},
            n_items=len(self.items),
            variant=self.variant,
            config=dict(config or {}),
            versions=dict(versions or {}),
            data_sha256=dict(data_sha256 or {}),
        )


def _aggregate(
    found: Sequence[CaptionWords],
    extracted: Sequence[tuple[str, ...] | None],
    answers: Sequence[str],
    questions: Sequence[str],
    image_ids: Sequence[int],
    gt_objects: Mapping[int, Collection[str]],
    variant: str,
) -> ObjHalResult:
    """Official ``compute_chair`` counting, given each response's COCO mentions."""
    items = []
    n_hall_resp = n_coco_resp = n_hall = n_mentions = n_correct_cls = n_gt = n_answer_words = 0
    for mentions, objs, answer, question, image_id in zip(
        found, extracted, answers, questions, image_ids, strict=True
    ):
        gt = frozenset(gt_objects[image_id])
        hallucinated, idxs, recalled = [], [], set()
        for word, cls, idx in zip(mentions.words, mentions.node_words, mentions.idxs, strict=True):
            if cls not in gt:
                hallucinated.append((word, cls))
                idxs.append(idx)
            else:
                recalled.add(cls)
        item = ObjHalItem(
            image_id,
            question,
            answer,
            objs,
            mentions.raw_words,
            mentions.words,
            mentions.node_words,
            tuple(hallucinated),
            tuple(idxs),
            gt,
            frozenset(recalled),
        )
        items.append(item)
        n_hall_resp += item.chair_s
        n_coco_resp += item.mentions_coco
        n_hall += len(hallucinated)
        n_mentions += len(mentions.node_words)
        n_correct_cls += len(recalled)
        n_gt += len(gt)
        n_answer_words += len(answer.strip().split(WORD_SPLIT))
    n = len(items)
    return ObjHalResult(
        items=tuple(items),
        chair_s=n_hall_resp / n,
        chair_s_refine=_ratio(n_hall_resp, n_coco_resp),
        chair_i=_ratio(n_hall, n_mentions),
        obj_rec=_ratio(n_correct_cls, n_gt),
        avg_word_len=n_answer_words / n,
        coco_sentence_num=n_coco_resp,
        coco_word_count=n_correct_cls,
        gt_word_count=n_gt,
        variant=variant,
    )


def _check_inputs(
    answers: Sequence[str],
    image_ids: Sequence[int],
    questions: Sequence[str] | None,
    gt_objects: Mapping[int, Collection[str]],
) -> list[str]:
    if len(answers) != len(image_ids):
        raise InputError(f"{len(answers)} answers but {len(image_ids)} image ids: pass one id per answer")
    if questions is not None and len(questions) != len(answers):
        raise InputError(
            f"{len(questions)} questions but {len(answers)} answers: pass one question per answer"
        )
    if not answers:
        raise InputError("no answers to score; the answer file is empty")
    check_texts(answers, "answer")
    check_image_ids(image_ids, gt_objects)
    return list(questions) if questions is not None else [""] * len(answers)


def _checked_objects(n: int, objs: object) -> tuple[str, ...]:
    if objs == FAILED_EXTRACTION:
        raise InputError(f"answer {n}: object extraction failed ({FAILED_EXTRACTION!r}); rerun the extractor")
    if isinstance(objs, str) or not isinstance(objs, Sequence) or not all(isinstance(o, str) for o in objs):
        raise InputError(
            f"answer {n}: extracted objects must be a list of strings, got {objs!r}; "
            "parse the extractor reply with parse_extraction_reply"
        )
    return tuple(objs)


def score_objhal_extracted(
    answers: Sequence[str],
    image_ids: Sequence[int],
    extracted: Sequence[Sequence[str]],
    gt_objects: Mapping[int, Collection[str]],
    vocab: CocoVocabulary,
    *,
    questions: Sequence[str] | None = None,
    chunker: Chunker | None = None,
    chunker_name: str | None = None,
) -> ObjHalResult:
    """Object HalBench from LLM-extracted objects (``extracted[i]``: the parsed reply for ``answers[i]``).

    ``chunker`` defaults to :func:`.objhal_refine.load_chunker` (spaCy ``en_core_web_trf`` if it loads, else
    the WordNet stand-in); pass ``chunker_name`` ("spacy-trf" for the official parser) with a custom one.
    """
    questions = _check_inputs(answers, image_ids, questions, gt_objects)
    if len(extracted) != len(answers):
        raise InputError(f"{len(extracted)} extracted-object lists but {len(answers)} answers")
    if chunker is None:
        chunker, chunker_name = load_chunker()
    variant = VARIANT_LLM_SPACY if chunker_name == CHUNKER_SPACY else VARIANT_LLM_WORDNET
    checked = [_checked_objects(n, objs) for n, objs in enumerate(extracted)]
    # Official get_gpt_resp: short answers get [] without an LLM call, whatever was extracted.
    checked = [() if is_short_answer(a) else objs for a, objs in zip(answers, checked, strict=True)]
    found = []
    for objs in checked:
        refined = refine_objects(objs, vocab.double_words, chunker)
        found.append(coco_mentions(refined, list(range(len(refined))), vocab))
    return _aggregate(found, checked, answers, questions, image_ids, gt_objects, variant)


def score_objhal_text(
    answers: Sequence[str],
    image_ids: Sequence[int],
    gt_objects: Mapping[int, Collection[str]],
    vocab: CocoVocabulary,
    *,
    questions: Sequence[str] | None = None,
    pipeline: NltkPipeline | None = None,
    progress: bool | None = None,
) -> ObjHalResult:
    """Object HalBench without an LLM: the official non-GPT path (noun lemmas, mentions with repetition)."""
    questions = _check_inputs(answers, image_ids, questions, gt_objects)
    found = captions_to_words(answers, vocab, LEMMA_NOUN, pipeline, progress=progress)
    return _aggregate(found, [None] * len(answers), answers, questions, image_ids, gt_objects, VARIANT_NLTK)
