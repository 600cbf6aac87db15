"""UE-DPO (and DPO / SFT) on ``transformers.Trainer``: only the loss step is ours.

DDP / FSDP / DeepSpeed, mixed precision, gradient accumulation, checkpointing (``checkpoint-N/``), resume,
progress bars and logging come from the Trainer and accelerate. One UE-DPO step (METHOD.md §3.3) on a
``[chosen; rejected]`` batch of 2B rows:

1. policy forward on the clear images, with grad: logits at completion positions only (``logits_to_keep``),
   per-token log-probs by ``selective_log_softmax``;
2. policy forward on the blurred images, no grad (noise seeded per pair, :mod:`uedpo.train.blur`); u and Δ
   from the detached clear logits (:func:`uedpo.signals.token_signals`), then the blurred logits are dropped;
3. reference forward with the LoRA adapter disabled (or, when training continued from a saved adapter,
   that adapter's frozen copy: :func:`uedpo.train.policy.reference_weights`), no grad, reduced to log-probs;
4. λ per branch (:func:`uedpo.exploration.explore`) and the loss (:func:`uedpo.loss.ue_dpo_loss`).

Only the with-grad logits stay alive until backward; each no-grad (2B, T, V) tensor lives for one call.
``loss: dpo`` runs the same code with λ ≡ 1 and no blurred pass; ``branches: preferred | dispreferred`` are the
paper's ablations (λ_l ≡ 1 / λ_w ≡ 1); ``loss: sft`` is token-mean cross-entropy on the chosen responses (no
reference pass); ``loss: tpo | vdpo | mdpo`` are the baselines, on the same data, LoRA, batches and views
(:mod:`uedpo.train.baseline_steps`). Dropout is off in every pass (``disable_dropout``), so u and Δ are
deterministic. The loss is the mean over the micro-batch's pairs and the Trainer divides by the accumulation
steps, so with per-response (``sequence``) scopes a 2×1 and a 1×2 split give the same update.

Launch::

    uedpo-train --config configs/llava15_7b_rlhfv_uedpo.yaml alpha=0.25 output_dir=runs/a025
    python -m uedpo.train.cli --config ...                        # the same, without the console script
    accelerate launch -m uedpo.train.cli --config ...             # multi-GPU (DDP/FSDP/DS: accelerate config)
    accelerate launch --num_processes 8 -m uedpo.train.cli --config ...

The run directory gets ``config.yaml`` (resolved), ``metrics.csv``, TensorBoard logs under ``runs/``,
``checkpoint-N/`` folders and the final peft adapter (``adapter_model.safetensors``), which
``uedpo.models.load_adapter(base, adapter_dir=output_dir)`` loads.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import replace
from pathlib import Path

import torch
from transformers import Trainer, TrainingArguments, set_seed
from transformers.integrations import get_available_reporting_integrations, is_tensorboard_available
from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

from uedpo.exploration import explore
from uedpo.interrupts import deferred_sigint
from uedpo.io import atomic_write_text
from uedpo.loss import dpo_loss, ue_dpo_loss
from uedpo.models.collate import response_targets
from uedpo.models.loading import read_family, resolve_checkpoint
from uedpo.models.lora import (
    ADAPTER_WEIGHTS,
    _adapter_tensor_keys,
    _check_recorded_base,
    _read_adapter_config,
)
from uedpo.signals import TokenSignals, selective_log_softmax, token_signals
from uedpo.train.baseline_steps import STEPS as BASELINE_STEPS
from uedpo.train.blur import blurred_pixel_values
from uedpo.train.collate import PreferenceCollator, check_rows_fit
from uedpo.train.config import ConfigError, TrainConfig, is_stream
from uedpo.train.data import load_rows, stream_rows
from uedpo.train.metrics import (
    MetricsCsvCallback,
    MetricSums,
    Stats,
    exploration_stats,
    metric_names,
    preference_stats,
    sft_stats,
)
from uedpo.train.policy import load_options, load_policy, reference_weights, resolve_dtype
from uedpo.train.streams import open_stream

log = logging.getLogger(__name__)


class UEDPOTrainer(Trainer):
    """``Trainer`` whose ``compute_loss`` is the UE-DPO / DPO / SFT step of ``cfg.loss``."""

    # compute_loss returns a per-micro-batch mean; the Trainer divides it by the accumulation steps.
    loss_is_scaled_for_ga = False

    def __init__(self, *, adapter, cfg: TrainConfig, **kwargs) -> None:
        super().__init__(model=adapter.model, **kwargs)
        self.adapter, self.cfg = adapter, cfg
        self.metric_sums = MetricSums()

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        batch = dict(inputs)
        sample_ids = batch.pop("sample_ids")
        if self.cfg.loss in BASELINE_STEPS:
            loss, stats = BASELINE_STEPS[self.cfg.loss](self, model, batch, sample_ids)
        else:
            step = self.sft_step if self.cfg.loss == "sft" else self.preference_step
            loss, stats = step(model, batch, sample_ids)
        self.metric_sums.add(stats)
        return (loss, {}) if return_outputs else loss

    def preference_step(self, model, batch: dict, sample_ids: list[str]) -> tuple[torch.Tensor, Stats]:
        cfg, n = self.cfg, len(sample_ids)
        labels, mask = response_targets(batch)
        targets = labels.masked_fill(~mask, 0)
        logits = self.adapter.response_logits(batch, model=model)
        logps = selective_log_softmax(logits, targets)
        signals = None
        if cfg.loss == "ue_dpo":
            signals = self.signals(model, batch, sample_ids, logits.detach(), labels, mask)
        del logits  # the graph keeps what backward needs; no other reference to the (2B, T, V) tensor
        ref_logps = self.reference_logps(model, batch, targets)
        branches = (logps[:n], logps[n:], ref_logps[:n], ref_logps[n:])
        if signals is None:
            out = dpo_loss(*branches, mask[:n], mask[n:], cfg.beta)
            return out.loss, preference_stats(out)
        gate = dict(tau=cfg.tau, scope=cfg.quantile_scope)
        chosen = explore(signals.u[:n], signals.delta[:n], mask[:n], preferred=True, alpha=cfg.alpha,
                         std_eps=cfg.std_eps, **gate)
        rejected = explore(signals.u[n:], signals.delta[n:], mask[n:], preferred=False, alpha=cfg.alpha,
                           std_eps=cfg.std_eps, **gate)
        # Ablations: "w/o dispref." keeps λ_l ≡ 1 (branches=preferred), "w/o pref." keeps λ_w ≡ 1.
        if cfg.branches == "preferred":
            rejected = replace(rejected, lam=torch.ones_like(rejected.lam))
        elif cfg.branches == "dispreferred":
            chosen = replace(chosen, lam=torch.ones_like(chosen.lam))
        out = ue_dpo_loss(*branches, chosen.lam, rejected.lam, mask[:n], mask[n:], cfg.beta,
                          weight_reference=cfg.weight_reference)
        return out.loss, preference_stats(out) | exploration_stats(
            out, signals, labels, mask, chosen, rejected, **gate
        )

    @torch.no_grad()
    def signals(self, model, batch, sample_ids, clear_logits, labels, mask) -> TokenSignals:
        """u and Δ: one no-grad policy forward on the blurred images (same token positions)."""
        step = self.state.global_step
        pixels = blurred_pixel_values(self.adapter, batch, sample_ids, cfg=self.cfg, step=step)
        blurred = self.adapter.response_logits(batch, pixel_values=pixels, model=model)
        return token_signals(clear_logits, blurred, labels, mask, score_space=self.cfg.score_space)

    @torch.no_grad()
    def reference_logps(self, model, batch, targets) -> torch.Tensor:
        """log π_ref per token: the weights with the LoRA adapter disabled (or the frozen start adapter)."""
        with reference_weights(self.accelerator.unwrap_model(model)):
            logits = self.adapter.response_logits(batch, model=model)
        return selective_log_softmax(logits, targets)

    def sft_step(self, model, batch: dict, sample_ids: list[str]) -> tuple[torch.Tensor, Stats]:
        labels, mask = response_targets(batch)
        logits = self.adapter.response_logits(batch, model=model)
        logps = selective_log_softmax(logits, labels.masked_fill(~mask, 0))
        loss = -torch.where(mask, logps, 0.0).sum() / mask.sum()
        return loss, sft_stats(logps, mask)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:  # training rows only, not the end-of-run summary
            means = self.metric_sums.pop_means(lambda t: self.accelerator.reduce(t, reduction="sum"))
            logs = {**logs, **means}
        super().log(logs, start_time)


# -- building a run ------------------------------------------------------------------------------------------
def report_targets(report_to: str) -> list[str]:
    """``report_to`` as a list; tensorboard falls back to metrics.csv only when it is not installed."""
    names = [n.strip() for n in report_to.split(",") if n.strip() and n.strip() != "none"]
    if "tensorboard" in names and not is_tensorboard_available():
        log.warning("report_to=tensorboard, but tensorboard is not installed (pip install tensorboard); "
                    "metrics go to metrics.csv only")
        names.remove("tensorboard")
    return names


def check_report_to(report_to: str) -> None:
    """Every ``report_to`` name is a transformers integration that is installed (tensorboard excepted: it
    falls back to metrics.csv with a warning); else :class:`ConfigError`, before any model loads."""
    names = [n.strip() for n in report_to.split(",") if n.strip() and n.strip() not in ("none", "all")]
    unknown = [n for n in names if n not in INTEGRATION_TO_CALLBACK]
    if unknown:
        raise ConfigError(f"config key 'report_to' = {report_to!r}: unknown {unknown[0]!r}; expected none or "
                          f"a comma-separated list of {', '.join(INTEGRATION_TO_CALLBACK)}")
    available = set(get_available_reporting_integrations())
    missing = [n for n in names if n != "tensorboard" and n not in available]
    if missing:
        raise ConfigError(
            f"config key 'report_to' = {report_to!r}: {missing[0]} is not installed; `pip install "
            f"{missing[0]}`, or set report_to=tensorboard or none (metrics.csv is always written)")


def check_output_dir(output_dir: str) -> None:
    """``output_dir`` is a directory or can become one (no file in the way, the nearest existing folder
    writable); else :class:`ConfigError`, before any data or model is read."""
    path = Path(output_dir).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"config key 'output_dir' = {output_dir}: is a file, not a directory; choose a new "
                          "directory for the run (or move the file away)")
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ConfigError(f"config key 'output_dir' = {output_dir}: {existing} is a file, so no directory can "
                          "be made there; choose another output_dir")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"config key 'output_dir' = {output_dir}: {existing} is not writable; choose a "
                          "directory you can write to")


def check_start_adapter(cfg: TrainConfig) -> None:
    """``cfg.adapter`` is a safetensors peft adapter trained on ``cfg.model``'s family, checked as
    ``uedpo-eval --adapter`` checks it (:mod:`uedpo.models.lora`); pickled ``adapter_model.bin`` files are
    refused, never unpickled. Reads only JSON and the safetensors header, before the model loads."""
    if not cfg.adapter:
        return
    adapter_dir = Path(cfg.adapter).expanduser()
    config = _read_adapter_config(adapter_dir)  # ModelLoadError: missing dir / config / safetensors weights
    _adapter_tensor_keys(adapter_dir / ADAPTER_WEIGHTS)
    name, config_dir = resolve_checkpoint(cfg.model)
    _check_recorded_base(config, adapter_dir, name, read_family(config_dir, name))


def preflight(cfg: TrainConfig) -> None:
    """The checks that need the file system but no data or model: output_dir, report_to, the loading options
    (:class:`~uedpo.models.load_options.LoadOptions`: flash_attn / bitsandbytes / CUDA), the start adapter."""
    check_output_dir(cfg.output_dir)
    check_report_to(cfg.report_to)
    load_options(cfg).check()
    check_start_adapter(cfg)


def training_arguments(cfg: TrainConfig) -> TrainingArguments:
    use_bf16 = resolve_dtype(cfg) == torch.bfloat16 and torch.cuda.is_available()
    return TrainingArguments(
        output_dir=cfg.output_dir, per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum, learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler, warmup_steps=cfg.warmup_ratio,  # < 1 is a ratio in transformers 5
        lr_scheduler_kwargs={"min_lr_rate": cfg.min_lr_rate} if cfg.lr_scheduler == "cosine_with_min_lr" else {},
        adam_beta1=cfg.adam_beta1, adam_beta2=cfg.adam_beta2,
        weight_decay=cfg.weight_decay, max_grad_norm=cfg.max_grad_norm, optim=cfg.optim,
        num_train_epochs=cfg.num_epochs, max_steps=cfg.max_steps, seed=cfg.seed, data_seed=cfg.seed,
        logging_steps=cfg.logging_steps, save_steps=cfg.save_steps, save_total_limit=cfg.save_total_limit,
        report_to=report_targets(cfg.report_to) or "none", bf16=use_bf16,
        activation_checkpointing=cfg.gradient_checkpointing,
        # Non-reentrant checkpointing passes gradients to LoRA weights even though the base inputs need none.
        activation_checkpointing_kwargs={"use_reentrant": False},
        remove_unused_columns=False,  # the collator needs the raw rows
        dataloader_pin_memory=torch.cuda.is_available(),
        # A streamed data set: each rank reads its own shards (accelerate's IterableDataset.shard), instead of
        # rank 0 reading every batch and sending the others theirs (accelerate's default for iterables).
        accelerator_config={"dispatch_batches": False} if cfg.data_streaming else None,
    )


CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
CHECKPOINT_DONE = "trainer_state.json"  # the Trainer writes it last: a checkpoint without it is incomplete


def last_complete_checkpoint(output_dir: str) -> str | None:
    """The newest ``checkpoint-N`` holding ``trainer_state.json``; incomplete ones (a run killed mid-save) are
    skipped with a warning."""
    root = Path(output_dir)
    found = sorted(((int(m[1]), p) for p in root.iterdir() if (m := CHECKPOINT.match(p.name)) and p.is_dir()),
                   reverse=True)
    for _, path in found:
        if (path / CHECKPOINT_DONE).is_file():
            return str(path)
        log.warning("resume=latest: %s has no %s (interrupted while saving); skipping it", path, CHECKPOINT_DONE)
    return None


def resolve_resume(cfg: TrainConfig) -> str | None:
    if cfg.resume is None:
        return None
    if cfg.resume == "latest":
        found = last_complete_checkpoint(cfg.output_dir) if Path(cfg.output_dir).is_dir() else None
        if found is None:
            raise ConfigError(
                f"resume=latest: no complete checkpoint-N folder in {cfg.output_dir}; drop resume to start afresh"
            )
        return found
    if not Path(cfg.resume).is_dir():
        raise ConfigError(f"resume={cfg.resume}: checkpoint directory not found; check the path")
    if not (Path(cfg.resume) / CHECKPOINT_DONE).is_file():
        raise ConfigError(f"resume={cfg.resume}: no {CHECKPOINT_DONE}, so the checkpoint is incomplete (saving "
                          "was interrupted); resume from an earlier checkpoint-N")
    return cfg.resume


def _saving_whole(trainer: Trainer) -> None:
    """Wrap the trainer's checkpoint writer (model, optimizer, scheduler, RNG, trainer_state.json, rotation)
    in :func:`deferred_sigint`."""
    save = trainer._save_checkpoint

    def save_whole(*args, **kwargs):
        with deferred_sigint():
            return save(*args, **kwargs)

    trainer._save_checkpoint = save_whole


def _warn_shared_shards(num_shards: int) -> None:
    """Fewer shards than DDP ranks: accelerate falls back to every rank reading everything."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world > num_shards:
        log.warning("data_streaming: %d shards (files) for %d ranks, so every rank reads all the data and keeps "
                    "its share; split the data into at least %d files for each rank to read only its own",
                    num_shards, world, world)


def build_trainer(cfg: TrainConfig) -> UEDPOTrainer:
    """Check the paths, the data, load the policy, check every row fits ``max_length``, and wire the Trainer."""
    preflight(cfg)
    return _build_trainer(cfg)


def _build_trainer(cfg: TrainConfig) -> UEDPOTrainer:
    pairs = cfg.loss != "sft"
    map_style = not is_stream(cfg.data) and not cfg.data_streaming
    if is_stream(cfg.data):  # endless on-the-fly rows: nothing to check up front (fixed short prompts)
        dataset = open_stream(cfg.data)
    elif cfg.data_streaming:  # rows checked as they are read; each DDP rank reads its own shards
        dataset = stream_rows(cfg.data, data_format=cfg.data_format, image_dir=cfg.image_dir, need_rejected=pairs,
                              data_split=cfg.data_split, cache_dir=cfg.data_cache_dir)
        _warn_shared_shards(dataset.num_shards)
    else:
        dataset = load_rows(cfg.data, data_format=cfg.data_format, image_dir=cfg.image_dir, need_rejected=pairs,
                            data_split=cfg.data_split, cache_dir=cfg.data_cache_dir)
    set_seed(cfg.seed)  # the LoRA initialisation
    adapter = load_policy(cfg)
    if map_style:  # every row, before training: each prompt leaves room for a completion token
        fit = check_rows_fit(dataset, adapter, cfg.max_length)
        if fit.truncated_chosen or fit.truncated_rejected:
            log.warning("max_length=%d truncates %d chosen and %d rejected completions (from the end)",
                        cfg.max_length, fit.truncated_chosen, fit.truncated_rejected)
    trainer = UEDPOTrainer(
        adapter=adapter, cfg=cfg, args=training_arguments(cfg), train_dataset=dataset,
        data_collator=PreferenceCollator(adapter, max_length=cfg.max_length, pairs=pairs),
        callbacks=[MetricsCsvCallback(Path(cfg.output_dir) / "metrics.csv", metric_names(cfg.loss))],
    )
    _saving_whole(trainer)
    return trainer


def train(cfg: TrainConfig) -> Path:
    """Run training; returns the output directory holding the final adapter.

    Ctrl-C raises ``KeyboardInterrupt`` (the CLI turns it into one line and exit 130), never in the middle of
    writing a checkpoint or the final adapter, so ``resume=latest`` continues from the last checkpoint.
    """
    preflight(cfg)
    resume = resolve_resume(cfg)
    trainer = _build_trainer(cfg)
    out = Path(cfg.output_dir)
    if trainer.is_world_process_zero():
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "config.yaml", cfg.to_yaml())
    trainer.train(resume_from_checkpoint=resume)
    with deferred_sigint():
        trainer.save_model(str(out))
        if cfg.lora_r == 0 and trainer.is_world_process_zero():
            # A full model: save the processor beside it so the directory is a complete checkpoint.
            trainer.adapter.processor.save_pretrained(str(out))
        trainer.save_state()
    return out
