"""Object HalBench extraction prompt and reply parsing (RLAIF-V @ 83d917b ``eval_gpt_obj_halbench.py``)."""

from __future__ import annotations

import pytest

from evaluation.chair.objhal_prompt import extraction_prompt, is_short_answer, parse_extraction_reply


def test_prompt_fills_question_then_answer_in_the_official_layout():
    """Official: template.replace("{question}", q).replace("{answer}", a). The question follows "<image> "
    inside its block; the answer sits between the Examiner's Answer markers."""
    prompt = extraction_prompt("Describe the image.", "A dog on a sofa.")
    assert prompt.startswith(
        "You are an expert in image objects extraction according to a question answer pair."
    )
    assert "[Start of Question]\n\n<image> Describe the image.\n\n[End of Question]" in prompt
    assert "[Start of Examiner's Answer]\n\nA dog on a sofa.\n\n[End of Examiner's Answer]" in prompt
    assert 'Present the results in a JSON list format: ["object_1", ..., "object_n"].' in prompt
    assert "{question}" not in prompt and "{answer}" not in prompt


def test_replacement_order_is_the_official_one():
    """Because {question} is replaced first, a question containing "{answer}" gets the answer inserted."""
    prompt = extraction_prompt("What is {answer}?", "a cat")
    assert "<image> What is a cat?" in prompt


@pytest.mark.parametrize(
    ("reply", "objects"),
    [
        ('["dog", "sofa"]', ["dog", "sofa"]),
        ("[]", []),
        # Not JSON as a whole, but contains '["': the LAST line is parsed.
        ('Here are the objects:\n["dog", "red car"]', ["dog", "red car"]),
        ('["dog"]\n  ', ["dog"]),  # trailing whitespace is stripped before taking the last line
    ],
)
def test_parse_reply_like_the_official_parser(reply, objects):
    assert parse_extraction_reply(reply) == objects


@pytest.mark.parametrize(
    "reply",
    [
        "The objects are a dog and a sofa.",  # no '["': no fallback
        '["dog", "sofa"]\nThat is all.',  # fallback parses the last line, which is not JSON
        '{"objects": ["dog"]}',  # JSON, but not a list of strings (deliberate difference: refused)
        "[1, 2]",
    ],
)
def test_unparseable_replies_raise(reply):
    with pytest.raises(ValueError):
        parse_extraction_reply(reply)


@pytest.mark.parametrize(
    ("answer", "short"),
    [
        ("A dog.", True),
        ("  A brown dog.  ", True),
        ("There is a dog.", False),
        ("", True),
        ("a\tb\nc", True),
        ("one two three four", False),
    ],
)
def test_short_answers_have_at_most_three_whitespace_tokens(answer, short):
    assert is_short_answer(answer) is short
