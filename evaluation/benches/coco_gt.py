"""COCO 2014 ground-truth objects from the annotation folder, for CHAIR and Object HalBench (``uedpo-eval``
and ``uedpo-data build-gt``).

Wiring, not a loader: the folder is read by :mod:`benchmarks_data.coco` (instance classes, reference captions)
and the captions' objects come from the scorers' word pipeline (:func:`evaluation.chair.words.captions_to_words`),
as ``shikiw/OPERA`` @ 61426ef ``chair.py`` ``CHAIR.get_annotations`` (variant "maxlinn": original synonyms,
POS-tagged lemmas) and ``RLHF-V/RLAIF-V`` @ 83d917b ``eval/eval_gpt_obj_halbench.py`` (variant "rlhfv": refined
synonyms, noun lemmas) build them.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

from benchmarks_data.chair_inputs import load_vocabulary
from benchmarks_data.coco import (
    COCO_FIX,
    GtObjects,
    instance_classes,
    load_gt_objects,
    reference_captions,
    serialise_gt,
)
from benchmarks_data.coco_vocab import ORIGINAL, REFINED
from benchmarks_data.store import DataError
from evaluation.chair.words import LEMMA_NOUN, LEMMA_POS, captions_to_words
from uedpo.errors import InputError
from uedpo.io import atomic_write_bytes

GT_VARIANTS = {"maxlinn": (ORIGINAL, LEMMA_POS), "rlhfv": (REFINED, LEMMA_NOUN)}


def gt_objects_from_coco(
    coco_dir: str | os.PathLike,
    variant: str = "maxlinn",
    image_ids: Collection[int] | None = None,
    data_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
) -> GtObjects:
    """``{image id: classes}`` from the COCO annotation folder (see the module docstring).

    ``image_ids`` restricts the work to those images. Variant "rlhfv" gives each of them an entry (empty if
    nothing is annotated), as RLHF-V does; "maxlinn" gives entries only to annotated images, as Maxlinn's
    ``defaultdict`` (so a caption loader can refuse unknown ids).
    """
    if variant not in GT_VARIANTS:
        raise InputError(f"unknown GT variant {variant!r}; use one of {', '.join(GT_VARIANTS)}")
    vocab_variant, mode = GT_VARIANTS[variant]
    vocab = load_vocabulary(vocab_variant, data_dir)
    coco_dir = Path(coco_dir)
    wanted = None if image_ids is None else set(image_ids)
    objects = instance_classes(coco_dir, vocab, wanted)
    captions = reference_captions(coco_dir, wanted)
    found = captions_to_words([c for _, c in captions], vocab, mode, progress=progress)
    for (image_id, _), words in zip(captions, found, strict=True):
        objects.setdefault(image_id, set()).update(words.node_words)
    if (
        variant == "rlhfv"
    ):  # RLHF-V: imid_to_objects = {imid: [] for imid in imids}; Maxlinn has no such entry
        for image_id in wanted or ():
            objects.setdefault(image_id, set())
    return {image_id: frozenset(classes) for image_id, classes in objects.items()}


def gt_objects(
    source: str | os.PathLike | None = None,
    image_ids: Collection[int] | None = None,
    variant: str = "maxlinn",
    data_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
) -> GtObjects:
    """Ground truth from ``source``: a COCO annotation folder (built for ``variant``), a GT objects file, or
    None for the data directory's Maxlinn file (only the ``maxlinn`` variant exists as a file there)."""
    if source is not None and Path(source).is_dir():
        return gt_objects_from_coco(source, variant, image_ids, data_dir, progress)
    if source is None and variant != "maxlinn":
        raise DataError(
            f"no {variant} ground-truth file in the data directory; pass the COCO 2014 annotation "
            f"folder instead ({COCO_FIX})"
        )
    return load_gt_objects(source, image_ids, data_dir)


def build_gt_objects_file(
    coco_dir: str | os.PathLike,
    out_path: str | os.PathLike,
    variant: str = "maxlinn",
    data_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
) -> Path:
    """Build the GT objects of every annotated COCO 2014 image and write them atomically to ``out_path``."""
    gt = gt_objects_from_coco(coco_dir, variant, None, data_dir, progress)
    out_path = Path(out_path)
    atomic_write_bytes(out_path, serialise_gt(gt))
    return out_path
