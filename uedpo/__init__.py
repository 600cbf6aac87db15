"""UE-DPO: uncertainty-aware exploratory DPO for multimodal LLMs.

The core (``uedpo.noise``, ``uedpo.signals``, ``uedpo.exploration``, ``uedpo.loss``) is pure torch and
never imports transformers; model-specific code lives in ``uedpo.models``.
"""

__version__ = "0.1.0"
