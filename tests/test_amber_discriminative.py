"""AMBER discriminative scoring against values derived independently from annotations.json.

Official: junyangwang0410/AMBER @ 534babf, inference.py. The expected values below are recomputed in this
file from raw counts of annotations.json (read with json, not through our loader) with the official
formulas written out again: every denominator starts at 0.001 (attribute = state + number + action counters,
so 0.003), "No" is the positive class, P and R are rounded before F1, F1 epsilon 0.001 for existence and
0.0001 elsewhere. The literal values of SCORERS.md §4.3 are asserted as well.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from conftest import need_data

from benchmarks_data.amber import load_amber
from evaluation.amber import AmberResponse, normalize_answer, score_amber

SECTIONS = ("discriminative", "existence", "attribute", "state", "number", "action", "relation")
BUCKET = {
    "discriminative-attribute-state": "state",
    "discriminative-attribute-number": "number",
    "discriminative-attribute-action": "action",
    "discriminative-hallucination": "existence",
}


@pytest.fixture(scope="module")
def raw_annotations():
    root = need_data("amber/data/annotations.json", "amber/data/relation.json", "amber/data/safe_words.txt")
    return json.loads((root / "amber/data/annotations.json").read_text(encoding="utf-8")), root


@pytest.fixture(scope="module")
def amber(raw_annotations):
    return load_amber(raw_annotations[1])


def section_members(section: str, kind: str) -> bool:
    bucket = BUCKET.get(kind, "relation")
    return (
        section == "discriminative"
        or section == bucket
        or (section == "attribute" and bucket in ("state", "number", "action"))
    )


def expected_printed(records, answer_for, section: str) -> dict[str, float]:
    """The official formulas, written out from counts: (answer) -> correct/no/ans_no tallies."""
    members = [r for r in records if r["type"] != "generative" and section_members(section, r["type"])]
    seed = 0.003 if section == "attribute" else 0.001
    n = len(members)
    correct = sum(
        (r["truth"] == "yes" and answer_for(r) == "Yes") or (r["truth"] == "no" and answer_for(r) == "No")
        for r in members
    )
    no_num = sum(r["truth"] == "no" for r in members)
    no_score = sum(r["truth"] == "no" and answer_for(r) == "No" for r in members)
    ans_no_num = sum(answer_for(r) == "No" for r in members)
    p = round(no_score / (seed + ans_no_num) * 100, 1)
    r_ = round(no_score / (seed + no_num) * 100, 1)
    eps = 0.001 if section == "existence" else 0.0001
    return {
        "Accuracy": round(correct / (seed + n) * 100, 1),
        "Precision": p,
        "Recall": r_,
        "F1": round(2 * (p / 100) * (r_ / 100) / ((p / 100) + (r_ / 100) + eps) * 100, 1),
    }


ANSWER_SETS = {
    "all-yes": lambda r: "Yes",
    "all-no": lambda r: "No",
    "truth-echoed": lambda r: "Yes" if r["truth"] == "yes" else "No",
    "truth-lower-case": lambda r: r["truth"],
}

# SCORERS.md §4.3, re-derived there from annotations.json.
LITERAL = {
    "all-yes": {
        "state": (50.0, 0.0, 0.0, 0.0),
        "number": (50.0, 0.0, 0.0, 0.0),
        "action": (50.0, 0.0, 0.0, 0.0),
        "existence": (0.0, 0.0, 0.0, 0.0),
        "relation": (58.6, 0.0, 0.0, 0.0),
    },
    "all-no": {
        "state": (50.0, 50.0, 100.0, 66.7),
        "number": (50.0, 50.0, 100.0, 66.7),
        "action": (50.0, 50.0, 100.0, 66.7),
        "existence": (100.0, 100.0, 100.0, 100.0),
        "relation": (41.4, 41.4, 100.0, 58.6),
    },
    "truth-echoed": {s: (100.0, 100.0, 100.0, 100.0) for s in SECTIONS},
    "truth-lower-case": {s: (0.0, 0.0, 0.0, 0.0) for s in SECTIONS},
}


def test_annotation_counts_behind_the_derivation(raw_annotations):
    records, _ = raw_annotations
    counts = Counter(
        (BUCKET.get(r["type"], "relation"), r["truth"]) for r in records if r["type"] != "generative"
    )
    assert counts == {
        ("state", "yes"): 2382,
        ("state", "no"): 2382,
        ("number", "yes"): 1036,
        ("number", "no"): 1036,
        ("action", "yes"): 396,
        ("action", "no"): 396,
        ("existence", "no"): 4924,
        ("relation", "yes"): 975,
        ("relation", "no"): 689,
    }


@pytest.mark.parametrize("answer_set", sorted(ANSWER_SETS))
def test_full_discriminative_set(raw_annotations, amber, answer_set):
    """All 14,216 discriminative ids, four synthetic answer sets. E.g. all "No", relation: 689 of 1664 truths
    are 'no' -> Acc = 689/1664.001 = 41.41 -> 41.4, P = 689/1664.001 -> 41.4, R = 689/689.001 -> 100.0,
    F1 = 2*.414*1/(1.414+.0001) -> 58.6. Lower-case "yes"/"no" never equal "Yes"/"No": every value 0.0."""
    records, _ = raw_annotations
    answer_for = ANSWER_SETS[answer_set]
    responses = [AmberResponse(r["id"], answer_for(r)) for r in records if r["type"] != "generative"]
    result = score_amber(responses, amber, progress=False)
    assert list(result.metrics) == list(SECTIONS)
    for section in SECTIONS:
        assert result.metrics[section] == expected_printed(records, answer_for, section), section
    for section, values in LITERAL[answer_set].items():
        got = result.metrics[section]
        assert (got["Accuracy"], got["Precision"], got["Recall"], got["F1"]) == values, section
    expected_bad = len(responses) if answer_set == "truth-lower-case" else 0
    assert result.non_yes_no_answers["discriminative"] == expected_bad


def ids_of(records, bucket: str, truth: str, count: int) -> list[int]:
    found = [
        r["id"]
        for r in records
        if r["type"] != "generative" and BUCKET.get(r["type"], "relation") == bucket and r["truth"] == truth
    ]
    return found[:count]


def test_f1_is_computed_from_rounded_precision_and_recall(raw_annotations, amber):
    """Two state items with truth 'no', both answered "No". P = R = 2/2.001*100 = 99.950 -> 100.0, so
    F1 = 2*1*1/(1+1+0.0001)*100 = 99.995 -> 100.0 (from the unrounded P, R it would be 99.945 -> 99.9).
    The attribute section adds the three sub-bucket counters, seeds included: Acc = P = R = 2/2.003*100 =
    99.850 -> 99.9 and F1 = 2*.999*.999/(1.998+.0001)*100 = 99.895 -> 99.9."""
    records, _ = raw_annotations
    result = score_amber(
        [AmberResponse(i, "No") for i in ids_of(records, "state", "no", 2)], amber, progress=False
    )
    assert result.metrics["state"] == {"Accuracy": 100.0, "Precision": 100.0, "Recall": 100.0, "F1": 100.0}
    assert result.metrics["discriminative"] == result.metrics["state"]
    assert result.metrics["attribute"] == {"Accuracy": 99.9, "Precision": 99.9, "Recall": 99.9, "F1": 99.9}
    assert result.raw["state"]["Precision"] == 2 / 2.001 * 100
    assert list(result.metrics) == ["discriminative", "attribute", "state"]  # empty sections left out


def test_existence_uses_its_own_f1_epsilon_and_precision_quirk(raw_annotations, amber):
    """Four existence items (all truth 'no'), answers No, No, Yes, Yes. P = 2/2.001 -> 100.0 (existence
    precision is 100 whenever at least two "No" are given: 1/1.001 would print 99.9); R = 2/4.001*100 = 49.99
    -> 50.0; F1 = 2*1*.5/(1.5+0.001)*100 = 66.62 -> 66.6 (epsilon 0.001). The pooled section, same counts
    with epsilon 0.0001: 1/1.5001*100 = 66.66 -> 66.7. Acc = 2/4.001 -> 50.0."""
    records, _ = raw_annotations
    ids = ids_of(records, "existence", "no", 4)
    result = score_amber(
        [AmberResponse(i, a) for i, a in zip(ids, ["No", "No", "Yes", "Yes"], strict=True)],
        amber,
        progress=False,
    )
    assert result.metrics["existence"] == {"Accuracy": 50.0, "Precision": 100.0, "Recall": 50.0, "F1": 66.6}
    assert result.metrics["discriminative"]["F1"] == 66.7
    single = score_amber([AmberResponse(ids[0], "No")], amber, progress=False)
    assert single.metrics["existence"]["Precision"] == 99.9


def test_answers_must_be_exactly_yes_or_no(raw_annotations, amber):
    """State items, truth yes/no alternating, answers "No." / " Yes" / "yes" / "NO": all wrong for both
    truths, none counts as answering "No", so Acc = 0/4.001 = 0.0, P = 0/0.001 = 0.0, R = 0/2.001 = 0.0."""
    records, _ = raw_annotations
    yes_ids, no_ids = ids_of(records, "state", "yes", 2), ids_of(records, "state", "no", 2)
    responses = [
        AmberResponse(yes_ids[0], "No."),
        AmberResponse(no_ids[0], " Yes"),
        AmberResponse(yes_ids[1], "yes"),
        AmberResponse(no_ids[1], "NO"),
    ]
    result = score_amber(responses, amber, progress=False)
    assert result.metrics["state"] == {"Accuracy": 0.0, "Precision": 0.0, "Recall": 0.0, "F1": 0.0}
    assert result.non_yes_no_answers == {"discriminative": 4, "attribute": 4, "state": 4}
    assert not any(r.is_yes_no or r.correct for r in result.discriminative_records)
    assert result.variant == "official"


def test_normalized_answers_variant(raw_annotations, amber):
    """Opt-in rule: first word, stripped of punctuation, case-insensitive. With it the four answers above
    plus "Not sure" become No, Yes, Yes, No, "Not sure" (unchanged): yes#0 wrong, no#0 wrong, yes#1 right,
    no#1 right, and the fifth (truth yes) wrong. Acc = 2/5.001 = 39.99 -> 40.0; P = 1/2.001 = 49.98 -> 50.0;
    R = 1/2.001 -> 50.0; F1 = 2*.5*.5/(1+.0001)*100 = 49.995 -> 50.0."""
    assert [
        normalize_answer(a) for a in ("Yes, there is a dog.", " no.", "NO", "Not sure", "", "There is no")
    ] == ["Yes", "No", "No", "Not sure", "", "There is no"]
    records, _ = raw_annotations
    yes_ids, no_ids = ids_of(records, "state", "yes", 3), ids_of(records, "state", "no", 2)
    responses = [
        AmberResponse(yes_ids[0], "No."),
        AmberResponse(no_ids[0], " Yes"),
        AmberResponse(yes_ids[1], "yes"),
        AmberResponse(no_ids[1], "NO"),
        AmberResponse(yes_ids[2], "Not sure"),
    ]
    result = score_amber(responses, amber, normalize_answers=True, progress=False)
    assert result.variant == "normalized-answers"
    assert result.metrics["state"] == {"Accuracy": 40.0, "Precision": 50.0, "Recall": 50.0, "F1": 50.0}
    assert result.non_yes_no_answers["state"] == 1
    assert [r.answer for r in result.discriminative_records] == ["No", "Yes", "Yes", "No", "Not sure"]
    assert result.discriminative_records[0].response == "No."


def test_bench_result_records_the_variant_the_unparsed_answers_and_the_hashes(raw_annotations, amber):
    """(mutation testing, docs/testing.md) Every field of ``to_bench_result``."""
    records, _ = raw_annotations
    yes_ids = ids_of(records, "state", "yes", 2)
    result = score_amber([AmberResponse(yes_ids[0], "Yes"), AmberResponse(yes_ids[1], "yes.")], amber,
                         normalize_answers=True, progress=False)
    bench = result.to_bench_result(versions={"nltk": "3.9.1"}, data_sha256={"annotations.json": "ab"})
    assert bench.bench == "amber" and bench.n_items == 2 and bench.variant == "normalized-answers"
    assert bench.versions == {"nltk": "3.9.1"} and bench.data_sha256 == {"annotations.json": "ab"}
    assert bench.config["non_yes_no_answers"] == result.non_yes_no_answers == {
        "discriminative": 0, "attribute": 0, "state": 0}
    assert bench.config["raw"] == result.raw and bench.config["normalize_answers"] is True
    assert bench.metrics == result.metrics
    plain = score_amber([AmberResponse(yes_ids[0], "yes")], amber, progress=False).to_bench_result()
    assert plain.variant == "official" and plain.versions == {} and plain.data_sha256 == {}
    assert plain.config["non_yes_no_answers"] == {"discriminative": 1, "attribute": 1, "state": 1}


def test_versions_include_the_similarity_backends_and_the_bar_names_the_bench(raw_annotations, amber, capsys):
    from evaluation.amber.score import amber_versions

    class Backend:
        def versions(self):
            return {"spacy": "3.8.0", "model": "en_core_web_lg-3.8.0"}

    versions = amber_versions(Backend())
    assert versions["spacy"] == "3.8.0" and versions["model"] == "en_core_web_lg-3.8.0"
    assert versions["nltk_word_tokenize"] == "as nltk 3.9.1" and "nltk" in versions
    assert set(amber_versions(None)) == {"nltk", "nltk_word_tokenize"}
    records, _ = raw_annotations
    score_amber([AmberResponse(ids_of(records, "state", "yes", 1)[0], "Yes")], amber, progress=True)
    err = capsys.readouterr().err
    assert "AMBER: " in err and "answer/s" in err
    score_amber([AmberResponse(ids_of(records, "state", "yes", 1)[0], "Yes")], amber, progress=False)
    assert "AMBER" not in capsys.readouterr().err


def test_config_names_the_noun_extractor_and_counts_no_similarity_calls_without_generative_answers(
        raw_annotations, amber):
    from evaluation.amber import ExactSimilarity

    records, _ = raw_annotations
    disc = score_amber([AmberResponse(ids_of(records, "state", "yes", 1)[0], "Yes")], amber, progress=False)
    assert disc.config["nouns"] is None and disc.config["similarity"] is None and disc.similarity_calls == 0

    def split_nouns(text):
        return text.split()

    gen = score_amber([AmberResponse(1, "dog")], amber, similarity=ExactSimilarity(), nouns=split_nouns,
                      progress=False)
    assert gen.config["nouns"] == "custom" and gen.config["similarity"] == ExactSimilarity().name
    split_nouns.name = "split"
    assert score_amber([AmberResponse(1, "dog")], amber, similarity=ExactSimilarity(), nouns=split_nouns,
                       progress=False).config["nouns"] == "split"


def test_judge_answer_is_exact_unless_asked_to_normalise(amber):
    from evaluation.amber.discriminative import judge_answer

    annotation = next(a for a in amber.annotations.values() if not a.is_generative and a.truth == "yes")
    assert judge_answer(annotation, "yes").correct is False and judge_answer(annotation, "yes").answer == "yes"
    assert judge_answer(annotation, "yes", normalize=True).correct is True


def test_counters_count_items_and_add_field_by_field(raw_annotations, amber):
    """One state and one number answer: attribute = state + number + action has 2 items (1 − 1 − 0 would
    drop the section); the sum of counters adds every field, the unparsed count included."""
    from evaluation.amber.discriminative import DiscriminativeCounters, judge_answer

    records, _ = raw_annotations
    state, number = ids_of(records, "state", "yes", 1)[0], ids_of(records, "number", "yes", 1)[0]
    result = score_amber([AmberResponse(state, "Yes"), AmberResponse(number, "maybe")], amber, progress=False)
    assert list(result.metrics) == ["discriminative", "attribute", "state", "number"]
    assert result.non_yes_no_answers == {"discriminative": 1, "attribute": 1, "state": 0, "number": 1}
    a, b = DiscriminativeCounters(), DiscriminativeCounters()
    assert (a.items, a.non_yes_no) == (0, 0)
    for record in result.discriminative_records:
        a.add(record)
    b.add(judge_answer(amber.annotations[number], "?"))
    assert (a.items, a.non_yes_no, b.items, b.non_yes_no) == (2, 1, 1, 1)
    total = a + b
    assert (total.items, total.non_yes_no, total.correct_num, total.correct_score) == (3, 2, 3.002, 1)
    assert (total.no_num, total.ans_no_num) == (0.002, 0.002)
