"""LLaVA-OneVision (``llava-hf`` layout): ``LlavaOnevisionForConditionalGeneration`` + image-only processor.

SigLIP tower (no CLS: ``vision_feature_select_strategy="full"``, last layer) and a Qwen2 language model.
Images: anyres as LLaVA-NeXT (tiles (B, tiles, 3, H, W) + ``image_sizes``, plus ``batch_num_images``), with
``vision_aspect_ratio="anyres_max_N"``: when the tile features exceed N tiles' worth, the model bilinearly
downsamples them (the processor counts the tokens the same way). Single images only: the processor pads
multi-image inputs to a square instead, which this adapter never sends. Prompt: the ``qwen_1_5``
conversation that LLaVA-OneVision's evaluations use (lmms-eval ``conv_template="qwen_1_5"``): ChatML with
the default system message and ``<image>\\n`` before the question (the llava-hf chat template differs: no
system turn); :mod:`uedpo.models.families.llava_next` has it.
"""

from __future__ import annotations

from uedpo.models.families.base import Family
from uedpo.models.families.llava_next import QWEN15_CHAT_TEMPLATE, LlavaNextAdapter

TILE, PATCH = 28, 14
TINY_PINPOINTS = [[TILE * i, TILE * j] for i in range(1, 4) for j in range(1, 4)]  # up to 3 x 3 tiles


class LlavaOnevisionAdapter(LlavaNextAdapter):
    """LLaVA-OneVision: anyres tiles + ``image_sizes`` / ``batch_num_images``, the qwen_1_5 prompt."""

    family = "llava_onevision"

    def default_style(self, model) -> str:
        return "qwen_1_5"


def tiny_llava_onevision(seed: int = 0):
    """SigLIP (32 wide, 2 layers, 28-pixel tiles) + Qwen2 (64 wide, 2 layers), ``anyres_max_4``."""
    import torch
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessorPil,
        Qwen2Config,
        SiglipVisionConfig,
    )

    from uedpo.models.processors import ImageOnlyLlavaOnevisionProcessor
    from uedpo.models.tiny_parts import finish, qwen_tokenizer, small_text

    tok = qwen_tokenizer(("<image>", "<video>"), {"image_token": "<image>", "video_token": "<video>"})
    # anyres_max_4 (the real models: 9) so that 3 x 3 tiles take the downsampling branch.
    aspect = "anyres_max_4"
    cfg = LlavaOnevisionConfig(
        vision_config=SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=2, image_size=TILE, patch_size=PATCH,
                                         vision_use_head=False),
        text_config=Qwen2Config(**small_text(tok, bos_token_id=tok.pad_token_id)),
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        video_token_index=tok.convert_tokens_to_ids("<video>"), image_grid_pinpoints=TINY_PINPOINTS,
        vision_feature_layer=-1, vision_feature_select_strategy="full", vision_aspect_ratio=aspect,
    )
    ip = LlavaOnevisionImageProcessorPil(size={"height": TILE, "width": TILE}, image_grid_pinpoints=TINY_PINPOINTS,
                                         image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    proc = ImageOnlyLlavaOnevisionProcessor(
        image_processor=ip, tokenizer=tok, num_image_tokens=(TILE // PATCH) ** 2,
        vision_feature_select_strategy="full", vision_aspect_ratio=aspect, chat_template=QWEN15_CHAT_TEMPLATE,
    )
    torch.manual_seed(seed)
    return finish(LlavaOnevisionForConditionalGeneration(cfg), tok), proc


FAMILY = Family(
    model_type="llava_onevision", adapter=LlavaOnevisionAdapter,
    model_class="LlavaOnevisionForConditionalGeneration",
    processor_class="uedpo.models.processors:ImageOnlyLlavaOnevisionProcessor", tiny=tiny_llava_onevision,
    summary="LLaVA-OneVision (llava-hf): SigLIP + Qwen2, anyres_max tiles, qwen_1_5 prompt",
)
