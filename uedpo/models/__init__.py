"""Model adapters: where model-specific code lives (one file per family in ``uedpo.models.families``).

The method's core (``uedpo.noise``, ``signals``, ``exploration``, ``loss``, ``baselines``, ``views``) never
imports transformers or peft; besides this package, only the trainer (``uedpo.trainer``, ``uedpo.train``: the
``Trainer`` and the LoRA wrapping), ``uedpo.export`` and ``uedpo.demo`` do.

``load_adapter(ckpt, adapter_dir=...)`` gives a :class:`VLMAdapter` of the checkpoint's family (registered by
config.json ``model_type`` in :data:`FAMILIES`: LLaVA-1.5, LLaVA-NeXT, LLaVA-OneVision, Qwen2-VL, Qwen2.5-VL,
Qwen3-VL) with ``build_prompt``, batched ``generate``, ``encode`` / ``response_logits`` and the teacher-forced
clear/blurred ``forward_pair`` / ``forward_batch``. ``uedpo.models.tiny`` builds tiny random checkpoints.
"""

from uedpo.models.adapter import TeacherForced, VLMAdapter
from uedpo.models.errors import ModelLoadError
from uedpo.models.families import ADAPTERS, FAMILIES, Family, get_family, register
from uedpo.models.families.llava import LlavaAdapter
from uedpo.models.families.llava_next import LlavaNextAdapter
from uedpo.models.families.llava_onevision import LlavaOnevisionAdapter
from uedpo.models.families.qwen2_5_vl import Qwen25VLAdapter
from uedpo.models.families.qwen2_vl import Qwen2VLAdapter
from uedpo.models.families.qwen3_vl import Qwen3VLAdapter
from uedpo.models.loading import load_adapter
from uedpo.models.lora import LM_LORA_TARGETS

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
