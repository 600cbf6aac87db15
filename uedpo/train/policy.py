"""The trainable policy: base VLM + LoRA on the language model only, dropout off.

The reference model is the same weights with the adapter disabled (``PeftModel.disable_adapter()``), so no
second copy is held (torchtune / TRL with peft). When training continues from a saved adapter (``adapter:``,
e.g. an SFT LoRA), DPO's reference must be that starting model, not the bare base: the adapter is loaded a
second time as a frozen ``reference`` adapter and activated for the reference pass (TRL's
``ref_adapter_name``); it costs one more LoRA, not a model copy.

LoRA targets :data:`uedpo.models.LM_LORA_TARGETS` (the CLIP tower also has q_proj/v_proj; ENVIRONMENT.md
pitfall 11).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

import torch
from torch import nn

from uedpo.models import LM_LORA_TARGETS, VLMAdapter, load_adapter
from uedpo.models.load_options import LoadOptions
from uedpo.models.lora import load_mismatch
from uedpo.train.config import ConfigError, TrainConfig

log = logging.getLogger(__name__)

REFERENCE_ADAPTER = "reference"  # name of the frozen copy of a starting adapter


def resolve_dtype(cfg: TrainConfig) -> torch.dtype:
    """``auto``: bf16 weights on GPU (with bf16 autocast), float32 on CPU."""
    if cfg.dtype == "auto":
        return torch.bfloat16 if torch.cuda.is_available() else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[cfg.dtype]


def load_options(cfg: TrainConfig) -> LoadOptions:
    """The loading options of ``cfg`` (``dtype``, ``attn_implementation``, ``device_map``, ``quantization``),
    as ``uedpo-eval`` / ``uedpo-inspect`` take them from their flags."""
    return LoadOptions(dtype=cfg.dtype, attn_implementation=cfg.attn_implementation, device_map=cfg.device_map,
                       quantization=cfg.quantization)


def disable_dropout(model: nn.Module) -> int:
    """p = 0 on every ``nn.Dropout`` (LoRA dropout included) and on functional attention dropout rates.

    TRL's ``disable_dropout_in_model`` covers ``nn.Dropout`` only; attention layers of Llama / CLIP / Qwen
    keep their rate as a float attribute used inside SDPA, which is zeroed too. Returns how many were changed.
    """
    changed = 0
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            changed += module.p != 0.0
            module.p = 0.0
        for name in ("attention_dropout", "dropout"):
            value = getattr(module, name, None)
            if isinstance(value, float):
                changed += value != 0.0
                setattr(module, name, 0.0)
    return changed


def _check_loaded(result, cfg: TrainConfig) -> None:
    """Every tensor of the start adapter went into a LoRA module and every module got its tensors (peft only
    warns), as ``uedpo-eval --adapter`` checks (:func:`uedpo.models.lora.attach_lora`)."""
    mismatch = load_mismatch(result)
    if mismatch:
        raise ConfigError(f"adapter {cfg.adapter}: does not match {cfg.model}: {mismatch}; pass the base it was "
                          "trained on")


def wrap_lora(model: nn.Module, cfg: TrainConfig):
    """A trainable peft model: a fresh LoRA, or ``cfg.adapter`` loaded as trainable.

    The start adapter's files, format (safetensors only) and family were checked before the model loaded
    (:func:`uedpo.trainer.preflight`); here its tensors must all fit the model."""
    from peft import LoraConfig, PeftConfig, PeftModel, get_peft_model

    if cfg.adapter:
        try:
            # PeftModel.from_pretrained(model, adapter, is_trainable=True), keeping load_adapter's result.
            peft_config = PeftConfig.from_pretrained(cfg.adapter)
            peft_config.inference_mode = False
            mapping = getattr(model, "_checkpoint_conversion_mapping", {})
            peft_model = PeftModel(model, peft_config)
            _check_loaded(peft_model.load_adapter(cfg.adapter, "default", is_trainable=True, key_mapping=mapping),
                          cfg)
            if cfg.loss != "sft":  # SFT has no reference pass
                _check_loaded(peft_model.load_adapter(cfg.adapter, adapter_name=REFERENCE_ADAPTER,
                                                      is_trainable=False, key_mapping=mapping), cfg)
        except ConfigError:
            raise
        except (OSError, ValueError, RuntimeError, KeyError, TypeError) as err:
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ConfigError(f"adapter {cfg.adapter}: cannot be loaded onto {cfg.model} ({first})") from err
        return peft_model
    lora = LoraConfig(
        r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
        target_modules=LM_LORA_TARGETS,
    )
    return get_peft_model(model, lora)


@contextmanager
def reference_weights(peft_model):
    """Within the block the model computes π_ref: the frozen starting adapter if any, else the bare base."""
    if REFERENCE_ADAPTER not in peft_model.peft_config:
        with peft_model.disable_adapter():
            yield
        return
    active = peft_model.active_adapter
    peft_model.set_adapter(REFERENCE_ADAPTER, inference_mode=True)
    try:
        yield
    finally:
        peft_model.set_adapter(active)  # also restores requires_grad on the trained adapter only


def load_policy(cfg: TrainConfig) -> VLMAdapter:
    """The adapter for ``cfg.model`` holding the trainable peft model (on CPU, and the Trainer moves it; with
    ``device_map`` or ``quantization`` where ``from_pretrained`` put it)."""
    dtype = resolve_dtype(cfg)
    options = load_options(cfg).check()
    base = load_adapter(cfg.model, dtype=dtype, device="cpu", model_kwargs=options.model_kwargs(dtype))
    if cfg.lora_r == 0:  # full-parameter training (SFT from scratch): every weight trains, no peft
        base.model.requires_grad_(True)
        if cfg.disable_dropout:
            disable_dropout(base.model)
        log.info("policy %s: full-parameter training, %d parameters", cfg.model,
                 sum(p.numel() for p in base.model.parameters()))
        return base
    peft_model = wrap_lora(base.model, cfg)
    if cfg.disable_dropout:
        disable_dropout(peft_model)
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    if trainable == 0:
        raise ConfigError(
            f"model {cfg.model}: LoRA found no language-model layers to train ({LM_LORA_TARGETS})"
        )
    log.info("policy %s: %d trainable LoRA parameters", cfg.model, trainable)
    return type(base)(peft_model, base.processor, name=base.name)
