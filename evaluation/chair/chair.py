"""CHAIR on COCO (the Maxlinn protocol): CHAIRs, CHAIRi, Recall, Len, per caption and overall.

Source: ``shikiw/OPERA`` @ 61426efe4e2e53207f32d9112a86ba5f8364d1d9 ``chair.py`` ``CHAIR.compute_chair``
(identical to ``kchaosun/THUNLP_Multimodal_Excercise`` @ 4edc444939bd6e6a079832c976c08e775bd7df5e
``eval/chair.py``), a Python 3 port of ``LisaAnne/Hallucination`` ``utils/chair.py``. Micro averages over the
caption list:

* ``CHAIRs = #captions with >= 1 hallucinated mention / #captions`` (captions without any COCO word count);
* ``CHAIRi = #hallucinated mentions / #mentions`` (mentions counted with repetition);
* ``Recall = sum |GT classes mentioned| / sum |GT classes|`` (per caption, unique classes);
* ``Len = 0.01 * mean number of merged words`` (punctuation included), printed x100.

Per caption: ``CHAIRi = hallucinated / mentions`` (0 without mentions), ``Recall`` likewise, ``Len`` always 0
(official quirk, :data:`PER_CAPTION_LEN`). A mention is hallucinated when its class is not in the image's
ground truth, so an image with an empty ground truth makes every mention a hallucination.

Deliberate difference (input handling only): an image id missing from the ground truth raises ``ValueError``;
OPERA's ``defaultdict`` silently scores it against an empty ground truth. Where the official script divides by
zero (no captions, or no mentions at all), this module raises for no captions and reports 0.0 for ratios whose
denominator is 0 (:data:`EMPTY_RATIO`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks_data.coco_vocab import ORIGINAL, CocoVocabulary
from evaluation.chair.nlp import NltkPipeline
from evaluation.chair.words import LEMMA_POS, CaptionWords, captions_to_words
from evaluation.results import BenchResult
from uedpo.errors import InputError

BENCH = "chair"
SECTION = "chair"
VARIANT_MAXLINN = "maxlinn"  # original synonyms, POS-tagged lemmas: the published COCO CHAIR protocol
PER_CAPTION_LEN = 0.0  # official: cap_dict['metrics']['Len'] is set to 0. and never updated
EMPTY_RATIO = 0.0  # where the official script would raise ZeroDivisionError
LEN_SCALE = 0.01  # official: avg_len = 0.01 * len_caps / num_caps


def _ratio(num: float, den: float) -> float:
    return num / den if den else EMPTY_RATIO


@dataclass(frozen=True)
class ChairItem:
    """One caption: what it mentions, what of that is hallucinated and why, and its official metrics."""

    image_id: int
    caption: str
    words: tuple[str, ...]  # COCO synonyms as lemmatised ("child", "puppy")
    mentioned: tuple[str, ...]  # their classes, repetitions kept (official mscoco_generated_words)
    hallucinated: tuple[tuple[str, str], ...]  # (word, class) not in the GT (mscoco_hallucinated_words)
    hallucination_idxs: tuple[int, ...]
    gt_objects: frozenset[str]
    recalled: frozenset[str]  # GT classes the caption mentions
    raw_words: tuple[str, ...]  # lemmas after the double-word merge (official per-sentence "words")

    @property
    def chair_s(self) -> int:
        return int(bool(self.hallucinated))

    @property
    def chair_i(self) -> float:
        return len(self.hallucinated) / float(len(self.words)) if self.words else 0.0

    @property
    def recall(self) -> float:
        return len(self.recalled) / len(self.gt_objects) if self.gt_objects else 0.0

    def why(self) -> list[str]:
        """One line per hallucinated mention, saying why it counts."""
        gt = ", ".join(sorted(self.gt_objects)) or "nothing"
        return [
            f"{word!r} means {cls!r}, which is not among the image's ground-truth objects ({gt})"
            for word, cls in self.hallucinated
        ]

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready per-item record: mentions, hallucinations and why, and the caption's metrics."""
        return {
            "image_id": self.image_id,
            "mentioned": list(self.mentioned),
            "words": list(self.words),
            "hallucinated": [list(pair) for pair in self.hallucinated],
            "why": self.why(),
            "gt_objects": sorted(self.gt_objects),
            "CHAIRs": self.chair_s,
            "CHAIRi": self.chair_i,
            "Recall": self.recall,
        }

    def to_official(self) -> dict[str, Any]:
        """The per-sentence dict of the official output (``mscoco_gt_words`` sorted; officially set order)."""
        return {
            "image_id": self.image_id,
            "caption": self.caption,
            "mscoco_hallucinated_words": [list(pair) for pair in self.hallucinated],
            "mscoco_gt_words": sorted(self.gt_objects),
            "mscoco_generated_words": list(self.mentioned),
            "hallucination_idxs": list(self.hallucination_idxs),
            "words": list(self.raw_words),
            "metrics": {
                "CHAIRs": self.chair_s,
                "CHAIRi": self.chair_i,
                "Recall": self.recall,
                "Len": PER_CAPTION_LEN,
            },
        }


@dataclass(frozen=True)
class ChairResult:
    """Overall CHAIR (official fractions) plus every caption's record."""

    items: tuple[ChairItem, ...]
    chair_s: float
    chair_i: float
    recall: float
    avg_len: float  # 0.01 * mean merged words, as the official overall "Len"
    variant: str

    def metrics_percent(self) -> dict[str, float]:
        """The results-schema section: CHAIRs, CHAIRi, Recall, Len in percent, unrounded."""
        return {
            "CHAIRs": 100 * self.chair_s,
            "CHAIRi": 100 * self.chair_i,
            "Recall": 100 * self.recall,
            "Len": 100 * self.avg_len,
        }

    def to_official(self) -> dict[str, Any]:
        """``{"sentences": [...], "overall_metrics": {...}}`` as the official ``--save_path`` file."""
        return {
            "sentences": [item.to_official() for item in self.items],
            "overall_metrics": {
                "CHAIRs": self.chair_s,
                "CHAIRi": self.chair_i,
                "Recall": self.recall,
                "Len": self.avg_len,
            },
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


def chair_variant(vocab: CocoVocabulary, mode: str) -> str:
    """``"maxlinn"`` for the published protocol, else a name that says what differs."""
    if vocab.variant == ORIGINAL and mode == LEMMA_POS:
        return VARIANT_MAXLINN
    return f"{vocab.variant}-synonyms+{mode}-lemmas"


def check_texts(texts: Sequence[str], what: str = "caption") -> None:
    """``ValueError`` naming the first entry that is not a string."""
    for n, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"{what} {n} is {type(text).__name__}, not text; pass one string per {what}")


def check_image_ids(image_ids: Sequence[int], gt_objects: Mapping[int, Collection[str]]) -> None:
    """``ValueError`` naming the first caption whose image has no ground truth."""
    for n, image_id in enumerate(image_ids):
        if image_id not in gt_objects:
            raise InputError(
                f"caption {n}: image id {image_id!r} has no ground-truth objects; score only COCO 2014 "
                "train/val images, or use a ground truth built for these images"
            )


def score_chair_words(
    mentions: Sequence[CaptionWords],
    captions: Sequence[str],
    image_ids: Sequence[int],
    gt_objects: Mapping[int, Collection[str]],
    variant: str = VARIANT_MAXLINN,
) -> ChairResult:
    """CHAIR from already-extracted mentions (the counting half of ``compute_chair``)."""
    if not (len(mentions) == len(captions) == len(image_ids)):
        raise InputError(
            f"{len(mentions)} mention lists, {len(captions)} captions and {len(image_ids)} "
            "image ids: pass one of each per caption"
        )
    if not captions:
        raise InputError("no captions to score; the caption file is empty")
    check_image_ids(image_ids, gt_objects)
    items = []
    n_hallucinated_caps = n_hallucinated = n_mentions = n_gt = n_recalled = n_raw = 0
    for found, caption, image_id in zip(mentions, captions, image_ids, strict=True):
        gt = frozenset(gt_objects[image_id])
        hallucinated, idxs, recalled = [], [], set()
        for word, cls, idx in zip(found.words, found.node_words, found.idxs, strict=True):
            if cls not in gt:
                hallucinated.append((word, cls))
                idxs.append(idx)
            else:
                recalled.add(cls)
        items.append(
            ChairItem(
                image_id,
                caption,
                found.words,
                found.node_words,
                tuple(hallucinated),
                tuple(idxs),
                gt,
                frozenset(recalled),
                found.raw_words,
            )
        )
        n_hallucinated_caps += bool(hallucinated)
        n_hallucinated += len(hallucinated)
        n_mentions += len(found.node_words)
        n_gt += len(gt)
        n_recalled += len(recalled)
        n_raw += len(found.raw_words)
    n_caps = len(items)
    return ChairResult(
        items=tuple(items),
        chair_s=n_hallucinated_caps / n_caps,
        chair_i=_ratio(n_hallucinated, n_mentions),
        recall=_ratio(n_recalled, n_gt),
        avg_len=LEN_SCALE * n_raw / n_caps,
        variant=variant,
    )


def score_chair(
    captions: Sequence[str],
    image_ids: Sequence[int],
    gt_objects: Mapping[int, Collection[str]],
    vocab: CocoVocabulary,
    *,
    mode: str = LEMMA_POS,
    pipeline: NltkPipeline | None = None,
    progress: bool | None = None,
) -> ChairResult:
    """CHAIR of ``captions`` (one per entry of ``image_ids``) against ``gt_objects`` ({image id: classes})."""
    if len(captions) != len(image_ids):  # fail before the NLP work
        raise InputError(f"{len(captions)} captions but {len(image_ids)} image ids: pass one id per caption")
    check_texts(captions)
    check_image_ids(image_ids, gt_objects)
    mentions = captions_to_words(captions, vocab, mode, pipeline, progress=progress)
    return score_chair_words(mentions, captions, image_ids, gt_objects, chair_variant(vocab, mode))
