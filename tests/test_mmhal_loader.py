"""MMHal loaders: template, responses (official JSON and JSONL), saved judge replies; one-line errors."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import need_data

from benchmarks_data.mmhal import load_responses, load_reviews, load_template
from benchmarks_data.store import DataError
from evaluation.benches.mmhal_reviews import JudgeReview, review_from_object, reviews_from_objects

TEMPLATE = "mmhal/mmhal-bench_answer_template.json"
OFFICIAL = ["idefics_80b", "idefics_9b", "instructblip_13b", "instructblip_7b", "kosmos_2", "llava_13b", "llava_7b"]


@pytest.fixture
def template_path() -> Path:
    return need_data(TEMPLATE) / TEMPLATE


@pytest.fixture
def raw_template(template_path) -> list[dict]:
    return json.loads(template_path.read_text())


def _write(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj))
    return path


def _one_line_error(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg
    return msg


def test_template_loads_96_records_8_types_by_12(template_path):
    records = load_template(template_path)
    assert len(records) == 96 and [r.index for r in records] == list(range(96))
    assert set(Counter(r.question_type for r in records).values()) == {12}
    assert records[0].image_content == ("Fire hydrant",) and records[0].model_answer == ""


def test_template_found_through_the_data_dir(template_path):
    assert len(load_template(data_dir=template_path.parents[1])) == 96


def test_missing_template_names_the_fix(tmp_path):
    with pytest.raises(DataError, match="uedpo-data fetch mmhal") as e:
        load_template(data_dir=tmp_path)
    _one_line_error(e)


def test_template_with_95_records_is_rejected(tmp_path, raw_template):
    with pytest.raises(DataError, match="expected a list of 96 MMHal records, got 95") as e:
        load_template(_write(tmp_path / "t.json", raw_template[:95]))
    _one_line_error(e)


def test_template_missing_field_names_the_item(tmp_path, raw_template):
    del raw_template[7]["gt_answer"]
    with pytest.raises(DataError, match=r"t\.json: item 7: field 'gt_answer' missing"):
        load_template(_write(tmp_path / "t.json", raw_template))


def test_template_with_unbalanced_types_is_rejected(tmp_path, raw_template):
    raw_template[1]["question_type"] = "attribute"
    with pytest.raises(DataError, match="8 question types x 12"):
        load_template(_write(tmp_path / "t.json", raw_template))


@pytest.mark.parametrize("name", OFFICIAL)
def test_official_response_files_load(name, template_path):
    root = need_data(f"mmhal/responses_official/{name}.json")
    records = load_responses(root / f"mmhal/responses_official/{name}.json", load_template(template_path))
    assert len(records) == 96 and all(r.model_answer for r in records)


def test_third_party_file_with_local_image_paths_loads(template_path):
    """sadmankiba's files replace image_src with local paths; the judge never sees image_src."""
    rel = "mmhal/validation/sadmankiba/blip2_2.7b_responses.json"
    records = load_responses(need_data(rel) / rel, load_template(template_path))
    assert records[0].model_answer == "Red"
    assert records[0].image_src.startswith("https://")  # annotations come from the template


def test_response_order_is_kept_and_annotations_come_from_template(tmp_path, raw_template, template_path):
    rows = [dict(r, model_answer=f"answer {i}") for i, r in enumerate(raw_template)][::-1]
    records = load_responses(_write(tmp_path / "r.json", rows), load_template(template_path))
    assert [r.index for r in records] == list(range(95, -1, -1))
    assert records[0].model_answer == "answer 95"


def test_jsonl_responses(tmp_path, template_path):
    lines = [json.dumps({"id": i, "response": f"r{i}"}) for i in (3, 0, 1, 2, *range(4, 96))]
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(lines) + "\n\n")
    template = load_template(template_path)
    records = load_responses(path, template)
    assert [r.index for r in records[:4]] == [3, 0, 1, 2]
    assert records[0].model_answer == "r3" and records[0].question == template[3].question


@pytest.mark.parametrize(("rows", "pattern"), [
    ([{"id": 0}], r"row 0: expected \{\"id\""),
    ([{"id": 96, "response": "x"}], r"row 0: id 96 is not a template index"),
    ([{"id": True, "response": "x"}], r"row 0: id True is not a template index"),
    ([{"id": 0, "response": "x"}, {"id": 0, "response": "y"}], r"row 1: id 0 appears twice"),
    ([{"id": 0, "response": 3}], r"row 0 \(id 0\): 'response' must be a string"),
    ([{"id": 0, "response": "x"}], r"1 responses, expected 96 \(missing template items \[1, 2,"),
])
def test_bad_jsonl_rows(tmp_path, template_path, rows, pattern):
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError, match=pattern) as e:
        load_responses(path, load_template(template_path))
    assert str(path) in _one_line_error(e)


def test_jsonl_syntax_error_names_the_line(tmp_path, template_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": 0, "response": "x"}\n{oops\n')
    with pytest.raises(DataError, match=r"line 2 is not valid JSON"):
        load_responses(path, load_template(template_path))


@pytest.mark.parametrize(("mutate", "pattern"), [
    (lambda rows: rows.pop(), r"95 responses, expected 96 \(missing template items \[95\]\)"),
    (lambda rows: rows.__setitem__(5, dict(rows[5], question="Other?")), r"item 5 \(.*\): 'question' differs"),
    (lambda rows: rows.__setitem__(5, dict(rows[5], image_id="nope")), r"item 5: image_id 'nope' is not in"),
    (lambda rows: rows.__setitem__(5, dict(rows[4])), r"item 5: image_id .* appears twice"),
    (lambda rows: rows.__setitem__(5, dict(rows[5], model_answer=None)), r"item 5: 'model_answer' must be"),
    (lambda rows: rows.__setitem__(5, dict(rows[5], image_content="Cat")), r"item 5: 'image_content' must be"),
])
def test_bad_response_files(tmp_path, raw_template, template_path, mutate, pattern):
    rows = [dict(r, model_answer="a") for r in raw_template]
    mutate(rows)
    path = _write(tmp_path / "r.json", rows)
    with pytest.raises(DataError, match=pattern) as e:
        load_responses(path, load_template(template_path))
    assert str(path) in _one_line_error(e)


def test_response_file_not_json(tmp_path, template_path):
    path = tmp_path / "r.json"
    path.write_text("not json")
    with pytest.raises(DataError, match="not valid JSON"):
        load_responses(path, load_template(template_path))


def test_reviews_json_and_jsonl(tmp_path):
    objs = [{"choices": [{"message": {"content": "Rating: 1"}}], "model": "m"}, "Rating: 2"]
    assert load_reviews(_write(tmp_path / "v.json", objs), 2) == objs
    (tmp_path / "v.jsonl").write_text("".join(json.dumps(o) + "\n" for o in objs))
    assert load_reviews(tmp_path / "v.jsonl", 2) == objs


def test_reviews_count_must_match_responses(tmp_path):
    with pytest.raises(DataError, match="3 judge replies for 96 responses") as e:
        load_reviews(_write(tmp_path / "v.json", ["a", "b", "c"]), 96)
    _one_line_error(e)


def test_reviews_must_be_a_list(tmp_path):
    with pytest.raises(DataError, match="expected a JSON list of judge replies"):
        load_reviews(_write(tmp_path / "v.json", {"choices": []}), 1)


def test_review_objects_and_strings():
    completion = {"choices": [{"message": {"content": "ok. Rating: 4"}}], "model": "gpt-4o-2024-08-06"}
    assert reviews_from_objects([completion, "Rating: 3"]) == [
        JudgeReview("ok. Rating: 4", "gpt-4o-2024-08-06"), JudgeReview("Rating: 3", None)]


def test_empty_and_cut_off_saved_replies_are_judge_failures_not_ratings():
    """As in live judging: empty text (or null content) and finish_reason "length" are failures, never 0."""
    def completion(content, finish="stop"):
        return {"choices": [{"message": {"content": content}, "finish_reason": finish}], "model": "m"}

    reviews = reviews_from_objects([completion("ok. Rating: 4"), completion(""), completion(None),
                                    completion("The answer", "length"), "  ", "Rating: 2"])
    assert [r.failure for r in reviews] == [None, "empty reply", "empty reply",
                                            "reply cut off at the length limit", "empty reply", None]
    assert reviews[3].text == "The answer" and reviews[2].text == ""


@pytest.mark.parametrize(("obj", "pattern"), [
    ({"choices": []}, r"v\.json: item 2: no choices\[0\]\.message\.content"),
    ({"error": "x"}, r"item 2: no choices"),
    ({"choices": [{"message": {"content": 7}}]}, r"item 2: choices\[0\]\.message\.content is int"),
    (5, r"item 2: expected a chat-completion object or a string, got int"),
])
def test_bad_review_objects(obj, pattern):
    with pytest.raises(ValueError, match=pattern) as e:
        review_from_object(obj, 2, source="v.json")
    _one_line_error(e)
