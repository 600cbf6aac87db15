"""Shared fixtures.

Tests that need the official benchmark files or NLTK data skip with a reason when they are
absent; with ``UEDPO_REQUIRE_DATA=1`` (set by ``.ci/run``) such a skip is a failure instead.
"""

from __future__ import annotations

import os
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


@pytest.fixture(autouse=True, scope="session")
def _torch_cpu_defaults():
    # Denormals slow tiny models on CPU by up to 10x (SHAPESWORLD.md §8).
    torch.set_flush_denormal(True)
    torch.set_num_threads(2)
    yield


@pytest.fixture
def data_dir():
    return need_data()
