"""LLaVA-1.5 (``llava-hf`` layout): ``LlavaForConditionalGeneration`` + ``LlavaProcessor``.

Prompt: ``vicuna_v1`` (:func:`uedpo.models.prompts.llava15_prompt`). Images: official LLaVA-1.5 quirk,
``image_aspect_ratio="pad"``: ``expand2square`` with the CLIP mean colour before CLIP's resize + centre crop
(llava-hf processors crop instead; we pad first). Layout: one CLIP image per row, (N, 3, H, W).
"""

from __future__ import annotations

from typing import ClassVar

from PIL import Image

from uedpo.models.adapter import VLMAdapter
from uedpo.models.families.base import Family
from uedpo.models.layouts import ImageLayout
from uedpo.models.prompts import LLAVA15_CHAT_TEMPLATE, llava15_prompt

LLAVA15_PAD_TO_SQUARE = True
LLAVA_IMAGE_SIZE, PATCH = 28, 14  # 2x2 patches -> 4 image tokens (CLS dropped by the "default" strategy)


class LlavaAdapter(ImageLayout, VLMAdapter):
    """LLaVA-1.5 (``llava-hf`` layout): CLIP ``pixel_values`` (B, 3, H, W), vicuna_v1 prompt."""

    family = "llava"
    explicit_position_ids = True
    pad_to_square: ClassVar[bool] = LLAVA15_PAD_TO_SQUARE
    chat_template: ClassVar[str] = LLAVA15_CHAT_TEMPLATE

    def build_prompt(self, question: str) -> str:
        return llava15_prompt(question)

    def prepare_image(self, image: Image.Image) -> Image.Image:
        """``expand2square`` of ``haotian-liu/LLaVA`` ``llava/mm_utils.py``: centre on a mean-colour square."""
        image = image.convert("RGB")
        width, height = image.size
        if not self.pad_to_square or width == height:
            return image
        fill = tuple(int(x * 255) for x in self.processor.image_processor.image_mean)
        side = max(width, height)
        square = Image.new("RGB", (side, side), fill)
        square.paste(image, ((side - width) // 2, (side - height) // 2))
        return square


def tiny_llava(seed: int = 0):
    """CLIP (32 wide, 2 layers) + Llama (64 wide, 2 layers); ~4 image tokens per image."""
    import torch
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaImageProcessorPil,
        LlavaProcessor,
    )

    from uedpo.models.tiny_parts import finish, llava_tokenizer, small_text

    tok = llava_tokenizer()
    cfg = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            image_size=LLAVA_IMAGE_SIZE, patch_size=PATCH,
        ),
        text_config=LlamaConfig(**small_text(tok, bos_token_id=tok.bos_token_id)),
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        image_seq_length=(LLAVA_IMAGE_SIZE // PATCH) ** 2,
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )
    # LLaVA-1.5 pads to a square with the mean colour before CLIP preprocessing (image_aspect_ratio="pad").
    ip = LlavaImageProcessorPil(
        size={"shortest_edge": LLAVA_IMAGE_SIZE},
        crop_size={"height": LLAVA_IMAGE_SIZE, "width": LLAVA_IMAGE_SIZE},
        do_pad=True,
    )
    # CLIP has a CLS token: num_additional_image_tokens=1, which the "default" strategy drops (pitfall 4).
    proc = LlavaProcessor(
        image_processor=ip, tokenizer=tok, patch_size=PATCH, vision_feature_select_strategy="default",
        num_additional_image_tokens=1, chat_template=LLAVA15_CHAT_TEMPLATE,
    )
    torch.manual_seed(seed)
    return finish(LlavaForConditionalGeneration(cfg), tok), proc


FAMILY = Family(
    model_type="llava", adapter=LlavaAdapter, model_class="LlavaForConditionalGeneration",
    processor_class="LlavaProcessor", tiny=tiny_llava,
    summary="LLaVA-1.5 (llava-hf): CLIP + Llama, vicuna_v1 prompt, mean-colour square padding",
)
