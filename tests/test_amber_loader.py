"""AMBER loaders: the real data verifies, bad data and bad answer files fail with one clear line.

Real data: junyangwang0410/AMBER @ 534babf data/ (via UEDPO_DATA_DIR). Counts from SCORERS.md §3.1.
"""

from __future__ import annotations

import json

import pytest
from conftest import need_data

from benchmarks_data.amber import (
    N_ANNOTATIONS,
    load_amber,
    load_amber_responses,
    load_metric_seeds,
)
from benchmarks_data.store import DataError, bench_sha256s
from evaluation.amber import AmberResponse
from evaluation.amber.constants import DENOMINATOR_SEED, SCORE_SEED, bucket_of
from evaluation.amber.reference import seeded_counters

FILES = (
    "amber/data/annotations.json",
    "amber/data/relation.json",
    "amber/data/safe_words.txt",
    "amber/data/metrics.txt",
)


def test_load_real_amber():
    data = load_amber(need_data(*FILES))
    assert len(data.annotations) == 15220 and sorted(data.annotations) == list(range(1, 15221))
    assert [i for i, a in data.annotations.items() if a.is_generative] == list(range(1, 1005))
    assert sum(len(a.truth) for a in data.annotations.values() if a.is_generative) == 5599
    assert sum(len(a.hallu) for a in data.annotations.values() if a.is_generative) == 4924
    assert len(data.association) == 340 and len(data.vocabulary) == 418
    assert "TV" in data.vocabulary and "tv" not in data.vocabulary
    assert data.safe_words == {
        "orange",
        "snack",
        "line",
        "camera",
        "light",
        "shoe",
        "sign",
        "range",
        "individual",
    }
    assert bucket_of(data.annotations[1005].type) == "state" and bucket_of(data.annotations[15220].type) == "relation"
    assert data.annotations[68].truth.count("mountain") == 2  # duplicates kept, in file order


def test_metric_seeds_match_the_named_constants():
    """data/metrics.txt seeds the 44 official counters: every *_num with 0.001 and every *_score with 0;
    our constants (and the reference loop's counter names) must say the same."""
    seeds = load_metric_seeds(need_data(*FILES))
    assert len(seeds) == 44
    assert seeds == seeded_counters()
    assert {v for k, v in seeds.items() if k.endswith("_num")} == {DENOMINATOR_SEED}
    assert {v for k, v in seeds.items() if k.endswith("_score")} == {SCORE_SEED}


def test_data_sha256_matches_the_manifest():
    digests = bench_sha256s("amber", need_data(*FILES))
    assert (
        digests["data/annotations.json"] == "db22a436c4836fbb295e60b4e80d519573077579fb7032f01b193c1bd022b797"
    )
    assert digests["data/relation.json"] == "c4c1491e9bbc3209abc1888c12a1bf8413bdbab8a0d8be04b990a2e7680cf23e"


def write_fake_data(root, annotations, relation=None, safe="camera\n"):
    folder = root / "amber" / "data"
    folder.mkdir(parents=True)
    (folder / "annotations.json").write_text(json.dumps(annotations))
    (folder / "relation.json").write_text(
        json.dumps(relation if relation is not None else {"dog": [], "cat": []})
    )
    (folder / "safe_words.txt").write_text(safe)
    return root


def fake_annotations():
    """A structurally valid 15,220-record file with the official type counts (made up, not copied)."""
    counts = [
        ("generative", 1004),
        ("discriminative-attribute-state", 4764),
        ("discriminative-attribute-number", 2072),
        ("discriminative-attribute-action", 792),
        ("discriminative-hallucination", 4924),
        ("discriminative-relation", 975),
        ("relation", 689),
    ]
    records = []
    for kind, n in counts:
        for _ in range(n):
            rid = len(records) + 1
            records.append(
                {"id": rid, "type": kind, "truth": ["dog"], "hallu": ["cat"]}
                if kind == "generative"
                else {"id": rid, "type": kind, "truth": "no"}
            )
    return records


def test_fake_valid_data_loads(tmp_path):
    data = load_amber(write_fake_data(tmp_path, fake_annotations(), safe="camera\nsign"))
    assert len(data.annotations) == N_ANNOTATIONS and data.safe_words == {"camera", "sign"}


@pytest.mark.parametrize(
    "corrupt, fragment",
    [
        (lambda r: r[:10], "expected a list of 15220 records, got 10"),
        (
            lambda r: r.__setitem__(5, {**r[5], "id": 99}) or r,
            "item 5: id 99 but AMBER ids must equal position + 1",
        ),
        (lambda r: r.__setitem__(7, {**r[7], "type": "weird"}) or r, "item 7 (id 8): unknown type 'weird'"),
        (lambda r: r.__setitem__(3, {**r[3], "truth": ["zebra"]}) or r, "objects ['zebra'] are not keys"),
        (lambda r: r.__setitem__(3, {**r[3], "hallu": []}) or r, "must be non-empty word lists"),
        (lambda r: r.__setitem__(2000, {**r[2000], "truth": "Yes"}) or r, "truth' must be 'yes' or 'no'"),
        (
            lambda r: r.__setitem__(2000, {**r[2000], "type": "discriminative-hallucination"}) or r,
            "type counts",
        ),
    ],
)
def test_corrupt_annotations_fail_with_one_line(tmp_path, corrupt, fragment):
    root = write_fake_data(tmp_path, corrupt(fake_annotations()))
    with pytest.raises(DataError) as err:
        load_amber(root)
    message = str(err.value)
    assert fragment in message and "annotations.json" in message and "uedpo-data fetch amber" in message
    assert "\n" not in message


def test_generative_type_outside_the_first_ids_fails(tmp_path):
    records = fake_annotations()  # swap the types of ids 1 and 1005: per-type counts stay official
    records[0] = {"id": 1, "type": "discriminative-attribute-state", "truth": "no"}
    records[1004] = {"id": 1005, "type": "generative", "truth": ["dog"], "hallu": ["cat"]}
    with pytest.raises(DataError, match="id 1 has type 'discriminative-attribute-state', but ids 1-1004"):
        load_amber(write_fake_data(tmp_path, records))


def test_missing_data_file_names_the_fix(tmp_path):
    with pytest.raises(
        DataError, match="relation.json: benchmark file not found; run `uedpo-data fetch amber`"
    ):
        load_amber(tmp_path)


def test_responses_json_list_and_jsonl(tmp_path):
    listed = tmp_path / "answers.json"
    listed.write_text(
        json.dumps([{"id": 3, "response": "A dog."}, {"id": 1005, "response": "Yes", "extra": 1}])
    )
    lines = tmp_path / "answers.jsonl"
    lines.write_text('{"id": 3, "response": "A dog."}\n\n{"id": 1005, "response": "Yes"}\n')
    expected = [AmberResponse(3, "A dog."), AmberResponse(1005, "Yes")]
    assert load_amber_responses(listed) == expected and load_amber_responses(lines) == expected


@pytest.mark.parametrize(
    "name, content, fragment",
    [
        ("a.json", "", "file is empty"),
        ("a.json", "[]", "no answers found"),
        ("a.json", '[{"id": 1, "response": "x"},]', "invalid JSON at line 1 column"),
        ("a.jsonl", '{"id": 1, "response": "x"}\n{"id": 2, "response": }\n', "line 2: invalid JSON"),
        ("a.json", '[{"id": 1}]', "item 0: expected an object with 'id' and 'response'"),
        ("a.jsonl", '["id", 1]\n', "line 1: expected an object"),
        ("a.json", '[{"id": "4", "response": "x"}]', "item 0: id '4' is not an integer"),
        ("a.json", '[{"id": true, "response": "x"}]', "item 0: id True is not an integer"),
        ("a.json", '[{"id": 15221, "response": "x"}]', "item 0: id 15221 is not an AMBER id (1-15220)"),
        ("a.json", '[{"id": 0, "response": "x"}]', "id 0 is not an AMBER id"),
        ("a.json", '[{"id": 7, "response": null}]', "item 0 (id 7): response is NoneType, not a string"),
        (
            "a.jsonl",
            '{"id": 7, "response": "a"}\n{"id": 8, "response": "b"}\n{"id": 7, "response": "c"}\n',
            "line 3: id 7 already answered at line 1",
        ),
    ],
)
def test_response_file_errors(tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError) as err:
        load_amber_responses(path)
    message = str(err.value)
    assert message.startswith(str(path)) and fragment in message and "\n" not in message
    assert ";" in message  # every message ends with the fix after a semicolon


def test_response_file_missing(tmp_path):
    with pytest.raises(DataError, match="answers file not found"):
        load_amber_responses(tmp_path / "nope.json")


def test_scorer_rejects_unknown_and_duplicate_ids():
    from evaluation.amber import score_amber

    data = load_amber(need_data(*FILES))
    with pytest.raises(ValueError, match="item 1 repeats id 1005"):
        score_amber([AmberResponse(1005, "Yes"), AmberResponse(1005, "No")], data, progress=False)
    with pytest.raises(ValueError, match="AMBER id 20000 is not in the annotations"):
        score_amber([AmberResponse(20000, "Yes")], data, progress=False)
