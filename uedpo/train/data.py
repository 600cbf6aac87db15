"""Preference rows for training: TRL-style JSON/JSONL, RLHF-V exports and RLAIF-V parquet, checked up front.

Formats (``data_format: auto`` picks one per file from the first row's keys):

- ``trl``: ``{"image": "rel/path.jpg", "prompt": "question", "chosen": "...", "rejected": "..."}``, optional
  ``id``; ``images: [path]`` (one image) is accepted for ``image``. SFT rows need only image, prompt, chosen.
- ``rlhf_v``: ``openbmb/RLHF-V-Dataset`` rows exported to JSON/JSONL/parquet: ``image`` (a path, or a dict
  with ``bytes`` / ``path`` as the HF Image feature stores it), ``text`` = a JSON string (or object)
  ``{"question", "chosen", "rejected"}``, ``idx``.
- ``rlaif_v``: ``openbmb/RLAIF-V-Dataset`` parquet: ``question``, ``chosen``, ``rejected``, ``image``
  (``{"bytes": ...}``), ``image_path``, ``idx`` (``RLHF-V/RLAIF-V`` ``muffin/data/datasets.py``).

The question is the user's text only; the model adapter adds the chat template and the image placeholder, so a
literal ``<image>`` (LLaVA-format data) or Qwen vision placeholder in the question is removed. Images given as
bytes are decoded with PIL (never unpickled); JSON may carry them as base64 text.

``data: shapesworld`` or ``shapesworld:seed=N`` (``loss: sft`` only) is an endless on-the-fly stream of
ShapesWorld SFT examples (:func:`benchmarks_data.shapesworld.iter_sft_examples`: fresh seeded scenes, JPEG
round-trip, 25 % yes/no questions), so no image is written to disk; yes/no targets are trained as "Yes" /
"No", the exact answers the AMBER scorer compares against.

Image paths are relative to ``image_dir`` (default: the data file's folder) and must stay inside it: a path
that leaves it (``../x.png``, or an absolute path elsewhere) is refused, so a downloaded data file cannot make
the trainer open files outside the folder the user named. The check is on the path as written (normalised,
symlinks not followed): links the user made inside ``image_dir`` keep working.

Every problem a row can have (missing field, missing or unreadable image, image outside ``image_dir``, empty
completion, duplicate id, several images) raises :class:`TrainDataError` naming the file, the row and the
fix, before any model runs.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError

SUFFIXES = (".json", ".jsonl", ".parquet")
# Placeholders the adapters insert themselves; a copy inside the question would double the image tokens.
IMAGE_PLACEHOLDER = re.compile(r"<image>\s*|<\|vision_start\|>(<\|image_pad\|>)+<\|vision_end\|>\s*")


class TrainDataError(ValueError):
    """A training row cannot be used; the message names the file, the row and the fix."""


@dataclass(frozen=True)
class PreferenceRow:
    """One training example: an image, the question, and the chosen (+ rejected) responses."""

    id: str  # unique per data set; seeds the blur noise in ``noise_mode: fixed_per_sample``
    prompt: str  # the question only; the adapter builds the full chat prompt
    chosen: str
    rejected: str | None  # None for SFT rows
    image_path: Path | None
    image_bytes: bytes | None = field(default=None, repr=False)
    source: str = ""  # "file row N" for messages

    def open_image(self) -> Image.Image:
        """The RGB image; a file that is not an image raises :class:`TrainDataError`."""
        try:
            handle = io.BytesIO(self.image_bytes) if self.image_bytes is not None else self.image_path
            with Image.open(handle) as img:
                return img.convert("RGB")
        except (OSError, UnidentifiedImageError, ValueError) as err:
            raise TrainDataError(
                f"{self.source} (id {self.id}): image {self.image_path or '<bytes>'} cannot be decoded "
                f"({type(err).__name__}); replace the file or drop the row"
            ) from err

    def image_size(self) -> tuple[int, int]:
        """(width, height) from the image header only (cheap), with the same error as :meth:`open_image`."""
        try:
            handle = io.BytesIO(self.image_bytes) if self.image_bytes is not None else self.image_path
            with Image.open(handle) as img:
                return img.size
        except (OSError, UnidentifiedImageError, ValueError) as err:
            raise TrainDataError(
                f"{self.source} (id {self.id}): image {self.image_path or '<bytes>'} is not a readable image "
                f"({type(err).__name__}); replace the file or drop the row"
            ) from err


class RowDataset(torch.utils.data.Dataset):
    """A list of :class:`PreferenceRow` as a map-style dataset (the collator does the encoding)."""

    def __init__(self, rows: list[PreferenceRow]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> PreferenceRow:
        return self.rows[index]


@dataclass(frozen=True)
class StreamRow(PreferenceRow):
    """A row whose image is in memory (uint8 RGB pixels), from an on-the-fly stream."""

    pixels: Any = field(default=None, repr=False)

    def open_image(self) -> Image.Image:
        return Image.fromarray(self.pixels, mode="RGB")

    def image_size(self) -> tuple[int, int]:
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])


# The AMBER scorer compares yes/no answers to exactly these strings (SCORERS.md §3).
STREAM_ANSWERS = {"yes": "Yes", "no": "No"}


def parse_stream_seed(data: str) -> int:
    """``shapesworld`` -> 0, ``shapesworld:seed=7`` -> 7; anything else raises :class:`TrainDataError`."""
    _, _, options = data.partition(":")
    if not options:
        return 0
    key, sep, value = options.partition("=")
    if key.strip() != "seed" or not sep or not value.strip().lstrip("-").isdigit():
        raise TrainDataError(f"data {data!r}: expected 'shapesworld' or 'shapesworld:seed=N' (N an integer)")
    return int(value)


class ShapesWorldStream(torch.utils.data.IterableDataset):
    """Endless ShapesWorld SFT rows (caption or yes/no), reproducible from ``seed``."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def __iter__(self) -> Iterator[StreamRow]:
        from benchmarks_data.shapesworld import iter_sft_examples

        for number, example in enumerate(iter_sft_examples(self.seed)):
            target = STREAM_ANSWERS.get(example.target, example.target)
            yield StreamRow(id=f"sw{self.seed}-{number}", prompt=example.prompt, chosen=target, rejected=None,
                            image_path=None, source=f"shapesworld:seed={self.seed} example {number}",
                            pixels=example.image)


# -- reading files ------------------------------------------------------------------------------------------
def _read_parquet(path: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as err:
        raise TrainDataError(f"{path}: reading parquet needs pyarrow; run `pip install pyarrow`") from err
    try:
        return pq.read_table(path).to_pylist()
    except Exception as err:  # ArrowInvalid, OSError, ... depending on the damage
        kind = type(err).__name__
        raise TrainDataError(f"{path}: not a readable parquet file ({kind}); re-export it") from err


def _read_json(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        records = []
        for number, line in enumerate(text.splitlines()):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise TrainDataError(
                    f"{path}: line {number + 1} is not valid JSON ({err.msg}); fix the line"
                ) from err
        return records
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as err:
        raise TrainDataError(
            f"{path}: not valid JSON ({err.msg} at line {err.lineno}); fix the file"
        ) from err
    if not isinstance(loaded, list):
        raise TrainDataError(f"{path}: expected a JSON list of rows, got {type(loaded).__name__}")
    return loaded


def data_files(data: str | Path) -> list[Path]:
    """The data file, or every .json/.jsonl/.parquet file of a directory in name order."""
    path = Path(data)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES)
        if not files:
            raise TrainDataError(f"data directory {path}: no {'/'.join(SUFFIXES)} files; check the path")
        return files
    if not path.is_file():
        raise TrainDataError(f"data {path}: file not found; check the path")
    if path.suffix not in SUFFIXES:
        raise TrainDataError(f"data {path}: unsupported suffix {path.suffix!r}; expected one of {SUFFIXES}")
    return [path]


def read_records(path: Path) -> list[dict[str, Any]]:
    records = _read_parquet(path) if path.suffix == ".parquet" else _read_json(path)
    for number, record in enumerate(records):
        if not isinstance(record, dict):
            kind = type(record).__name__
            raise TrainDataError(f"{path} row {number}: expected an object of fields, got {kind}")
    return records


def detect_format(path: Path, first: dict[str, Any]) -> str:
    if "text" in first:
        return "rlhf_v"
    if "question" in first:
        return "rlaif_v"
    if "prompt" in first:
        return "trl"
    raise TrainDataError(
        f"{path} row 0: cannot tell the format from keys {sorted(first)}; expected TRL rows "
        "{image, prompt, chosen, rejected}, RLHF-V {image, text, idx} or RLAIF-V {image, question, chosen, "
        "rejected, idx}; set data_format"
    )


# -- one row -------------------------------------------------------------------------------------------------
class _Row:
    """Field access for one record with errors that name the row."""

    def __init__(self, record: dict[str, Any], source: str, row_id: str) -> None:
        self.record, self.source, self.id = record, source, row_id

    def error(self, problem: str, fix: str) -> TrainDataError:
        return TrainDataError(f"{self.source} (id {self.id}): {problem}; {fix}")

    def text(self, record: dict[str, Any], key: str, *, required: bool = True) -> str | None:
        value = record.get(key)
        if value is None:
            if required:
                raise self.error(f"missing field {key!r}", f"add {key!r} or drop the row")
            return None
        if not isinstance(value, str):
            kind = type(value).__name__
            if isinstance(value, list):
                kind = "a list of messages (conversational format)"
            raise self.error(f"field {key!r} is {kind}", "give plain text")
        return value

    def completion(self, record: dict[str, Any], key: str) -> str:
        value = self.text(record, key)
        if not value.strip():
            raise self.error(f"empty {key} response", "drop the row or fill in the response")
        return value


def _image_bytes(row: _Row, raw: Any) -> bytes:
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw)
    if isinstance(raw, list):  # bytes exported as a list of ints
        return bytes(raw)
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError, TypeError):
        problem = "image bytes are neither raw bytes nor base64 text"
        raise row.error(problem, "re-export the image column") from None


def _image(row: _Row, image_dir: Path) -> tuple[Path | None, bytes | None]:
    rec = row.record
    raw = rec.get("image")
    if raw is None and "images" in rec:
        images = rec["images"]
        if not isinstance(images, list) or len(images) != 1:
            count = len(images) if isinstance(images, list) else type(images).__name__
            raise row.error(f"'images' holds {count} entries; one image per row is supported", "keep one")
        raw = images[0]
    if isinstance(raw, dict):
        if raw.get("bytes"):
            return None, _image_bytes(row, raw["bytes"])
        raw = raw.get("path")
    if raw is None:
        raw = rec.get("image_path")
    if not isinstance(raw, str) or not raw:
        raise row.error("missing field 'image' (a path, or a dict with bytes or path)", "add the image")
    path = _inside(row, raw, image_dir)
    if not path.is_file():
        raise row.error(f"image {raw!r} not found under {image_dir}", "set image_dir or correct the path")
    return path, None


def _inside(row: _Row, raw: str, image_dir: Path) -> Path:
    """``image_dir / raw``, refused when it leaves ``image_dir`` (``..`` segments, absolute paths elsewhere)."""
    root = Path(os.path.normpath(os.path.abspath(image_dir)))
    path = Path(os.path.normpath(os.path.join(root, raw)))  # an absolute ``raw`` replaces root here
    if path != root and root not in path.parents:
        raise row.error(f"image {raw!r} resolves to {path}, outside image_dir {root}",
                        "give paths relative to image_dir (without '..'), or set image_dir to a folder that "
                        "holds the images")
    return path


def _question(text: str) -> str:
    return IMAGE_PLACEHOLDER.sub("", text).strip()


def _fields(row: _Row, fmt: str, need_rejected: bool) -> tuple[str, str, str | None]:
    rec = row.record
    if fmt == "rlhf_v":
        inner = rec.get("text")
        if isinstance(inner, str):
            try:
                inner = json.loads(inner)
            except json.JSONDecodeError:
                problem = "field 'text' is not a JSON string"
                raise row.error(problem, "export RLHF-V's text column as is") from None
        if not isinstance(inner, dict):
            raise row.error("field 'text' must hold {question, chosen, rejected}", "export RLHF-V rows as is")
        rec = inner
    prompt_key = "prompt" if fmt == "trl" else "question"
    prompt = row.text(rec, prompt_key)
    chosen = row.completion(rec, "chosen")
    rejected = row.completion(rec, "rejected") if need_rejected else None
    return _question(prompt), chosen, rejected


def convert_record(
    record: dict[str, Any], fmt: str, *, source: str, row_id: str, image_dir: Path, need_rejected: bool
) -> PreferenceRow:
    """One record of format ``fmt`` as a checked :class:`PreferenceRow`."""
    row = _Row(record, source, row_id)
    prompt, chosen, rejected = _fields(row, fmt, need_rejected)
    path, data = _image(row, image_dir)
    return PreferenceRow(
        id=row_id, prompt=prompt, chosen=chosen, rejected=rejected, image_path=path, image_bytes=data,
        source=source,
    )


def _records(files: list[Path]) -> Iterator[tuple[Path, int, dict[str, Any]]]:
    for path in files:
        for number, record in enumerate(read_records(path)):
            yield path, number, record


def load_rows(
    data: str | Path,
    *,
    data_format: str = "auto",
    image_dir: str | Path | None = None,
    need_rejected: bool = True,
) -> list[PreferenceRow]:
    """All rows of ``data`` (a file or a directory), checked; ids must be unique across files."""
    files = data_files(data)
    default_root = Path(data) if Path(data).is_dir() else Path(data).parent
    root = Path(image_dir).expanduser() if image_dir else default_root
    rows: list[PreferenceRow] = []
    formats: dict[Path, str] = {}
    seen: dict[str, str] = {}
    for path, number, record in _records(files):
        if path not in formats:
            formats[path] = detect_format(path, record) if data_format == "auto" else data_format
        source = f"{path} row {number}"
        raw_id = record.get("id", record.get("idx"))
        fallback = f"{path.name}:{number}" if len(files) > 1 else str(number)
        row_id = str(raw_id) if raw_id is not None else fallback
        if row_id in seen:
            raise TrainDataError(
                f"{source}: id {row_id!r} already used by {seen[row_id]}; make ids unique (they seed noise)"
            )
        seen[row_id] = source
        rows.append(convert_record(
            record, formats[path], source=source, row_id=row_id, image_dir=root, need_rejected=need_rejected
        ))
    if not rows:
        raise TrainDataError(f"data {data}: no rows; check the file")
    return rows
