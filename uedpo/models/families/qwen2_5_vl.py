"""Qwen2.5-VL: ``Qwen2_5_VLForConditionalGeneration`` + an image-only ``Qwen2_5_VLProcessor``.

Prompt: the ``Qwen/Qwen2.5-VL-*-Instruct`` chat template (default system message). Layout: flattened patches
(num_patches, 3·2·14·14) + ``image_grid_thw`` (:class:`uedpo.models.layouts.QwenPatchLayout`); the model
computes its 3-D mrope positions from the attention mask, so left padding needs no position ids.
"""

from __future__ import annotations

from typing import ClassVar

from uedpo.models.adapter import VLMAdapter
from uedpo.models.families.base import Family
from uedpo.models.layouts import QwenPatchLayout
from uedpo.models.prompts import QWEN25VL_CHAT_TEMPLATE, qwen25vl_prompt

PATCH = 14
QWEN_MIN_PIXELS, QWEN_MAX_PIXELS = 56 * 56, 112 * 112  # 4..16 image tokens, varying with the aspect ratio


class Qwen25VLAdapter(QwenPatchLayout, VLMAdapter):
    """Qwen2.5-VL: flattened patches (num_patches, C*T*P*P) + ``image_grid_thw``, Qwen chat prompt."""

    family = "qwen2_5_vl"
    chat_template: ClassVar[str] = QWEN25VL_CHAT_TEMPLATE

    def build_prompt(self, question: str) -> str:
        return qwen25vl_prompt(question)


def tiny_qwen25vl(seed: int = 0):
    """Qwen2.5-VL vision (32 wide, 2 blocks) + text (64 wide, 2 layers); 4-16 image tokens per image."""
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2VLImageProcessorPil

    from uedpo.models.processors import ImageOnlyQwen2_5_VLProcessor
    from uedpo.models.tiny_parts import finish, qwen_tokenizer, qwen_vision_ids, small_text

    tok = qwen_tokenizer()
    cfg = Qwen2_5_VLConfig(
        text_config=small_text(
            tok, bos_token_id=tok.pad_token_id,
            # mrope sections must sum to head_dim / 2 = 64 / 4 / 2 = 8 (pitfall 5)
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
        ),
        vision_config=dict(
            depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, patch_size=PATCH,
            spatial_merge_size=2, temporal_patch_size=2, window_size=56, fullatt_block_indexes=[1],
        ),
        **qwen_vision_ids(tok),
    )
    ip = Qwen2VLImageProcessorPil(
        min_pixels=QWEN_MIN_PIXELS, max_pixels=QWEN_MAX_PIXELS, patch_size=PATCH, merge_size=2,
        temporal_patch_size=2,
    )
    proc = ImageOnlyQwen2_5_VLProcessor(image_processor=ip, tokenizer=tok, chat_template=QWEN25VL_CHAT_TEMPLATE)
    torch.manual_seed(seed)
    return finish(Qwen2_5_VLForConditionalGeneration(cfg), tok), proc


FAMILY = Family(
    model_type="qwen2_5_vl", adapter=Qwen25VLAdapter, model_class="Qwen2_5_VLForConditionalGeneration",
    processor_class="uedpo.models.processors:ImageOnlyQwen2_5_VLProcessor", tiny=tiny_qwen25vl,
    summary="Qwen2.5-VL: window-attention ViT (patch 14) + Qwen2.5, flattened patches + image_grid_thw",
)
