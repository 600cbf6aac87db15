"""The loss steps of the baselines UE-DPO is compared with, on the trainer's data, LoRA, batches and views.

Every method reads the same ``[chosen; rejected]`` batch (2B rows) the UE-DPO step reads, the same LoRA
policy, the same reference (the adapter disabled, :func:`uedpo.train.policy.reference_weights`), and builds its
counterfactual image with :mod:`uedpo.views`, seeded per pair from ``(seed, sample id, step)``; only the loss
differs (:mod:`uedpo.baselines`). Forwards per step, as the original code runs them:

- TPO (``alibaba/TPO`` @ 2f87f27 ``trl/trainer/tpo_trainer.py``): policy clear + noised (both with grad unless
  ``tpo_detach_score``), reference clear + noised (no grad), all on the same noised image (one ε per pair);
- V-DPO (``YuxiXie/V-DPO`` @ ed27c32 ``llava_dpo/train/llava_trainer.py``): policy clear (grad), reference
  clear, and the null image (``vdpo_null``: zeros, or ``vdpo_null_images`` random draws whose per-token
  log-probs are averaged) through the policy (``dynamic_llm``) or the reference, no grad;
- mDPO (``luka-group/mDPO`` @ 2221bb3 ``mdpo_trainer.py``): policy and reference clear, plus the chosen rows
  under a random resized crop (1-20 % of the area) through the policy (grad) and the reference (no grad), each
  with its own crop as mDPO crops inside ``forward``.
"""

from __future__ import annotations

import torch

from uedpo.baselines import mdpo_loss, tpo_loss, tpo_score, vdpo_loss
from uedpo.models.collate import response_targets
from uedpo.signals import selective_log_softmax
from uedpo.train.blur import train_view, view_step
from uedpo.train.metrics import Stats, baseline_stats, preference_stats
from uedpo.train.policy import reference_weights
from uedpo.views import MDPO_CROP_SCALE, ViewSpec, make_view


def _view(trainer, batch: dict, sample_ids: list[str], spec: ViewSpec) -> torch.Tensor:
    cfg = trainer.cfg
    return make_view(trainer.adapter, batch["pixel_values"], batch, sample_ids, spec, seed=cfg.seed,
                     step=view_step(cfg, trainer.state.global_step))


def _logits(trainer, model, batch: dict, pixel_values=None, *, reference: bool = False) -> torch.Tensor:
    if not reference:
        return trainer.adapter.response_logits(batch, pixel_values=pixel_values, model=model)
    with torch.no_grad(), reference_weights(trainer.accelerator.unwrap_model(model)):
        return trainer.adapter.response_logits(batch, pixel_values=pixel_values, model=model)


def _targets(batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``labels``, ``mask`` (B, T) of the response columns and the labels with masked positions set to id 0."""
    labels, mask = response_targets(batch)
    return labels, mask, labels.masked_fill(~mask, 0)


def _logps(trainer, model, batch: dict, targets: torch.Tensor, pixel_values=None, *, reference: bool = False):
    return selective_log_softmax(_logits(trainer, model, batch, pixel_values, reference=reference), targets)


def chosen_rows(batch: dict, n_pairs: int) -> dict:
    """The first ``n_pairs`` rows (the chosen responses) of a ``[chosen; rejected]`` batch, images included."""
    from uedpo.views import pixel_rows

    rows = pixel_rows(batch, 2 * n_pairs)
    out = {}
    for key, value in batch.items():
        if key == "pixel_values":
            out[key] = value[: rows[n_pairs - 1].stop]
        elif isinstance(value, torch.Tensor) and value.ndim and value.shape[0] == 2 * n_pairs:
            out[key] = value[:n_pairs]
        else:
            out[key] = value
    return out


def tpo_step(trainer, model, batch: dict, sample_ids: list[str]) -> tuple[torch.Tensor, Stats]:
    cfg, n = trainer.cfg, len(sample_ids)
    labels, mask, targets = _targets(batch)
    noised = _view(trainer, batch, sample_ids, train_view(cfg))
    clear = _logits(trainer, model, batch)
    with torch.set_grad_enabled(torch.is_grad_enabled() and not cfg.tpo_detach_score):
        blurred = _logits(trainer, model, batch, noised)
    logps, score = selective_log_softmax(clear, targets), tpo_score(clear, blurred, labels, mask)
    del clear, blurred
    ref_clear = _logits(trainer, model, batch, reference=True)
    ref_blurred = _logits(trainer, model, batch, noised, reference=True)
    ref_logps, ref_score = selective_log_softmax(ref_clear, targets), tpo_score(ref_clear, ref_blurred, labels, mask)
    del ref_clear, ref_blurred
    out = tpo_loss(logps[:n], logps[n:], ref_logps[:n], ref_logps[n:], score[:n], score[n:], ref_score[:n],
                   ref_score[n:], mask[:n], mask[n:], cfg.beta, detach_score=cfg.tpo_detach_score)
    return out.loss, preference_stats(out) | baseline_stats(out, mask)


def vdpo_step(trainer, model, batch: dict, sample_ids: list[str]) -> tuple[torch.Tensor, Stats]:
    cfg, n = trainer.cfg, len(sample_ids)
    _, mask, targets = _targets(batch)
    logps, ref_logps = _logps(trainer, model, batch, targets), _logps(trainer, model, batch, targets, reference=True)
    if cfg.vdpo_null == "zeros":  # deterministic: one pass
        specs = [ViewSpec(kind="null_zeros")]
    else:  # V-DPO draws one random image per row and averages the log-probs over the draws
        specs = [ViewSpec(kind="null_random", pair_shared=False, salt=f"draw{j}") for j in range(cfg.vdpo_null_images)]
    null = torch.zeros_like(ref_logps)
    for spec in specs:
        pixels = _view(trainer, batch, sample_ids, spec)
        with torch.no_grad():
            null += _logps(trainer, model, batch, targets, pixels, reference=cfg.vdpo_null_model == "reference")
    null = null / len(specs)
    out = vdpo_loss(logps[:n], logps[n:], ref_logps[:n], ref_logps[n:], null[:n], null[n:], mask[:n], mask[n:],
                    cfg.beta, gamma=cfg.vdpo_gamma)
    return out.loss, preference_stats(out) | baseline_stats(out, mask)


def mdpo_step(trainer, model, batch: dict, sample_ids: list[str]) -> tuple[torch.Tensor, Stats]:
    cfg, n = trainer.cfg, len(sample_ids)
    _, mask, targets = _targets(batch)
    logps, ref_logps = _logps(trainer, model, batch, targets), _logps(trainer, model, batch, targets, reference=True)
    chosen = chosen_rows(batch, n)

    def cropped(who: str) -> torch.Tensor:  # mDPO crops inside forward: policy and reference get their own crop
        pixels = _view(trainer, chosen, sample_ids, ViewSpec(kind="crop", crop_scale=MDPO_CROP_SCALE, salt=who))
        return _logps(trainer, model, chosen, targets[:n], pixels, reference=who == "reference")

    crop_logps, ref_crop_logps = cropped("policy"), cropped("reference")
    out = mdpo_loss(logps[:n], logps[n:], ref_logps[:n], ref_logps[n:], crop_logps, ref_crop_logps, mask[:n],
                    mask[n:], cfg.beta)
    return out.loss, preference_stats(out) | baseline_stats(out, mask)


STEPS = {"tpo": tpo_step, "vdpo": vdpo_step, "mdpo": mdpo_step}
