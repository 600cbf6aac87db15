"""Synthetic AMBER answers and the in-process ours-vs-per-pair-loop comparison (used by bench_scorers.py).

``synthesize_responses``: a seeded LLaVA-style description per generative id (truth objects, association
words, hallucination targets, other vocabulary words) and mostly-right yes/no answers. ``_compare`` scores
them with ``evaluation.amber.score_amber`` and with the official loop structure
(``evaluation.amber.reference``: one backend call per (mention, word) pair, junyangwang0410/AMBER @ 534babf
inference.py) on the SAME backend and checks the metrics are identical. The end-to-end benchmark is
``bench_amber.py``.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from evaluation.amber import AmberData, AmberResponse, score_amber
from evaluation.amber.reference import official_counters, official_printed

SEED = 0

_TEMPLATES = (
    "The image shows {a} {w} next to {b}.",
    "In the background, there is {a} {w} and {b}.",
    "{A} {w} can be seen near {b}, which adds to the scene.",
    "There are several {ws} around {b}.",
    "The {w} appears to be in the middle of the picture, close to {b}.",
    "Overall, the {w} and {b} create a calm and pleasant atmosphere.",
)
_OTHER_NOUNS = ("scene", "atmosphere", "picture", "setting", "moment", "day", "view")


def _plural(word: str) -> str:
    return word + ("es" if word.endswith(("s", "x", "ch", "sh")) else "s")


def synthesize_description(
    rng: random.Random,
    truth: Sequence[str],
    hallu: Sequence[str],
    data: AmberData,
    vocabulary: Sequence[str],
    n_words: int = 100,
) -> str:
    """A LLaVA-style description (~n_words words): mostly truth objects, some association words, a few
    hallucination targets and unrelated vocabulary words, so every branch of the official loop runs."""
    associated = [w for t in truth for w in data.association[t]] or list(truth)

    def pick() -> str:
        x = rng.random()
        pool = truth if x < 0.6 else associated if x < 0.75 else hallu if x < 0.87 else vocabulary
        return rng.choice(pool)

    sentences: list[str] = []
    while sum(len(s.split()) for s in sentences) < n_words:
        w, b = pick(), pick()
        other = rng.choice(_OTHER_NOUNS)
        text = rng.choice(_TEMPLATES).format(a="a", A="A", w=w, ws=_plural(w), b=f"the {b}")
        sentences.append(text if rng.random() > 0.2 else text.replace("scene", other))
    return " ".join(sentences)


def synthesize_responses(data: AmberData, seed: int = SEED) -> list[AmberResponse]:
    rng = random.Random(seed)
    vocabulary = sorted(data.vocabulary)
    responses = []
    for item_id, annotation in sorted(data.annotations.items()):
        if annotation.is_generative:
            text = synthesize_description(rng, annotation.truth, annotation.hallu, data, vocabulary)
        else:  # a model that is right ~80% of the time, with a few unnormalised answers
            right = ("Yes" if annotation.truth == "yes" else "No") if rng.random() < 0.8 else None
            text = right or rng.choice(("Yes", "No", "Yes, there is."))
        responses.append(AmberResponse(item_id, text))
    return responses


def pseudo_similarity(word1: str, word2: str) -> float:
    """Deterministic value in [0, 1): ~2% of pairs above 0.8, like a sparse synonym structure."""
    digest = hashlib.sha256(f"{min(word1, word2)}|{max(word1, word2)}".encode()).digest()
    x = int.from_bytes(digest[:8], "big") / 2**64
    return 0.8 + x * 0.2 if x < 0.02 else x * 0.8


def pseudo_table(vocabulary: Sequence[str]) -> dict[str, dict[str, float]]:
    words = sorted(vocabulary)
    return {w1: {w2: pseudo_similarity(w1, w2) for w2 in words[i + 1 :]} for i, w1 in enumerate(words)}


class _CountingCall:
    """Wraps a similarity function and counts its calls (the baseline's cost unit)."""

    def __init__(self, fn: Callable[[str, str], float]):
        self.fn, self.calls = fn, 0

    def __call__(self, word1: str, word2: str) -> float:
        self.calls += 1
        return self.fn(word1, word2)


def _compare(
    label: str,
    responses: list[AmberResponse],
    data: AmberData,
    nouns: Callable[[str], Sequence[str]],
    ours_backend: Any,
    baseline_fn: Callable[[str, str], float],
    report: Callable[[str], None],
) -> float:
    start = time.perf_counter()
    ours = score_amber(responses, data, similarity=ours_backend, nouns=nouns, progress=False)
    t_ours = time.perf_counter() - start
    counting = _CountingCall(baseline_fn)
    start = time.perf_counter()
    printed = official_printed(official_counters(responses, data, nouns, counting))
    t_base = time.perf_counter() - start
    if any(printed[section] != values for section, values in ours.metrics.items()):
        raise AssertionError(f"{label}: fast path and per-pair loop disagree: {ours.metrics} vs {printed}")
    ratio = t_base / t_ours
    report(
        f"[{label}] ours {t_ours:.3f} s ({ours.similarity_calls} backend calls) | per-pair loop "
        f"{t_base:.3f} s ({counting.calls} calls) | speed-up x{ratio:.1f} | calls x"
        f"{counting.calls / max(ours.similarity_calls, 1):.1f} | metrics identical"
    )
    runs = getattr(ours_backend, "pipeline_runs", None)
    if runs:
        report(
            f"[{label}] spaCy pipeline runs: ours {runs} (one per distinct word) | official "
            f"{2 * counting.calls} (two per call) | x{2 * counting.calls / runs:.0f}"
        )
    return ratio
