"""Prompts exactly as the official evaluations build them.

- LLaVA-1.5: the ``vicuna_v1`` conversation of ``haotian-liu/LLaVA`` (``llava/conversation.py``,
  ``conv_vicuna_v1``: sep_style TWO, sep " ", sep2 "</s>") with the question prefixed by ``<image>\\n``
  as ``llava/eval/model_vqa_loader.py`` does when ``mm_use_im_start_end`` is off.
- Qwen2.5-VL: the chat template shipped with ``Qwen/Qwen2.5-VL-*-Instruct`` (``chat_template.json``): default
  system message, then a user turn holding the vision placeholder followed by the question.

The jinja templates below are saved with the tiny checkpoints so that ``processor.apply_chat_template`` gives
the same strings as :func:`llava15_prompt` / :func:`qwen25vl_prompt` (a test checks this). The families added
later keep their prompts in their own module (:mod:`uedpo.models.families`); :func:`chatml_template` is shared.
"""

from __future__ import annotations

LLAVA15_SYSTEM = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)
LLAVA15_IMAGE_TOKEN = "<image>"
QWEN_SYSTEM = "You are a helpful assistant."
QWEN_VISION_PLACEHOLDER = "<|vision_start|><|image_pad|><|vision_end|>"


def llava15_prompt(question: str) -> str:
    """``conv_vicuna_v1.get_prompt()`` for one user turn with an image and an empty assistant turn."""
    return f"{LLAVA15_SYSTEM} USER: {LLAVA15_IMAGE_TOKEN}\n{question} ASSISTANT:"


def qwen25vl_prompt(question: str) -> str:
    """Qwen2.5-VL's chat template for ``[{"role": "user", "content": [image, text]}]`` + generation prompt."""
    return (
        f"<|im_start|>system\n{QWEN_SYSTEM}<|im_end|>\n"
        f"<|im_start|>user\n{QWEN_VISION_PLACEHOLDER}{question}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


# vicuna_v1 as jinja: "SYSTEM USER: <image>\nq ASSISTANT: a</s>USER: ... ASSISTANT:".
LLAVA15_CHAT_TEMPLATE = (
    "{{ '" + LLAVA15_SYSTEM.replace("'", "\\'") + " ' }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ 'USER: ' }}{% else %}{{ 'ASSISTANT: ' }}{% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}{{ '<image>\n' }}{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ ' ' }}{% else %}{{ '</s>' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

def chatml_template(system: str | None, image: str) -> str:
    """A ChatML jinja template (``<|im_start|>role\\n...<|im_end|>\\n``) for image + text user turns.

    ``system``: the default system message written before a first non-system turn (None: no default, as
    Qwen3-VL); ``image``: the text an image item renders as (the vision placeholder).
    """
    default_system = (
        "{% if loop.first and message['role'] != 'system' %}"
        "{{ '<|im_start|>system\n" + system + "<|im_end|>\n' }}{% endif %}"
    ) if system else ""
    return (
        "{% for message in messages %}"
        + default_system
        + "{{ '<|im_start|>' + message['role'] + '\n' }}"
        "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
        "{% for item in message['content'] %}"
        "{% if item['type'] == 'image' %}{{ '" + image + "' }}"
        "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
        "{% endfor %}{% endif %}"
        "{{ '<|im_end|>\n' }}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    )


# The image/text subset of Qwen2.5-VL-Instruct's chat template (videos and vision ids left out).
QWEN25VL_CHAT_TEMPLATE = chatml_template(QWEN_SYSTEM, QWEN_VISION_PLACEHOLDER)
