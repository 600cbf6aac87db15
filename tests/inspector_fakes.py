"""Synthetic inspector views for tests that need no model (not a test module: no ``test_`` prefix)."""

from __future__ import annotations

import re
import zlib

import torch

from inspector.analysis import BranchSignals, PairView, view_from_signals
from inspector.errors import InputError


def branch(tokens: list[str], seed: int) -> BranchSignals:
    """Random u, Δ and log-probs for ``tokens`` (ids 10, 11, ...), reproducible from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    n = len(tokens)
    return BranchSignals(
        text="".join(tokens),
        u=torch.randn(1, n, generator=g),
        delta=torch.randn(1, n, generator=g),
        mask=torch.ones(1, n, dtype=torch.bool),
        logprobs=-torch.rand(1, n, generator=g) * 5,
        token_ids=tuple(range(10, 10 + n)),
        token_strings=tuple(tokens),
    )


def words(text: str) -> list[str]:
    """Word tokens that keep their leading whitespace, so they concatenate back to ``text``."""
    return re.findall(r"\s*\S+", text)


def synthetic_view(
    preferred: str,
    dispreferred: str | None = None,
    *,
    alpha: float = 0.3,
    tau: float = 0.4,
    noise_step: int = 500,
    checkpoint: str = "fake",
) -> PairView:
    seed = zlib.crc32(f"{preferred}|{noise_step}|{checkpoint}".encode())
    branches = [branch(words(preferred), seed)]
    if dispreferred:
        branches.append(branch(words(dispreferred), seed + 1))
    return view_from_signals(
        "q", tuple(branches), alpha=alpha, tau=tau, noise_step=noise_step, checkpoint=checkpoint
    )


def fake_analyse(
    image, question, preferred, dispreferred=None, *, alpha, tau, noise_step, sample_id="", checkpoint="fake"
):
    """Stands in for ``analyse_pair``: word tokens, random signals; magic words simulate failures."""
    if "TOO_LONG" in preferred:
        raise InputError(
            "preferred response: 5000 tokens exceed the model context of 4096 tokens; shorten it"
        )
    if "CRASH" in preferred:
        raise RuntimeError("simulated crash inside the model")
    return synthetic_view(
        preferred, dispreferred, alpha=alpha, tau=tau, noise_step=noise_step, checkpoint=checkpoint
    )
