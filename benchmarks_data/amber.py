"""AMBER loaders: benchmark data, model answers and similarity tables, verified and typed.

Data: ``junyangwang0410/AMBER`` @ 534babf6bbfcce2e735c26289dedfb21cef3c939 ``data/`` (Apache-2.0), under
``<data_dir>/amber/data/``. Answers: the official format is a JSON list ``[{"id": int, "response": str}]``;
JSONL with the same keys is accepted too. Loaders never score; every error is one line naming the file, the
item and the fix.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks_data.amber_types import (
    GENERATIVE_TYPE,
    TRUTH_NO,
    TRUTH_YES,
    AmberAnnotation,
    AmberData,
    AmberResponse,
)
from benchmarks_data.store import DataError, data_file, loads
from uedpo.errors import InputError

BENCH = "amber"
ANNOTATIONS = "data/annotations.json"
RELATION = "data/relation.json"
SAFE_WORDS = "data/safe_words.txt"
METRICS = "data/metrics.txt"

# Counts of the official annotations.json (SCORERS.md §3.1): generative ids come first, then the
# discriminative types.
N_ANNOTATIONS = 15220
N_GENERATIVE = 1004
TYPE_COUNTS: dict[str, int] = {
    GENERATIVE_TYPE: N_GENERATIVE,
    "discriminative-attribute-state": 4764,
    "discriminative-attribute-number": 2072,
    "discriminative-attribute-action": 792,
    "discriminative-hallucination": 4924,
    "discriminative-relation": 975,
    "relation": 689,
}
REFETCH = f"re-fetch it with `uedpo-data fetch {BENCH}`"
RESPONSE_FORMAT = 'a JSON list of {"id": int, "response": str} objects (or JSONL with those keys)'


def _read_json(path: Path, fix: str) -> Any:
    try:
        return loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); {fix}") from None
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg}); {fix}"
        ) from None


def _file(relpath: str, data_dir: str | os.PathLike | None, root: str | os.PathLike | None) -> Path:
    """``<data_dir>/amber/<relpath>``, or ``<root>/<relpath>`` for an AMBER-format benchmark elsewhere
    (e.g. ShapesWorld)."""
    if root is None:
        return data_file(BENCH, relpath, data_dir)
    path = Path(root) / relpath
    if not path.is_file():
        raise DataError(f"{path}: AMBER-format file not found; point the root at a folder holding data/")
    return path


def _word_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(w, str) for w in value)


def _load_association(data_dir, root=None) -> dict[str, tuple[str, ...]]:
    path = _file(RELATION, data_dir, root)
    raw = _read_json(path, REFETCH)
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a JSON object word -> [associated words]; {REFETCH}")
    for key, words in raw.items():
        if not _word_list(words):
            raise DataError(f"{path}: entry {key!r} is not a list of words; {REFETCH}")
    return {key: tuple(words) for key, words in raw.items()}


def _load_safe_words(data_dir, root=None) -> frozenset[str]:
    path = _file(SAFE_WORDS, data_dir, root)
    # Official: `for line in file: line.split('\n')[0]`: lines split on "\n" only, nothing else stripped.
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines[-1] == "":  # a final newline ends the last line; it does not start an empty one
        lines.pop()
    return frozenset(lines)


def _annotation(path: Path, index: int, raw: Any, association: dict[str, tuple[str, ...]]) -> AmberAnnotation:
    where = f"{path}: item {index}"
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("id"), int)
        or not isinstance(raw.get("type"), str)
    ):
        raise DataError(f"{where}: expected an object with an integer 'id' and a string 'type'; {REFETCH}")
    if raw["id"] != index + 1:
        raise DataError(
            f"{where}: id {raw['id']} but AMBER ids must equal position + 1 ({index + 1}); {REFETCH}"
        )
    if raw["type"] not in TYPE_COUNTS:
        raise DataError(f"{where} (id {raw['id']}): unknown type {raw['type']!r}; {REFETCH}")
    if raw["type"] == GENERATIVE_TYPE:
        truth, hallu = raw.get("truth"), raw.get("hallu")
        if not (_word_list(truth) and _word_list(hallu) and truth and hallu):
            raise DataError(
                f"{where} (id {raw['id']}): generative 'truth'/'hallu' must be non-empty word lists; "
                f"{REFETCH}"
            )
        unknown = [w for w in truth + hallu if w not in association]
        if unknown:
            raise DataError(
                f"{where} (id {raw['id']}): objects {unknown} are not keys of {RELATION}; {REFETCH}"
            )
        return AmberAnnotation(id=raw["id"], type=raw["type"], truth=tuple(truth), hallu=tuple(hallu))
    if raw.get("truth") not in (TRUTH_YES, TRUTH_NO):
        raise DataError(f"{where} (id {raw['id']}): discriminative 'truth' must be 'yes' or 'no'; {REFETCH}")
    return AmberAnnotation(id=raw["id"], type=raw["type"], truth=raw["truth"])


def load_amber(
    data_dir: str | os.PathLike | None = None,
    *,
    root: str | os.PathLike | None = None,
    expected_counts: dict[str, int] | None = TYPE_COUNTS,
) -> AmberData:
    """The AMBER annotations, association map, vocabulary and global safe words, verified.

    Checks: ``id == index + 1``, generative ids first, truth/hallu objects all keys of ``relation.json``,
    discriminative truth ``'yes'``/``'no'``, and (unless ``expected_counts`` is None) the official count of
    every type: 15,220 records, ids 1-1004 generative. ``root`` reads an AMBER-format benchmark from
    ``<root>/data/`` instead of the official data (ShapesWorld passes ``expected_counts=None``).
    """
    association = _load_association(data_dir, root)
    path = _file(ANNOTATIONS, data_dir, root)
    raw = _read_json(path, REFETCH)
    expected_total = sum(expected_counts.values()) if expected_counts is not None else None
    if not isinstance(raw, list) or not raw or (expected_total is not None and len(raw) != expected_total):
        size = len(raw) if isinstance(raw, list) else type(raw).__name__
        raise DataError(
            f"{path}: expected a list of {expected_total or 'AMBER'} records, got {size}; {REFETCH}"
        )
    annotations = [_annotation(path, i, item, association) for i, item in enumerate(raw)]
    counts = Counter(a.type for a in annotations)
    if expected_counts is not None and counts != Counter(expected_counts):
        raise DataError(
            f"{path}: type counts {dict(counts)} differ from the official {expected_counts}; {REFETCH}"
        )
    n_generative = counts.get(GENERATIVE_TYPE, 0)
    misplaced = next((a for a in annotations if a.is_generative != (a.id <= n_generative)), None)
    if misplaced is not None:
        raise DataError(
            f"{path}: id {misplaced.id} has type {misplaced.type!r}, but ids 1-{n_generative} and only "
            f"they are generative; {REFETCH}"
        )
    vocabulary = frozenset(association) | {w for words in association.values() for w in words}
    return AmberData(
        annotations={a.id: a for a in annotations},
        association=association,
        vocabulary=vocabulary,
        safe_words=_load_safe_words(data_dir, root),
    )


@dataclass(frozen=True)
class AmberQuery:
    """One benchmark question: ``image`` is the file name (``AMBER_{n}.jpg``) in the user's image folder."""

    id: int
    image: str
    query: str


QUERY_FILES = {"all": "data/query/query_all.json", "generative": "data/query/query_generative.json",
               "discriminative": "data/query/query_discriminative.json"}


def load_amber_queries(
    part: str = "all", data_dir: str | os.PathLike | None = None, *, root: str | os.PathLike | None = None
) -> list[AmberQuery]:
    """The questions of ``part`` (``all``, ``generative``, ``discriminative``) in file order."""
    if part not in QUERY_FILES:
        raise InputError(f"part: expected one of {sorted(QUERY_FILES)}, got {part!r}")
    path = _file(QUERY_FILES[part], data_dir, root)
    raw = _read_json(path, REFETCH)
    if not isinstance(raw, list):
        raise DataError(f"{path}: expected a JSON list of {{id, image, query}} objects; {REFETCH}")
    out = []
    for i, q in enumerate(raw):
        if not (isinstance(q, dict) and isinstance(q.get("id"), int) and isinstance(q.get("image"), str)
                and isinstance(q.get("query"), str)):
            raise DataError(f"{path}: item {i} is not an {{id, image, query}} object; {REFETCH}")
        out.append(AmberQuery(q["id"], q["image"], q["query"]))
    return out


def load_metric_seeds(data_dir: str | os.PathLike | None = None) -> dict[str, float]:
    """``data/metrics.txt`` (``name=value`` lines), parsed as numbers; the official script ``eval``s them."""
    path = data_file(BENCH, METRICS, data_dir)
    seeds: dict[str, float] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.strip().split("=")
        if len(parts) != 2:  # the official parser skips such lines too
            continue
        try:
            seeds[parts[0].strip()] = float(parts[1].strip())
        except ValueError:
            raise DataError(
                f"{path}: line {number}: {parts[1].strip()!r} is not a number; {REFETCH}"
            ) from None
    return seeds


def _response(path: Path, where: str, raw: Any, valid_ids: Collection[int]) -> AmberResponse:
    if not isinstance(raw, dict) or "id" not in raw or "response" not in raw:
        raise DataError(
            f"{path}: {where}: expected an object with 'id' and 'response'; write {RESPONSE_FORMAT}"
        )
    item_id, response = raw["id"], raw["response"]
    if isinstance(item_id, bool) or not isinstance(item_id, int):
        raise DataError(
            f"{path}: {where}: id {item_id!r} is not an integer; write AMBER ids as JSON integers"
        )
    if item_id not in valid_ids:
        raise DataError(
            f"{path}: {where}: id {item_id} is not an AMBER id (1-{N_ANNOTATIONS}); fix or drop it"
        )
    if not isinstance(response, str):
        raise DataError(
            f"{path}: {where} (id {item_id}): response is {type(response).__name__}, not a string; "
            'write the model\'s answer text (use "" for an empty answer)'
        )
    return AmberResponse(id=item_id, response=response)


def load_amber_responses(
    path: str | os.PathLike, valid_ids: Collection[int] = range(1, N_ANNOTATIONS + 1)
) -> list[AmberResponse]:
    """Model answers from a JSON list (official format) or JSONL file, in file order.

    Errors (one line, with the file, the item or line number and the fix): unreadable or empty file,
    malformed JSON/JSONL, missing keys, non-integer or unknown ids, duplicate ids, non-string responses.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: answers file not found; pass the path of {RESPONSE_FORMAT}") from None
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not UTF-8 text (byte {exc.start}); save the answers as UTF-8 JSON"
        ) from None
    if not text.strip():
        raise DataError(f"{path}: file is empty; write {RESPONSE_FORMAT}")
    # A ".jsonl" file is always read line by line; otherwise a leading "[" means the official JSON list.
    if path.suffix != ".jsonl" and text.lstrip().startswith("["):
        raw = _read_json(path, f"write {RESPONSE_FORMAT}")
        items = [(f"item {i}", obj) for i, obj in enumerate(raw)]
    else:
        items = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append((f"line {number}", loads(line)))
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{path}: line {number}: invalid JSON ({exc.msg}, column {exc.colno}); "
                    f'each line must be one {{"id": int, "response": str}} object'
                ) from None
    if not items:
        raise DataError(f"{path}: no answers found; write {RESPONSE_FORMAT}")
    responses: list[AmberResponse] = []
    first_seen: dict[int, str] = {}
    for where, obj in items:
        response = _response(path, where, obj, valid_ids)
        if response.id in first_seen:
            raise DataError(
                f"{path}: {where}: id {response.id} already answered at {first_seen[response.id]}; "
                "keep one answer per id"
            )
        first_seen[response.id] = where
        responses.append(response)
    return responses


def load_similarity_table(path: str | os.PathLike) -> dict[str, dict[str, float]]:
    """A ``{"w1": {"w2": similarity}}`` JSON table for the ``table:PATH`` backend (e.g. written from
    ``build_similarity_table``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: similarity table not found; build one with `uedpo-data amber-similarity`")
    fix = 'write a JSON object {"word": {"other word": similarity, ...}, ...}'
    raw = _read_json(path, fix)
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a JSON object of objects; {fix}")
    table: dict[str, dict[str, float]] = {}
    for first, row in raw.items():
        if not isinstance(row, dict):
            raise DataError(f"{path}: entry {first!r} is {type(row).__name__}, not an object; {fix}")
        for second, value in row.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise DataError(
                    f"{path}: similarity of ({first!r}, {second!r}) is {value!r}, not a finite number; {fix}"
                )
        table[first] = {second: float(value) for second, value in row.items()}
    return table
