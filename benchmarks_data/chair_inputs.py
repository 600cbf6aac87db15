"""Loaders for CHAIR inputs: model caption files and the COCO synonym lists.

Caption files follow ``shikiw/OPERA`` @ 61426efe4e2e53207f32d9112a86ba5f8364d1d9 ``chair.py``
``load_generated_captions``: a ``.json`` list of objects or a ``.jsonl`` file of objects, the image id under
``image_id_key`` and the caption under ``caption_key`` (CLI ``--image-id-key`` / ``--caption-key``). Image ids
may be ints, digit strings or COCO file names (``COCO_val2014_000000123456.jpg`` -> 123456), as the THUNLP
variant of the script accepts. Deliberate difference: an id that is not in the ground truth is REFUSED with an
error naming the line; OPERA silently scores it against an empty ground truth (every mention hallucinated).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks_data.coco_vocab import ORIGINAL, REFINED, CocoVocabulary, build_vocabulary
from benchmarks_data.store import DataError, data_file, loads
from uedpo.errors import InputError

BENCH = "object_halbench"
SYNONYMS_FILES = {ORIGINAL: "vocab/synonyms.txt", REFINED: "vocab/synonyms_refine.txt"}
CAPTION_EXTENSIONS = (".json", ".jsonl")
# "COCO_val2014_000000123456.jpg", optionally with a folder in front or without the extension.
COCO_FILE_NAME = re.compile(
    r"(?:^|[/\\])COCO_(?:train|val|test)2014_(\d+)(?:\.(?:jpg|jpeg|png))?$", re.IGNORECASE
)


@dataclass(frozen=True)
class CaptionRecord:
    """One caption to score; ``where`` is "line N" (.jsonl) or "item N" (.json), for messages."""

    image_id: int
    caption: str
    where: str


def parse_coco_image_id(value: Any) -> int:
    """An int image id from an int, a digit string or a COCO file name; ``ValueError`` otherwise."""
    if isinstance(value, bool):
        raise InputError(f"{value!r} is not an image id")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        match = COCO_FILE_NAME.search(text)
        if match:
            return int(match.group(1))
    raise InputError(
        f"{value!r} is not a COCO image id (an int or a name like COCO_val2014_000000123456.jpg)"
    )


def read_json_records(path: str | os.PathLike) -> list[tuple[str, Any]]:
    """``[(where, object)]`` of a ``.json`` list or a ``.jsonl`` file (blank lines skipped)."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in CAPTION_EXTENSIONS:
        raise DataError(
            f"{path}: unsupported extension {ext or '(none)'!r}; give a .json list or a .jsonl file"
        )
    if not path.is_file():
        raise DataError(f"{path}: file not found; check the path")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8 JSON") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror}); check the path and its permissions") from None
    if ext == ".json":
        try:
            data = loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); fix or regenerate the file"
            ) from None
        if not isinstance(data, list):
            raise DataError(
                f"{path}: expected a JSON list of objects, got {type(data).__name__}; "
                "save one object per caption (or use .jsonl)"
            )
        return [(f"item {n}", obj) for n, obj in enumerate(data)]
    records = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((f"line {n}", loads(line)))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {n}: not valid JSON ({exc.msg}); fix or remove the line") from None
    return records


def _field(path: Path, where: str, obj: Any, key: str, option: str) -> Any:
    if not isinstance(obj, dict):
        raise DataError(
            f"{path}: {where}: expected a JSON object, got {type(obj).__name__}; one object per caption"
        )
    if key not in obj:
        raise DataError(
            f"{path}: {where}: no key {key!r} (keys: {', '.join(map(str, obj)) or 'none'}); "
            f"pass {option} NAME"
        )
    return obj[key]


def load_captions(
    path: str | os.PathLike,
    image_id_key: str = "image_id",
    caption_key: str = "caption",
    known_ids: Collection[int] | None = None,
) -> list[CaptionRecord]:
    """The captions of a model output file, with checked image ids (see the module docstring).

    ``known_ids``: the images that have ground truth (e.g. the GT mapping); an id outside them is refused.
    """
    path = Path(path)
    records = []
    for where, obj in read_json_records(path):
        raw_id = _field(path, where, obj, image_id_key, "--image-id-key")
        caption = _field(path, where, obj, caption_key, "--caption-key")
        try:
            image_id = parse_coco_image_id(raw_id)
        except ValueError as exc:
            raise DataError(f"{path}: {where}: {exc}; pass --image-id-key NAME for the id field") from None
        if not isinstance(caption, str):
            raise DataError(
                f"{path}: {where}: caption under {caption_key!r} is {type(caption).__name__}, "
                "not text; pass --caption-key NAME for the text field"
            )
        if known_ids is not None and image_id not in known_ids:
            raise DataError(
                f"{path}: {where}: image {image_id} has no ground-truth objects (not a COCO 2014 "
                "train/val image?); remove it or use a ground truth that covers it"
            )
        records.append(CaptionRecord(image_id, caption, where))
    if not records:
        raise DataError(f"{path}: no captions found; check the file")
    return records


def load_vocabulary(variant: str = ORIGINAL, data_dir: str | os.PathLike | None = None) -> CocoVocabulary:
    """The COCO vocabulary of ``variant`` ("original": CHAIR; "refined": Object HalBench)."""
    if variant not in SYNONYMS_FILES:
        raise InputError(f"unknown vocabulary variant {variant!r}; use one of {', '.join(SYNONYMS_FILES)}")
    path = data_file(BENCH, SYNONYMS_FILES[variant], data_dir)
    return build_vocabulary(path.read_text(encoding="utf-8"), variant)
