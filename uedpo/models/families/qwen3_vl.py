"""Qwen3-VL (dense): ``Qwen3VLForConditionalGeneration`` + an image-only ``Qwen3VLProcessor``.

Differences from Qwen2.5-VL that matter here:

- patch size 16 (rows of 3·2·16·16 = 1536), still T = 2 and merge 2; Qwen3-VL has no image processor of its
  own and uses ``Qwen2VLImageProcessor`` with ``patch_size=16`` and mean = std = 0.5 (SigLIP-2 statistics);
  the layout code reads all of it from the image processor (:class:`uedpo.models.layouts.QwenPatchLayout`);
- the ``Qwen/Qwen3-VL-*-Instruct`` chat template has **no default system message**: a user turn with the
  vision placeholder and the question, then the generation prompt;
- the vision tower adds "deepstack" features of some ViT blocks to early LLM layers and interpolates learned
  position embeddings (``num_position_embeddings`` must be a square); the text model has q/k norms and
  interleaved mrope. None of it changes the inputs.

The MoE variant (``qwen3_vl_moe``) is not registered (no tiny config tested).
"""

from __future__ import annotations

from typing import ClassVar

from uedpo.models.adapter import VLMAdapter
from uedpo.models.families.base import Family
from uedpo.models.layouts import QwenPatchLayout
from uedpo.models.prompts import QWEN_VISION_PLACEHOLDER, chatml_template

QWEN3VL_CHAT_TEMPLATE = chatml_template(None, QWEN_VISION_PLACEHOLDER)
PATCH = 16
MIN_PIXELS, MAX_PIXELS = 64 * 64, 128 * 128  # 32-pixel merge blocks: 4..16 image tokens


def qwen3vl_prompt(question: str) -> str:
    """Qwen3-VL-Instruct's chat template for ``[{"role": "user", "content": [image, text]}]`` + generation."""
    return f"<|im_start|>user\n{QWEN_VISION_PLACEHOLDER}{question}<|im_end|>\n<|im_start|>assistant\n"


class Qwen3VLAdapter(QwenPatchLayout, VLMAdapter):
    """Qwen3-VL: flattened patches (num_patches, 3·2·16·16) + ``image_grid_thw``, no default system turn."""

    family = "qwen3_vl"
    chat_template: ClassVar[str] = QWEN3VL_CHAT_TEMPLATE

    def build_prompt(self, question: str) -> str:
        return qwen3vl_prompt(question)


def tiny_qwen3vl(seed: int = 0):
    """Qwen3-VL vision (32 wide, 2 blocks, deepstack at block 0) + text (64 wide, 2 layers)."""
    import torch
    from transformers import Qwen2VLImageProcessorPil, Qwen3VLConfig, Qwen3VLForConditionalGeneration

    from uedpo.models.processors import ImageOnlyQwen3VLProcessor
    from uedpo.models.tiny_parts import finish, qwen_tokenizer, qwen_vision_ids, small_text

    tok = qwen_tokenizer()
    cfg = Qwen3VLConfig(
        text_config=small_text(
            tok, bos_token_id=tok.pad_token_id, head_dim=16,
            # sections sum to head_dim / 2 = 8; Qwen3-VL interleaves them
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3],
                             "mrope_interleaved": True},
        ),
        vision_config=dict(
            depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, patch_size=PATCH,
            spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64, deepstack_visual_indexes=[0],
        ),
        **qwen_vision_ids(tok),
    )
    ip = Qwen2VLImageProcessorPil(
        min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS, patch_size=PATCH, merge_size=2, temporal_patch_size=2,
        image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5],
    )
    proc = ImageOnlyQwen3VLProcessor(image_processor=ip, tokenizer=tok, chat_template=QWEN3VL_CHAT_TEMPLATE)
    torch.manual_seed(seed)
    return finish(Qwen3VLForConditionalGeneration(cfg), tok), proc


FAMILY = Family(
    model_type="qwen3_vl", adapter=Qwen3VLAdapter, model_class="Qwen3VLForConditionalGeneration",
    processor_class="uedpo.models.processors:ImageOnlyQwen3VLProcessor", tiny=tiny_qwen3vl,
    summary="Qwen3-VL (dense): deepstack ViT (patch 16, mean/std 0.5) + Qwen3, no default system turn",
)
