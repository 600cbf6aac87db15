"""Load a checkpoint of a registered family (+ optional LoRA adapter) into a :class:`VLMAdapter`.

The family comes from config.json ``model_type`` (:data:`uedpo.models.families.FAMILIES`: LLaVA-1.5,
LLaVA-NeXT, LLaVA-OneVision, Qwen2-VL, Qwen2.5-VL, Qwen3-VL); original-format LLaVA checkpoints are refused
with the conversion command (:mod:`uedpo.models.legacy`). Safetensors only (``use_safetensors=True``; pickled ``.bin`` weights are refused, never unpickled), remote code
only when asked. Every failure a user can cause (missing or corrupt files, an adapter trained for another
base, an unknown model family, a hub id while offline) raises :class:`ModelLoadError` with one line naming the
file and the fix.
"""

from __future__ import annotations

import json
import logging
import os
import re
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import torch

from uedpo.models.adapter import VLMAdapter
from uedpo.models.errors import ModelLoadError
from uedpo.models.families import FAMILIES
from uedpo.models.legacy import is_original_llava, original_llava_message
from uedpo.models.lora import attach_lora

log = logging.getLogger(__name__)

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # "owner/name", as the Hugging Face Hub spells repos
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _offline() -> bool:
    return any(os.environ.get(v, "") not in ("", "0", "false", "False") for v in
               ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


# Checkpoints shipped inside an installed package, by name (``--ckpt shapes-demo`` anywhere): the entry points
# of this group name a directory (a ``Path``), e.g. ShapesWorld's demo checkpoint; nothing is imported by name.
CHECKPOINT_ENTRY_POINTS = "uedpo.checkpoints"


@lru_cache(maxsize=1)
def _named_checkpoints() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=CHECKPOINT_ENTRY_POINTS)}


def named_checkpoint(name: str) -> Path | None:
    """The packaged directory registered as ``name``, or None when no entry point has that name."""
    entry = _named_checkpoints().get(name)
    return None if entry is None else Path(entry.load())


def resolve_checkpoint(ckpt: str | Path) -> tuple[str, Path]:
    """``(name to pass to from_pretrained, local directory holding config.json)``; hub ids are fetched.

    A registered name (:func:`named_checkpoint`, e.g. ``shapes-demo``) resolves to its packaged directory
    unless a directory of that name exists in the working directory (a path always wins).
    """
    packaged = None if Path(ckpt).is_dir() else named_checkpoint(str(ckpt))
    if packaged is not None:
        ckpt = packaged
        if not ckpt.is_dir():
            raise ModelLoadError(f"built-in checkpoint {ckpt}: missing from this installation; reinstall uedpo")
    path = Path(ckpt).expanduser()
    if path.is_dir():
        return str(path), path
    if path.exists():
        raise ModelLoadError(f"checkpoint {ckpt}: is a file; pass the directory that holds config.json")
    if not HUB_ID.match(str(ckpt)):
        raise ModelLoadError(f"checkpoint {ckpt}: directory not found; check the path")
    from huggingface_hub import hf_hub_download

    try:
        config = hf_hub_download(str(ckpt), "config.json", local_files_only=_offline())
    except Exception as err:  # the hub client raises many types (offline, 404, auth, network)
        why = "offline mode (HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE) and not in the local cache" if _offline() \
            else f"hub download failed: {type(err).__name__}"
        raise ModelLoadError(
            f"checkpoint {ckpt}: not a local directory, and as a hub id: {why}; pass a local checkpoint directory"
        ) from err
    return str(ckpt), Path(config).parent


def read_family(config_dir: Path, name: str) -> str:
    """``model_type`` from config.json, checked against the supported families."""
    cfg_path = config_dir / "config.json"
    if not cfg_path.is_file():
        raise ModelLoadError(f"checkpoint {name}: no config.json in {config_dir}; is this a model directory?")
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelLoadError(f"{cfg_path}: not valid JSON ({err}); restore the file from the original checkpoint") from err
    if isinstance(config, dict) and is_original_llava(config):
        raise ModelLoadError(original_llava_message(config, cfg_path, name))
    family = config.get("model_type") if isinstance(config, dict) else None
    if family not in FAMILIES:
        raise ModelLoadError(
            f"{cfg_path}: model_type {family!r} is not supported; expected one of {sorted(FAMILIES)}"
        )
    return family


def check_safetensors(model_dir: Path) -> None:
    """Refuse directories without safetensors weights, and headers that do not parse (corrupt files)."""
    from safetensors import safe_open

    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (json.JSONDecodeError, KeyError, AttributeError) as err:
            raise ModelLoadError(f"{index}: not a valid safetensors index ({err}); re-download the checkpoint") from err
        files = [model_dir / s for s in shards]
    else:
        files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        pickled = [p.name for p in model_dir.glob("*.bin")]
        hint = f" (found {pickled[0]}: pickled weights are never loaded; convert to safetensors)" if pickled else ""
        raise ModelLoadError(f"checkpoint {model_dir}: no .safetensors weights{hint}")
    for file in files:
        if not file.is_file():
            raise ModelLoadError(f"{file}: shard listed in the index is missing; re-download the checkpoint")
        try:
            with safe_open(str(file), framework="pt") as handle:
                handle.keys()
        except Exception as err:  # SafetensorError and OSError, depending on the damage
            raise ModelLoadError(
                f"{file}: not a valid safetensors file ({str(err).splitlines()[0]}); re-download or re-save it"
            ) from err


def resolve_device_dtype(device: str | torch.device, dtype: str | torch.dtype) -> tuple[torch.device, torch.dtype]:
    """``device="auto"``: CUDA when available, else CPU. ``dtype="auto"``: bf16 on GPU, fp32 on CPU."""
    dev = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device)
    if dtype == "auto":
        return dev, torch.bfloat16 if dev.type == "cuda" else torch.float32
    if isinstance(dtype, torch.dtype):
        return dev, dtype
    if dtype not in DTYPES:
        raise ModelLoadError(f"dtype {dtype!r}: expected 'auto' or one of {sorted(DTYPES)}")
    return dev, DTYPES[dtype]


def _load_model(family: str, name: str, dtype: torch.dtype, trust_remote_code: bool, model_kwargs: dict):
    model_cls, proc_cls = FAMILIES[family].classes()
    try:
        model, info = model_cls.from_pretrained(
            name, **model_kwargs, dtype=dtype, use_safetensors=True, trust_remote_code=trust_remote_code,
            output_loading_info=True,
        )
        processor = proc_cls.from_pretrained(name, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as err:
        raise ModelLoadError(f"checkpoint {name}: cannot be loaded ({str(err).splitlines()[0]})") from err
    missing = info.get("missing_keys") or []
    if missing:
        raise ModelLoadError(
            f"checkpoint {name}: the weights lack {len(missing)} tensors the {family} config needs "
            f"(e.g. {sorted(missing)[0]}); the weights and config.json belong to different models"
        )
    return model, processor


def quiet_loading() -> None:
    """No transformers progress bars (loading weights, writing shards): a ``--quiet`` run prints its own lines."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def load_adapter(
    ckpt: str | Path,
    *,
    adapter_dir: str | Path | None = None,
    dtype: str | torch.dtype = "auto",
    device: str | torch.device = "auto",
    trust_remote_code: bool = False,
    model_kwargs: dict | None = None,
) -> VLMAdapter:
    """Load ``ckpt`` (a local directory, or a hub id when online) as a :class:`VLMAdapter` in eval mode.

    The family comes from config.json ``model_type`` (:data:`~uedpo.models.families.FAMILIES`). ``adapter_dir``
    is a peft LoRA adapter (``adapter_config.json`` + ``adapter_model.safetensors``) trained on this base.
    ``model_kwargs``: extra ``from_pretrained`` keywords, the hook for loading options (``attn_implementation``,
    ``device_map``, ``quantization_config``, ...; the CLIs build them with
    :class:`uedpo.models.load_options.LoadOptions`, which checks them first); with ``device_map`` the model is
    left where it put it. ``dtype``, ``use_safetensors`` and ``trust_remote_code`` are this function's own.
    """
    model_kwargs = dict(model_kwargs or {})
    reserved = sorted({"dtype", "torch_dtype", "use_safetensors", "trust_remote_code", "output_loading_info"}
                      & set(model_kwargs))
    if reserved:
        raise ModelLoadError(f"model_kwargs: {reserved[0]!r} is set by load_adapter itself; pass it as an argument")
    name, config_dir = resolve_checkpoint(ckpt)
    family = read_family(config_dir, name)
    if Path(name).is_dir():
        check_safetensors(Path(name))
    dev, torch_dtype = resolve_device_dtype(device, dtype)
    model, processor = _load_model(family, name, torch_dtype, trust_remote_code, model_kwargs)
    if adapter_dir is not None:
        model = attach_lora(model, Path(adapter_dir), base_name=name, family=family)
    if "device_map" not in model_kwargs:
        model.to(dev)
    model.eval()
    log.info("loaded %s (%s, %s, %s)%s", name, family, dev, torch_dtype, f" + {adapter_dir}" if adapter_dir else "")
    return FAMILIES[family].adapter(model, processor, name=name)
