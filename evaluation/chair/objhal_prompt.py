"""Object HalBench LLM object extraction: the official prompt and reply parsing (no network here).

Source: ``RLHF-V/RLAIF-V`` @ 83d917b2e8118ca8e7877a796d72af9bb3e6b356 ``eval/eval_gpt_obj_halbench.py``
(``prompt_template``, ``parse_object_list``, ``CHAIR.get_gpt_resp``; the same in ``RLHF-V/RLHF-V`` @ 8daac8a).
The published numbers sent the filled prompt as ONE ``system`` message to ``gpt-3.5-turbo-0613`` (temperature
0.2, top_p 1, max_tokens 512, up to 100 retries on any exception); that model is retired, so any other
extractor gives numbers that are not comparable with the papers'. The template is kept verbatim, typos
included ("Please following", "an empty JSON list ()").

Deliberate difference: a reply that parses as JSON but is not a list of strings raises ``ValueError`` here
(the official code would iterate over it, e.g. over a dict's keys). Later RLAIF-V commits (not the pinned one)
also accept a fenced ```json block; this module follows the pinned commit.
"""

from __future__ import annotations

import json

from uedpo.errors import InputError

# Verbatim from eval/eval_gpt_obj_halbench.py @ 83d917b (see the module docstring). Do not edit.
PROMPT_TEMPLATE = """You are an expert in image objects extraction according to a question answer pair. We asked an examiner to answer a question about a picture.

[Start of Question]

<image> {question}

[End of Question]

[Start of Examiner's Answer]

{answer}

[End of Examiner's Answer]


Assume that the answer is correct, please identify all visible objects that are directly shown in the image. Please following the instructions in below:

1. You should only mention objects that are explicitly mentioned in the examiner's answer.
2. You should only extract the object names without the attributes of the objects.
3. You should not include the properties of the object, like the color, material, etc. as part of the object name in your result.
4. Make your answer precise. Present the results in a JSON list format: ["object_1", ..., "object_n"].
5. You should return an empty JSON list () if no visible objects can be found.
"""

JUDGE_MODEL = "gpt-3.5-turbo-0613"  # official extractor (retired)
MESSAGE_ROLE = "system"  # official: the whole prompt is one system message
TEMPERATURE = 0.2
TOP_P = 1.0
MAX_TOKENS = 512
FAIL_LIMIT = 100  # official retries before giving up on an answer
# Official get_gpt_resp: `if len(caption.strip().split()) <= 3: extract_objs = []` (no LLM call).
SHORT_ANSWER_MAX_WORDS = 3
# Official parse_object_list fallback: only tried when the reply contains this substring.
JSON_LIST_MARKER = '["'


def is_short_answer(answer: str) -> bool:
    """True when the official script skips extraction and uses no objects (<= 3 whitespace tokens)."""
    return len(answer.strip().split()) <= SHORT_ANSWER_MAX_WORDS


def extraction_prompt(question: str, answer: str) -> str:
    """The filled prompt (official order: ``{question}`` replaced first, then ``{answer}``)."""
    return PROMPT_TEMPLATE.replace("{question}", question).replace("{answer}", answer)


def parse_extraction_reply(text: str) -> list[str]:
    """The object list in an extractor reply: ``json.loads``, else the last line if ``'["'`` occurs.

    Raises ``ValueError`` when the official parser would fail (the official script then retries the call),
    or when the JSON is not a list of strings (see the module docstring).
    """
    try:
        content = json.loads(text)
    except ValueError:
        if JSON_LIST_MARKER not in text:
            raise InputError("Content is not json interpretable") from None
        try:
            content = json.loads(text.strip().split("\n")[-1])
        except ValueError:
            raise InputError("Content is not json interpretable") from None
    if not isinstance(content, list) or not all(isinstance(obj, str) for obj in content):
        raise InputError(f"extractor reply is JSON but not a list of strings: {text[:80]!r}")
    return content
