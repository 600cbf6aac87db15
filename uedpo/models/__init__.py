"""Model adapters: the only part of UE-DPO that imports transformers and peft.

``load_adapter(ckpt, adapter_dir=...)`` gives a :class:`VLMAdapter` (``LlavaAdapter`` or ``Qwen25VLAdapter``)
with ``build_prompt``, batched ``generate``, ``encode`` / ``response_logits`` and the teacher-forced
clear/blurred ``forward_pair`` / ``forward_batch``. ``uedpo.models.tiny`` builds tiny random checkpoints.
"""

from uedpo.models.adapter import ADAPTERS, LlavaAdapter, Qwen25VLAdapter, TeacherForced, VLMAdapter
from uedpo.models.errors import ModelLoadError
from uedpo.models.loading import load_adapter
from uedpo.models.lora import LM_LORA_TARGETS

__all__ = [
    "ADAPTERS",
    "LM_LORA_TARGETS",
    "LlavaAdapter",
    "ModelLoadError",
    "Qwen25VLAdapter",
    "TeacherForced",
    "VLMAdapter",
    "load_adapter",
]
