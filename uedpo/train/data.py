"""Preference rows for training, read with Hugging Face ``datasets`` (Arrow, memory-mapped), checked up front.

Sources (``data``): a ``.json`` / ``.jsonl`` / ``.parquet`` file; a directory of such files (name order, one
format per file, e.g. RLAIF-V's parquet shards); a directory written by ``datasets``' ``save_to_disk``
(``load_from_disk``; of a ``DatasetDict`` the ``data_split`` split); or a hub dataset id ``owner/name``
(split ``data_split``) when online.

Formats (``data_format: auto`` picks one per file from the first row's keys):

- ``trl``: ``{"image": "rel/path.jpg", "prompt": "question", "chosen": "...", "rejected": "..."}``, optional
  ``id``; ``images: [path]`` (one image) is accepted for ``image``. SFT rows need only image, prompt, chosen.
  TRL's conversational form is accepted too (``HuggingFaceH4/rlaif-v_formatted``, TRL's vision DPO
  examples): ``prompt`` = one user message whose content holds one ``{"type": "image"}`` part and text parts,
  ``chosen`` / ``rejected`` = one assistant message each, ``images`` = one image. Text parts are joined with
  a space. Rows that cannot become one question, one image and one answer each (a system message, several
  turns, several images, an image in an answer) are refused with the reason.
- ``rlhf_v``: ``openbmb/RLHF-V-Dataset`` rows exported to JSON/JSONL/parquet: ``image`` (a path, or a dict
  with ``bytes`` / ``path`` as the HF Image feature stores it), ``text`` = a JSON string (or object)
  ``{"question", "chosen", "rejected"}``, ``idx``.
- ``rlaif_v``: ``openbmb/RLAIF-V-Dataset`` parquet: ``question``, ``chosen``, ``rejected``, ``image``
  (``{"bytes": ...}``), ``image_path``, ``idx`` (``RLHF-V/RLAIF-V`` ``muffin/data/datasets.py``).

The question is the user's text only; the model adapter adds the chat template and the image placeholder, so a
literal ``<image>`` (LLaVA-format data) or Qwen vision placeholder in the question is removed. Images given as
bytes are decoded with PIL (never unpickled); JSON may carry them as base64 text.

Memory: a file is converted once into ``datasets``' Arrow cache (``data_cache_dir``, default
``HF_DATASETS_CACHE``; reused while the file is unchanged) and memory-mapped. :func:`load_rows` returns a
:class:`PreferenceDataset`: a row becomes a :class:`PreferenceRow` when it is read, its image stays a path or
bytes until the collator decodes it. The up-front pass over every row (below) and :func:`check_rows_fit
<uedpo.train.collate.check_rows_fit>` read the Arrow files batch by batch with plain reads, not through the
memory map, so checking 100k rows does not keep them resident (benchmarks/bench_data_loading.py).

``data_streaming: true`` (:func:`stream_rows`) reads the source as a ``datasets.IterableDataset`` instead:
nothing is converted or cached, and rows are checked as they are read (a bad row stops training at that step,
with the same one-line message); ids are required (``id`` / ``idx``: they seed the noise, so they may not
depend on the order of reading), duplicates are not checked, and ``max_steps`` is needed. Rows come in file
order: ``IterableDataset.shuffle`` is not used, because its shard shuffling keeps the Arrow batches it has
read alive (memory grew by the data read, 0.5 GB per 20k RLAIF-V-sized rows); shuffle the files beforehand.
Under DDP each rank reads only its own files: the Trainer gives the ``IterableDataset`` to accelerate
unchanged, which assigns every rank a contiguous share of the shards (files; ``IterableDataset.shard``) when
there are at least as many as ranks, with ``dispatch_batches`` off so rank 0 does not read for everyone
(:func:`uedpo.trainer.training_arguments`). With fewer files than ranks every rank reads everything and keeps
its slice (a warning says so). Map-style data is sharded by the Trainer's
distributed sampler: a rank reads only its rows' pages of the memory map (the up-front check reads all).

``data: NAME[:OPTIONS]`` naming a registered stream (:mod:`uedpo.train.streams`; built in: ``shapesworld`` or
``shapesworld:seed=N``, ``loss: sft`` only) is an endless on-the-fly stream of :class:`StreamRow` (images in
memory), so no image is written to disk.

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
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError

from uedpo.errors import InputError

SUFFIXES = (".json", ".jsonl", ".parquet")
BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet"}  # datasets' packaged loaders
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # "owner/name", as the Hugging Face Hub spells repos
CHECK_BATCH = 512  # rows per list of PreferenceDataset.chunks, and per batch read through a memory map
PROGRESS_BYTES = 64 * 2**20  # datasets' progress bars only for files this big (errors stay one stderr line)
# Placeholders the adapters insert themselves; a copy inside the question would double the image tokens.
IMAGE_PLACEHOLDER = re.compile(r"<image>\s*|<\|vision_start\|>(<\|image_pad\|>)+<\|vision_end\|>\s*")


class TrainDataError(InputError):
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

    @classmethod
    def from_mapping(cls, row: Mapping[str, Any]) -> PreferenceRow:
        """A row streamed by :func:`stream_rows` (a dict of the fields; ``image_path`` as text)."""
        path = row.get("image_path")
        return cls(id=row["id"], prompt=row["prompt"], chosen=row["chosen"], rejected=row.get("rejected"),
                   image_path=Path(path) if path else None, image_bytes=row.get("image_bytes"),
                   source=row.get("source", ""))

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


@dataclass(frozen=True)
class StreamRow(PreferenceRow):
    """A row whose image is in memory (uint8 RGB pixels), from an on-the-fly stream."""

    pixels: Any = field(default=None, repr=False)

    def open_image(self) -> Image.Image:
        return Image.fromarray(self.pixels, mode="RGB")

    def image_size(self) -> tuple[int, int]:
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])


# -- reading files ------------------------------------------------------------------------------------------
def _datasets():
    """``datasets``, imported on first use (``uedpo-train --help`` and config checks never pay for it)."""
    try:
        import datasets
    except ImportError as err:
        raise TrainDataError("reading training data needs the datasets package; run `pip install datasets`") from err
    return datasets


@contextmanager
def _progress_bars(show: bool):
    """``datasets``' progress bars on (a long conversion) or off (small files: stderr keeps one error line)."""
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_disabled = are_progress_bars_disabled()
    if not show:
        disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            enable_progress_bars()


def _offline() -> bool:
    return any(os.environ.get(v, "") not in ("", "0", "false", "False") for v in
               ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _root_cause(err: BaseException) -> BaseException:
    while err.__cause__ is not None:
        err = err.__cause__
    return err


def _read_json(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSON / JSONL file read with :mod:`json`: the precise message for a file ``datasets``
    could not read (the line that is not JSON, a file that is not a list)."""
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


def read_records(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSON / JSONL file as dicts (every one an object), or :class:`TrainDataError`."""
    records = _read_json(path)
    for number, record in enumerate(records):
        if not isinstance(record, dict):
            kind = type(record).__name__
            raise TrainDataError(f"{path} row {number}: expected an object of fields, got {kind}")
    return records


def _starts_as_list(path: Path) -> bool:
    with path.open(encoding="utf-8", errors="replace") as handle:
        head = handle.read(4096).lstrip("\ufeff \t\r\n")
    return head.startswith("[")


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


def _builder_options(path: Path) -> dict[str, Any]:
    """``load_dataset`` options for one file; parquet needs pyarrow (a dependency of datasets, checked first)."""
    if path.suffix != ".parquet":
        return {}
    try:
        import pyarrow.dataset as pds
    except ImportError as err:
        raise TrainDataError(f"{path}: reading parquet needs pyarrow; run `pip install pyarrow`") from err
    # Pre-buffering reads ahead across row groups; without it the conversion holds one row group at a time.
    return {"fragment_scan_options": pds.ParquetFragmentScanOptions(pre_buffer=False)}


def _load_file(path: Path, cache_dir: str | None):
    """One file as a memory-mapped ``datasets.Dataset`` (converted into the Arrow cache on first use), or None
    for an empty JSON list."""
    options = _builder_options(path)
    if path.suffix == ".json" and not _starts_as_list(path):
        read_records(path)  # raises: not JSON, or not a list of rows
    datasets = _datasets()
    try:
        with _progress_bars(path.stat().st_size >= PROGRESS_BYTES):
            table = datasets.load_dataset(BUILDERS[path.suffix], data_files=str(path), split="train",
                                          cache_dir=cache_dir, **options)
    except Exception as err:  # datasets wraps the reader's own error (ArrowInvalid, a JSON error, ...)
        raise _unreadable(path, err) or _Empty() from err
    if path.suffix != ".parquet" and table.column_names == ["text"]:
        read_records(path)  # datasets reads rows that are not objects (1, "x", [..]) as a "text" column
    return table


class _Empty(Exception):
    """A JSON file holding ``[]``: no rows (datasets refuses to build an empty split)."""


def _unreadable(path: Path, err: BaseException) -> TrainDataError | None:
    cause = _root_cause(err)
    if path.suffix == ".parquet":
        return TrainDataError(f"{path}: not a readable parquet file ({type(cause).__name__}); re-export it")
    if not read_records(path):  # the message of the first bad line or row, if there is one
        return None
    return TrainDataError(f"{path}: cannot be read as a table ({type(cause).__name__}: {_first_line(cause)}); "
                          "give each field one type in every row")


def _is_saved_dataset(path: Path) -> bool:
    """A directory written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``."""
    return (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()


def _load_saved(path: Path, split: str):
    datasets = _datasets()
    try:
        with _progress_bars(False):
            loaded = datasets.load_from_disk(str(path))
    except Exception as err:  # FileNotFoundError, JSON and Arrow errors, depending on the damage
        raise TrainDataError(f"data {path}: not a readable datasets directory ({type(err).__name__}: "
                             f"{_first_line(err)}); save it again with save_to_disk") from err
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise TrainDataError(f"data {path}: no split {split!r} (splits: {', '.join(loaded)}); set data_split")
        loaded = loaded[split]
    return loaded


def is_hub_id(data: str | Path) -> bool:
    """``owner/name`` that is not a local path (nor a data file name): a Hugging Face Hub dataset."""
    text = str(data)
    return bool(HUB_ID.match(text)) and Path(text).suffix not in SUFFIXES and not Path(text).exists()


def _load_hub(name: str, split: str, cache_dir: str | None, *, streaming: bool):
    datasets = _datasets()
    try:
        return datasets.load_dataset(name, split=split, cache_dir=cache_dir, streaming=streaming)
    except Exception as err:  # the hub client raises many types (offline, 404, auth, network, bad split)
        offline = _offline() or bool(getattr(datasets.config, "HF_HUB_OFFLINE", False))
        why = ("offline mode (HF_HUB_OFFLINE) and not in the local cache" if offline
               else f"{type(err).__name__}: {_first_line(err)}")
        raise TrainDataError(f"data {name}: not a local file or directory, and as a hub dataset: {why}; pass a "
                             "local file or directory") from err


def detect_format(name: str | Path, first: dict[str, Any]) -> str:
    """The format of a source from its first row (its fields that hold a value)."""
    keys = sorted(k for k, v in first.items() if v is not None)
    if "text" in keys:
        return "rlhf_v"
    if "question" in keys:
        return "rlaif_v"
    if "prompt" in keys:
        return "trl"
    raise TrainDataError(
        f"{name} row 0: cannot tell the format from keys {keys}; expected TRL rows "
        "{image, prompt, chosen, rejected}, RLHF-V {image, text, idx} or RLAIF-V {image, question, chosen, "
        "rejected, idx}; set data_format"
    )


# -- Arrow records -------------------------------------------------------------------------------------------
def _has_json(feature: Any) -> bool:
    if type(feature).__name__ == "Json":
        return True
    if isinstance(feature, dict):
        return any(_has_json(f) for f in feature.values())
    inner = getattr(feature, "feature", None)
    return inner is not None and _has_json(inner)


def _decode_json(value: Any, feature: Any) -> Any:
    """``value`` as read from Arrow with ``datasets``' ``Json`` columns (mixed types: JSON text) parsed."""
    if value is None or feature is None:
        return value
    if type(feature).__name__ == "Json":
        return json.loads(value) if isinstance(value, str) else value
    if isinstance(feature, dict) and isinstance(value, dict):
        return {k: _decode_json(v, feature.get(k)) for k, v in value.items()}
    inner = getattr(feature, "feature", None)
    if inner is not None and isinstance(value, list):
        return [_decode_json(v, inner) for v in value]
    return value


class _Decoder:
    """Raw Arrow records -> the values the JSON held (media stay bytes / paths: nothing is decoded)."""

    def __init__(self, features: Any) -> None:
        self.features = dict(features) if features else {}
        self.active = any(_has_json(f) for f in self.features.values())

    def __call__(self, record: dict[str, Any]) -> dict[str, Any]:
        if not self.active:
            return record
        return {k: _decode_json(v, self.features.get(k)) for k, v in record.items()}


HARMLESS_REPLAYS = {"replace_schema_metadata"}  # operations datasets replays on a mapped file that keep its rows


def _mapped_files(table) -> list[str] | None:
    """The Arrow files behind ``table`` in row order, when it is exactly their concatenation."""
    from datasets.table import ConcatenationTable, MemoryMappedTable

    if getattr(table, "_indices", None) is not None:
        return None
    data = table.data
    blocks = [[data]] if isinstance(data, MemoryMappedTable) else getattr(data, "blocks", None)
    if not isinstance(data, (MemoryMappedTable, ConcatenationTable)) or not blocks:
        return None
    plain = all(len(row) == 1 and isinstance(row[0], MemoryMappedTable)
                and all(op[0] in HARMLESS_REPLAYS for op in row[0].replays) for row in blocks)
    return [row[0].path for row in blocks] if plain else None


def _record_batches(table) -> Iterator[list[dict[str, Any]]]:
    """The raw records of ``table``, one stored batch at a time, read from its Arrow files with plain reads.

    Reading through the memory map would leave every page of the data resident (RSS) after one pass; a
    record batch read from the file is freed with the list. Falls back to the map for other tables."""
    import pyarrow as pa

    files = _mapped_files(table)
    if files is None:
        for batch in table.with_format("arrow").iter(batch_size=CHECK_BATCH):
            yield batch.to_pylist()
        return
    for file in files:
        with pa.OSFile(file) as handle:
            for batch in pa.ipc.open_stream(handle):
                yield batch.to_pylist()


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
        return self.nonempty(value, key)

    def nonempty(self, value: str, key: str) -> str:
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
    images = rec.get("images")
    if raw is None and images is not None:
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


# -- TRL's conversational rows -------------------------------------------------------------------------------
CONVERSATIONAL_FIX = "give one user message (one image, text) and one assistant message each, or plain text"


def _turn(row: _Row, messages: list, key: str, role: str) -> list[dict[str, Any]]:
    """The content parts of the one ``role`` message of ``key``."""
    if len(messages) != 1:
        roles = ", ".join(str(m.get("role")) if isinstance(m, dict) else type(m).__name__ for m in messages)
        raise row.error(f"{key!r} holds {len(messages)} messages ({roles}); one {role} message is supported "
                        "(no system message, no earlier turns)", CONVERSATIONAL_FIX)
    message = messages[0]
    found = message.get("role") if isinstance(message, dict) else type(message).__name__
    if found != role:
        raise row.error(f"the {key!r} message has role {found!r}, expected {role!r}", CONVERSATIONAL_FIX)
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list) or not all(isinstance(p, dict) for p in content):
        raise row.error(f"the {key!r} content is {type(content).__name__}", "give text or a list of "
                        "{'type': 'text', 'text': ...} / {'type': 'image'} parts")
    return content


def _turn_text(row: _Row, parts: list[dict[str, Any]], key: str, *, images: int) -> str:
    """The text parts joined by a space; exactly ``images`` image parts are allowed."""
    kinds = [p.get("type") for p in parts]
    other = next((k for k in kinds if k not in ("text", "image")), None)
    if other is not None:
        raise row.error(f"the {key!r} message has a {other!r} part; only text and one image are supported",
                        CONVERSATIONAL_FIX)
    count = kinds.count("image")
    if count != images:
        where = "a user message with one" if images else "answers with no"
        raise row.error(f"the {key!r} message has {count} image parts; rows need {where} {{'type': 'image'}} "
                        "part", CONVERSATIONAL_FIX)
    texts = [p.get("text") for p in parts if p.get("type") == "text"]
    bad = next((t for t in texts if not isinstance(t, str)), None)
    if bad is not None or any(t is None for t in texts):
        raise row.error(f"a text part of {key!r} holds {type(bad).__name__}", "give the text as a string")
    return " ".join(t.strip() for t in texts if t.strip())


def _conversation(row: _Row, rec: dict[str, Any], need_rejected: bool) -> tuple[str, str, str | None]:
    """TRL's vision conversational preference row as (question, chosen, rejected) text."""
    keys = ["chosen", "rejected"] if need_rejected else ["chosen"]
    for key in keys:
        value = rec.get(key)
        if value is None:
            raise row.error(f"missing field {key!r}", f"add {key!r} or drop the row")
        if not isinstance(value, list):
            raise row.error(f"field 'prompt' is a list of messages (conversational format) but {key!r} is "
                            f"{type(value).__name__}", "give prompt, chosen and rejected all as messages or all "
                            "as text")
    prompt = _turn_text(row, _turn(row, rec["prompt"], "prompt", "user"), "prompt", images=1)
    answers = [row.nonempty(_turn_text(row, _turn(row, rec[k], k, "assistant"), k, images=0), k) for k in keys]
    return _question(prompt), answers[0], answers[1] if need_rejected else None


def _fields(row: _Row, fmt: str, need_rejected: bool) -> tuple[str, str, str | None]:
    rec = row.record
    if fmt == "trl" and isinstance(rec.get("prompt"), list):
        return _conversation(row, rec, need_rejected)
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


def _given_id(record: dict[str, Any]) -> str | None:
    raw = record.get("id")
    if raw is None:
        raw = record.get("idx")
    return None if raw is None else str(raw)


# -- map-style data ------------------------------------------------------------------------------------------
@dataclass
class _Part:
    """One source of rows (a file, a saved dataset, a hub split) with its format."""

    name: str  # rows are "<name> row N" in messages
    label: str  # fallback ids are "<label>:N" when there are several parts, else "N"
    table: Any  # datasets.Dataset, memory-mapped
    fmt: str
    image_root: Path
    several: bool

    def __post_init__(self) -> None:
        self.raw = self.table.with_format("arrow")  # raw values: images stay {bytes, path}, never PIL
        self.decode = _Decoder(self.table.features)

    def record(self, number: int) -> dict[str, Any]:
        return self.decode(self.raw[number].to_pylist()[0])

    def row_id(self, record: dict[str, Any], number: int) -> str:
        given = _given_id(record)
        if given is not None:
            return given
        return f"{self.label}:{number}" if self.several else str(number)

    def row(self, record: dict[str, Any], number: int, need_rejected: bool) -> PreferenceRow:
        return convert_record(record, self.fmt, source=f"{self.name} row {number}",
                              row_id=self.row_id(record, number), image_dir=self.image_root,
                              need_rejected=need_rejected)

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record in order, batch by batch, without the memory map (:func:`_record_batches`)."""
        for batch in _record_batches(self.table):
            for record in batch:
                yield self.decode(record)


class PreferenceDataset(torch.utils.data.Dataset):
    """The checked rows of :func:`load_rows`: Arrow tables (memory-mapped), a :class:`PreferenceRow` per read.

    A sequence: ``len``, ``ds[i]``, ``ds[a:b]`` (a list), iteration; :meth:`chunks` reads lists of rows without
    the memory map, for passes over everything (:func:`uedpo.train.collate.check_rows_fit`)."""

    def __init__(self, parts: list[_Part], *, need_rejected: bool) -> None:
        self.parts, self.need_rejected = parts, need_rejected
        self.starts = [0]
        for part in parts:
            self.starts.append(self.starts[-1] + len(part.table))

    def __len__(self) -> int:
        return self.starts[-1]

    def _locate(self, index: int) -> tuple[_Part, int]:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"row {index} of {len(self)}")
        k = bisect_right(self.starts, index) - 1
        return self.parts[k], index - self.starts[k]

    def __getitem__(self, index: int | slice) -> PreferenceRow | list[PreferenceRow]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        part, number = self._locate(index)
        return part.row(part.record(number), number, self.need_rejected)

    def __iter__(self) -> Iterator[PreferenceRow]:
        for chunk in self.chunks():
            yield from chunk

    def chunks(self, size: int = CHECK_BATCH) -> Iterator[list[PreferenceRow]]:
        """Lists of ``size`` rows in order (the last one shorter)."""
        chunk: list[PreferenceRow] = []
        for part in self.parts:
            for number, record in enumerate(part.records()):
                chunk.append(part.row(record, number, self.need_rejected))
                if len(chunk) == size:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk

    def source_of(self, index: int) -> str:
        part, number = self._locate(index)
        return f"{part.name} row {number}"

    def check(self) -> None:
        """Every row converts and every id is unique, else the first problem as :class:`TrainDataError`."""
        from tqdm.auto import tqdm

        seen: dict[str, int] = {}
        bar = tqdm(total=len(self), desc="checking rows", unit="row", disable=len(self) < 20000)
        for start, part in zip(self.starts, self.parts, strict=False):
            for number, record in enumerate(part.records()):
                row_id = part.row_id(record, number)
                if row_id in seen:
                    raise TrainDataError(f"{part.name} row {number}: id {row_id!r} already used by "
                                         f"{self.source_of(seen[row_id])}; make ids unique (they seed noise)")
                seen[row_id] = start + number
                part.row(record, number, self.need_rejected)
                bar.update()
        bar.close()


def _default_root(path: Path) -> Path:
    return path if path.is_dir() else path.parent


def _open_parts(data: str | Path, data_format: str, image_dir: str | Path | None, split: str,
                cache_dir: str | None) -> list[_Part]:
    path = Path(data)
    several = False
    if path.is_dir() and _is_saved_dataset(path):
        tables = [(str(path), path.name, _load_saved(path, split))]
        root = path
    elif is_hub_id(data):
        tables = [(str(data), str(data), _load_hub(str(data), split, cache_dir, streaming=False))]
        root = Path.cwd()
    else:
        files = data_files(data)
        tables = []
        for file in files:
            try:
                tables.append((str(file), file.name, _load_file(file, cache_dir)))
            except _Empty:
                continue
        root = _default_root(path)
        several = len(files) > 1
    image_root = Path(image_dir).expanduser() if image_dir else root
    parts = []
    for name, label, table in tables:
        if not len(table):
            continue
        part = _Part(name=name, label=label, table=table, fmt=data_format, image_root=image_root,
                     several=several)
        if data_format == "auto":
            part.fmt = detect_format(name, part.record(0))
        parts.append(part)
    return parts


def load_rows(
    data: str | Path,
    *,
    data_format: str = "auto",
    image_dir: str | Path | None = None,
    need_rejected: bool = True,
    data_split: str = "train",
    cache_dir: str | None = None,
) -> PreferenceDataset:
    """All rows of ``data`` (a file, a directory, a saved dataset, a hub id), checked; ids unique across files.

    Nothing is held in memory but the ids (for the duplicate check) while checking; the rows stay in the
    memory-mapped Arrow cache."""
    parts = _open_parts(data, data_format, image_dir, data_split, cache_dir)
    rows = PreferenceDataset(parts, need_rejected=need_rejected)
    rows.check()
    if not len(rows):
        raise TrainDataError(f"data {data}: no rows; check the file")
    return rows


# -- streaming -----------------------------------------------------------------------------------------------
ROW_FIELDS = ("id", "prompt", "chosen", "rejected", "image_path", "image_bytes", "source")
MAX_STREAM_SHARDS = 64  # shards of a saved dataset read as a stream: enough for DDP to split it by rank


class _StreamConverter:
    """A raw streamed record -> the fields of a :class:`PreferenceRow` (``IterableDataset.map``)."""

    def __init__(self, name: str, fmt: str, image_root: Path, need_rejected: bool, features: Any) -> None:
        self.name, self.fmt, self.image_root, self.need_rejected = name, fmt, image_root, need_rejected
        self.decode = _Decoder(features)

    def __call__(self, record: dict[str, Any]) -> dict[str, Any]:
        record = self.decode(record)
        source = f"{self.name} (streamed)"
        row_id = _given_id(record)
        if row_id is None:
            raise TrainDataError(f"{source}: a row without 'id' or 'idx'; data_streaming needs ids (they seed the "
                                 "noise, so they may not depend on the order of reading): add them, or set "
                                 "data_streaming=false")
        row = convert_record(record, self.fmt, source=source, row_id=row_id, image_dir=self.image_root,
                             need_rejected=self.need_rejected)
        return {"id": row.id, "prompt": row.prompt, "chosen": row.chosen, "rejected": row.rejected,
                "image_path": str(row.image_path) if row.image_path else None, "image_bytes": row.image_bytes,
                "source": row.source}


def _stream_source(data: str | Path, split: str, cache_dir: str | None):
    """(name, default image root, IterableDataset) of ``data``, read lazily."""
    path = Path(data)
    if path.is_dir() and _is_saved_dataset(path):
        table = _load_saved(path, split)
        return str(path), path, table.to_iterable_dataset(num_shards=max(1, min(len(table), MAX_STREAM_SHARDS)))
    if is_hub_id(data):
        return str(data), Path.cwd(), _load_hub(str(data), split, cache_dir, streaming=True)
    files = data_files(data)
    builders = sorted({BUILDERS[f.suffix] for f in files})
    if len(builders) > 1:
        raise TrainDataError(f"data {path}: streaming reads one kind of file, found {' and '.join(builders)} "
                             "files; keep one kind in the directory, or set data_streaming=false")
    options = _builder_options(files[0])
    datasets = _datasets()
    with _progress_bars(False):
        stream = datasets.load_dataset(builders[0], data_files=[str(f) for f in files], split="train",
                                       cache_dir=cache_dir, streaming=True, **options)
    return str(path), _default_root(path), stream


def stream_rows(
    data: str | Path,
    *,
    data_format: str = "auto",
    image_dir: str | Path | None = None,
    need_rejected: bool = True,
    data_split: str = "train",
    cache_dir: str | None = None,
):
    """``data`` as a ``datasets.IterableDataset`` of row fields (:meth:`PreferenceRow.from_mapping`), in order.

    The first row is read and checked now (format, fields, image), so a wrong path or format stops before any
    model loads; the others are checked when they are read. Its ``num_shards`` is how many ranks can read
    disjoint parts (see the module docstring)."""
    name, root, stream = _stream_source(data, data_split, cache_dir)
    stream = stream.decode(False)  # images stay {bytes, path}; Json columns stay text (decoded below)
    image_root = Path(image_dir).expanduser() if image_dir else root
    try:
        first = next(iter(stream), None)
    except TrainDataError:
        raise
    except Exception as err:  # the reader's error on the first file (not JSON, not parquet, ...)
        raise TrainDataError(f"data {name}: cannot be streamed ({type(_root_cause(err)).__name__}: "
                             f"{_first_line(_root_cause(err))}); check the file or set data_streaming=false") from err
    if first is None:
        raise TrainDataError(f"data {data}: no rows; check the file")
    decode = _Decoder(stream.features)
    fmt = detect_format(name, decode(first)) if data_format == "auto" else data_format
    convert = _StreamConverter(name, fmt, image_root, need_rejected, stream.features)
    convert(first)
    rows = stream.map(convert)
    columns = [c for c in (stream.column_names or []) if c not in ROW_FIELDS]
    return rows.remove_columns(columns) if columns else rows
