"""POPE files: the question/label files of two POPE versions, LLaVA's question file, and model answers.

Question files (``AoiDragon/POPE`` ``output/coco/coco_pope_{split}.json``): JSON Lines, one
``{"question_id", "image", "text", "label"}`` per line, qids 1..N within each split; popular and adversarial use
CRLF line endings. Two versions:

* ``official``: POPE HEAD 08d957b917e5a378a2f99d35b6293c536a66298b, 3 x 3,000 (the default);
* ``llava``: POPE e3e39262c85a6a83f26cf5094022a782cb0df58d, the version LLaVA-1.5 reports on
  (``haotian-liu/LLaVA`` docs/Evaluation.md): random has 2,910 items, 246 questions spell "imange".

Labels must be exactly ``"yes"``/``"no"``: the official ``evaluate.py`` maps only the exact ``'no'`` to negative,
so a ``"No"`` label (POPEv2) would silently count as a positive. Such files are refused, as are JSON arrays (the
SEEM files) and records missing a key.

LLaVA's question file (``haotian-liu/LLaVA`` @ 32cebc3809441cc40d8ac7b2855d148308741f2a
``playground/data/eval/pope/llava_pope_test.jsonl``) holds the three e3e3926 splits with the question id offset
by split (:data:`LLAVA_QID_OFFSETS`) and a ``category`` field; LLaVA's answer files use those offset ids.

Answers (``--responses``): JSONL (or a JSON list) of objects with ``question_id`` and the answer under
``answer`` (official), ``text`` (LLaVA) or ``response`` (``uedpo-eval --ckpt``), first present wins. Each row's
split comes from its ``category``/``split`` field, else from a LLaVA-offset question id, else from
``--pope-split``. Rows are matched to questions by (split, question id), never by position. Loaders never score.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks_data.store import DataError, data_file, loads
from uedpo.errors import InputError

BENCH = "pope"
SPLITS = ("random", "popular", "adversarial")  # the POPE paper's order
VERSIONS = {"official": "official_head", "llava": "official_e3e3926"}
VERSION_COMMITS = {"official": "08d957b", "llava": "e3e3926"}
LABELS = ("yes", "no")
LLAVA_QUESTIONS_RELPATH = "llava/llava_pope_test.jsonl"
# llava_pope_test.jsonl: question_id = offset + POPE qid (file order adversarial, random, popular).
LLAVA_QID_OFFSETS = {"adversarial": 0, "random": 10_000_000, "popular": 20_000_000}
QID_BLOCK = 10_000_000
_SPLIT_OF_BLOCK = {offset // QID_BLOCK: split for split, offset in LLAVA_QID_OFFSETS.items()}
# LLaVA-1.5's POPE prompt (llava_pope_test.jsonl text = POPE text + this; lmms-eval's post_prompt too).
LLAVA_PROMPT_SUFFIX = "\nAnswer the question using a single word or phrase."
ANSWER_KEYS = ("answer", "text", "response")  # official evaluate.py, LLaVA answer files, uedpo-eval --ckpt
QUESTION_FIELDS = {"question_id": int, "image": str, "text": str, "label": str}
FETCH_FIX = "run `uedpo-data fetch pope` or point UEDPO_DATA_DIR / --data-dir at a verified copy"


@dataclass(frozen=True)
class PopeQuestion:
    """One POPE question; ``question_id`` is POPE's own id within ``split`` (1..N)."""

    question_id: int
    image: str  # COCO val2014 file name, e.g. COCO_val2014_000000310196.jpg
    text: str
    label: str  # "yes" | "no"
    split: str

    @property
    def offset_id(self) -> int:
        """LLaVA's question id: unique across the three splits."""
        return offset_id(self.split, self.question_id)


@dataclass(frozen=True)
class LlavaQuestion:
    """A row of LLaVA's ``llava_pope_test.jsonl`` (no label; ``question_id`` is the offset id)."""

    question_id: int
    image: str
    text: str
    category: str


@dataclass(frozen=True)
class PopeAnswer:
    """One model answer, resolved to its question; ``where`` is its place in the file ("line 3", "item 0")."""

    split: str
    question_id: int  # POPE's id within ``split``
    text: str
    where: str


def offset_id(split: str, question_id: int) -> int:
    return LLAVA_QID_OFFSETS[split] + question_id


def question_relpath(version: str, split: str) -> str:
    if version not in VERSIONS:
        raise InputError(f"unknown POPE data version {version!r}; choose one of: {', '.join(VERSIONS)}")
    if split not in SPLITS:
        raise InputError(f"unknown POPE split {split!r}; choose one of: {', '.join(SPLITS)}")
    return f"{VERSIONS[version]}/coco_pope_{split}.json"


def selected_splits(split: str | None) -> tuple[str, ...]:
    return SPLITS if split is None else (split,)


# ----------------------------------------------------------------------------------------- reading


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; check the path") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err}); re-download or re-generate the file") from None


def _lines(text: str) -> list[tuple[int, str]]:
    """``(line number, line)`` of the non-blank lines; LF or CRLF (POPE's popular/adversarial files are CRLF).
    Only ``\\n`` ends a line: ``str.splitlines`` would also split inside a text at U+2028 and friends."""
    return [(n, line.removesuffix("\r")) for n, line in enumerate(text.split("\n"), 1) if line.strip()]


def _json_line(path: Path, lineno: int, line: str) -> Any:
    try:
        return loads(line)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: line {lineno} is not valid JSON ({err.msg}); fix or remove that line") from None


# --------------------------------------------------------------------------------------- questions


def read_question_file(path: str | os.PathLike, split: str) -> list[PopeQuestion]:
    """One POPE question/label file (JSON Lines), in file order; refuses any file of another form."""
    path = Path(path)
    text = _read_text(path)
    if text.lstrip().startswith("["):
        raise DataError(f"{path}: a JSON array, not JSON Lines (one question per line) like POPE's COCO files "
                        "(the SEEM A-OKVQA/GQA files have this form); convert it to one object per line")
    questions: list[PopeQuestion] = []
    seen: dict[int, int] = {}
    for lineno, line in _lines(text):
        questions.append(_question(path, lineno, _json_line(path, lineno, line), split, seen))
    if not questions:
        raise DataError(f"{path}: no questions in the file; {FETCH_FIX}")
    return questions


def _question(path: Path, lineno: int, raw: Any, split: str, seen: dict[int, int]) -> PopeQuestion:
    where = f"{path}: line {lineno}"
    if not isinstance(raw, dict):
        raise DataError(f"{where}: expected an object with {', '.join(QUESTION_FIELDS)}, got "
                        f"{type(raw).__name__}; use a POPE question file")
    for key, kind in QUESTION_FIELDS.items():
        if key not in raw:
            raise DataError(f"{where}: key {key!r} missing; every POPE question needs "
                            f"{', '.join(QUESTION_FIELDS)}")
        if not isinstance(raw[key], kind) or isinstance(raw[key], bool):
            raise DataError(f"{where}: {key!r} must be {'an integer' if kind is int else 'a string'}, got "
                            f"{raw[key]!r}; fix the question file")
    qid, label = raw["question_id"], raw["label"]
    if label not in LABELS:
        counted = "negative" if label == "no" else "positive"
        raise DataError(f"{where} (question_id {qid}): label {label!r} is not exactly 'yes' or 'no' (the official "
                        f"scorer would count it as {counted}); write the labels as lower-case 'yes'/'no'")
    if qid in seen:
        raise DataError(f"{where}: question_id {qid} repeats line {seen[qid]}; each question needs its own id")
    seen[qid] = lineno
    return PopeQuestion(question_id=qid, image=raw["image"], text=raw["text"], label=label, split=split)


def load_pope_questions(version: str = "official", split: str | None = None,
                        data_dir: str | os.PathLike | None = None) -> list[PopeQuestion]:
    """The questions of ``version`` ("official" = POPE HEAD, "llava" = e3e3926), one split or all three (in
    :data:`SPLITS` order), each split in file order."""
    out: list[PopeQuestion] = []
    for name in selected_splits(split):
        out += read_question_file(data_file(BENCH, question_relpath(version, name), data_dir), name)
    return out


def load_llava_question_file(data_dir: str | os.PathLike | None = None) -> list[LlavaQuestion]:
    """LLaVA's 8,910 questions (offset ids, prompt suffix included), in file order."""
    path = data_file(BENCH, LLAVA_QUESTIONS_RELPATH, data_dir)
    rows = []
    for lineno, line in _lines(_read_text(path)):
        raw = _json_line(path, lineno, line)
        try:
            rows.append(LlavaQuestion(raw["question_id"], raw["image"], raw["text"], raw["category"]))
        except (KeyError, TypeError):
            raise DataError(f"{path}: line {lineno}: expected question_id, image, text, category; "
                            f"{FETCH_FIX}") from None
    return rows


# ----------------------------------------------------------------------------------------- answers


def read_answer_rows(path: str | os.PathLike) -> list[tuple[str, Any]]:
    """``(where, object)`` per answer: JSON Lines (``line N``) or one JSON list (``item N``)."""
    path = Path(path)
    text = _read_text(path)
    if not text.strip():
        raise DataError(f"{path}: empty file (no answers); pass the model's POPE answers, one JSON object per line")
    if text.lstrip().startswith("["):
        try:
            items = loads(text)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}: not valid JSON ({err}); fix the file") from None
        if not items:
            raise DataError(f"{path}: empty list (no answers); pass the model's POPE answers")
        return [(f"item {n}", item) for n, item in enumerate(items)]
    return [(f"line {n}", _json_line(path, n, line)) for n, line in _lines(text)]


def _answer_text(path: Path, where: str, row: dict[str, Any]) -> str:
    key = next((k for k in ANSWER_KEYS if k in row), None)
    if key is None:
        raise DataError(f"{path}: {where} (question_id {row['question_id']}): no answer; put the model's answer "
                        f"under {' or '.join(repr(k) for k in ANSWER_KEYS)}")
    if not isinstance(row[key], str):
        raise DataError(f"{path}: {where} (question_id {row['question_id']}): {key!r} must be a string, got "
                        f"{type(row[key]).__name__}; write the model's answer text")
    return row[key]


def _declared_split(path: Path, where: str, row: dict[str, Any]) -> str | None:
    """The row's own ``category``/``split`` field, if any."""
    fields = {k: row[k] for k in ("category", "split") if k in row}
    for key, value in fields.items():
        if value not in SPLITS:
            raise DataError(f"{path}: {where}: {key} {value!r} is not a POPE split; use one of {', '.join(SPLITS)}")
    if len(set(fields.values())) > 1:
        raise DataError(f"{path}: {where}: category {row['category']!r} and split {row['split']!r} disagree; "
                        "keep one")
    return next(iter(fields.values()), None)


def _resolve_split(path: Path, where: str, qid: int, declared: str | None, split: str | None,
                   version: str) -> tuple[str, int]:
    """(split, POPE qid) of an answer row: its category, else the split a LLaVA-offset id (>= 10,000,000)
    carries, else ``--pope-split``, else (LLaVA data) adversarial, whose LLaVA ids carry no offset."""
    block, pope_qid = divmod(qid, QID_BLOCK)
    from_id = _SPLIT_OF_BLOCK.get(block) if block else None
    if block and from_id is None:
        raise DataError(f"{path}: {where}: question_id {qid} is not a POPE id (LLaVA offsets: adversarial +0, "
                        "random +10,000,000, popular +20,000,000); fix the id")
    if declared and from_id and declared != from_id:
        raise DataError(f"{path}: {where}: question_id {qid} is a {from_id} id (LLaVA offset) but the row's "
                        f"category is {declared}; fix the id or the category")
    resolved = declared or from_id or split or ("adversarial" if version == "llava" else None)
    if resolved is None:
        raise DataError(f"{path}: {where} (question_id {qid}): which split? POPE ids repeat across splits; add "
                        "\"category\" to each row, pass --pope-split S for a one-split file, or use LLaVA-offset "
                        "ids with --pope-data llava")
    if split is not None and resolved != split:
        raise DataError(f"{path}: {where} (question_id {qid}): answers the {resolved} split, but --pope-split "
                        f"{split}; score one split per file, or drop --pope-split")
    return resolved, pope_qid


def load_pope_answers(path: str | os.PathLike, questions: Sequence[PopeQuestion], *, version: str = "official",
                      split: str | None = None) -> list[PopeAnswer]:
    """The answers of ``path`` resolved against ``questions`` (of ``version``; all of ``--pope-split`` when given),
    in file order. Unknown, duplicate or malformed rows are a one-line :class:`DataError`; coverage (missing
    answers) is the caller's decision."""
    path = Path(path)
    known = {(q.split, q.question_id) for q in questions}
    sizes = {s: sum(q.split == s for q in questions) for s in SPLITS}
    seen: dict[tuple[str, int], str] = {}
    answers = []
    for where, row in read_answer_rows(path):
        if not isinstance(row, dict):
            raise DataError(f"{path}: {where}: expected an object with question_id and an answer, got "
                            f"{type(row).__name__}; fix the row")
        qid = row.get("question_id")
        if qid is None:
            raise DataError(f"{path}: {where}: no 'question_id'; every answer must name its question "
                            "(answers are matched by id, never by position)")
        if not isinstance(qid, int) or isinstance(qid, bool) or qid < 0:
            raise DataError(f"{path}: {where}: question_id {qid!r} is not a non-negative integer; fix the id")
        text = _answer_text(path, where, row)
        declared = _declared_split(path, where, row)
        row_split, pope_qid = _resolve_split(path, where, qid, declared, split, version)
        key = (row_split, pope_qid)
        if key not in known:
            raise DataError(f"{path}: {where}: question_id {qid} ({row_split} question {pope_qid}) is not in the "
                            f"{version} POPE data (POPE@{VERSION_COMMITS[version]}, {row_split}: "
                            f"{sizes[row_split]} questions); check the ids and --pope-data")
        if key in seen:
            raise DataError(f"{path}: {where}: question_id {qid} ({row_split}) is already answered at {seen[key]}; "
                            "keep one answer per question")
        seen[key] = where
        answers.append(PopeAnswer(split=row_split, question_id=pope_qid, text=text, where=where))
    return answers
