"""Where benchmark files live, whether they are intact, and how to get them.

The layout under the data directory is the same as ``../shared/benchdata``::

    <data_dir>/amber/data/annotations.json
    <data_dir>/object_halbench/vocab/synonyms.txt
    <data_dir>/mmhal/mmhal-bench_answer_template.json
    <data_dir>/pope/official_head/coco_pope_random.json

``UEDPO_DATA_DIR`` overrides the per-user cache directory. Every file, its source (repo@commit),
sha256 and licence are listed in ``manifests/<bench>.json`` (see ``manifest.py``); ``verify`` checks
a data directory against them, ``fetch`` downloads into it, ``where`` summarises it.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import tempfile
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from platformdirs import user_cache_dir
from tqdm import tqdm

from benchmarks_data.derive import RECIPES
from benchmarks_data.manifest import BENCHES, ImageSet, ManifestFile, load_manifest
from uedpo.errors import InputError
from uedpo.io import new_file_mode

__all__ = [
    "BENCHES", "DataError", "FetchReport", "FileCheck", "VerifyReport", "WhereReport",
    "bench_sha256s", "data_dir", "data_dir_origin", "data_file", "fetch", "file_sha256",
    "load_manifest", "require_verified", "verify", "where",
]

_CHUNK = 1 << 20
DOWNLOAD_TIMEOUT_S = 60
# An opener maps a URL to a readable binary stream (a context manager); tests inject one that
# serves from 127.0.0.1 so no test touches the internet.
Opener = Callable[[str], BinaryIO]


class DataError(InputError):
    """A benchmark file is missing, corrupt or malformed; the message says which and how to fix it."""


def loads(text: str):
    """``json.loads``, with JSON nested too deeply for Python's parser (a ``RecursionError``) reported as a
    ``json.JSONDecodeError``, so every reader's one-line message (naming its file) covers it."""
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text[:20], 0) from None


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The benchmark data root: ``override``, else ``$UEDPO_DATA_DIR``, else the user cache."""
    if override:
        return Path(override).expanduser().resolve()
    env = os.environ.get("UEDPO_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return Path(user_cache_dir("uedpo")) / "benchdata"


def data_dir_origin(override: str | os.PathLike | None = None) -> str:
    """Which rule ``data_dir`` used, for messages: an explicit override, the env var or the cache."""
    if override:
        return "--data-dir"
    return "UEDPO_DATA_DIR" if os.environ.get("UEDPO_DATA_DIR") else "user cache (default)"


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------- verify


@dataclass(frozen=True)
class FileCheck:
    bench: str
    relpath: str
    path: Path
    status: str  # "ok" | "missing" | "mismatch"
    expected: str
    actual: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def message(self) -> str:
        """One line naming the file, the problem and the fix."""
        fix = f"run `uedpo-data fetch {self.bench}` or point UEDPO_DATA_DIR / --data-dir at a verified copy"
        if self.status == "missing":
            return f"{self.path}: benchmark file not found; {fix}"
        if self.status == "mismatch":
            return (f"{self.path}: sha256 mismatch (expected {self.expected[:12]}…, found "
                    f"{(self.actual or '')[:12]}…); delete the file and {fix}")
        return f"{self.path}: ok"


@dataclass(frozen=True)
class VerifyReport:
    data_dir: Path
    checks: tuple[FileCheck, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def problems(self) -> list[FileCheck]:
        return [c for c in self.checks if not c.ok]

    def for_bench(self, bench: str) -> list[FileCheck]:
        return [c for c in self.checks if c.bench == bench]


def _check_file(bench: str, root: Path, entry: ManifestFile) -> FileCheck:
    path = root / bench / entry.relpath
    if not path.is_file():
        return FileCheck(bench, entry.relpath, path, "missing", entry.sha256)
    actual = file_sha256(path)
    status = "ok" if actual == entry.sha256 else "mismatch"
    return FileCheck(bench, entry.relpath, path, status, entry.sha256, actual)


def _manifest_entries(bench: str, relpaths: Iterable[str] | None) -> list[ManifestFile]:
    manifest = load_manifest(bench)
    if relpaths is None:
        return list(manifest.files)
    entries = []
    for rel in relpaths:
        entry = manifest.file(rel)
        if entry is None:
            raise DataError(f"{bench}/{rel}: no checksum for this file in manifests/{bench}.json; "
                            f"use a file listed by `uedpo-data verify {bench}`")
        entries.append(entry)
    return entries


def verify(bench: str | None = None, data_dir: str | os.PathLike | None = None) -> VerifyReport:
    """Check the sha256 of every manifest file of ``bench`` (all benchmarks when None)."""
    root = _root(data_dir)
    benches = BENCHES if bench is None else (bench,)
    checks = [_check_file(b, root, e) for b in benches for e in _manifest_entries(b, None)]
    return VerifyReport(root, tuple(checks))


def require_verified(bench: str, data_dir: str | os.PathLike | None = None,
                     relpaths: Iterable[str] | None = None) -> Path:
    """The ``<data_dir>/<bench>`` folder if ``relpaths`` (default: every file) pass their checksums;
    else ``DataError`` with one line naming the first bad file and the fix."""
    root = _root(data_dir)
    for entry in _manifest_entries(bench, relpaths):
        check = _check_file(bench, root, entry)
        if not check.ok:
            raise DataError(check.message())
    return root / bench


def data_file(bench: str, relpath: str, data_dir_override: str | os.PathLike | None = None,
              *, verify: bool = False) -> Path:
    """Path of ``<data_dir>/<bench>/<relpath>``; a clear error if it is not there (or, with
    ``verify=True``, if its sha256 differs from the manifest)."""
    if verify:
        require_verified(bench, data_dir_override, [relpath])
    path = data_dir(data_dir_override) / bench / relpath
    if not path.exists():
        raise DataError(
            f"{path}: benchmark file not found; run `uedpo-data fetch {bench}` "
            f"or point UEDPO_DATA_DIR at a directory that has it"
        )
    return path


def bench_sha256s(bench: str, data_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """``{relpath: sha256}`` of the manifest files of ``bench`` present on disk (as they are, not
    as the manifest says), for a result's ``data_sha256``."""
    root = _root(data_dir) / bench
    return {e.relpath: file_sha256(root / e.relpath) for e in load_manifest(bench).files
            if (root / e.relpath).is_file()}


def _root(override: str | os.PathLike | None) -> Path:
    # The public functions take a ``data_dir`` argument that shadows the module function.
    return data_dir(override)


# ------------------------------------------------------------------------------------------ fetch


@dataclass(frozen=True)
class FetchOutcome:
    relpath: str
    action: str  # "valid" | "downloaded" | "built" | "manual" | "failed"
    detail: str = ""


@dataclass(frozen=True)
class FetchReport:
    bench: str
    data_dir: Path
    outcomes: tuple[FetchOutcome, ...]

    @property
    def ok(self) -> bool:
        """No download or build failed (files needing a manual step do not count as failures)."""
        return not any(o.action == "failed" for o in self.outcomes)

    def by_action(self, action: str) -> list[FetchOutcome]:
        return [o for o in self.outcomes if o.action == action]


def _default_opener(url: str) -> BinaryIO:
    return urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S)


def _atomic_write(target: Path, chunks: Iterable[bytes], entry: ManifestFile) -> None:
    """Stream ``chunks`` into a temp file next to ``target``, check size and sha256, then
    ``os.replace``; on any failure the temp file is removed and ``target`` is left untouched."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        os.fchmod(fd, new_file_mode())
        digest, size = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                size += len(chunk)
                if size > entry.bytes:  # stop early: a wrong or hostile response can be huge
                    raise InputError(f"more than the expected {entry.bytes} bytes")
                digest.update(chunk)
                fh.write(chunk)
        if digest.hexdigest() != entry.sha256:
            raise InputError(f"sha256 mismatch (expected {entry.sha256[:12]}…, got "
                             f"{digest.hexdigest()[:12]}…, {size} bytes)")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _download(url: str, opener: Opener) -> Iterable[bytes]:
    with opener(url) as response:
        yield from iter(lambda: response.read(_CHUNK), b"")


def _fetch_one(bench: str, root: Path, entry: ManifestFile, opener: Opener,
               earlier: dict[str, FetchOutcome]) -> FetchOutcome:
    if _check_file(bench, root, entry).ok:
        return FetchOutcome(entry.relpath, "valid")
    if entry.derived is not None:
        return _build_derived(bench, root, entry, earlier)
    if entry.url is None:
        return FetchOutcome(entry.relpath, "manual", "no public source; copy it from a verified data "
                            f"directory ({entry.source.repo}@{entry.source.commit[:12]}:{entry.source.path})")
    try:
        _atomic_write(root / bench / entry.relpath, _download(entry.url, opener), entry)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return FetchOutcome(entry.relpath, "failed", f"{entry.url}: {exc}")
    return FetchOutcome(entry.relpath, "downloaded", entry.url)


def _build_derived(bench: str, root: Path, entry: ManifestFile,
                   earlier: dict[str, FetchOutcome]) -> FetchOutcome:
    derivation = entry.derived
    assert derivation is not None
    if derivation.recipe is None:
        if derivation.build:
            note = f" ({derivation.build_note})" if derivation.build_note else ""
            how = f"build it with `{derivation.build}`{note}"
        else:
            how = f"no public source for this derived file ({derivation.how}); copy it from a verified data dir"
        return FetchOutcome(entry.relpath, "manual", how)
    manifest = load_manifest(bench)
    bad = [rel for rel in derivation.inputs if not _check_file(bench, root, manifest.file(rel)).ok]
    blocked = [rel for rel in bad if rel in earlier and earlier[rel].action == "manual"]
    if blocked:  # waiting on a manual step is not a failure of this run
        return FetchOutcome(entry.relpath, "manual",
                            f"needs {', '.join(blocked)} first ({earlier[blocked[0]].detail}); then rerun fetch")
    if bad:
        return FetchOutcome(entry.relpath, "failed", f"cannot build: input {', '.join(bad)} is not valid")
    try:
        data = RECIPES[derivation.recipe](*(root / bench / rel for rel in derivation.inputs))
        _atomic_write(root / bench / entry.relpath, [data], entry)
    except (OSError, ValueError, KeyError) as exc:
        return FetchOutcome(entry.relpath, "failed", f"build {derivation.recipe!r} failed: {exc}")
    return FetchOutcome(entry.relpath, "built", f"recipe {derivation.recipe} from {', '.join(derivation.inputs)}")


def fetch(bench: str, data_dir: str | os.PathLike | None = None, *, opener: Opener | None = None,
          progress: bool | None = None) -> FetchReport:
    """Download every file of ``bench`` that is missing or corrupt, then build derived files.

    Files already valid are skipped; each download goes to a temp file and replaces the target only
    after its sha256 matches. ``opener(url)`` returns a readable binary stream (default: urllib).
    ``progress=None`` shows a bar only on a terminal.
    """
    root = _root(data_dir)
    opener = opener or _default_opener
    files = load_manifest(bench).files
    # Downloads first: derived files are built from downloaded inputs.
    ordered = [f for f in files if f.derived is None] + [f for f in files if f.derived is not None]
    outcomes: dict[str, FetchOutcome] = {}
    for entry in tqdm(ordered, desc=f"fetch {bench}", unit="file", disable=_no_bar(progress)):
        outcomes[entry.relpath] = _fetch_one(bench, root, entry, opener, outcomes)
    return FetchReport(bench, root, tuple(outcomes[f.relpath] for f in files))


def _no_bar(progress: bool | None) -> bool | None:
    return None if progress is None else not progress  # tqdm: disable=None means "only on a tty"


# ------------------------------------------------------------------------------------------ where


@dataclass(frozen=True)
class BenchPresence:
    bench: str
    total: int
    present: int
    verified: int
    problems: tuple[FileCheck, ...] = ()
    images: ImageSet | None = None

    @property
    def status(self) -> str:
        if self.verified == self.total:
            return "complete"
        if self.present == 0:
            return "absent"
        if any(p.status == "mismatch" for p in self.problems):
            return "corrupt"
        return "partial"


@dataclass(frozen=True)
class WhereReport:
    data_dir: Path
    origin: str
    benches: tuple[BenchPresence, ...] = field(default_factory=tuple)


def where(data_dir: str | os.PathLike | None = None) -> WhereReport:
    """Per benchmark: how many manifest files are present and how many pass their checksum."""
    report = verify(None, data_dir)
    rows = []
    for bench in BENCHES:
        checks = report.for_bench(bench)
        rows.append(BenchPresence(
            bench=bench, total=len(checks), present=sum(c.status != "missing" for c in checks),
            verified=sum(c.ok for c in checks), problems=tuple(c for c in checks if not c.ok),
            images=load_manifest(bench).images,
        ))
    return WhereReport(report.data_dir, data_dir_origin(data_dir), tuple(rows))
