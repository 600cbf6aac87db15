"""MMHal-Bench scoring: parity with two real judge dumps, per-type semantics, hand-made end-to-end cases.

Official reference: ``llava-rlhf/LLaVA-RLHF`` @ 830a083 ``Eval/summarize_gpt_mmhal.py`` / ``eval_gpt_mmhal.py``.
Expected numbers come from the official outputs (``results.md`` and the eval log printed by the official
script) or are derived by hand in the docstrings.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import replace

import pytest
from conftest import need_data

from benchmarks_data.mmhal import load_responses, load_reviews, load_template
from evaluation.benches.mmhal_reviews import reviews_from_objects, score_review_objects, served_models
from evaluation.mmhal.score import (
    QUESTION_TYPES,
    aggregate,
    official_printout,
    official_type_of_position,
    rounded_metrics,
    score_item,
    score_mmhal,
)

TEMPLATE = "mmhal/mmhal-bench_answer_template.json"
SADMANKIBA = "mmhal/validation/sadmankiba"
BLIP2_RESPONSES = f"{SADMANKIBA}/blip2_2.7b_responses.json"
BLIP2_REVIEWS = f"{SADMANKIBA}/blip2_mmhal_eval.json"
OV_RESPONSES = f"{SADMANKIBA}/llava_onevision_0.5b_responses.json"
OV_LOG = f"{SADMANKIBA}/mmhal_llava_onevision_0.5b.txt"

# sadmankiba/Multimodal-Alignment results/results.md, row "BLIP-2" (judge gpt-4o-2024-08-06).
BLIP2_PRINTED = ("1.31", "0.65", "0.83,0.17,1.67,1.08,1.58,2.08,2.33,0.75")
# The last three lines of results/mmhal_llava_onevision_0.5b.txt (the official script's own printout).
OV_PRINTED = ("2.08", "0.62", "2.58,1.5,2.58,1.17,2.17,2.0,2.17,2.5")


def _printed(result) -> tuple[str, str, str]:
    lines = official_printout(result)
    return (lines[0].removeprefix("Average score: "), lines[1].removeprefix("Hallucination rate: "),
            lines[2].removeprefix("Average score for each question type: "))


def parse_official_eval_log(text: str) -> tuple[list[str], list[str]]:
    """Split the official ``eval_gpt_mmhal.py`` stdout into the printed replies and the summary lines.

    The script prints ``print(i, reply)`` for i = 0..95 (a reply may span lines), then an optional
    ``Warning: multiple or zero scores found`` block per unparseable reply, then three summary lines.
    A block starts at a line beginning with the NEXT expected index and a space.
    """
    replies: list[list[str]] = []
    lines = text.splitlines()
    for pos, line in enumerate(lines):
        if line.startswith(("Average score:", "Warning: multiple or zero scores found")):
            summary = [ln for ln in lines[pos:] if ln.startswith(("Average score", "Hallucination rate"))]
            return ["\n".join(block) for block in replies], summary
        prefix = f"{len(replies)} "
        if line.startswith(prefix):
            replies.append([line[len(prefix):]])
        elif replies:
            replies[-1].append(line)
        else:
            raise ValueError(f"log line {pos} is not part of a reply block: {line[:40]!r}")
    raise ValueError("no summary lines found in the log")


def test_blip2_dump_parity():
    """Real dump of 96 gpt-4o completions: the official parser prints 1.31 / 0.65 / the results.md row."""
    root = need_data(TEMPLATE, BLIP2_RESPONSES, BLIP2_REVIEWS, f"{SADMANKIBA}/results.md")
    records = load_responses(root / BLIP2_RESPONSES, load_template(root / TEMPLATE))
    reviews = reviews_from_objects(load_reviews(root / BLIP2_REVIEWS, len(records)))
    result = score_mmhal(records, [r.text for r in reviews])

    assert _printed(result) == BLIP2_PRINTED
    row = next(ln for ln in (root / SADMANKIBA / "results.md").read_text().splitlines() if "BLIP-2" in ln)
    assert [c.strip() for c in row.strip().strip("|").split("|")][1:] == list(BLIP2_PRINTED)
    # One review says the (empty) BLIP-2 answer is missing and gives no rating: unparseable, scored 0.
    assert result.n_unparseable == 1
    (bad,) = [it for it in result.items if not it.parseable]
    assert (bad.index, bad.score, bad.hallucinated) == (24, 0, True)
    assert records[24].model_answer == ""
    assert served_models(reviews) == ("gpt-4o-2024-08-06",)
    raw = load_reviews(root / BLIP2_REVIEWS, 96)
    assert score_review_objects(records, raw).metrics() == result.metrics()
    assert result.n_items == 96 and result.types_follow_official_order


def test_onevision_log_parity():
    """The official script's stdout for LLaVA-OneVision-0.5B: re-parsing its 96 printed replies reproduces
    its own three summary lines exactly; it printed no "Warning", so nothing is unparseable."""
    root = need_data(TEMPLATE, OV_RESPONSES, OV_LOG)
    replies, summary = parse_official_eval_log((root / OV_LOG).read_text(encoding="utf-8"))
    assert len(replies) == 96
    records = load_responses(root / OV_RESPONSES, load_template(root / TEMPLATE))
    result = score_mmhal(records, replies)

    assert _printed(result) == OV_PRINTED
    assert official_printout(result) == summary
    assert result.n_unparseable == 0


def test_template_positions_agree_with_question_type_field():
    """The official takes the type from ``i % 8``; on the official template the field says the same."""
    root = need_data(TEMPLATE)
    records = load_template(root / TEMPLATE)
    assert [r.question_type for r in records] == [official_type_of_position(i) for i in range(96)]


def test_shuffled_file_keeps_correct_per_type_values(tmp_path):
    """Shuffle the BLIP-2 responses file and its reviews with the same permutation: per-type values must stay
    the results.md row (types come from the records), while the positional rule would no longer hold."""
    root = need_data(TEMPLATE, BLIP2_RESPONSES, BLIP2_REVIEWS)
    raw_responses = json.loads((root / BLIP2_RESPONSES).read_text())
    raw_reviews = json.loads((root / BLIP2_REVIEWS).read_text())
    order = list(range(96))
    random.Random(0).shuffle(order)
    (tmp_path / "r.json").write_text(json.dumps([raw_responses[i] for i in order]))
    (tmp_path / "v.json").write_text(json.dumps([raw_reviews[i] for i in order]))

    records = load_responses(tmp_path / "r.json", load_template(root / TEMPLATE))
    reviews = reviews_from_objects(load_reviews(tmp_path / "v.json", len(records)))
    result = score_mmhal(records, [r.text for r in reviews])

    assert _printed(result) == BLIP2_PRINTED
    assert not result.types_follow_official_order
    assert [it.index for it in result.items] == order


class _Rec:
    def __init__(self, index: int, question_type: str):
        self.index, self.question_type = index, question_type


def _template_like() -> list[_Rec]:
    return [_Rec(i, official_type_of_position(i)) for i in range(96)]


def test_end_to_end_hand_computed():
    """Type number t (official order) gets "Rating: t" for t = 0..6; type 7 ("other") gets no rating.

    score = 12 * (0+1+...+6) / 96 = 252 / 96 = 2.625;
    hallucinated (score < 3): attribute (0), adversarial (1), comparison (2), other (unparseable -> 0)
    = 4 types x 12 = 48 -> rate 0.5. "Rating: 3" (counting) is NOT a hallucination. 12 unparseable.
    """
    records = _template_like()
    replies = []
    for rec in records:
        t = QUESTION_TYPES.index(rec.question_type)
        replies.append(f"Fine.\n- Rating: {t}, ..." if t < 7 else "I cannot rate this.")
    result = score_mmhal(records, replies)

    assert result.score == 2.625
    assert result.hallucination_rate == 0.5
    assert result.by_type == {**{t: float(i) for i, t in enumerate(QUESTION_TYPES[:7])}, "other": 0.0}
    assert result.n_unparseable == 12
    assert all(not it.hallucinated for it in result.items if it.question_type == "counting")
    assert official_printout(result) == [
        "Average score: 2.62",  # '{:.2f}'.format(2.625) rounds half to even on the binary value 2.625
        "Hallucination rate: 0.50",
        "Average score for each question type: 0.0,1.0,2.0,3.0,4.0,5.0,6.0,0.0",
    ]
    assert official_printout(result, rate_decimals=3)[1] == "Hallucination rate: 0.500"  # RLAIF-V


def test_metrics_sections_are_unrounded_and_schema_shaped():
    """Two items: ratings 1 and 2 -> score 1.5; by type 1/3 for a type with ratings (0, 0, 1) stays 1/3."""
    records = [_Rec(0, "attribute"), _Rec(8, "attribute"), _Rec(16, "attribute")]
    result = score_mmhal(records, ["Rating: 0", "nothing", "Rating: 1"])
    metrics = result.metrics()
    assert set(metrics) == {"mmhal", "mmhal_by_type"}
    assert metrics["mmhal"] == {"score": 1 / 3, "hallucination_rate": 1.0}
    assert metrics["mmhal_by_type"] == {"attribute": 1 / 3}  # types without items are left out
    assert rounded_metrics(result)["mmhal"]["score"] == 0.33

    bench = result.to_bench_result(config={"judge_model": "x"})
    assert bench.bench == "mmhal" and bench.n_items == 3
    assert bench.config == {"judge_model": "x", "n_unparseable": 1}
    json.dumps(bench.to_dict())


def test_full_schema_has_all_eight_types():
    records = _template_like()
    result = score_mmhal(records, ["Rating: 6"] * 96)
    assert list(result.metrics()["mmhal_by_type"]) == list(QUESTION_TYPES)
    assert result.score == 6.0 and result.hallucination_rate == 0.0


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="95 judge replies for 96 records"):
        score_mmhal(_template_like(), ["Rating: 1"] * 95)


def test_unknown_type_is_an_error():
    with pytest.raises(ValueError, match=r"item 3: unknown question_type 'colour'"):
        score_item(_Rec(3, "colour"), "Rating: 1")


def test_no_items_is_an_error():
    with pytest.raises(ValueError, match="no items"):
        aggregate([])


def test_items_keep_review_and_record_index():
    records = [_Rec(100 + i, official_type_of_position(i)) for i in range(8)]
    result = score_mmhal(records, [f"Rating: {i % 7}" for i in range(8)])
    assert [it.index for it in result.items] == list(range(100, 108))
    assert result.items[5].review == "Rating: 5" and result.items[5].score == 5
    assert result.types_follow_official_order  # positions 0..7 in the list


def test_log_parser_handles_multiline_blocks():
    """The log parser used for parity: blocks are split only at the next expected index."""
    log = "0 first\n2 is not a new block\n1 second\nline two\nAverage score: 1.00\nHallucination rate: 1.00\n" \
          "Average score for each question type: 1.0\n"
    replies, summary = parse_official_eval_log(log)
    assert replies == ["first\n2 is not a new block", "second\nline two"]
    assert len(summary) == 3 and re.match(r"Average score for each", summary[2])


def test_records_are_dataclasses_that_satisfy_the_protocol():
    root = need_data(TEMPLATE)
    rec = replace(load_template(root / TEMPLATE)[3], model_answer="Rating: 4 is not how answers look")
    item = score_item(rec, "Rating: 4")
    assert (item.index, item.question_type, item.score) == (3, "counting", 4)


def test_judge_variant_names_what_served_the_replies():
    """(mutation testing, docs/testing.md) "official" only for gpt-4-0314 alone; else the served snapshots,
    sorted and de-duplicated; else the requested name marked unknown."""
    from evaluation.mmhal.score import OFFICIAL_JUDGE, judge_variant

    assert OFFICIAL_JUDGE == "gpt-4-0314"
    assert judge_variant("gpt-4", ["gpt-4-0314", "gpt-4-0314"]) == "official"
    assert judge_variant("gpt-4o", ["gpt-4o-2024-08-06"]) == "judge:gpt-4o-2024-08-06"
    assert judge_variant(None, ["gpt-4-0314", "gpt-4o", "gpt-4o"]) == "judge:gpt-4-0314+gpt-4o"
    assert judge_variant("gpt-4o", []) == "judge:gpt-4o(served unknown)"
    assert judge_variant(None, []) == "judge:unknown"
