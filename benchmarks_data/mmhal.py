"""MMHal-Bench files: the 96-question template, model responses, saved judge replies.

Template: ``mmhal-bench_answer_template.json`` (HF ``Shengcao1006/MMHal-Bench`` ``response_template.json``;
byte-identical copies in ``RLHF-V/RLHF-V`` @ 8daac8a and ``RLHF-V/RLAIF-V`` @ 83d917b
``eval/data/``). A list of 96 dicts with ``question_type, question_topic, image_id, image_src,
image_content, question, gt_answer, model_answer``; 8 question types x 12.

Responses, two formats:

* the official one (what ``llava-rlhf/LLaVA-RLHF`` ``Eval/eval_gpt_mmhal.py --response`` reads): the
  template list with ``model_answer`` filled. Records are matched to the template by ``image_id`` (unique in
  the template) and must agree with it on the fields the judge sees; ``image_src`` may differ (third-party
  files replace the URL with a local path).
* JSONL, one ``{"id": <template index 0..95>, "response": "..."}`` per line.

Either way the annotation fields come from the template, the answer from the file, and the FILE order is
kept (saved judge replies are aligned with it, as in the official script). Loaders never score.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks_data.store import DataError, data_file, loads

BENCH = "mmhal"
TEMPLATE_RELPATH = "mmhal-bench_answer_template.json"
N_RECORDS = 96  # official: `assert len(records) == 96`
N_TYPES = 8
PER_TYPE = N_RECORDS // N_TYPES
# Fields the judge prompt is built from; a response file must agree with the template on them.
JUDGED_FIELDS = ("question_type", "image_content", "question", "gt_answer")
STRING_FIELDS = ("question_type", "question_topic", "image_id", "image_src", "question", "gt_answer")


@dataclass(frozen=True)
class MMHalRecord:
    """One MMHal-Bench question; ``index`` is its position in the official template (its id)."""

    index: int
    question_type: str
    question_topic: str
    image_id: str
    image_src: str
    image_content: tuple[str, ...]
    question: str
    gt_answer: str
    model_answer: str = ""


def _read_json(path: Path) -> Any:
    try:
        return loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; check the path") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({e}); re-download or re-generate the file") from None


def _read_jsonl(path: Path) -> list[Any]:
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; check the path") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); save the file as UTF-8") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(loads(line))
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: line {lineno} is not valid JSON ({e}); fix or remove that line") from None
    return rows


def _record_from_dict(raw: Any, index: int, path: Path) -> MMHalRecord:
    where = f"{path}: item {index}"
    if not isinstance(raw, dict):
        raise DataError(f"{where}: expected an object, got {type(raw).__name__}; use the official template")
    for key in (*STRING_FIELDS, "image_content"):
        if key not in raw:
            raise DataError(f"{where}: field {key!r} missing; use the official MMHal template records")
    for key in STRING_FIELDS:
        if not isinstance(raw[key], str):
            raise DataError(f"{where}: field {key!r} must be a string; use the official MMHal template records")
    content = raw["image_content"]
    if not isinstance(content, list) or not all(isinstance(c, str) for c in content):
        raise DataError(f"{where}: 'image_content' must be a list of strings; use the official template")
    answer = raw.get("model_answer", "")
    if not isinstance(answer, str):
        raise DataError(f"{where}: 'model_answer' must be a string, got {type(answer).__name__}; fix the file")
    return MMHalRecord(
        index=index, question_type=raw["question_type"], question_topic=raw["question_topic"],
        image_id=raw["image_id"], image_src=raw["image_src"], image_content=tuple(content),
        question=raw["question"], gt_answer=raw["gt_answer"], model_answer=answer,
    )


def load_template(path: str | os.PathLike | None = None,
                  data_dir: str | os.PathLike | None = None) -> list[MMHalRecord]:
    """The 96 template records, in template order; verifies count, fields, 8 types x 12, unique image ids."""
    path = Path(path) if path is not None else data_file(BENCH, TEMPLATE_RELPATH, data_dir)
    raw = _read_json(path)
    if not isinstance(raw, list) or len(raw) != N_RECORDS:
        n = len(raw) if isinstance(raw, list) else type(raw).__name__
        raise DataError(f"{path}: expected a list of {N_RECORDS} MMHal records, got {n}; "
                        "re-download the official template")
    records = [_record_from_dict(r, i, path) for i, r in enumerate(raw)]
    counts = Counter(r.question_type for r in records)
    if len(counts) != N_TYPES or set(counts.values()) != {PER_TYPE}:
        raise DataError(f"{path}: expected {N_TYPES} question types x {PER_TYPE}, got {dict(counts)}; "
                        "re-download the official template")
    ids = Counter(r.image_id for r in records)
    dup = next((i for i, c in ids.items() if c > 1), None)
    if dup is not None:
        raise DataError(f"{path}: image_id {dup!r} occurs {ids[dup]} times; re-download the official template")
    return records


def _responses_from_json(raw: list[Any], path: Path, template: list[MMHalRecord]) -> list[MMHalRecord]:
    by_image = {t.image_id: t for t in template}
    out, seen = [], set()
    for pos, item in enumerate(raw):
        rec = _record_from_dict(item, pos, path)
        ref = by_image.get(rec.image_id)
        if ref is None:
            raise DataError(f"{path}: item {pos}: image_id {rec.image_id!r} is not in the MMHal template; "
                            "the file must hold the template's 96 records with model_answer filled")
        if rec.image_id in seen:
            raise DataError(f"{path}: item {pos}: image_id {rec.image_id!r} appears twice; keep one answer each")
        seen.add(rec.image_id)
        for key in JUDGED_FIELDS:
            if getattr(rec, key) != getattr(ref, key):
                raise DataError(f"{path}: item {pos} ({rec.image_id}): {key!r} differs from the MMHal template; "
                                "fill model_answer in an unmodified copy of the template")
        out.append(replace(ref, model_answer=rec.model_answer))
    return out


def _responses_from_jsonl(rows: list[Any], path: Path, template: list[MMHalRecord]) -> list[MMHalRecord]:
    out, seen = [], set()
    for pos, row in enumerate(rows):
        where = f"{path}: row {pos}"
        if not isinstance(row, dict) or "id" not in row or "response" not in row:
            raise DataError(f"{where}: expected {{\"id\": 0..{N_RECORDS - 1}, \"response\": \"...\"}}; fix the row")
        idx, answer = row["id"], row["response"]
        if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < len(template):
            raise DataError(f"{where}: id {idx!r} is not a template index 0..{len(template) - 1}; fix the id")
        if idx in seen:
            raise DataError(f"{where}: id {idx} appears twice; keep one response per id")
        if not isinstance(answer, str):
            raise DataError(f"{where} (id {idx}): 'response' must be a string; fix the row")
        seen.add(idx)
        out.append(replace(template[idx], model_answer=answer))
    return out


def load_responses(path: str | os.PathLike, template: list[MMHalRecord] | None = None,
                   data_dir: str | os.PathLike | None = None, *, allow_subset: bool = False) -> list[MMHalRecord]:
    """Model responses as template records with ``model_answer`` set, in FILE order.

    ``*.jsonl`` files hold ``{"id", "response"}`` rows; anything else is the official JSON list. Exactly the
    96 template items must be present, each once (``allow_subset=True``: any non-empty subset, e.g. a
    ``uedpo-eval --limit`` smoke run).
    """
    path = Path(path)
    template = template if template is not None else load_template(data_dir=data_dir)
    if path.suffix == ".jsonl":
        records = _responses_from_jsonl(_read_jsonl(path), path, template)
    else:
        raw = _read_json(path)
        if not isinstance(raw, list):
            raise DataError(f"{path}: expected a JSON list of MMHal records, got {type(raw).__name__}; "
                            "use the official template with model_answer filled")
        records = _responses_from_json(raw, path, template)
    if len(records) != len(template) and not (allow_subset and records):
        have = {r.index for r in records}
        missing = [t.index for t in template if t.index not in have]
        raise DataError(f"{path}: {len(records)} responses, expected {len(template)} "
                        f"(missing template items {missing[:10]}{'...' if len(missing) > 10 else ''}); "
                        "answer every MMHal question, or pass --allow-partial to score the answered ones "
                        "(labelled partial)")
    return records


def load_reviews(path: str | os.PathLike, n_expected: int) -> list[Any]:
    """Saved judge replies (JSON list, or ``*.jsonl`` with one per line), unparsed; must number ``n_expected``.

    Items are chat-completion objects as the official ``eval_gpt_mmhal.py --evaluation`` saves them, or plain
    strings; ``evaluation.benches.mmhal_reviews`` interprets them.
    """
    path = Path(path)
    raw = _read_jsonl(path) if path.suffix == ".jsonl" else _read_json(path)
    if not isinstance(raw, list):
        raise DataError(f"{path}: expected a JSON list of judge replies, got {type(raw).__name__}; "
                        "save the replies as the official eval_gpt_mmhal.py does")
    if len(raw) != n_expected:
        raise DataError(f"{path}: {len(raw)} judge replies for {n_expected} responses; the replies must be "
                        "aligned one-to-one with the responses file (re-run the judge)")
    return raw
