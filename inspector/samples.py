"""Samples files the inspector can open: preference pairs and ``uedpo-eval`` per-item responses (JSONL).

Two row shapes, told apart per row:

* a **preference pair** in the trainer's format: ``{"id", "image", "prompt", "chosen", "rejected"}``
  (``id`` optional, then ``line N``; ``images: [path]`` with one path is accepted for ``image``);
* a **benchmark response** from a ``uedpo-eval`` per-item file: ``{"bench", "id", "image", "question",
  "response", "hallucinated": [words], ...}`` (extra keys are ignored). ``hallucinated`` holds the words
  AMBER or CHAIR flagged; the inspector marks them on the response's tokens.

A literal image placeholder in the prompt (``<image>`` of LLaVA-format data, Qwen's vision tokens) is
removed, as the trainer does: the adapter adds its own. ``image`` is an absolute path, or relative to
``image_dir`` when given, else to the samples file's directory.

A broken row (bad JSON, a missing or mistyped field, a missing image file, a repeated id) becomes one line in
:attr:`SampleFile.errors` naming the file, the line and the fix; the other rows still load.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from inspector.errors import InputError

PAIR_FIELDS = ("image", "prompt", "chosen", "rejected")  # "id" optional, as in the trainer's format
EVAL_FIELDS = ("bench", "id", "image", "question", "response")
# The placeholders uedpo.train.data strips from questions; the adapter inserts its own.
IMAGE_PLACEHOLDER = re.compile(r"<image>\s*|<\|vision_start\|>(<\|image_pad\|>)+<\|vision_end\|>\s*")


@dataclass(frozen=True)
class Sample:
    """One row, normalised: ``preferred`` is the chosen (pair) or the benchmark response (eval)."""

    id: str
    image: Path
    question: str
    preferred: str
    dispreferred: str | None
    kind: str  # "pair" | "eval"
    bench: str | None = None
    hallucinated: tuple[str, ...] = ()
    line: int = 0

    @property
    def label(self) -> str:
        """A unique, readable dropdown label."""
        source = self.bench or "pair"
        return f"{self.id} [{source}] {self.question[:40]}"


@dataclass(frozen=True)
class SampleFile:
    path: Path
    samples: tuple[Sample, ...]
    errors: tuple[str, ...]

    def by_label(self, label: str) -> Sample:
        for sample in self.samples:
            if sample.label == label:
                return sample
        raise InputError(f"samples file {self.path.name}: no row {label!r}; pick one from the list")


def _text(row: dict, key: str, *, allow_empty: bool = False) -> str:
    value = row.get(key)
    if not isinstance(value, str):
        raise InputError(f"field {key!r} must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise InputError(f"field {key!r} is empty")
    return value


def _question(row: dict, key: str) -> str:
    return IMAGE_PLACEHOLDER.sub("", _text(row, key)).strip()


def _resolve_image(name: str, base: Path, image_dir: Path | None) -> Path:
    path = Path(name).expanduser()
    candidates = [path] if path.is_absolute() else [d / path for d in (image_dir, base) if d is not None]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    where = " or ".join(str(c.parent) for c in candidates)
    raise InputError(f"image {name!r} not found in {where}; pass --image-dir or fix the path")


def parse_row(row: object, *, base: Path, image_dir: Path | None, line: int) -> Sample:
    """One JSON object as a :class:`Sample`; :class:`InputError` (without the file/line prefix) if broken."""
    if not isinstance(row, dict):
        raise InputError(f"expected a JSON object, got {type(row).__name__}")
    is_pair = "chosen" in row or "rejected" in row
    images = row.get("images")
    if is_pair and "image" not in row and isinstance(images, list) and len(images) == 1:
        row = {**row, "image": images[0]}
    fields = PAIR_FIELDS if is_pair else EVAL_FIELDS
    missing = [k for k in fields if k not in row]
    if missing:
        kind = "a preference pair" if is_pair else "a uedpo-eval response"
        raise InputError(f"missing field(s) {', '.join(missing)} for {kind} row (needs {', '.join(fields)})")
    sample_id = str(row["id"]) if "id" in row else f"line {line}"
    image = _resolve_image(_text(row, "image"), base, image_dir)
    if is_pair:
        return Sample(
            id=sample_id,
            image=image,
            question=_question(row, "prompt"),
            preferred=_text(row, "chosen"),
            dispreferred=_text(row, "rejected"),
            kind="pair",
            line=line,
        )
    words = row.get("hallucinated", [])
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise InputError("field 'hallucinated' must be a list of words (strings)")
    return Sample(
        id=sample_id,
        image=image,
        question=_question(row, "question"),
        preferred=_text(row, "response"),
        dispreferred=None,
        kind="eval",
        bench=_text(row, "bench"),
        hallucinated=tuple(words),
        line=line,
    )


def _loads(raw: str) -> object:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        raise InputError(f"not valid JSON ({err.msg} at column {err.colno}); fix or delete the line") from err


def read_samples(path: str | Path, *, image_dir: str | Path | None = None) -> SampleFile:
    """All good rows of a JSONL samples file, and one error line per broken row.

    :class:`InputError` only when the file itself cannot be read or holds no good row at all.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"samples file {path}: cannot be read ({err}); pass a UTF-8 JSONL file") from err
    image_root = Path(image_dir) if image_dir is not None else None
    samples: list[Sample] = []
    errors: list[str] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        row: object = None
        try:
            row = _loads(raw)
            sample = parse_row(row, base=path.parent, image_dir=image_root, line=number)
            if sample.id in seen:
                raise InputError(f"id {sample.id!r} repeats an earlier row; ids must be unique")
        except InputError as err:
            row_id = row.get("id") if isinstance(row, dict) else None
            item = f" (id {row_id!r})" if row_id is not None else ""
            errors.append(f"{path.name} line {number}{item}: {err}")
            continue
        seen.add(sample.id)
        samples.append(sample)
    if not samples:
        detail = f"; first problem: {errors[0]}" if errors else ""
        raise InputError(f"samples file {path}: no usable row{detail}")
    return SampleFile(path=path, samples=tuple(samples), errors=tuple(errors))
