"""Qwen2-VL: ``Qwen2VLForConditionalGeneration`` + an image-only ``Qwen2VLProcessor``.

Same prompt as Qwen2.5-VL (``Qwen/Qwen2-VL-*-Instruct`` ships the same chat template, with the default
system message) and the same patch layout (patch 14, T = 2, merge 2; ``Qwen2VLImageProcessor``). The vision
tower differs (no window attention; ``embed_dim`` + ``mlp_ratio`` config, and its ``hidden_size`` is the
text width).
"""

from __future__ import annotations

from typing import ClassVar

from uedpo.models.adapter import VLMAdapter
from uedpo.models.families.base import Family
from uedpo.models.families.qwen2_5_vl import PATCH, QWEN_MAX_PIXELS, QWEN_MIN_PIXELS
from uedpo.models.layouts import QwenPatchLayout
from uedpo.models.prompts import QWEN25VL_CHAT_TEMPLATE, qwen25vl_prompt

QWEN2VL_CHAT_TEMPLATE = QWEN25VL_CHAT_TEMPLATE


def qwen2vl_prompt(question: str) -> str:
    """Qwen2-VL-Instruct's chat template for one image + question: identical to Qwen2.5-VL's."""
    return qwen25vl_prompt(question)


class Qwen2VLAdapter(QwenPatchLayout, VLMAdapter):
    """Qwen2-VL: flattened patches (num_patches, 3·2·14·14) + ``image_grid_thw``, Qwen chat prompt."""

    family = "qwen2_vl"
    chat_template: ClassVar[str] = QWEN2VL_CHAT_TEMPLATE

    def build_prompt(self, question: str) -> str:
        return qwen2vl_prompt(question)


def tiny_qwen2vl(seed: int = 0):
    """Qwen2-VL vision (32 wide, 2 blocks) + text (64 wide, 2 layers); 4-16 image tokens per image."""
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLImageProcessorPil

    from uedpo.models.processors import ImageOnlyQwen2VLProcessor
    from uedpo.models.tiny_parts import finish, qwen_tokenizer, qwen_vision_ids, small_text

    tok = qwen_tokenizer()
    cfg = Qwen2VLConfig(
        text_config=small_text(
            tok, bos_token_id=tok.pad_token_id,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
        ),
        # Qwen2-VL's vision config: embed_dim is the ViT width, hidden_size the merger's output (= text width).
        vision_config=dict(depth=2, embed_dim=32, hidden_size=64, mlp_ratio=2, num_heads=2, patch_size=PATCH,
                           spatial_merge_size=2, temporal_patch_size=2),
        **qwen_vision_ids(tok),
    )
    ip = Qwen2VLImageProcessorPil(
        min_pixels=QWEN_MIN_PIXELS, max_pixels=QWEN_MAX_PIXELS, patch_size=PATCH, merge_size=2,
        temporal_patch_size=2,
    )
    proc = ImageOnlyQwen2VLProcessor(image_processor=ip, tokenizer=tok, chat_template=QWEN2VL_CHAT_TEMPLATE)
    torch.manual_seed(seed)
    return finish(Qwen2VLForConditionalGeneration(cfg), tok), proc


FAMILY = Family(
    model_type="qwen2_vl", adapter=Qwen2VLAdapter, model_class="Qwen2VLForConditionalGeneration",
    processor_class="uedpo.models.processors:ImageOnlyQwen2VLProcessor", tiny=tiny_qwen2vl,
    summary="Qwen2-VL: ViT (patch 14) + Qwen2, flattened patches + image_grid_thw, same prompt as 2.5",
)
