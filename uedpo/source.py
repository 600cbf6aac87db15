"""Which toolkit produced a result or a checkpoint: installed package versions and the source checkout's commit.

A leaf module (the standard library only), shared by the results' provenance (``evaluation.provenance``) and
the exported model card (``uedpo.export_card``), so both name the same commit the same way.
"""

from __future__ import annotations

import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[1]
DIRTY = "+dirty"  # appended when tracked files differ from the commit


def installed_version(package: str) -> str | None:
    """The installed distribution's version, or None when it is not installed."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def head_commit(root: Path = SOURCE_ROOT) -> str | None:
    """The checked-out commit of a source checkout, read from ``.git`` (``HEAD``, its ref or ``packed-refs``;
    no git command), else None."""
    git = root / ".git"
    try:
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
        if not head.startswith("ref: "):
            return head or None
        ref = head.removeprefix("ref: ")
        if (git / ref).is_file():
            return (git / ref).read_text(encoding="utf-8").strip() or None
        for line in (git / "packed-refs").read_text(encoding="utf-8").splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except OSError:
        return None
    return None


def _dirty(root: Path) -> bool:
    """Tracked files differ from the commit (``git status``; False when git cannot be run)."""
    try:
        out = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                             capture_output=True, text=True, timeout=5, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(out.strip())


@lru_cache(maxsize=8)
def git_commit(root: Path = SOURCE_ROOT) -> str | None:
    """``<sha>``, with :data:`DIRTY` if tracked files changed, when the toolkit runs from a git checkout; else None.
    Read once per process (a results stamp or a model card must not spawn git each time)."""
    sha = head_commit(root)
    return sha + (DIRTY if _dirty(root) else "") if sha else None
