"""A decoded copy of a spaCy model's two msgpack files, kept in the user cache, so scoring skips msgpack.

For :class:`~evaluation.amber.spacy_backends.SpacyVectorsSimilarity`, the near-synonym step
(``check_synonyms_word``) of ``junyangwang0410/AMBER`` @ 534babf6bbfcce2e735c26289dedfb21cef3c939
``inference.py``.

Why: decoding ``vocab/key2row`` (684,830 entries for en_core_web_md) and importing srsly to do it cost about
0.3 s per process, more than all of AMBER's similarity work; the decoded arrays load in milliseconds. The copy
is named by the sha256 of the source files (so an edited model is decoded afresh) and written atomically; when
the cache cannot be written the decoded data is simply used once. The model folder itself is never written.

Contents: ``keys.npy`` (uint64 vector keys, sorted), ``rows.npy`` (their rows of ``vocab/vectors``) and
``tokenizer.json`` (the tokenizer patterns, ``faster_heuristics`` and each special case's token texts).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.amber.spacy_tokenizer import ORTH, PATTERN_FIELDS

CACHE_FORMAT = 1  # bump when the decoded layout changes
SOURCE_FILES = ("vocab/key2row", "tokenizer")


def cache_root() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("uedpo")) / "spacy-model-index"


def _digest(model_dir: Path) -> str:
    digest = hashlib.sha256(f"format {CACHE_FORMAT}".encode())
    for name in SOURCE_FILES:
        path = model_dir / name
        digest.update(f"{name}:{path.stat().st_size if path.is_file() else -1}".encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:32]


def _decode(model_dir: Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    import srsly  # spaCy's msgpack reader, installed with spaCy

    key2row = srsly.read_msgpack(model_dir / "vocab" / "key2row")
    keys = np.fromiter(key2row.keys(), dtype=np.uint64, count=len(key2row))
    rows = np.fromiter(key2row.values(), dtype=np.int64, count=len(key2row))
    order = np.argsort(keys, kind="stable")
    tokenizer_file = model_dir / "tokenizer"
    raw = srsly.read_msgpack(tokenizer_file) if tokenizer_file.is_file() else {}
    tokenizer: dict[str, Any] = {name: raw.get(name) for name in PATTERN_FIELDS}
    tokenizer["faster_heuristics"] = bool(raw.get("faster_heuristics", True))
    if isinstance(raw.get("exceptions"), dict):
        exceptions = raw["exceptions"].items()
        tokenizer["specials"] = {key: [token[ORTH] for token in tokens] for key, tokens in exceptions}
    return keys[order], rows[order], tokenizer


def _write(folder: Path, keys: np.ndarray, rows: np.ndarray, tokenizer: dict[str, Any]) -> None:
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        np.save(tmp / "keys.npy", keys)
        np.save(tmp / "rows.npy", rows)
        (tmp / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, folder)
    except OSError:  # read-only cache, or another process won the race: the data in memory is still right
        pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_model_index(model_dir: Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``(sorted keys, rows, tokenizer data)`` of a model folder, from the cache when it has them."""
    folder = cache_root() / _digest(Path(model_dir))
    try:
        tokenizer = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        return np.load(folder / "keys.npy"), np.load(folder / "rows.npy"), tokenizer
    except (OSError, ValueError):
        shutil.rmtree(folder, ignore_errors=True)  # absent or damaged: decode and write it again
    keys, rows, tokenizer = _decode(Path(model_dir))
    _write(folder, keys, rows, tokenizer)
    return keys, rows, tokenizer
