"""Model adapters: where model-specific code lives (one file per family in ``uedpo.models.families``).

The method's core (``uedpo.noise``, ``signals``, ``exploration``, ``loss``, ``baselines``, ``views``) never
imports transformers or peft; besides this package, only the trainer (``uedpo.trainer``, ``uedpo.train``: the
``Trainer`` and the LoRA wrapping), ``uedpo.export``, ``uedpo.demo`` and ShapesWorld's model builder
(``benchmarks_data.shapesworld.model``) do.

``load_adapter(ckpt, adapter_dir=...)`` gives a :class:`VLMAdapter` of the checkpoint's family (registered by
config.json ``model_type`` in :data:`FAMILIES`: LLaVA-1.5, LLaVA-NeXT, LLaVA-OneVision, Qwen2-VL, Qwen2.5-VL,
Qwen3-VL) with ``build_prompt``, batched ``generate``, ``encode`` / ``response_logits`` and the teacher-forced
clear/blurred ``forward_pair`` / ``forward_batch``. ``uedpo.models.tiny`` builds tiny random checkpoints.
"""

import importlib

# Names are imported on first use (PEP 562), so the light modules of this package (``load_options``,
# ``errors``, ``spans``) can be imported without torch and transformers: ``uedpo-eval --help`` stays fast.
_WHERE = {
    "TeacherForced": "adapter", "VLMAdapter": "adapter", "ModelLoadError": "errors",
    "ADAPTERS": "families", "FAMILIES": "families", "Family": "families", "get_family": "families",
    "register": "families", "LlavaAdapter": "families.llava", "LlavaNextAdapter": "families.llava_next",
    "LlavaOnevisionAdapter": "families.llava_onevision", "Qwen25VLAdapter": "families.qwen2_5_vl",
    "Qwen2VLAdapter": "families.qwen2_vl", "Qwen3VLAdapter": "families.qwen3_vl", "load_adapter": "loading",
    "LM_LORA_TARGETS": "lora",
}


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})


__all__ = [
    "ADAPTERS",
    "FAMILIES",
    "Family",
    "LM_LORA_TARGETS",
    "LlavaAdapter",
    "LlavaNextAdapter",
    "LlavaOnevisionAdapter",
    "ModelLoadError",
    "Qwen25VLAdapter",
    "Qwen2VLAdapter",
    "Qwen3VLAdapter",
    "TeacherForced",
    "VLMAdapter",
    "get_family",
    "load_adapter",
    "register",
]
