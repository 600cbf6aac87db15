"""File I/O every package may use: atomic writes, JSONL, and output sets published as one piece.

A leaf module (standard library and :mod:`uedpo.interrupts` only), so the trainer, the loaders, the scorers'
wiring and the app write files the same way without importing each other.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

from uedpo.errors import InputError
from uedpo.interrupts import deferred_sigint


def new_file_mode() -> int:
    """The mode ``open()`` would give a new file (``0o666`` less the umask): temp files made by ``mkstemp``
    (``0o600``) get it before they are renamed into place, so outputs are as readable as the user's other files."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no /proc: read the umask by setting it (and put it back at once)
    os.umask(mask)
    return 0o666 & ~mask


def _write_temp(path: Path, data: bytes, *, fsync: bool = False) -> Path:
    """``data`` in a new temporary file beside ``path`` (mode: the umask's), not yet renamed."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, new_file_mode())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace``: never half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temp(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def atomic_write_jsonl(path: str | os.PathLike, rows: list[dict[str, Any]]) -> None:
    atomic_write_text(path, jsonl_text(rows))


def jsonl_text(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


# -- output sets -----------------------------------------------------------------------------------------------
# The files of one result (results.json, results.items.jsonl, table.md, table.csv) are published as a set with
# a manifest, ``<stem>.manifest.json``: {"format", "complete", "set", "files": {name: sha256}}. Publishing:
# every member is written to a temporary file and fsynced; the manifest is replaced by one saying
# ``complete: false``; the previous set's members are deleted; the new ones are renamed in; the manifest is
# replaced by ``complete: true``. So the directory never holds a member of the previous set beside a member of
# the new one (a kill leaves the old set, or part of the new one under an incomplete manifest, which readers
# treat as absent), and the paths stay the documented ``OUT/<bench>/results.json`` etc.
SET_FORMAT = "uedpo-eval output set 1"


class IncompleteSetError(InputError):
    """A file belongs to an output set that was not published completely, or was changed afterwards."""


def manifest_path(member: Path, manifest: str | None = None) -> Path:
    """The manifest of the set ``member`` belongs to: ``manifest`` if given, else ``<stem>.manifest.json``
    of a results file (``results.items.jsonl`` and the tables belong to ``results.manifest.json``)."""
    if manifest:
        return member.with_name(manifest)
    name = member.name
    for suffix in (".items.jsonl", ".table.md", ".table.csv", ".json"):
        if name.endswith(suffix) and name != suffix.lstrip("."):
            return member.with_name(name[: -len(suffix)] + ".manifest.json")
    return member.with_name("results.manifest.json")


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest at ``path``; None when there is none; :class:`IncompleteSetError` when unreadable."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as err:
        raise IncompleteSetError(f"{path}: unreadable output-set manifest ({err}); rerun uedpo-eval to write "
                                 "the set again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != SET_FORMAT or \
            not isinstance(manifest.get("files"), dict):
        raise IncompleteSetError(f"{path}: not a uedpo-eval output-set manifest; rerun uedpo-eval to write the "
                                 "set again")
    return manifest


def check_member(member: Path, manifest: str | None = None, data: bytes | None = None) -> None:
    """Refuse ``member`` when its set's manifest says the set is incomplete, does not list it, or lists
    another sha256 for it. A file without a manifest beside it (hand-made, or written by an older version)
    is accepted: there is no set to be incomplete."""
    mpath = manifest_path(member, manifest)
    found = read_manifest(mpath)
    if found is None:
        return
    if not found.get("complete"):
        raise IncompleteSetError(f"{member}: its output set was being written when a run stopped ({mpath.name} "
                                 "says incomplete), so it may not belong with the files beside it; rerun "
                                 "uedpo-eval to write the set again")
    want = found["files"].get(member.name)
    if want is None:
        raise IncompleteSetError(f"{member}: not part of the output set in {mpath.name} (left by another run?); "
                                 "rerun uedpo-eval, or copy the file elsewhere to use it alone")
    got = hashlib.sha256(member.read_bytes() if data is None else data).hexdigest()
    if got != want:
        raise IncompleteSetError(f"{member}: differs from the sha256 in {mpath.name} (changed after uedpo-eval "
                                 "wrote it); rerun uedpo-eval, or copy the file elsewhere to use it alone")


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def publish_set(directory: str | os.PathLike, files: dict[str, str | bytes], manifest: str,
                drop: tuple[str, ...] = ()) -> None:
    """Publish ``files`` (name -> content) in ``directory`` as one set (see above). ``drop``: more names that
    must not survive beside the new set (files derived from the previous one). An ``OSError`` while writing
    the temporary files (a full disk) leaves the previous set untouched; SIGINT is held while the set swaps."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = (*files, manifest)
    for leftover in directory.glob(".*.tmp"):  # temp files of a publish that was killed (the caller holds the lock)
        if any(leftover.name.startswith(f".{n}.") for n in names):
            leftover.unlink(missing_ok=True)
    data = {name: text.encode("utf-8") if isinstance(text, str) else text for name, text in files.items()}
    record = {"format": SET_FORMAT, "complete": False, "set": uuid.uuid4().hex,
              "files": {name: hashlib.sha256(b).hexdigest() for name, b in data.items()}}
    temps: dict[str, Path] = {}
    try:
        for name, blob in data.items():
            temps[name] = _write_temp(directory / name, blob, fsync=True)
        with deferred_sigint():  # Ctrl-C never leaves a set half-swapped; a SIGKILL: the manifest says so
            try:
                old = read_manifest(directory / manifest) or {}
            except IncompleteSetError:
                old = {}
            atomic_write_json(directory / manifest, record)
            for name in {*old.get("files", {}), *data, *drop} - {manifest}:
                (directory / name).unlink(missing_ok=True)
            for name, tmp in temps.items():
                os.replace(tmp, directory / name)
            _fsync_dir(directory)
            atomic_write_json(directory / manifest, {**record, "complete": True})
            _fsync_dir(directory)
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
