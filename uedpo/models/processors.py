"""Processor classes that work without torchvision (transformers 5.x, ENVIRONMENT.md §2 pitfalls 1–2).

The stock ``Qwen2VLProcessor``, ``Qwen2_5_VLProcessor``, ``Qwen3VLProcessor`` and ``LlavaOnevisionProcessor``
cannot be built without a video processor, and video processors need torchvision, which does not import next
to the CPU torch wheel. These subclasses drop the video processor: ``ProcessorMixin`` discovers its
sub-processors from the ``__init__`` signature, so ``video_processor`` must be absent from it rather than
passed as None. Their ``from_pretrained`` reads the same ``processor_config.json`` / tokenizer files as the
stock classes, so they load real checkpoints and the tiny ones alike (images only, no videos). A checkpoint
saved through them names the subclass in ``processor_config.json``; :mod:`uedpo.export` writes the stock
name back (:data:`STOCK_NAMES`) so that other tools' ``AutoProcessor`` finds it.
"""

from __future__ import annotations

from transformers import LlavaOnevisionProcessor, Qwen2_5_VLProcessor, Qwen2VLProcessor, Qwen3VLProcessor
from transformers.processing_utils import ProcessorMixin


def _set_qwen_tokens(processor, tokenizer) -> None:
    processor.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
    processor.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
    processor.image_token_id = tokenizer.convert_tokens_to_ids(processor.image_token)
    processor.video_token_id = tokenizer.convert_tokens_to_ids(processor.video_token)


class ImageOnlyQwen2_5_VLProcessor(Qwen2_5_VLProcessor):
    """``Qwen2_5_VLProcessor`` without the video processor (images only)."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        _set_qwen_tokens(self, tokenizer)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)


class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
    """``Qwen2VLProcessor`` without the video processor (images only)."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        _set_qwen_tokens(self, tokenizer)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)


class ImageOnlyQwen3VLProcessor(Qwen3VLProcessor):
    """``Qwen3VLProcessor`` without the video processor; also sets the vision start/end tokens it reads."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        _set_qwen_tokens(self, tokenizer)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)
        self.vision_start_token = getattr(tokenizer, "vision_start_token", None) or "<|vision_start|>"
        self.vision_end_token = getattr(tokenizer, "vision_end_token", None) or "<|vision_end|>"
        self.vision_start_token_id = tokenizer.convert_tokens_to_ids(self.vision_start_token)
        self.vision_end_token_id = tokenizer.convert_tokens_to_ids(self.vision_end_token)


class ImageOnlyLlavaOnevisionProcessor(LlavaOnevisionProcessor):
    """``LlavaOnevisionProcessor`` without the video processor (images only; the anyres token count kept)."""

    def __init__(
        self, image_processor=None, tokenizer=None, num_image_tokens=None, vision_feature_select_strategy=None,
        chat_template=None, image_token="<image>", video_token="<video>", vision_aspect_ratio="anyres_max_9",
        **kwargs,
    ):
        self.num_image_tokens = num_image_tokens
        self.vision_feature_select_strategy = vision_feature_select_strategy
        self.vision_aspect_ratio = vision_aspect_ratio
        self.image_token = getattr(tokenizer, "image_token", None) or image_token
        self.video_token = getattr(tokenizer, "video_token", None) or video_token
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)


# processor_config.json "processor_class" for other tools: our subclass -> the stock transformers class.
STOCK_NAMES = {
    cls.__name__: cls.__mro__[1].__name__
    for cls in (ImageOnlyQwen2_5_VLProcessor, ImageOnlyQwen2VLProcessor, ImageOnlyQwen3VLProcessor,
                ImageOnlyLlavaOnevisionProcessor)
}
