"""Where benchmark files live.

The layout under the data directory is the same as ``../shared/benchdata``::

    <data_dir>/amber/data/annotations.json
    <data_dir>/object_halbench/vocab/synonyms.txt
    <data_dir>/mmhal/mmhal-bench_answer_template.json

``UEDPO_DATA_DIR`` overrides the per-user cache directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir


class DataError(Exception):
    """A benchmark file is missing, corrupt or malformed; the message says which and how to fix it."""


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The benchmark data root: ``override``, else ``$UEDPO_DATA_DIR``, else the user cache."""
    if override:
        return Path(override).expanduser().resolve()
    env = os.environ.get("UEDPO_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return Path(user_cache_dir("uedpo")) / "benchdata"


def data_file(bench: str, relpath: str, data_dir_override: str | os.PathLike | None = None) -> Path:
    """Path of ``<data_dir>/<bench>/<relpath>``; a clear error if it is not there."""
    path = data_dir(data_dir_override) / bench / relpath
    if not path.exists():
        raise DataError(
            f"{path}: benchmark file not found; run `uedpo-data fetch {bench}` "
            f"or point UEDPO_DATA_DIR at a directory that has it"
        )
    return path
