"""What a result needs to say about where it came from: when, which toolkit build, which versions, which weights.

:func:`stamp` fills a :class:`~evaluation.results.BenchResult`'s ``date``, ``versions`` and ``model``:

* ``date``: UTC time of the run (ISO 8601);
* ``versions``: ``uedpo`` and its git commit when the package runs from a checkout (``uedpo_git``, with
  ``+dirty`` when the work tree has changes), Python, and the installed versions of the packages that change
  numbers (nltk: tokenizer/tagger; spaCy: AMBER similarities; transformers and torch: generation). Read from
  package metadata, so scoring a responses file never imports torch. A scorer's own, more precise entries
  (e.g. the spaCy model and its version) win over these;
* ``model`` (checkpoint mode): the checkpoint and adapter with a sha256 over their weight and config files, so a
  results file names the exact weights it measured. Hashes of large local checkpoints are cached by (path, size,
  mtime) in the user cache; a hub id is hashed in its cached snapshot folder, whose name is the revision.
"""

from __future__ import annotations

import hashlib
import json
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks_data.store import file_sha256
from evaluation.results import BenchResult
from uedpo.source import git_commit, installed_version

# Installed packages whose versions can change a number in a result.
NUMBER_CHANGING_PACKAGES = ("nltk", "spacy", "transformers", "torch", "peft", "numpy")
# Files that define a checkpoint's or adapter's behaviour (weights are loaded from safetensors only).
HASHED_SUFFIXES = (".safetensors", ".json", ".model", ".txt", ".jinja")


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def toolkit_versions() -> dict[str, str]:
    versions = {"uedpo": installed_version("uedpo") or "unknown", "python": platform.python_version()}
    commit = git_commit()
    if commit:
        versions["uedpo_git"] = commit
    for package in NUMBER_CHANGING_PACKAGES:
        found = installed_version(package)
        if found:
            versions[package] = found
    return versions


def _cache_file() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("uedpo")) / "checkpoint-sha256.json"


def _read_cache() -> dict[str, str]:
    try:
        return json.loads(_cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _file_sha256(path: Path, cache: dict[str, str]) -> str:
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    if key not in cache:
        cache[key] = file_sha256(path)
    return cache[key]


def directory_sha256(directory: Path) -> dict[str, Any]:
    """sha256 of every weight/config file of ``directory`` and one digest over them (name order)."""
    cache = _read_cache()
    before = len(cache)
    files = {p.name: _file_sha256(p, cache) for p in sorted(directory.iterdir())
             if p.is_file() and p.suffix in HASHED_SUFFIXES}
    if len(cache) != before:
        try:
            from uedpo.io import atomic_write_json

            atomic_write_json(_cache_file(), cache)
        except OSError:
            pass  # an unwritable cache only costs time
    combined = hashlib.sha256("".join(f"{name}\0{sha}\n" for name, sha in files.items()).encode()).hexdigest()
    return {"sha256": combined, "files": files}


def weights_record(name: str | None, local_dir: Path | None) -> dict[str, Any] | None:
    """``{"name", "path", "sha256", "files"}``; a hub id's path is its cached snapshot (named by revision)."""
    if name is None:
        return None
    if local_dir is None or not local_dir.is_dir():
        return {"name": name, "path": None, "sha256": None, "files": {}}
    return {"name": name, "path": str(local_dir.resolve()), **directory_sha256(local_dir)}


def stamp(result: BenchResult, model: dict[str, Any] | None = None) -> BenchResult:
    """Fill ``date``, the toolkit/package ``versions`` (the scorer's own entries win) and ``model``."""
    result.date = utc_now()
    result.versions = {**toolkit_versions(), **result.versions}
    if model is not None:
        result.model = model
    return result

