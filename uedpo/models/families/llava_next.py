"""LLaVA-NeXT (1.6, ``llava-hf`` layout): ``LlavaNextForConditionalGeneration`` + ``LlavaNextProcessor``.

Images: "anyres". The processor picks the grid resolution (``image_grid_pinpoints``) that fits the image best,
resizes and zero-pads it there, cuts it into vision-tower-sized tiles and prepends the whole image resized to
one tile; ``pixel_values`` is (B, tiles, 3, H, W), zero-padded over tiles to the batch's largest count, with
``image_sizes`` (B, 2) from which the model recomputes the real tile count. No square padding (LLaVA-1.5's
``expand2square``) before it. Layout: :class:`uedpo.models.layouts.TiledLayout` (crops and random images act
tile by tile; see there).

Prompt: LLaVA-NeXT's official evaluations pick the conversation by language model (``--conv-mode``); the
adapter does the same from the checkpoint (:func:`conversation_style`):

- ``vicuna_v1`` (``llava-v1.6-vicuna-*``): as LLaVA-1.5;
- ``mistral_instruct`` (``llava-v1.6-mistral-7b``, text ``model_type: mistral``): sep_style LLAMA_2 with an
  empty system, ``[INST] <image>\\n{q} [/INST]``;
- ``chatml_direct`` (``llava-v1.6-34b``, a Llama-architecture model whose tokenizer has ``<|im_start|>``):
  sep_style MPT, system ``Answer the questions.``, no newline after ``<|im_end|>``;
- ``qwen_1_5`` (Qwen2 language models: LLaVA-NeXT-72B/110B, LLaVA-OneVision): ChatML with the default system
  message ``You are a helpful assistant.`` and ``<image>\\n`` before the question.

(``haotian-liu/LLaVA`` / ``LLaVA-VL/LLaVA-NeXT`` ``llava/conversation.py``.)
"""

from __future__ import annotations

from uedpo.models.adapter import VLMAdapter
from uedpo.models.families.base import Family
from uedpo.models.layouts import TiledLayout
from uedpo.models.prompts import LLAVA15_CHAT_TEMPLATE, QWEN_SYSTEM, chatml_template, llava15_prompt

CHATML_DIRECT_SYSTEM = "Answer the questions."
TILE, PATCH = 28, 14  # tiny: 28-pixel tiles of 2x2 CLIP patches
TINY_PINPOINTS = [[28, 56], [56, 28], [56, 56], [84, 28], [28, 84]]  # the 1.6 pinpoints scaled 336 -> 28


def mistral_instruct_prompt(question: str) -> str:
    return f"[INST] <image>\n{question} [/INST]"


def chatml_direct_prompt(question: str) -> str:
    return (f"<|im_start|>system\n{CHATML_DIRECT_SYSTEM}<|im_end|><|im_start|>user\n<image>\n{question}"
            "<|im_end|><|im_start|>assistant\n")


def qwen15_prompt(question: str) -> str:
    return (f"<|im_start|>system\n{QWEN_SYSTEM}<|im_end|>\n<|im_start|>user\n<image>\n{question}<|im_end|>\n"
            "<|im_start|>assistant\n")


_CONTENT = (  # a message's text, with image items as "<image>\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}{{ '<image>\n' }}{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
)
MISTRAL_INSTRUCT_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' }}" + _CONTENT + "{{ ' [/INST]' }}"
    "{% else %}{{ ' ' }}" + _CONTENT + "{{ ' </s>' }}{% endif %}"
    "{% endfor %}"
)
CHATML_DIRECT_CHAT_TEMPLATE = (
    "{{ '<|im_start|>system\n" + CHATML_DIRECT_SYSTEM + "<|im_end|>' }}"
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' }}" + _CONTENT + "{{ '<|im_end|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
QWEN15_CHAT_TEMPLATE = chatml_template(QWEN_SYSTEM, "<image>\n")

STYLES = {  # conversation -> (prompt, chat template)
    "vicuna_v1": (llava15_prompt, LLAVA15_CHAT_TEMPLATE),
    "mistral_instruct": (mistral_instruct_prompt, MISTRAL_INSTRUCT_CHAT_TEMPLATE),
    "chatml_direct": (chatml_direct_prompt, CHATML_DIRECT_CHAT_TEMPLATE),
    "qwen_1_5": (qwen15_prompt, QWEN15_CHAT_TEMPLATE),
}


def conversation_style(config, tokenizer) -> str:
    """The official ``--conv-mode`` of a LLaVA-NeXT checkpoint, from its text model and tokenizer."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    model_type = getattr(text, "model_type", "")
    if model_type == "mistral":
        return "mistral_instruct"
    if model_type.startswith("qwen2"):
        return "qwen_1_5"
    return "chatml_direct" if "<|im_start|>" in tokenizer.get_vocab() else "vicuna_v1"


class LlavaNextAdapter(TiledLayout, VLMAdapter):
    """LLaVA-NeXT: anyres tiles (B, tiles, 3, H, W) + ``image_sizes``; the checkpoint's conversation style."""

    family = "llava_next"
    explicit_position_ids = True  # Llama / Mistral / Qwen2 language models: 1-D rope

    def __init__(self, model, processor, *, name: str = "") -> None:
        super().__init__(model, processor, name=name)
        self.prompt_style = self.default_style(model)

    def default_style(self, model) -> str:
        return conversation_style(model.config, self.tokenizer)

    @property
    def chat_template(self) -> str:
        return STYLES[self.prompt_style][1]

    def build_prompt(self, question: str) -> str:
        return STYLES[self.prompt_style][0](question)


def tiny_llava_next(seed: int = 0):
    """CLIP (32 wide, 2 layers, 28-pixel tiles) + Llama (64 wide, 2 layers); up to 5 tiles, 16-24 tokens."""
    import torch
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextImageProcessorPil,
        LlavaNextProcessor,
    )

    from uedpo.models.tiny_parts import finish, llava_tokenizer, small_text

    tok = llava_tokenizer()
    cfg = LlavaNextConfig(
        vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                       num_attention_heads=2, image_size=TILE, patch_size=PATCH),
        text_config=LlamaConfig(**small_text(tok, bos_token_id=tok.bos_token_id)),
        image_token_index=tok.convert_tokens_to_ids("<image>"), image_grid_pinpoints=TINY_PINPOINTS,
        vision_feature_layer=-2, vision_feature_select_strategy="default",
        image_seq_length=24,  # the most one image expands to here: 4 (whole image) + 4 x 4 (tiles) + 4 newlines
    )
    ip = LlavaNextImageProcessorPil(size={"shortest_edge": TILE}, crop_size={"height": TILE, "width": TILE},
                                    image_grid_pinpoints=TINY_PINPOINTS)
    proc = LlavaNextProcessor(image_processor=ip, tokenizer=tok, patch_size=PATCH,
                              vision_feature_select_strategy="default", num_additional_image_tokens=1,
                              chat_template=LLAVA15_CHAT_TEMPLATE)
    torch.manual_seed(seed)
    return finish(LlavaNextForConditionalGeneration(cfg), tok), proc


FAMILY = Family(
    model_type="llava_next", adapter=LlavaNextAdapter, model_class="LlavaNextForConditionalGeneration",
    processor_class="LlavaNextProcessor", tiny=tiny_llava_next,
    summary="LLaVA-NeXT / 1.6 (llava-hf): anyres tiles + image_sizes; vicuna/mistral/chatml prompt by LM",
)
