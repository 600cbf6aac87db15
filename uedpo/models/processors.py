"""Processor classes that work without torchvision (transformers 5.x, ENVIRONMENT.md §2 pitfalls 1–2).

The stock ``Qwen2_5_VLProcessor`` cannot be built without a video processor, and the video processor needs
torchvision, which does not import next to the CPU torch wheel. This subclass drops the video processor; its
``from_pretrained`` reads the same ``preprocessor_config.json`` / tokenizer files as the stock class, so it
loads real Qwen2.5-VL checkpoints and the tiny ones alike (videos are not supported).
"""

from __future__ import annotations

from transformers import Qwen2_5_VLProcessor
from transformers.processing_utils import ProcessorMixin


class ImageOnlyQwen2_5_VLProcessor(Qwen2_5_VLProcessor):
    """``Qwen2_5_VLProcessor`` without the video processor (images only)."""

    # ProcessorMixin discovers its sub-processors from the __init__ signature, so video_processor must be
    # absent from it rather than passed as None.
    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
        self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)
