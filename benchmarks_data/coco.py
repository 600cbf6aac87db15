"""COCO 2014 ground-truth objects for CHAIR and Object HalBench.

Two sources give ``{image id: frozenset of COCO classes}``:

* a ground-truth objects file (``object_halbench/gt/coco2014_gt_objects_maxlinn.json.gz``): gzip JSON
  ``{"<image id>": [class, ...]}`` for all 123,287 train2014+val2014 images (the Maxlinn CHAIR ground truth,
  derived from ``kchaosun/THUNLP_Multimodal_Excercise`` @ 4edc444 ``data/chair_300.pkl``), or its subset file
  ``gt/gt_objects_maxlinn_subsets.json`` (``{"object_halbench_300": {...}, "opera_coco500": {...}}``);
* the COCO annotation folder (``instances_{train,val}2014.json`` + ``captions_{train,val}2014.json``, read
  with pycocotools): this module reads the class of every instance annotation (:func:`instance_classes`) and
  every reference caption (:func:`reference_captions`); :mod:`evaluation.benches.coco_gt` unites them with the
  classes CHAIR's word pipeline finds in the captions, as the official scripts do.

:func:`serialise_gt` is the byte layout of the first (sorted keys and lists, gzip with mtime 0), so the same
annotations always give the same sha256.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import re
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from benchmarks_data.chair_inputs import BENCH
from benchmarks_data.coco_vocab import CocoVocabulary
from benchmarks_data.derive import serialise_gt_objects
from benchmarks_data.store import DataError, data_file, loads
from uedpo.errors import InputError

GT_OBJECTS_FILE = "gt/coco2014_gt_objects_maxlinn.json.gz"
GT_SUBSETS_FILE = "gt/gt_objects_maxlinn_subsets.json"
GT_SUBSETS = ("object_halbench_300", "opera_coco500")
COCO_SPLITS = ("val", "train")  # official combine_coco_*: val annotations first, then train
COCO_FIX = (
    "download annotations_trainval2014.zip from http://images.cocodataset.org/annotations/ and unzip "
    "it so the folder holds instances_{train,val}2014.json and captions_{train,val}2014.json"
)

GtObjects = dict[int, frozenset[str]]


def _checked_table(path: Path, table: Any, image_ids: Collection[int] | None) -> GtObjects:
    if not isinstance(table, dict):
        raise DataError(
            f"{path}: expected a JSON object {{image id: [classes]}}, got {type(table).__name__}; "
            "regenerate it with build_gt_objects_file"
        )
    wanted = None if image_ids is None else {str(i) for i in image_ids}
    gt: GtObjects = {}
    for key, classes in table.items():
        if wanted is not None and key not in wanted:
            continue
        if not key.isdigit() or not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise DataError(
                f"{path}: entry {key!r} is not '<image id>: [class, ...]'; "
                "regenerate the file with build_gt_objects_file"
            )
        gt[int(key)] = frozenset(classes)
    return gt


# One entry of the compact layout ``"123":["dog","person"]`` (whitespace tolerated). Class names never hold
# "]" or escaped quotes; an entry that does not parse sends the loader to the full JSON parse.
_ENTRY = re.compile(r'"(\d+)"\s*:\s*(\[[^\]]*\])')


def _read_text(path: Path) -> str:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                return fh.read()
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(
            f"{path}: ground-truth objects file not found; run `uedpo-data fetch {BENCH}` "
            "or build one with build_gt_objects_file"
        ) from None
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(
            f"{path}: unreadable ground-truth objects file ({exc}); "
            f"fetch it again with `uedpo-data fetch {BENCH}`"
        ) from None


def _scan_entries(text: str, image_ids: Collection[int]) -> GtObjects | None:
    """The wanted entries found by a regex scan (6x faster than parsing 123k lists), or None when any
    wanted id is missing or an entry does not parse (then the caller parses the whole file)."""
    wanted = {str(i) for i in image_ids}
    gt: GtObjects = {}
    for match in _ENTRY.finditer(text):
        if match.group(1) in wanted:
            try:
                classes = json.loads(match.group(2))
            except ValueError:
                return None
            if not all(isinstance(c, str) for c in classes):
                return None
            gt[int(match.group(1))] = frozenset(classes)
    return gt if len(gt) == len(wanted) else None


def load_gt_objects(
    path: str | os.PathLike | None = None,
    image_ids: Collection[int] | None = None,
    data_dir: str | os.PathLike | None = None,
) -> GtObjects:
    """``{image id: classes}`` from a GT objects file (``.json.gz`` or ``.json``; default: the data dir's
    Maxlinn file), optionally only for ``image_ids`` (ids absent from the file are left out)."""
    path = Path(path) if path is not None else data_file(BENCH, GT_OBJECTS_FILE, data_dir)
    text = _read_text(path)
    if image_ids is not None:
        found = _scan_entries(text, image_ids)
        if found is not None:
            return found
    try:
        table = loads(text)
    except ValueError as exc:
        raise DataError(
            f"{path}: unreadable ground-truth objects file ({exc}); "
            f"fetch it again with `uedpo-data fetch {BENCH}`"
        ) from None
    return _checked_table(path, table, image_ids)


def load_gt_subset(
    subset: str, path: str | os.PathLike | None = None, data_dir: str | os.PathLike | None = None
) -> GtObjects:
    """One subset ("object_halbench_300" or "opera_coco500") of ``gt_objects_maxlinn_subsets.json``."""
    if subset not in GT_SUBSETS:
        raise InputError(f"unknown GT subset {subset!r}; use one of {', '.join(GT_SUBSETS)}")
    path = Path(path) if path is not None else data_file(BENCH, GT_SUBSETS_FILE, data_dir)
    try:
        tables = loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(
            f"{path}: unreadable GT subsets file ({exc}); fetch it with `uedpo-data fetch {BENCH}`"
        ) from None
    if not isinstance(tables, dict) or subset not in tables:
        raise DataError(f"{path}: no subset {subset!r}; fetch the file again with `uedpo-data fetch {BENCH}`")
    return _checked_table(path, tables[subset], None)


def _load_coco(path: Path) -> Any:
    from pycocotools.coco import COCO

    if not path.is_file():
        raise DataError(f"{path}: COCO annotation file not found; {COCO_FIX}")
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        try:
            return COCO(str(path))
        except (ValueError, KeyError, TypeError, AssertionError) as exc:
            raise DataError(f"{path}: not a COCO annotation file ({exc!r}); {COCO_FIX}") from None


def instance_classes(
    coco_dir: Path, vocab: CocoVocabulary, image_ids: Collection[int] | None
) -> dict[int, set[str]]:
    """The class of every instance annotation of train+val 2014, per image."""
    objects: dict[int, set[str]] = {}
    for split in COCO_SPLITS:
        path = coco_dir / f"instances_{split}2014.json"
        coco = _load_coco(path)
        for ann in coco.anns.values():
            image_id = ann["image_id"]
            if image_ids is not None and image_id not in image_ids:
                continue
            name = coco.cats[ann["category_id"]]["name"]
            if name not in vocab.synonym_to_class:
                raise DataError(
                    f"{path}: category {name!r} is not in the {vocab.variant} synonym list; "
                    "use the COCO 2014 annotation files"
                )
            objects.setdefault(image_id, set()).add(vocab.synonym_to_class[name])
    return objects


def reference_captions(coco_dir: Path, image_ids: Collection[int] | None) -> list[tuple[int, str]]:
    """``(image id, caption)`` of every reference caption of train+val 2014."""
    captions = []
    for split in COCO_SPLITS:
        coco = _load_coco(coco_dir / f"captions_{split}2014.json")
        captions += [
            (a["image_id"], a["caption"])
            for a in coco.anns.values()
            if image_ids is None or a["image_id"] in image_ids
        ]
    return captions


def serialise_gt(gt: GtObjects | dict[int, Iterable[str]]) -> bytes:
    """The GT-objects gzip bytes (sorted keys and class lists, mtime 0): deterministic."""
    return serialise_gt_objects({str(image_id): sorted(classes) for image_id, classes in gt.items()})
