"""The MMHal judge prompt is the official text, filled the official way.

Official: ``llava-rlhf/LLaVA-RLHF`` @ 830a083 ``Eval/eval_gpt_mmhal.py``: ``template.format(', '.join(
image_content), question, gt_answer, model_answer)``, sent as one user message.
"""

from __future__ import annotations

from conftest import need_data

from benchmarks_data.mmhal import MMHalRecord, load_responses, load_template
from evaluation.mmhal.prompt import JUDGE_TEMPLATE, build_judge_prompt


def _record(**kw) -> MMHalRecord:
    base = dict(index=0, question_type="attribute", question_topic="outdoor", image_id="x", image_src="u",
                image_content=("Fire hydrant",), question="Q?", gt_answer="G.", model_answer="A.")
    return MMHalRecord(**{**base, **kw})


def test_template_length_matches_the_official_file():
    """In Eval/eval_gpt_mmhal.py @830a083 (9601 chars) the literal opens after ``template = '''`` at offset
    69 and the closing ``'''`` sits at offset 6700 (read with offsets from the source), so the text is 6631
    characters long."""
    assert len(JUDGE_TEMPLATE) == 6700 - 69


def test_template_structure_and_quirks():
    """Facts read off the official text: four positional slots, five examples, the seven rating options in
    the order 6..0, the "evalutation" typo, and a single trailing newline after the last slot."""
    assert JUDGE_TEMPLATE.count("{}") == 4 and JUDGE_TEMPLATE.count("{") == 4
    assert JUDGE_TEMPLATE.startswith("Please act as an impartial and objective judge and evaluate the quality")
    assert [f"### Example {i}:" in JUDGE_TEMPLATE for i in range(1, 7)] == [True] * 5 + [False]
    ratings = [ln for ln in JUDGE_TEMPLATE.splitlines() if ln.startswith("- Rating: ")]
    assert [int(ln[len("- Rating: ")]) for ln in ratings] == [6, 5, 4, 3, 2, 1, 0]
    assert "be a bit more cautious during evalutation." in JUDGE_TEMPLATE
    assert JUDGE_TEMPLATE.endswith("### LMM Response to Evaluate\n{}\n")


def test_prompt_for_a_real_record():
    """BLIP-2 answered "Red" to template item 0; the prompt ends with the four filled sections."""
    root = need_data("mmhal/mmhal-bench_answer_template.json",
                     "mmhal/validation/sadmankiba/blip2_2.7b_responses.json")
    template = load_template(root / "mmhal/mmhal-bench_answer_template.json")
    rec = load_responses(root / "mmhal/validation/sadmankiba/blip2_2.7b_responses.json", template)[0]
    prompt = build_judge_prompt(rec)
    assert prompt.startswith(JUDGE_TEMPLATE.split("{}")[0])
    assert prompt.endswith(
        "### Image Contents\nFire hydrant\n\n"
        "### Question\nWhat color is the fire hydrant cap in the picture?\n\n"
        "### Standard Human-Generated Answer\nThe color of the fire hydrant cap in the image is yellow.\n\n"
        "### LMM Response to Evaluate\nRed\n"
    )


def test_labels_are_joined_with_comma_space():
    prompt = build_judge_prompt(_record(image_content=("Tree", "Plant", "Panda")))
    assert "### Image Contents\nTree, Plant, Panda\n\n### Question" in prompt


def test_braces_in_answers_are_inserted_literally():
    """``str.format`` does not re-interpret braces inside the arguments."""
    prompt = build_judge_prompt(_record(model_answer="{0} {} {question}"))
    assert prompt.endswith("### LMM Response to Evaluate\n{0} {} {question}\n")


def test_empty_answer_leaves_an_empty_section():
    assert build_judge_prompt(_record(model_answer="")).endswith("### LMM Response to Evaluate\n\n")
