"""Our CHAIR and Object HalBench scorers against what the official scripts printed and saved.

The expected numbers are outputs of the unmodified official scripts, run outside this repository (provenance in
``tests/fixtures/{chair_official,objhal_official}/README.md``):

* ``chair_official/opera_*.json``: ``shikiw/OPERA`` @ 61426ef ``chair.py --cache`` with the pickled Maxlinn
  evaluator ``data/chair_300.pkl`` of ``kchaosun/THUNLP_Multimodal_Excercise`` @ 4edc444, on OPERA's released
  LLaVA-1.5 captions (nltk 3.8.1; 3.9.1 gave the same output);
* ``objhal_official/thunlp_*.json``: ``RLHF-V/RLAIF-V`` @ 83d917b ``eval/eval_gpt_obj_halbench.py`` without
  ``--use_gpt`` and ``eval/summarize_gpt_obj_halbench_review.py``, on the THUNLP exercise answers, with the
  Maxlinn GT substituted for the COCO annotation files (the published GPT path cannot run: gpt-3.5-turbo-0613 is
  retired).

Each fixture holds the official ``overall_metrics`` and printed lines, and per sentence the image id, the
hallucinated words and the sha256 of the canonical sentence record (``json.dumps(record, sort_keys=True)`` with
``mscoco_gt_words`` sorted); ``sentences_sha256`` is that of the whole list. The captions are read at test time.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import need_data, need_nltk

from benchmarks_data.chair_inputs import load_captions, load_vocabulary
from benchmarks_data.coco import GT_OBJECTS_FILE
from benchmarks_data.objhal import QUESTIONS_FILE, load_objhal_answers, load_objhal_questions
from evaluation.benches.coco_gt import gt_objects
from evaluation.chair import score_chair, score_objhal_text
from evaluation.chair.objhal import ObjHalItem, ObjHalResult

FIXTURES = Path(__file__).parent / "fixtures"
BENCH = "object_halbench/"
OPERA_RUNS = ("greedy", "beam5", "ours")
THUNLP_RUNS = ("beam_search", "sampling_decoding")


def _fixture(folder: str, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / folder / f"{name}.json").read_text(encoding="utf-8"))


def _sha256(obj: Any) -> str:
    """The fixtures' canonical hash: sha256 of ``json.dumps(obj, sort_keys=True)`` (UTF-8)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode("utf-8")).hexdigest()


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_sentences_equal(ours: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    """Every per-sentence field equal: ids and hallucinated words shown, the rest through the hashes."""
    official = expected["sentences"]
    assert len(ours) == expected["n_sentences"] == len(official)
    assert [s["image_id"] for s in ours] == [s["image_id"] for s in official]
    # json.loads turns the official tuples into lists; compare in that form.
    ours_hallucinated = [json.loads(json.dumps(s["mscoco_hallucinated_words"])) for s in ours]
    wrong_words = [
        (n, got, want["mscoco_hallucinated_words"])
        for n, (got, want) in enumerate(zip(ours_hallucinated, official, strict=True))
        if got != want["mscoco_hallucinated_words"]
    ]
    assert wrong_words == []
    wrong_records = [
        n for n, (s, want) in enumerate(zip(ours, official, strict=True)) if _sha256(s) != want["sha256"]
    ]
    assert wrong_records == []
    assert _sha256(ours) == expected["sentences_sha256"]


def _printed_values(lines: list[str]) -> dict[str, str]:
    return {key.strip(): value.strip() for key, value in (line.split(":", 1) for line in lines)}


@pytest.fixture(scope="module")
def maxlinn_gt():
    root = need_data(
        BENCH + GT_OBJECTS_FILE, BENCH + "vocab/synonyms.txt", BENCH + "vocab/synonyms_refine.txt"
    )
    need_nltk()
    return root, gt_objects(data_dir=root)


@pytest.mark.parametrize("name", OPERA_RUNS)
def test_opera_captions_reproduce_the_official_chair_output(name, maxlinn_gt):
    """OPERA LLaVA-1.5 captions: every per-sentence field, ``overall_metrics`` (exact floats) and the printed
    ``%.1f`` lines of the official Maxlinn ``chair.py`` (fixture ``chair_official/opera_<name>.json``)."""
    expected = _fixture("chair_official", f"opera_{name}")
    root, gt = maxlinn_gt
    root = need_data(expected["captions"])
    assert _file_sha256(root / expected["captions"]) == expected["captions_sha256"], "shared captions changed"
    records = load_captions(root / expected["captions"], known_ids=gt)
    result = score_chair(
        [r.caption for r in records], [r.image_id for r in records], gt, load_vocabulary("original", root)
    )
    official = result.to_official()
    _assert_sentences_equal(official["sentences"], expected)
    assert official["overall_metrics"] == expected["overall_metrics"]
    # print_metrics: f"{k.ljust(10)}: {v * 100:.01f}" for CHAIRs, CHAIRi, Recall, Len.
    printed = _printed_values(expected["printed"])
    assert {k: f"{v:.1f}" for k, v in result.metrics_percent().items()} == printed
    assert result.variant == "maxlinn"


def _objhal_sentence(item: ObjHalItem) -> dict[str, Any]:
    """Our item in the layout of the official per-answer record (``[word, class]`` pairs, non-GPT path)."""
    return {
        "image_id": item.image_id,
        "caption": item.answer,
        "mscoco_hallucinated_words": [[word, [word, cls]] for word, cls in item.hallucinated],
        "mscoco_gt_words": sorted(item.gt_objects),
        "mscoco_generated_words": [[word, cls] for word, cls in zip(item.words, item.mentioned, strict=True)],
        "hallucination_idxs": list(item.hallucination_idxs),
        "words": list(item.objects),
        "metrics": {"CHAIRs": item.chair_s, "CHAIRi": item.chair_i},
    }


def _objhal_overall(result: ObjHalResult) -> dict[str, Any]:
    """Our totals under the official ``overall_metrics`` keys (the official counters are floats)."""
    return {
        "CHAIRs": result.chair_s,
        "CHAIRs_refine": result.chair_s_refine,
        "CHAIRi": result.chair_i,
        "obj_rec": result.obj_rec,
        "sentence_num": float(len(result.items)),
        "coco_sentence_num": float(result.coco_sentence_num),
        "coco_word_count": float(result.coco_word_count),
        "gt_word_count": float(result.gt_word_count),
        "avg_word_len": result.avg_word_len,
        "all_gpt_used_tokens": {},
        "all_gpt_success_tokens": {},
        "correct_rate": 1 - result.chair_s_refine,
        "object_correct_rate": 1 - result.chair_i,
    }


@pytest.mark.parametrize("name", THUNLP_RUNS)
def test_thunlp_answers_reproduce_the_official_objhal_non_gpt_output(name, maxlinn_gt):
    """THUNLP answers on the 300 items, text (non-GPT) path: every per-answer field, ``overall_metrics`` (exact
    floats) and the printed lines of ``eval_gpt_obj_halbench.py`` and of the summary script, official GT
    replaced by the Maxlinn GT in both (fixture ``objhal_official/thunlp_<name>.json``)."""
    expected = _fixture("objhal_official", f"thunlp_{name}")
    root, gt = maxlinn_gt
    root = need_data(expected["answers"], BENCH + QUESTIONS_FILE)
    assert _file_sha256(root / expected["answers"]) == expected["answers_sha256"], "shared answers changed"
    assert expected["gt_substituted"] == BENCH + GT_OBJECTS_FILE
    assert _file_sha256(root / expected["gt_substituted"]) == expected["gt_sha256"], "shared GT changed"
    questions = load_objhal_questions(data_dir=root)
    answers = load_objhal_answers(root / expected["answers"], questions, known_ids=gt)
    result = score_objhal_text(
        [a.answer for a in answers],
        [a.image_id for a in answers],
        gt,
        load_vocabulary("refined", root),
        questions=[a.question for a in answers],
    )
    _assert_sentences_equal([_objhal_sentence(item) for item in result.items], expected)
    assert _objhal_overall(result) == expected["overall_metrics"]
    # print_metrics: "%0.001f\t%0.001f\t%0.001f\t%d\t%d\t%0.01f" (CHAIRs, CHAIRs_refine, CHAIRi x100, ...).
    eval_line = "\t".join(
        [f"{100 * x:.1f}" for x in (result.chair_s, result.chair_s_refine, result.chair_i)]
        + [str(len(result.items)), str(result.coco_sentence_num), f"{result.avg_word_len:.1f}"]
    )
    assert eval_line == expected["printed_eval"][1]
    # The summary prints rates with :.2f and the float counters as they are ("293.0").
    printed = _printed_values(expected["printed_summary"])
    assert {k: f"{v:.2f}" for k, v in result.summary().items()} == {
        k: f"{float(v):.2f}" for k, v in printed.items()
    }
