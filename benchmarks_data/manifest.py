"""Typed view of the benchmark manifests in ``benchmarks_data/manifests/<bench>.json``.

A manifest says, for every file of a benchmark, where it comes from (repo@commit + path and the raw
download URL of exactly those bytes), its sha256, size, licence and item counts. Files built from a
source by a deterministic step are marked ``derived`` with the recipe. Images are never part of the
data directory; the ``images`` entry says how they are named and where a user gets them.

Provenance of every entry: ``shared/benchdata/MANIFEST.md`` (snapshot commits listed there).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import PurePosixPath
from typing import Any

from uedpo.errors import InputError

BENCHES: tuple[str, ...] = ("amber", "object_halbench", "mmhal", "pope")
SCHEMA_VERSION = 1
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


class ManifestError(InputError):
    """A packaged manifest is malformed (a bug in this package, not in the user's data)."""


@dataclass(frozen=True)
class SourceRef:
    """Where the bytes (or, for a derived file, its upstream input) live upstream."""

    repo: str
    commit: str
    path: str
    url: str


@dataclass(frozen=True)
class Derivation:
    """How a derived file is built: ``recipe`` (a name in ``derive.RECIPES``) from ``inputs``
    (relpaths of the same benchmark), or ``build`` (a command to run), or neither (no public route)."""

    how: str
    inputs: tuple[str, ...] = ()
    recipe: str | None = None
    build: str | None = None
    build_note: str = ""  # what the build command's arguments are, for the fetch message


@dataclass(frozen=True)
class ManifestFile:
    relpath: str
    role: str
    sha256: str
    bytes: int
    license: str
    source: SourceRef
    url: str | None = None  # download URL of exactly these bytes; None when derived
    derived: Derivation | None = None
    counts: dict[str, int] = field(default_factory=dict)
    notes: str = ""


@dataclass(frozen=True)
class ImageSet:
    """The benchmark's images: not shipped, named ``naming`` from ``names_from`` (relpath + field)."""

    included: bool
    count: int
    naming: str
    names_from: dict[str, str]
    where: str
    license: str


@dataclass(frozen=True)
class Manifest:
    name: str
    title: str
    description: str
    homepage: str
    licenses: tuple[str, ...]
    files: tuple[ManifestFile, ...]
    images: ImageSet | None = None
    notes: str = ""

    def file(self, relpath: str) -> ManifestFile | None:
        return next((f for f in self.files if f.relpath == relpath), None)


def _check(cond: bool, bench: str, what: str) -> None:
    if not cond:
        raise ManifestError(f"manifests/{bench}.json: {what}; fix the packaged manifest")


def _parse_file(bench: str, raw: dict[str, Any]) -> ManifestFile:
    rel = raw["relpath"]
    # relpaths become filesystem paths under the data dir: refuse anything that could escape it.
    parts = PurePosixPath(rel).parts
    _check(bool(parts) and not rel.startswith("/") and ".." not in parts, bench, f"unsafe relpath {rel!r}")
    _check(bool(_SHA256.match(raw["sha256"])), bench, f"{rel}: sha256 is not 64 lowercase hex digits")
    src = SourceRef(**raw["source"])
    _check(bool(_COMMIT.match(src.commit)), bench, f"{rel}: source commit is not a full 40-hex commit")
    url = raw.get("url")
    _check(url is None or url.startswith("https://"), bench, f"{rel}: download url must be https")
    derived = None
    if raw.get("derived") is not None:
        d = raw["derived"]
        derived = Derivation(how=d["how"], inputs=tuple(d.get("inputs", ())), recipe=d.get("recipe"),
                             build=d.get("build"), build_note=d.get("build_note", ""))
    return ManifestFile(relpath=rel, role=raw["role"], sha256=raw["sha256"], bytes=int(raw["bytes"]),
                        license=raw["license"], source=src, url=url, derived=derived,
                        counts=dict(raw.get("counts", {})), notes=raw.get("notes", ""))


def parse_manifest(raw: dict[str, Any]) -> Manifest:
    """Validate a manifest dict (the JSON schema above) and return the typed object."""
    bench = raw.get("name", "?")
    _check(raw.get("schema_version") == SCHEMA_VERSION, bench, f"schema_version must be {SCHEMA_VERSION}")
    files = tuple(_parse_file(bench, f) for f in raw["files"])
    relpaths = [f.relpath for f in files]
    _check(len(set(relpaths)) == len(relpaths), bench, "duplicate relpath")
    for f in files:
        for inp in f.derived.inputs if f.derived else ():
            _check(inp in relpaths, bench, f"{f.relpath}: derived input {inp!r} is not a file of this manifest")
    images = ImageSet(**raw["images"]) if raw.get("images") else None
    return Manifest(name=bench, title=raw["title"], description=raw["description"], homepage=raw["homepage"],
                    licenses=tuple(raw["licenses"]), files=files, images=images, notes=raw.get("notes", ""))


@cache
def load_manifest(bench: str) -> Manifest:
    """The packaged manifest of ``bench`` (one of ``BENCHES``)."""
    if bench not in BENCHES:
        raise InputError(f"unknown benchmark {bench!r}; choose one of: {', '.join(BENCHES)}")
    text = (resources.files("benchmarks_data") / "manifests" / f"{bench}.json").read_text("utf-8")
    manifest = parse_manifest(json.loads(text))
    _check(manifest.name == bench, bench, f"name is {manifest.name!r}")
    return manifest
