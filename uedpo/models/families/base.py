"""What a model family is: the record :data:`uedpo.models.families.FAMILIES` holds, one per ``model_type``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from uedpo.models.adapter import VLMAdapter


def resolve(name: str) -> Any:
    """``"module:attr"`` -> the attribute; a bare name is an attribute of ``transformers``."""
    module, _, attr = name.rpartition(":")
    return getattr(importlib.import_module(module or "transformers"), attr)


@dataclass(frozen=True)
class Family:
    """One model family, registered by the ``model_type`` of its config.json.

    Attributes:
        model_type: config.json ``model_type`` (``llava``, ``qwen2_5_vl``, ...).
        adapter: the :class:`~uedpo.models.adapter.VLMAdapter` subclass (prompt, image preparation, layout).
        model_class: the transformers class that loads it (``"LlavaNextForConditionalGeneration"``), or
            ``"module:Class"``; resolved lazily so that importing the registry imports no model code.
        processor_class: the processor class, named the same way (image-only subclasses where the stock one
            needs torchvision, :mod:`uedpo.models.processors`).
        tiny: ``seed -> (model, processor)``, a tiny random model built offline (tests, ``uedpo.models.tiny``).
        summary: one line for ``python -m uedpo.models.tiny --help``.
    """

    model_type: str
    adapter: type[VLMAdapter]
    model_class: str
    processor_class: str
    tiny: Callable[[int], tuple[Any, Any]]
    summary: str

    def classes(self) -> tuple[type, type]:
        """(model class, processor class)."""
        return resolve(self.model_class), resolve(self.processor_class)
