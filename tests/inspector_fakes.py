"""Synthetic inspector views for tests that need no model, and other helpers the inspector tests share (not a
test module: no ``test_`` prefix)."""

from __future__ import annotations

import re
import socket
import zlib

import torch

from inspector.analysis import BranchSignals, PairView, view_from_signals
from inspector.errors import InputError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    sample_id: str = "",
) -> PairView:
    seed = zlib.crc32(f"{preferred}|{noise_step}|{checkpoint}".encode())
    branches = [branch(words(preferred), seed)]
    if dispreferred:
        branches.append(branch(words(dispreferred), seed + 1))
    return view_from_signals(
        "q",
        tuple(branches),
        alpha=alpha,
        tau=tau,
        noise_step=noise_step,
        checkpoint=checkpoint,
        sample_id=sample_id,
    )


def fake_analyse(
    image, question, preferred, dispreferred=None, *, alpha, tau, noise_step, sample_id="", checkpoint="fake"
):
    """Stands in for ``analyse_pair``: word tokens, random signals; magic words simulate failures."""
    if "TOO_LONG" in preferred:
        raise InputError(
            "preferred response: 5000 tokens exceed the model context of 4096 tokens; shorten it",
            field="preferred",
        )
    if "CRASH" in preferred:
        raise RuntimeError("simulated crash inside the model")
    return synthetic_view(
        preferred,
        dispreferred,
        alpha=alpha,
        tau=tau,
        noise_step=noise_step,
        checkpoint=checkpoint,
        sample_id=sample_id,
    )


BLIND_RESPONSE = "a red car is parked next to a dog and a tree ."


def blindspot_row(
    item_id, status, word, verdict, type_, *, probe=None, u=0.25, delta=-0.5, p=(0.6, 0.5), **extra
):
    """One row of a ``uedpo-eval --blindspots`` file (``OUT/<bench>/blindspots.jsonl``), with the usual extras."""
    row = {
        "bench": "amber",
        "id": item_id,
        "image": "img.png",
        "question": "Describe this image.",
        "response": BLIND_RESPONSE,
        "status": status,
        "word": word,
        "tokens": [" " + word],
        "u": u,
        "delta": delta,
        "p_clear": p[0],
        "p_blurred": p[1],
        "type": type_,
        "verdict": verdict,
        "probe": BLIND_RESPONSE if probe is None else probe,
        "object_class": word,
        "view": {"kind": "noise", "noise_step": 500, "noise_kind": "vcd_sigmoid"},
        "seed": 0,
        "step": None,
        "tau": 0.4,
        "ckpt": "tiny",
        "adapter": None,
    }
    row.update(extra)
    return row


def blindspot_fixture() -> list[dict]:
    """Three items: 1 (a prior-driven hallucination, a grounded object, a missed blind spot), 2 (grounded
    only) and 3 (a missed object that was seen)."""
    return [
        blindspot_row(1, "hallucinated", "dog", "prior-driven", "type-ii", p=(0.41, 0.38)),
        blindspot_row(1, "grounded", "car", "seen", "ungated", p=(0.72, 0.2)),
        blindspot_row(
            1,
            "missed",
            "cat",
            "blind-spot",
            "type-i",
            probe=BLIND_RESPONSE + " There is also a cat .",
            u=0.8,
            p=(0.02, 0.019),
        ),
        blindspot_row(2, "grounded", "tree", "seen", "ungated"),
        blindspot_row(
            3,
            "missed",
            "bench",
            "seen",
            "ungated",
            probe=BLIND_RESPONSE + " There is also a bench .",
            p=(0.3, 0.05),
        ),
    ]


class StatefulModel:
    """A stand-in for a model that is not thread-safe: like a tokenizer or a module holding its current input,
    it keeps the request in an attribute while it "computes" (``delay`` seconds), then answers for whatever
    that attribute holds. Two calls at once get each other's texts. Counts the calls inside it at once."""

    def __init__(self, delay: float = 0.03) -> None:
        import threading

        self.delay = delay
        self.current: tuple | None = None
        self.active = 0
        self.max_active = 0
        self.calls = 0
        self._count = threading.Lock()

    def __call__(self, image, question, preferred, dispreferred=None, **kwargs):
        import time

        with self._count:
            self.active += 1
            self.calls += 1
            self.max_active = max(self.max_active, self.active)
        try:
            self.current = (preferred, dispreferred, kwargs.get("sample_id", ""))
            time.sleep(self.delay)
            preferred, dispreferred, sample_id = self.current
            return fake_analyse(
                image, question, preferred, dispreferred, **{**kwargs, "sample_id": sample_id}
            )
        finally:
            with self._count:
                self.active -= 1
