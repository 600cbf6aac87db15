"""The trainer's counterfactual image: the ``noise`` view of :mod:`uedpo.views` configured from a run.

Each pair draws its ε from its own generator, seeded by :func:`uedpo.views.view_seed` from ``(seed, sample id,
step)`` (``noise_mode: per_step``: fresh noise every optimizer step; ``step`` is ``trainer.state.global_step``,
the optimizer steps completed before this one) or ``(seed, sample id)`` (``fixed_per_sample``). The noise of a
pair thus does not depend on which other pairs share its micro-batch, on gradient accumulation, on the DDP rank
or on a resume, which is what makes "grad-accum 2×1 = 1×2" and "resume = straight run" hold exactly, and what
lets ``uedpo-inspect --seed S --step N`` rebuild the ε of a training step. With ``noise_share_pair`` the chosen
and rejected rows of a pair get the same ε. The mechanism itself (seeding, pair sharing, the Qwen2.5-VL patch
layout, the other views: null images, crops) lives in :mod:`uedpo.views`; this module only maps the config
onto it.
"""

from __future__ import annotations

import torch

from uedpo.views import ViewSpec, make_view


def train_view(cfg) -> ViewSpec:
    """The ``noise`` view of a :class:`~uedpo.train.config.TrainConfig` (``noise_*`` keys)."""
    return ViewSpec(
        kind="noise", noise_step=cfg.noise_step, noise_kind=cfg.noise_kind, noise_space=cfg.noise_space,
        pair_shared=cfg.noise_share_pair,
    )


def view_step(cfg, global_step: int) -> int | None:
    """The step key of the noise seed: ``global_step`` (``per_step``) or None (``fixed_per_sample``)."""
    return None if cfg.noise_mode == "fixed_per_sample" else int(global_step)


def blurred_pixel_values(adapter, batch: dict, sample_ids: list[str], *, cfg, step: int) -> torch.Tensor:
    """v' for a ``[chosen; rejected]`` batch (2B rows), one generator per pair; same shape and dtype."""
    return make_view(
        adapter, batch["pixel_values"], batch, sample_ids, train_view(cfg), seed=cfg.seed,
        step=view_step(cfg, step),
    )
