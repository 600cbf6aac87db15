"""POPE data: the manifest against pope/MANIFEST.md and the files, the question loaders of both versions,
LLaVA's question file, refused label files and answer files (one line naming the file, the line and the fix).

Expected counts come from docs/POPE.md §3 and pope/MANIFEST.md: HEAD 3 x 3,000 (1,500 yes each); e3e3926 random
2,910 (1,500 / 1,410); "imange" 144 / 44 / 58; LLaVA's file 8,910 with offsets 0 / 1e7 / 2e7.
"""

import json
import re
import shutil

import pytest
from conftest import need_data
from data_http_server import RewritingOpener, mirror, serve

from benchmarks_data import pope, store
from benchmarks_data.pope import (
    LLAVA_PROMPT_SUFFIX,
    SPLITS,
    load_llava_question_file,
    load_pope_answers,
    load_pope_questions,
    read_question_file,
)
from benchmarks_data.store import DataError
from evaluation import pope as scorer

RAW = "https://raw.githubusercontent.com/"


def _pope_md_rows(text):
    """relpath -> (repo, commit prefix, path, bytes, sha256) from pope/MANIFEST.md's table."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^\| `([^`]+)` \| ([\w.-]+/[\w.-]+)@([0-9a-f]+):(\S+) \| (\d+) \| `([0-9a-f]{64})` \|", line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3), m.group(4), int(m.group(5)), m.group(6))
    return rows


def test_manifest_matches_pope_MANIFEST_md_and_the_files():
    root = need_data("pope/MANIFEST.md")
    rows = _pope_md_rows((root / "pope/MANIFEST.md").read_text())
    manifest = store.load_manifest("pope")
    assert {f.relpath for f in manifest.files} == set(rows) and len(rows) == 18
    for f in manifest.files:
        repo, commit, path, nbytes, sha = rows[f.relpath]
        assert (f.source.repo, f.source.path, f.bytes, f.sha256) == (repo, path, nbytes, sha), f.relpath
        assert f.source.commit.startswith(commit) and len(f.source.commit) == 40
        assert f.url == f.source.url == f"{RAW}{repo}/{f.source.commit}/{path}"
    assert store.verify("pope", root).ok
    assert manifest.images.count == 500 and not manifest.images.included


def test_manifest_counts_match_the_question_files():
    root = need_data("pope/official_head/coco_pope_random.json")
    manifest = store.load_manifest("pope")
    for version in ("official", "llava"):
        for split in SPLITS:
            rel = pope.question_relpath(version, split)
            qs = read_question_file(root / "pope" / rel, split)
            c = manifest.file(rel).counts
            assert (c["records"], c["yes"], c["no"]) == (len(qs), sum(q.label == "yes" for q in qs),
                                                         sum(q.label == "no" for q in qs)), rel


def test_official_head_has_3_x_3000_and_reads_crlf_files():
    root = need_data("pope/official_head/coco_pope_popular.json")
    raw = (root / "pope/official_head/coco_pope_popular.json").read_bytes()
    assert raw.count(b"\r\n") == 3000  # CRLF on disk
    qs = load_pope_questions("official", data_dir=root)
    assert [q.split for q in qs[::3000]] == list(SPLITS)
    for split in SPLITS:
        part = [q for q in qs if q.split == split]
        assert len(part) == 3000 and sum(q.label == "yes" for q in part) == 1500
        assert [q.question_id for q in part] == list(range(1, 3001))
    assert not any("\r" in q.text or "\r" in q.image for q in qs)
    assert qs[0].image == "COCO_val2014_000000310196.jpg" and qs[0].text == "Is there a snowboard in the image?"
    assert scorer.SPLITS == SPLITS  # the scorer's split order is the loader's


def test_llava_version_is_e3e3926_with_2910_random_and_the_typos():
    root = need_data("pope/official_e3e3926/coco_pope_random.json")
    qs = load_pope_questions("llava", data_dir=root)
    sizes = {s: sum(q.split == s for q in qs) for s in SPLITS}
    assert sizes == {"random": 2910, "popular": 3000, "adversarial": 3000}
    assert sum(q.label == "no" for q in qs if q.split == "random") == 1410
    typos = {s: sum("imange" in q.text for q in qs if q.split == s) for s in SPLITS}
    assert typos == {"random": 144, "popular": 44, "adversarial": 58}
    assert len(load_pope_questions("llava", "random", root)) == 2910


def test_llava_question_file_is_e3e3926_with_offsets_and_the_suffix():
    """What uedpo-eval --ckpt asks with --pope-data llava equals LLaVA's own question file, item for item."""
    root = need_data("pope/llava/llava_pope_test.jsonl")
    llava = load_llava_question_file(root)
    assert len(llava) == 8910
    ours = {q.offset_id: (q.image, q.text + LLAVA_PROMPT_SUFFIX, q.split)
            for q in load_pope_questions("llava", data_dir=root)}
    assert {q.question_id: (q.image, q.text, q.category) for q in llava} == ours
    assert {q.question_id // 10_000_000 for q in llava if q.category == "popular"} == {2}


def test_fetch_pope_from_a_local_mirror_then_load_it(tmp_path):
    """`uedpo-data fetch pope` downloads the 18 files at their raw URLs (here a 127.0.0.1 mirror), verifies them,
    and the loaders read the result."""
    root = need_data("pope/official_head/coco_pope_random.json")
    mirror("pope", root, tmp_path / "served")
    with serve(tmp_path / "served") as base:
        report = store.fetch("pope", tmp_path / "cache", opener=RewritingOpener(base), progress=False)
    assert report.ok and [o.action for o in report.outcomes] == ["downloaded"] * 18
    assert store.verify("pope", tmp_path / "cache").ok
    assert len(load_pope_questions("llava", "random", tmp_path / "cache")) == 2910


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("content, fragment", [
    ('{"question_id": 1, "image": "a.jpg", "text": "Is there a cat?", "label": "No"}\n',
     "line 1 (question_id 1): label 'No' is not exactly 'yes' or 'no' (the official scorer would count it as "
     "positive)"),
    ('{"question_id": 1, "image": "a.jpg", "text": "Is there a cat?", "label": "Yes"}\n', "lower-case"),
    ('[{"question_id": 1, "image": "a.jpg", "text": "t", "label": "yes"}]', "JSON array, not JSON Lines"),
    ('{"question_id": 1, "image": "a.jpg", "label": "yes"}\n', "line 1: key 'text' missing"),
    ('{"question_id": "1", "image": "a.jpg", "text": "t", "label": "yes"}\n', "'question_id' must be an integer"),
    ('{"question_id": 1, "image": "a.jpg", "text": "t", "label": "yes"}\r\n'
     '{"question_id": 1, "image": "b.jpg", "text": "t", "label": "no"}\r\n', "line 2: question_id 1 repeats line 1"),
    ('{"question_id": 1, "image": "a.jpg", "text": "t", "label": "yes"}\n{"question_id": 2,\n', "line 2 is not valid"),
    ("\n\n", "no questions"),
])
def test_question_files_of_the_wrong_form_are_refused(tmp_path, content, fragment):
    path = _write(tmp_path / "coco_pope_random.json", content)
    with pytest.raises(DataError) as err:
        read_question_file(path, "random")
    assert fragment in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_the_shipped_seem_and_popev2_files_are_refused():
    """The SEEM files and POPEv2 are JSON arrays; POPEv2's capitalised labels are refused once it is JSON Lines."""
    root = need_data("pope/official_head/seem/gqa_pope_seem_random.json", "pope/official_head/POPEv2_annotations.json")
    with pytest.raises(DataError, match="JSON array"):
        read_question_file(root / "pope/official_head/seem/gqa_pope_seem_random.json", "random")
    with pytest.raises(DataError, match="JSON array"):
        read_question_file(root / "pope/official_head/POPEv2_annotations.json", "random")


def test_popev2_labels_as_json_lines_are_refused(tmp_path):
    root = need_data("pope/official_head/POPEv2_annotations.json")
    items = json.loads((root / "pope/official_head/POPEv2_annotations.json").read_text())
    lines = [json.dumps({"question_id": n, "image": it["image_name"], "text": it["query"], "label": it["label"]})
             for n, it in enumerate(items, 1)]
    path = _write(tmp_path / "popev2.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"line 1 \(question_id 1\): label 'No'"):
        read_question_file(path, "random")


# ------------------------------------------------------------------------------------------ answers


@pytest.fixture(scope="module")
def llava_questions():
    return load_pope_questions("llava", data_dir=need_data("pope/official_e3e3926/coco_pope_random.json"))


@pytest.fixture(scope="module")
def official_questions():
    return load_pope_questions("official", data_dir=need_data("pope/official_head/coco_pope_random.json"))


def _rows(tmp_path, *rows, name="answers.jsonl"):
    return _write(tmp_path / name, "".join(json.dumps(r) + "\n" for r in rows))


def test_llava_answers_take_their_split_from_the_offset_id(tmp_path, llava_questions):
    path = _rows(tmp_path, {"question_id": 5, "text": "No"}, {"question_id": 10_000_005, "text": "Yes"},
                 {"question_id": 20_002_999, "text": "No"})
    answers = load_pope_answers(path, llava_questions, version="llava")
    assert [(a.split, a.question_id, a.text, a.where) for a in answers] == [
        ("adversarial", 5, "No", "line 1"), ("random", 5, "Yes", "line 2"), ("popular", 2999, "No", "line 3")]


def test_answer_keys_category_and_json_lists(tmp_path, official_questions):
    path = _write(tmp_path / "a.json", json.dumps([
        {"question_id": 1, "category": "popular", "answer": "Yes", "text": "ignored: 'answer' comes first"},
        {"question_id": 1, "split": "random", "response": "No"},
        {"question_id": 10_000_002, "category": "random", "text": "No"},  # an offset id agreeing with its category
    ]))
    answers = load_pope_answers(path, official_questions)
    assert [(a.split, a.question_id, a.text) for a in answers] == [
        ("popular", 1, "Yes"), ("random", 1, "No"), ("random", 2, "No")]


def test_pope_split_gives_the_split_of_rows_without_one(tmp_path):
    root = need_data("pope/official_head/coco_pope_random.json")
    path = _rows(tmp_path, {"question_id": 7, "answer": "Yes"})
    answers = load_pope_answers(path, load_pope_questions("official", "adversarial", root), split="adversarial")
    assert (answers[0].split, answers[0].question_id) == ("adversarial", 7)


@pytest.mark.parametrize("rows, kwargs, fragment", [
    ([{"text": "Yes"}], {}, "line 1: no 'question_id'"),
    ([{"question_id": 3, "text": 1}], {}, "line 1 (question_id 3): 'text' must be a string, got int"),
    ([{"question_id": 3, "prompt": "Is there ...?"}], {}, "line 1 (question_id 3): no answer"),
    ([{"question_id": 3, "text": "No"}, {"question_id": 3, "text": "Yes"}], {},
     "line 2: question_id 3 (adversarial) is already answered at line 1"),
    ([{"question_id": 10_002_911, "text": "No"}], {}, "question_id 10002911 (random question 2911) is not in the llava"),
    ([{"question_id": 30_000_001, "text": "No"}], {}, "question_id 30000001 is not a POPE id"),
    ([{"question_id": 10_000_001, "category": "popular", "text": "No"}], {}, "is a random id (LLaVA offset)"),
    ([{"question_id": 1, "category": "rand", "text": "No"}], {}, "category 'rand' is not a POPE split"),
    ([{"question_id": "1", "text": "No"}], {}, "question_id '1' is not a non-negative integer"),
    (["No"], {}, "line 1: expected an object"),
])
def test_bad_llava_answers_are_one_line_errors(tmp_path, llava_questions, rows, kwargs, fragment):
    path = _rows(tmp_path, *rows)
    with pytest.raises(DataError) as err:
        load_pope_answers(path, llava_questions, version="llava", **kwargs)
    assert fragment in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_official_answers_need_a_split(tmp_path, official_questions):
    path = _rows(tmp_path, {"question_id": 1, "answer": "Yes"})
    with pytest.raises(DataError, match=r"line 1 \(question_id 1\): which split\?.*--pope-split"):
        load_pope_answers(path, official_questions)


def test_answers_for_another_split_than_pope_split(tmp_path):
    root = need_data("pope/official_head/coco_pope_random.json")
    path = _rows(tmp_path, {"question_id": 1, "category": "popular", "answer": "Yes"})
    with pytest.raises(DataError, match="answers the popular split, but --pope-split random"):
        load_pope_answers(path, load_pope_questions("official", "random", root), split="random")


@pytest.mark.parametrize("content, fragment", [("", "empty file"), ("  \n", "empty file"), ("[]", "empty list"),
                                               ('{"question_id": 1}\n{"question_id"\n', "line 2 is not valid JSON")])
def test_empty_or_malformed_answer_files(tmp_path, official_questions, content, fragment):
    path = _write(tmp_path / "a.jsonl", content)
    with pytest.raises(DataError, match=fragment):
        load_pope_answers(path, official_questions)


def test_a_data_dir_with_a_changed_label_fails_its_checksum(tmp_path):
    root = need_data("pope/official_head/coco_pope_random.json")
    shutil.copytree(root / "pope", tmp_path / "pope")
    target = tmp_path / "pope/official_head/coco_pope_random.json"
    target.chmod(0o644)
    target.write_text(target.read_text().replace('"label": "no"', '"label": "No"', 1))
    with pytest.raises(DataError, match="sha256 mismatch"):
        store.require_verified("pope", tmp_path, [pope.question_relpath("official", "random")])
    with pytest.raises(DataError, match=r"line 2 \(question_id 2\): label 'No'"):
        load_pope_questions("official", "random", tmp_path)  # the loader refuses it on its own too
