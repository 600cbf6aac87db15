"""Recognise original-format LLaVA checkpoints (``haotian-liu/LLaVA`` / ``LLaVA-VL/LLaVA-NeXT`` layout).

``liuhaotian/llava-v1.5-7b`` and its kin store ``config.json`` with ``model_type: "llava"`` (or
``llava_llama`` / ``llava_mistral`` / ``llava_qwen``), ``architectures: ["LlavaLlamaForCausalLM"]`` (Mistral,
Qwen, MPT variants), ``mm_vision_tower`` / ``mm_projector_type`` keys and no ``vision_config``: the LLaVA
repository's own classes, whose weights transformers' ``LlavaForConditionalGeneration`` cannot load. They are
refused with the conversion command of the transformers source tree (the scripts are not in the pip wheel):

- LLaVA-1.5: ``src/transformers/models/llava/convert_llava_weights_to_hf.py --text_model_id
  --vision_model_id --output_hub_path --old_state_dict_id``;
- LLaVA-1.6 (``image_aspect_ratio: anyres``): ``models/llava_next/convert_llava_next_weights_to_hf.py
  --model_id --pytorch_dump_folder_path``;
- LLaVA-OneVision (``LlavaQwenForCausalLM``): ``models/llava_onevision/convert_llava_onevision_weights_to_hf.py
  --model_id --pytorch_dump_folder_path``.
"""

from __future__ import annotations

ORIGINAL_ARCHITECTURES = ("LlavaLlamaForCausalLM", "LlavaMistralForCausalLM", "LlavaQwenForCausalLM",
                          "LlavaMptForCausalLM")
SCRIPTS = "python transformers/src/transformers/models"  # a clone of huggingface/transformers


def is_original_llava(config: dict) -> bool:
    """True for an original-format LLaVA config.json (module docstring), never for a llava-hf one."""
    if "vision_config" in config:
        return False
    architectures = config.get("architectures") or []
    return bool(set(architectures) & set(ORIGINAL_ARCHITECTURES)) or "mm_vision_tower" in config or (
        "mm_projector_type" in config)


def conversion_command(config: dict, name: str) -> str:
    """The transformers conversion command for this original checkpoint (one line)."""
    architectures = config.get("architectures") or []
    if "LlavaQwenForCausalLM" in architectures:
        return (f"{SCRIPTS}/llava_onevision/convert_llava_onevision_weights_to_hf.py --model_id {name} "
                "--pytorch_dump_folder_path OUT_DIR")
    if str(config.get("image_aspect_ratio", "")).startswith("anyres"):
        return (f"{SCRIPTS}/llava_next/convert_llava_next_weights_to_hf.py --model_id {name} "
                "--pytorch_dump_folder_path OUT_DIR")
    vision = config.get("mm_vision_tower") or "openai/clip-vit-large-patch14-336"
    return (f"{SCRIPTS}/llava/convert_llava_weights_to_hf.py --text_model_id <its base LLM, e.g. "
            f"lmsys/vicuna-7b-v1.5> --vision_model_id {vision} --output_hub_path OUT_REPO --old_state_dict_id {name}")


def original_llava_message(config: dict, cfg_path, name: str) -> str:
    architectures = ", ".join(config.get("architectures") or []) or "none"
    return (
        f"checkpoint {name}: original-format LLaVA ({cfg_path}: architectures {architectures}, mm_vision_tower, "
        f"no vision_config), which transformers cannot load; convert it first: `{conversion_command(config, name)}` "
        "(the script is in the transformers source tree, not the pip package), or use an already converted "
        "llava-hf checkpoint such as llava-hf/llava-1.5-7b-hf"
    )
