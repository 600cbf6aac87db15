"""Attach a saved peft LoRA adapter to a loaded base model, refusing adapters made for another base.

Checks, each a one-line :class:`ModelLoadError`: the adapter files exist and parse; the base recorded in
``adapter_config.json`` (``base_model_name_or_path``), when it is a local checkpoint, has the same
``model_type``; peft finds the target modules and the tensor shapes fit; and afterwards every tensor in the
adapter file was loaded into a module and every LoRA module received its tensors.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from uedpo.models.errors import ModelLoadError

log = logging.getLogger(__name__)

ADAPTER_CONFIG, ADAPTER_WEIGHTS = "adapter_config.json", "adapter_model.safetensors"
# Regex for LoRA on the language model only (the CLIP tower also has q_proj/v_proj, ENVIRONMENT.md pitfall 11).
LM_LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


def _read_adapter_config(adapter_dir: Path) -> dict:
    if not adapter_dir.is_dir():
        raise ModelLoadError(f"adapter {adapter_dir}: directory not found; check the path")
    cfg_path = adapter_dir / ADAPTER_CONFIG
    if not cfg_path.is_file():
        raise ModelLoadError(f"adapter {adapter_dir}: no {ADAPTER_CONFIG}; pass a directory saved by peft")
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelLoadError(f"{cfg_path}: not valid JSON ({err}); re-save the adapter") from err
    if not isinstance(config, dict):
        raise ModelLoadError(f"{cfg_path}: expected a JSON object; re-save the adapter")
    weights = adapter_dir / ADAPTER_WEIGHTS
    if not weights.is_file():
        hint = " (adapter_model.bin is pickled and never loaded; re-save with safetensors)" if (
            adapter_dir / "adapter_model.bin").is_file() else ""
        raise ModelLoadError(f"adapter {adapter_dir}: no {ADAPTER_WEIGHTS}{hint}")
    return config


def _adapter_tensor_keys(weights: Path) -> set[str]:
    from safetensors import safe_open

    try:
        with safe_open(str(weights), framework="pt") as handle:
            return set(handle.keys())
    except Exception as err:  # SafetensorError or OSError, depending on the damage
        raise ModelLoadError(
            f"{weights}: not a valid safetensors file ({str(err).splitlines()[0]}); re-save the adapter"
        ) from err


def _check_recorded_base(config: dict, adapter_dir: Path, base_name: str, family: str) -> str:
    """Compare the adapter's recorded base with ours; a different ``model_type`` is an error."""
    recorded = str(config.get("base_model_name_or_path") or "")
    recorded_cfg = Path(recorded).expanduser() / "config.json" if recorded else None
    if recorded_cfg is not None and recorded_cfg.is_file():
        try:
            recorded_family = json.loads(recorded_cfg.read_text(encoding="utf-8")).get("model_type")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            recorded_family = None
        if recorded_family and recorded_family != family:
            raise ModelLoadError(
                f"adapter {adapter_dir}: trained on a {recorded_family} base ({recorded}), but {base_name} is "
                f"{family}; pass the base it was trained on"
            )
    if recorded and Path(recorded).expanduser().resolve() != Path(base_name).expanduser().resolve():
        log.warning("adapter %s was trained on %s; loading it onto %s", adapter_dir, recorded, base_name)
    return recorded or "an unrecorded base"


def _first_reason(err: Exception) -> str:
    """The informative line of a peft / torch error (torch puts "size mismatch for ..." on line 2)."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()] or [type(err).__name__]
    reason = next((ln for ln in lines if ln.startswith("size mismatch")), lines[0])
    return reason[:400]


def check_adapter(adapter_dir: Path, *, base_name: str, family: str) -> str:
    """The checks that need no model: files, JSON, safetensors header, recorded base family; its recorded base."""
    config = _read_adapter_config(adapter_dir)
    _adapter_tensor_keys(adapter_dir / ADAPTER_WEIGHTS)
    return _check_recorded_base(config, adapter_dir, base_name, family)


def attach_lora(model, adapter_dir: Path, *, base_name: str, family: str):
    """The base wrapped in a peft model holding the adapter (inference mode), with the checks above."""
    from peft import PeftConfig, PeftModel

    config = _read_adapter_config(adapter_dir)
    _adapter_tensor_keys(adapter_dir / ADAPTER_WEIGHTS)
    recorded = _check_recorded_base(config, adapter_dir, base_name, family)
    try:
        # What PeftModel.from_pretrained does, keeping load_adapter's result, which it only warns about.
        peft_config = PeftConfig.from_pretrained(str(adapter_dir))
        peft_config.inference_mode = True
        peft_model = PeftModel(model, peft_config)
        result = peft_model.load_adapter(str(adapter_dir), "default", is_trainable=False)
    except (ValueError, RuntimeError, KeyError, TypeError) as err:
        raise ModelLoadError(
            f"adapter {adapter_dir} (trained on {recorded}) does not fit {base_name}: {_first_reason(err)}"
        ) from err
    mismatch = load_mismatch(result)
    if mismatch:
        raise ModelLoadError(f"adapter {adapter_dir} (trained on {recorded}) does not match {base_name}: {mismatch}; "
                             "pass the base it was trained on")
    return peft_model


def load_mismatch(result) -> str | None:
    """What peft's ``load_adapter`` result says did not fit (it only warns): ``"N tensors unused, M missing
    (e.g. ...)"``, or None when every tensor went into a LoRA module and every module got its tensors."""
    unused, missing = sorted(result.unexpected_keys), sorted(result.missing_keys)
    if not (unused or missing):
        return None
    example = f"unused {unused[0]}" if unused else f"missing {missing[0]}"
    return f"{len(unused)} tensors unused, {len(missing)} missing (e.g. {example})"
