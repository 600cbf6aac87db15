"""Loaders for CHAIR: caption files, synonym lists, ground-truth objects (file and COCO annotations)."""

from __future__ import annotations

import gzip
import json

import pytest
from conftest import need_data, need_nltk

from benchmarks_data.chair_inputs import load_captions, load_vocabulary, parse_coco_image_id
from benchmarks_data.coco import load_gt_objects, load_gt_subset, serialise_gt
from benchmarks_data.store import DataError
from evaluation.benches.coco_gt import build_gt_objects_file, gt_objects, gt_objects_from_coco


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("value", "image_id"),
    [
        (123456, 123456),
        ("123456", 123456),
        ("COCO_val2014_000000123456.jpg", 123456),
        ("COCO_train2014_000000000009.jpg", 9),
        ("/data/coco/val2014/COCO_val2014_000000000042.jpg", 42),
        ("COCO_val2014_000000000042", 42),
    ],
)
def test_parse_coco_image_ids(value, image_id):
    assert parse_coco_image_id(value) == image_id


@pytest.mark.parametrize("value", ["cat.jpg", "", None, 1.5, True, "COCO_val2017_000000000042.jpg"])
def test_parse_coco_image_id_refuses_other_values(value):
    with pytest.raises(ValueError, match="not"):
        parse_coco_image_id(value)


def test_load_captions_jsonl_and_json_with_custom_keys(tmp_path):
    rows = [{"img": "COCO_val2014_000000000001.jpg", "text": "a dog"}, {"img": 2, "text": "a cat"}]
    jsonl = load_captions(
        _jsonl(tmp_path / "caps.jsonl", rows), image_id_key="img", caption_key="text", known_ids={1, 2}
    )
    (tmp_path / "caps.json").write_text(json.dumps(rows), encoding="utf-8")
    as_json = load_captions(tmp_path / "caps.json", image_id_key="img", caption_key="text")
    assert (
        [(r.image_id, r.caption) for r in jsonl]
        == [(1, "a dog"), (2, "a cat")]
        == [(r.image_id, r.caption) for r in as_json]
    )
    assert (jsonl[1].where, as_json[1].where) == ("line 2", "item 1")


@pytest.mark.parametrize(
    ("content", "kwargs", "message"),
    [
        (
            '{"image_id": 1, "caption": "a"}\n{"image_id": 5, "caption": "b"}\n',
            {"known_ids": {1}},
            r"caps.jsonl: line 2: image 5 has no ground-truth objects",
        ),
        (
            '{"image_id": 1, "text": "a"}\n',
            {},
            r"line 1: no key 'caption' \(keys: image_id, text\); pass --caption-key",
        ),
        ('{"id": 1, "caption": "a"}\n', {}, r"line 1: no key 'image_id'.*--image-id-key"),
        ('{"image_id": "dog.jpg", "caption": "a"}\n', {}, r"line 1: 'dog.jpg' is not a COCO image id"),
        ('{"image_id": 1, "caption": 7}\n', {}, r"line 1: caption under 'caption' is int, not text"),
        ('{"image_id": 1, "caption": "a"}\n{broken\n', {}, r"line 2: not valid JSON"),
        ("[1, 2]\n", {}, r"line 1: expected a JSON object, got list"),
        ("\n\n", {}, r"no captions found"),
    ],
)
def test_load_captions_errors_name_file_line_and_fix(tmp_path, content, kwargs, message):
    path = tmp_path / "caps.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message) as info:
        load_captions(path, **kwargs)
    assert "\n" not in str(info.value)


def test_load_captions_refuses_other_extensions_and_missing_files(tmp_path):
    (tmp_path / "caps.txt").write_text("a dog\n", encoding="utf-8")
    with pytest.raises(DataError, match="unsupported extension '.txt'"):
        load_captions(tmp_path / "caps.txt")
    with pytest.raises(DataError, match="file not found"):
        load_captions(tmp_path / "missing.jsonl")
    (tmp_path / "caps.json").write_text('{"image_id": 1}', encoding="utf-8")
    with pytest.raises(DataError, match="expected a JSON list"):
        load_captions(tmp_path / "caps.json")


def test_load_vocabulary_from_the_data_dir(tmp_path):
    root = need_data("object_halbench/vocab/synonyms.txt", "object_halbench/vocab/synonyms_refine.txt")
    assert load_vocabulary("original", root).variant == "original"
    assert "pedestrian" in load_vocabulary("refined", root).object_set
    with pytest.raises(DataError, match="synonyms.txt: benchmark file not found"):
        load_vocabulary("original", tmp_path)
    with pytest.raises(ValueError, match="unknown vocabulary variant"):
        load_vocabulary("clean", root)


def test_load_the_real_gt_objects_file():
    """123,287 COCO 2014 train+val images (MANIFEST.md); image 339761 (first Object HalBench image) has the GT
    of the official THUNLP output's first sentence: toothbrush, couch, sink, chair, potted plant, toilet."""
    root = need_data("object_halbench/gt/coco2014_gt_objects_maxlinn.json.gz")
    gt = load_gt_objects(data_dir=root)
    assert len(gt) == 123_287
    assert gt[339761] == {"toothbrush", "couch", "sink", "chair", "potted plant", "toilet"}
    assert load_gt_objects(data_dir=root, image_ids=[339761, 5]) == {339761: gt[339761]}  # 5 is no COCO id
    assert len(load_gt_subset("object_halbench_300", data_dir=root)) == 300


def test_gt_file_errors(tmp_path):
    bad = tmp_path / "gt.json.gz"
    bad.write_bytes(serialise_gt({1: ["dog"]})[:-8])  # truncated gzip
    with pytest.raises(DataError, match="gt.json.gz: unreadable ground-truth objects file"):
        load_gt_objects(bad)
    wrong = tmp_path / "gt.json"
    wrong.write_text(json.dumps({"1": "dog"}), encoding="utf-8")
    with pytest.raises(DataError, match="entry '1' is not"):
        load_gt_objects(wrong)
    with pytest.raises(DataError, match="not found"):
        load_gt_objects(tmp_path / "none.json.gz")
    subsets = tmp_path / "subsets.json"
    subsets.write_text(json.dumps({"object_halbench_300": {}}), encoding="utf-8")
    with pytest.raises(DataError, match="no subset 'opera_coco500'"):
        load_gt_subset("opera_coco500", subsets)
    with pytest.raises(ValueError, match="unknown GT subset"):
        load_gt_subset("all", subsets)


def test_serialised_gt_is_deterministic_and_sorted():
    """Same table in any order -> same bytes; gzip header mtime (bytes 4..7) is 0; keys sorted as strings."""
    a = serialise_gt({10: {"dog", "cat"}, 9: {"person"}})
    b = serialise_gt({9: ["person"], 10: ["cat", "dog"]})
    assert a == b and a[4:8] == b"\x00\x00\x00\x00"
    assert gzip.decompress(a) == b'{"10":["cat","dog"],"9":["person"]}'


# ------------------------------------------------------------------------- GT from COCO annotation files

CATEGORIES = [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}, {"id": 17, "name": "cat"}]


def _coco_dir(tmp_path):
    """val: image 1 has a dog instance and the caption "A man phoning his friend."; image 3 only the caption
    "A view of the sky.". train: image 2 has two person instances and the caption "Two cats sleep."."""

    def write(name, images, anns, categories=None):
        data = {"info": {}, "licenses": [], "images": [{"id": i} for i in images], "annotations": anns}
        if categories is not None:
            data["categories"] = categories
        (tmp_path / name).write_text(json.dumps(data), encoding="utf-8")

    write("instances_val2014.json", [1, 3], [{"id": 1, "image_id": 1, "category_id": 18}], CATEGORIES)
    write(
        "instances_train2014.json",
        [2],
        [{"id": 2, "image_id": 2, "category_id": 1}, {"id": 3, "image_id": 2, "category_id": 1}],
        CATEGORIES,
    )
    write(
        "captions_val2014.json",
        [1, 3],
        [
            {"id": 1, "image_id": 1, "caption": "A man phoning his friend."},
            {"id": 2, "image_id": 3, "caption": "A view of the sky."},
        ],
    )
    write("captions_train2014.json", [2], [{"id": 3, "image_id": 2, "caption": "Two cats sleep."}])
    return tmp_path


def test_gt_from_coco_annotations_maxlinn_and_rlhfv(tmp_path):
    """Maxlinn (original synonyms, POS lemmas): image 1 = {dog} ∪ {person (man), cell phone (phoning/VBG ->
    phone)}; image 2 = {person} ∪ {cat}; image 3 has a caption but no object -> an empty entry.
    RLHF-V (refined synonyms, noun lemmas, restricted to the requested ids): "phoning" stays "phoning" as a
    noun, so image 1 = {dog, person}; the requested image 4 has no annotation -> empty set."""
    root = need_data("object_halbench/vocab/synonyms.txt", "object_halbench/vocab/synonyms_refine.txt")
    need_nltk()
    (tmp_path / "coco").mkdir()
    coco = _coco_dir(tmp_path / "coco")
    maxlinn = gt_objects_from_coco(coco, "maxlinn", data_dir=root)
    assert maxlinn == {1: {"dog", "person", "cell phone"}, 2: {"person", "cat"}, 3: set()}
    rlhfv = gt_objects_from_coco(coco, "rlhfv", image_ids=[1, 4], data_dir=root)
    assert rlhfv == {1: {"dog", "person"}, 4: set()}

    # Maxlinn has no entry for an image without annotations (its defaultdict), so loaders can refuse it.
    assert gt_objects(coco, image_ids=[1, 4], data_dir=root) == {1: maxlinn[1]}

    out1, out2 = tmp_path / "a" / "gt.json.gz", tmp_path / "b" / "gt.json.gz"
    build_gt_objects_file(coco, out1, data_dir=root)
    build_gt_objects_file(coco, out2, data_dir=root)
    assert out1.read_bytes() == out2.read_bytes()
    assert load_gt_objects(out1) == maxlinn == gt_objects(out1)
    with pytest.raises(DataError, match="no rlhfv ground-truth file in the data directory"):
        gt_objects(None, variant="rlhfv", data_dir=root)


def test_gt_from_coco_missing_file_names_the_download(tmp_path):
    root = need_data("object_halbench/vocab/synonyms.txt")
    with pytest.raises(
        DataError,
        match=r"instances_val2014.json: COCO annotation file not found; download "
        r"annotations_trainval2014.zip",
    ):
        gt_objects_from_coco(tmp_path, data_dir=root)
    with pytest.raises(ValueError, match="unknown GT variant"):
        gt_objects_from_coco(tmp_path, "clean", data_dir=root)
