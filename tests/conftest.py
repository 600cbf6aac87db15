"""Shared fixtures.

Tests that need the official benchmark files or NLTK data skip with a reason when they are
absent; with ``UEDPO_REQUIRE_DATA=1`` (set by ``.ci/run``) such a skip is a failure instead.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def _data_required() -> bool:
    return os.environ.get("UEDPO_REQUIRE_DATA", "") not in ("", "0", "false", "False")


def shared_data_dir() -> Path | None:
    """The official benchmark files (``UEDPO_DATA_DIR``, else ``../shared/benchdata``)."""
    env = os.environ.get("UEDPO_DATA_DIR")
    candidates = [Path(env)] if env else [REPO.parent / "shared" / "benchdata"]
    return next((p.resolve() for p in candidates if p.is_dir()), None)


def need_data(*relpaths: str) -> Path:
    """Return the data dir if every ``relpath`` exists under it; else skip (or fail under CI)."""
    root = shared_data_dir()
    missing = [r for r in relpaths if root is None or not (root / r).exists()]
    if missing:
        reason = f"benchmark data missing: {', '.join(missing)} (set UEDPO_DATA_DIR)"
        if _data_required():
            pytest.fail(f"UEDPO_REQUIRE_DATA=1 but {reason}")
        pytest.skip(reason)
    return root


def need_nltk() -> None:
    """Skip (or fail under CI) unless punkt_tab, the perceptron tagger and WordNet are findable."""
    import nltk

    wanted = ["tokenizers/punkt_tab/english/", "taggers/averaged_perceptron_tagger_eng/", "corpora/wordnet"]
    missing = []
    for res in wanted:
        try:
            nltk.data.find(res)
        except LookupError:
            missing.append(res)
    if missing:
        reason = f"NLTK data missing: {', '.join(missing)} (set NLTK_DATA)"
        if _data_required():
            pytest.fail(f"UEDPO_REQUIRE_DATA=1 but {reason}")
        pytest.skip(reason)


# spaCy en_core_web_md 3.8.0: `make install` unpacks it into <venv>/spacy-models; UEDPO_SPACY_MD overrides.
SPACY_MD_ENV = "UEDPO_SPACY_MD"


def spacy_md_dir() -> Path:
    env = os.environ.get(SPACY_MD_ENV)
    return Path(env) if env else Path(sys.prefix) / "spacy-models" / "en_core_web_md"


def need_spacy_md() -> Path:
    """The en_core_web_md folder, with spaCy installed; else skip (or fail under CI)."""
    path = spacy_md_dir()
    reason = None
    if not (path / "config.cfg").is_file() or not (path / "vocab" / "vectors").is_file():
        reason = f"spaCy model en_core_web_md missing at {path} (run `make install` or set {SPACY_MD_ENV})"
    elif importlib.util.find_spec("spacy") is None:
        reason = "spaCy is not installed (pip install -e '.[test]')"
    if reason:
        if _data_required():
            pytest.fail(f"UEDPO_REQUIRE_DATA=1 but {reason}")
        pytest.skip(reason)
    return path.resolve()


@pytest.fixture(scope="session")
def spacy_md_nlp():
    """The real en_core_web_md pipeline, loaded once per session (about 2-4 s with the spaCy import)."""
    import spacy

    return spacy.load(need_spacy_md())


@pytest.fixture(autouse=True, scope="session")
def _torch_cpu_defaults():
    # Denormals slow tiny models on CPU by up to 10x (SHAPESWORLD.md §8).
    torch.set_flush_denormal(True)
    torch.set_num_threads(2)
    yield


@pytest.fixture
def data_dir():
    return need_data()
