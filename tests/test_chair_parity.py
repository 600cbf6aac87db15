"""CHAIR parity with the official Maxlinn ``chair.py`` on real data.

* THUNLP exercise outputs (``kchaosun/THUNLP_Multimodal_Excercise`` @ 4edc444, made by the official script
  with nltk 3.8.1): from the RAW answers, every per-sentence field and the overall metrics must be equal, with
  the installed nltk (the nltk 3.9.1 tokenizer of ``nltk_compat`` makes that possible).
* OPERA LLaVA-1.5 greedy captions (``shikiw/OPERA`` @ 61426ef): the subset GT equals the full GT, and two
  captions are hand-checked. Their official outputs (``chair.py`` run with the THUNLP pickled evaluator) are
  compared field by field in ``test_chair_official_outputs.py``.
"""

from __future__ import annotations

import json

import pytest
from conftest import need_data, need_nltk

from benchmarks_data.chair_inputs import load_captions, load_vocabulary
from benchmarks_data.coco import GT_OBJECTS_FILE, GT_SUBSETS_FILE, load_gt_objects, load_gt_subset
from evaluation.chair import score_chair

THUNLP = "object_halbench/validation/thunlp_exercise/"
OPERA = "object_halbench/validation/opera_llava15/greedy.jsonl"
RUNS = [
    # (answers, official output, printed overall: CHAIRs, CHAIRi, Recall, Len as `%.1f`/paper digits)
    (
        "beam_search_objhal_bench_answer.jsonl",
        "beam-search-eval-chair-300_answer.json",
        (24.33, 6.760, 62.16, 127.2),
    ),
    (
        "sampling_decoding_objhal_bench_answer.jsonl",
        "sampling-decoding-eval-chair-300_answer.json",
        (29.00, 9.703, 60.38, 123.1),
    ),
]


def _official_sentence(sentence: dict) -> dict:
    # The official file stores mscoco_gt_words in set order, and tuples as JSON lists.
    return {**sentence, "mscoco_gt_words": sorted(sentence["mscoco_gt_words"])}


@pytest.mark.parametrize(("answers", "official", "printed"), RUNS)
def test_thunlp_outputs_reproduced_from_raw_answers(answers, official, printed):
    root = need_data(
        THUNLP + answers,
        THUNLP + official,
        "object_halbench/" + GT_OBJECTS_FILE,
        "object_halbench/vocab/synonyms.txt",
    )
    need_nltk()
    records = load_captions(root / THUNLP / answers, caption_key="answer")
    gt = load_gt_objects(image_ids={r.image_id for r in records}, data_dir=root)
    result = score_chair(
        [r.caption for r in records], [r.image_id for r in records], gt, load_vocabulary("original", root)
    )
    expected = json.loads((root / THUNLP / official).read_text(encoding="utf-8"))

    ours = result.to_official()
    assert len(ours["sentences"]) == len(expected["sentences"]) == 300
    differing = [
        n
        for n, (a, b) in enumerate(zip(ours["sentences"], expected["sentences"], strict=True))
        if a != _official_sentence(b)
    ]
    assert differing == []
    assert ours["overall_metrics"] == expected["overall_metrics"]  # exact floats, same arithmetic order
    metrics = result.metrics_percent()
    assert [round(metrics[k], 2) for k in ("CHAIRs", "Recall")] == [printed[0], printed[2]]
    assert round(metrics["CHAIRi"], 3) == printed[1] and round(metrics["Len"], 1) == printed[3]
    assert result.variant == "maxlinn"


@pytest.fixture(scope="module")
def opera_result():
    root = need_data(
        OPERA,
        "object_halbench/" + GT_SUBSETS_FILE,
        "object_halbench/" + GT_OBJECTS_FILE,
        "object_halbench/vocab/synonyms.txt",
    )
    need_nltk()
    gt = load_gt_subset("opera_coco500", data_dir=root)
    records = load_captions(root / OPERA, known_ids=gt)
    full_gt = load_gt_objects(image_ids={r.image_id for r in records}, data_dir=root)
    result = score_chair(
        [r.caption for r in records], [r.image_id for r in records], gt, load_vocabulary("original", root)
    )
    return result, gt, full_gt


def test_opera_subset_gt_equals_the_full_gt(opera_result):
    _, gt, full_gt = opera_result
    assert len(gt) == 500 and gt == full_gt


def test_opera_two_captions_hand_checked(opera_result):
    """Caption 0 (image 226988): "a woman sitting at a dining table ... a delicious pizza ... The pizza ...
    several other people ... the table ... A bench ... a chair ... the table ... two bottles on the table".
    Original list: "dining table" is no double word, so "table" counts (dining table); "plate"/"camera" are
    not COCO words. Mentions: woman, table, pizza, pizza, people, table, bench, chair, table, bottle, table.
    GT {dining table, person, pizza} -> bench, chair, bottle hallucinated; CHAIRi 3/11; recall 3/3.
    Caption 1 (image 337443): "several cars and a truck ... a large orange construction sign ... two people":
    the colour "orange" is the COCO fruit; GT {backpack, car, orange, person, truck} -> nothing hallucinated,
    recall 4/5."""
    result, _, _ = opera_result
    first, second = result.items[0], result.items[1]
    assert first.image_id == 226988
    assert first.words == (
        "woman",
        "table",
        "pizza",
        "pizza",
        "people",
        "table",
        "bench",
        "chair",
        "table",
        "bottle",
        "table",
    )
    assert first.hallucinated == (("bench", "bench"), ("chair", "chair"), ("bottle", "bottle"))
    assert (first.chair_s, first.chair_i, first.recall) == (1, 3 / 11, 1.0)
    assert second.image_id == 337443
    assert second.mentioned == ("car", "truck", "orange", "person")
    assert (second.chair_s, second.recall) == (0, 4 / 5)
