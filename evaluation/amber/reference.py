"""A plain, per-pair transcription of the official AMBER loop: the cross-check and the speed baseline.

Source: ``junyangwang0410/AMBER`` @ 534babf6bbfcce2e735c26289dedfb21cef3c939, ``inference.py`` ``main``. It
keeps the official structure on purpose: list membership tests, the ``safe_list`` / ``ha_list`` arrays whose
tail holds the per-object flags, and one similarity call per (mention, word) pair inside the nested loops,
with no caching. Use :func:`evaluation.amber.score_amber` for real work; this exists so tests can check the
fast path against the official structure and ``benchmarks/bench_amber.py`` can time it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from benchmarks_data.amber_types import AmberData, AmberResponse
from evaluation.amber.constants import (
    DENOMINATOR_SEED,
    EXISTENCE_F1_EPSILON,
    F1_EPSILON,
    SCORE_SEED,
    SIMILARITY_THRESHOLD,
)

# Official counter prefixes per annotation type; every other type goes to "asso" (relation).
_PREFIX = {
    "discriminative-attribute-state": "as",
    "discriminative-attribute-number": "an",
    "discriminative-attribute-action": "aa",
    "discriminative-hallucination": "ha",
}
_SECTION_PREFIXES = {
    "discriminative": ("qa",),
    "existence": ("ha_qa",),
    "attribute": ("as_qa", "an_qa", "aa_qa"),
    "state": ("as_qa",),
    "number": ("an_qa",),
    "action": ("aa_qa",),
    "relation": ("asso_qa",),
}


def seeded_counters() -> dict[str, float]:
    """The 44 counters of ``data/metrics.txt``: ``*_num`` = 0.001, ``*_score`` = 0."""
    names = ["chair", "safe_cover", "hallu_cover", "non_hallu"]
    names += [
        f"{p}qa_{c}" for p in ("", "as_", "an_", "aa_", "asso_", "ha_") for c in ("correct", "no", "ans_no")
    ]
    counters: dict[str, float] = {}
    for name in names:
        counters[f"{name}_score"] = SCORE_SEED
        counters[f"{name}_num"] = DENOMINATOR_SEED
    return counters


def _set_flag(flags: list[int], n_objects: int, j: int) -> None:
    # Official: an association word (j before the tail) stores its owner's index; the tail holds the flags.
    if j < len(flags) - n_objects:
        flags[flags[j] + len(flags) - n_objects] = 1
    else:
        flags[j] = 1


def _generative(
    counters: dict[str, float],
    nouns: Sequence[str],
    truth: Sequence[str],
    hallu: Sequence[str],
    data: AmberData,
    lists: tuple[list[str], list[str]],
    similar: Callable[[str, str], bool],
) -> None:
    vocabulary, global_safe = lists
    candidates = [noun for noun in nouns if noun in vocabulary]
    safe_words, safe_list, ha_words, ha_list = [], [], [], []
    for idx, word in enumerate(truth):
        safe_words += data.association[word]
        safe_list += [idx] * len(data.association[word])
    for idx, word in enumerate(hallu):
        ha_words += data.association[word]
        ha_list += [idx] * len(data.association[word])
    safe_words += truth
    safe_list += [0] * len(truth)
    ha_words += hallu
    ha_list += [0] * len(hallu)
    hallucinated = [0] * len(candidates)
    for idx, noun in enumerate(candidates):
        if noun in global_safe:
            continue
        if noun in safe_words:
            _set_flag(safe_list, len(truth), safe_words.index(noun))
            continue
        if noun in ha_words:
            _set_flag(ha_list, len(hallu), ha_words.index(noun))
        for j, word in enumerate(ha_words):
            if similar(noun, word):
                _set_flag(ha_list, len(hallu), j)
                break
        found = False
        for j, word in enumerate(safe_words):
            if similar(noun, word):
                found = True
                _set_flag(safe_list, len(truth), j)
                break
        if not found:
            hallucinated[idx] = 1
    counters["chair_score"] += sum(hallucinated)
    counters["chair_num"] += len(hallucinated)
    counters["safe_cover_score"] += sum(safe_list[-len(truth) :])
    counters["safe_cover_num"] += len(safe_list[-len(truth) :])
    counters["hallu_cover_score"] += sum(ha_list[-len(hallu) :])
    counters["hallu_cover_num"] += len(ha_list[-len(hallu) :])
    if sum(hallucinated) == 0:
        counters["non_hallu_score"] += 1
    counters["non_hallu_num"] += 1


def _discriminative(counters: dict[str, float], kind: str, truth: str, response: str) -> None:
    prefix = _PREFIX.get(kind, "asso")
    for p in ("qa", f"{prefix}_qa"):
        counters[f"{p}_correct_num"] += 1
        if truth == "yes" and response == "Yes":
            counters[f"{p}_correct_score"] += 1
        if truth != "yes":
            counters[f"{p}_no_num"] += 1
            if response == "No":
                counters[f"{p}_correct_score"] += 1
                counters[f"{p}_no_score"] += 1
        if response == "No":
            counters[f"{p}_ans_no_num"] += 1
            if truth == "no":
                counters[f"{p}_ans_no_score"] += 1


def official_counters(
    responses: Sequence[AmberResponse],
    data: AmberData,
    nouns: Callable[[str], Sequence[str]],
    similarity: Callable[[str, str], float],
    threshold: float = SIMILARITY_THRESHOLD,
) -> dict[str, float]:
    """Run the official loop; ``similarity`` is called once per (mention, word) pair visited."""
    counters = seeded_counters()
    # The official `hallucination_words` (keys and values, duplicates kept) and global safe words are lists.
    vocabulary = [w for key, words in data.association.items() for w in (key, *words)]
    lists = (vocabulary, sorted(data.safe_words))
    for item in responses:
        annotation = data.annotations[item.id]
        if annotation.is_generative:
            _generative(
                counters,
                nouns(item.response),
                annotation.truth,
                annotation.hallu,
                data,
                lists,
                lambda w1, w2: similarity(w1, w2) > threshold,
            )
        else:
            _discriminative(counters, annotation.type, annotation.truth, item.response)
    return counters


def official_printed(counters: dict[str, float]) -> dict[str, dict[str, float]]:
    """Every value the official script prints with ``-a`` (sections with no items print 0.0)."""
    c = counters
    printed = {
        "generative": {
            "CHAIR": round(c["chair_score"] / c["chair_num"] * 100, 1),
            "Cover": round(c["safe_cover_score"] / c["safe_cover_num"] * 100, 1),
            "Hal": round(100 - c["non_hallu_score"] / c["non_hallu_num"] * 100, 1),
            "Cog": round(c["hallu_cover_score"] / c["hallu_cover_num"] * 100, 1),
        }
    }
    for section, prefixes in _SECTION_PREFIXES.items():

        def total(counter: str, prefixes: tuple[str, ...] = prefixes) -> float:
            value = c[f"{prefixes[0]}_{counter}"]
            for p in prefixes[1:]:
                value = value + c[f"{p}_{counter}"]
            return value

        precision = round(total("ans_no_score") / total("ans_no_num") * 100, 1)
        recall = round(total("no_score") / total("no_num") * 100, 1)
        eps = EXISTENCE_F1_EPSILON if section == "existence" else F1_EPSILON
        printed[section] = {
            "Accuracy": round(total("correct_score") / total("correct_num") * 100, 1),
            "Precision": precision,
            "Recall": recall,
            "F1": round(
                2 * (precision / 100) * (recall / 100) / ((precision / 100) + (recall / 100) + eps) * 100, 1
            ),
        }
    return printed
