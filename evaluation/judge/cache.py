"""On-disk cache of judge completions: one JSON file per request key.

Files are written atomically (temp file + ``os.replace``, ``uedpo.io.atomic_write_json``), so a
crash leaves each entry either complete or absent, and a key maps to exactly one file, so an entry can never
be duplicated. Stray ``.*.tmp`` files from a crash are never read. The API key is never written: entries hold
only the request body (model, messages, sampling parameters) and the completion JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from evaluation.judge.types import JudgeError
from uedpo.errors import InputError
from uedpo.io import atomic_write_json

CACHE_FORMAT = 1


class ResponseCache:
    """``<root>/<key[:2]>/<key>.json`` holding ``{"format", "key", "request", "completion"}``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored completion, or ``None`` if there is no entry."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            completion = entry["completion"]
            if entry["key"] != key or not isinstance(completion, dict):
                raise InputError("wrong key or completion")
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise self.corrupt(key, e) from None
        return completion

    def put(self, key: str, request: dict[str, Any], completion: dict[str, Any]) -> None:
        atomic_write_json(self.path(key), {"format": CACHE_FORMAT, "key": key, "request": request,
                                           "completion": completion})

    def corrupt(self, key: str, why: Exception | str) -> JudgeError:
        kind = why if isinstance(why, str) else type(why).__name__
        return JudgeError(f"{self.path(key)}: unreadable judge cache entry ({kind}); delete the file to fetch "
                          "this reply again")
