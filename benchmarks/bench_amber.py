"""AMBER scorer speed: our cached-similarity path vs the official per-pair loop, in one run.

Scores all 15,220 AMBER ids (1,004 synthetic LLaVA-length descriptions + 14,216 yes/no answers) twice with
the SAME similarity backend:

* ours: ``evaluation.amber.score_amber`` (each unordered word pair asked once, decisions reused);
* baseline: ``evaluation.amber.reference.official_counters``, the official loop structure (list scans, one
  backend call per (mention, word) pair inside the nested loops, no caching), then the official printing.

Noun extraction (NLTK) is identical in both paths, so it is run once, timed on its own and shared; the ratio
compares the matching + aggregation stage. Both paths must print identical metrics (checked).

Backends: ``table`` is a deterministic pseudo-similarity table over the 418-word vocabulary (a dict lookup
per call: the cheapest possible backend, so the ratio is a floor). ``spacy-blank`` (only when spaCy is
importable) is the real spaCy call the official code makes, ``nlp(w1).similarity(nlp(w2))``, on a blank
English pipeline with deterministic pseudo vectors: it skips en_core_web_lg's tagger/parser/NER, so its
per-call cost, and the ratio, UNDER-estimate the official script's. en_core_web_lg itself is not available
offline. Call counts are printed so the official cost can be extrapolated from any per-call cost.

Run: ``UEDPO_DATA_DIR=... NLTK_DATA=... python benchmarks/bench_amber.py``
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks_data.amber import load_amber
from evaluation.amber import AmberData, AmberResponse, TableSimilarity, nltk_noun_extractor, score_amber
from evaluation.amber.reference import official_counters, official_printed

SEED = 0
TARGET_RATIO = 100.0
TARGET_SECONDS = 5.0

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


def _spacy_blank_backend(vocabulary: Sequence[str]) -> tuple[Any, Callable[[str, str], float]] | None:
    """A real spaCy pipeline (blank English + pseudo vectors) and the official per-pair call on it."""
    try:
        import numpy as np
        import spacy
    except ImportError:
        return None
    nlp = spacy.blank("en")
    rng = np.random.default_rng(SEED)
    for word in sorted({token.text for w in vocabulary for token in nlp.make_doc(w)}):
        nlp.vocab.set_vector(word, rng.standard_normal(300).astype("float32"))

    def official_call(word1: str, word2: str) -> float:  # check_synonyms_word, minus the threshold
        return nlp(word1).similarity(nlp(word2))

    return nlp, official_call


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


def run(report: Callable[[str], None] = print) -> dict[str, float]:
    """Run the benchmark, print the figures through ``report``, return them."""
    data = load_amber()
    responses = synthesize_responses(data)
    generative = [r for r in responses if data.annotations[r.id].is_generative]
    words = sum(len(r.response.split()) for r in generative) / len(generative)
    report(f"AMBER: {len(responses)} answers ({len(generative)} descriptions, mean {words:.0f} words)")

    start = time.perf_counter()
    extractor = nltk_noun_extractor()  # loads punkt, the tagger and WordNet
    setup = time.perf_counter() - start
    start = time.perf_counter()
    nouns = {r.response: extractor(r.response) for r in generative}
    t_nouns = time.perf_counter() - start
    report(f"NLTK setup {setup:.2f} s (once) | noun extraction {t_nouns:.2f} s (same for both paths)")

    table = TableSimilarity(pseudo_table(sorted(data.vocabulary)), source="pseudo")
    figures = {"nltk_setup_s": setup, "noun_extraction_s": t_nouns}
    figures["table_ratio"] = _compare(
        "table", responses, data, nouns.__getitem__, table, table.similarity, report
    )

    start = time.perf_counter()
    score_amber(responses, data, similarity=table, nouns=nltk_noun_extractor(), progress=False)
    figures["full_s"] = time.perf_counter() - start
    report(
        f"full scoring incl. NLTK tokenise/tag/lemmatise (fresh extractor, data already loaded): "
        f"{figures['full_s']:.2f} s (target < {TARGET_SECONDS:.0f} s)"
    )

    spacy_backend = _spacy_blank_backend(sorted(data.vocabulary))
    if spacy_backend is None:
        report("[spacy-blank] skipped: spaCy is not importable (pip install spacy to run it)")
    else:
        from evaluation.amber import SpacySimilarity

        nlp, official_call = spacy_backend
        figures["spacy_blank_ratio"] = _compare(
            "spacy-blank",
            responses,
            data,
            nouns.__getitem__,
            SpacySimilarity(model="blank-en+pseudo-vectors", nlp=nlp),
            official_call,
            report,
        )
    best = max(figures["table_ratio"], figures.get("spacy_blank_ratio", 0.0))
    fast_enough = "met" if figures["full_s"] < TARGET_SECONDS else "NOT met"
    ratio_met = "met" if best >= TARGET_RATIO else "NOT met"
    report(
        f"targets: full scoring < {TARGET_SECONDS:.0f} s {fast_enough}; speed-up >= x{TARGET_RATIO:.0f} "
        f"{ratio_met} (best measured x{best:.1f}; the per-pair loop costs its backend calls, so a cheap "
        "backend gives a small ratio)"
    )
    return figures


if __name__ == "__main__":
    run()
