"""Training metrics: TRL's names plus ``uedpo/*``, summed exactly over micro-steps, and ``metrics.csv``.

Every metric is kept as a (sum, count) pair: per-pair metrics count pairs, per-token metrics count tokens. At
each logging step the sums are all-reduced across processes and divided, so a value is the mean over every
pair (or token) seen since the last log, whatever the split into micro-batches, accumulation steps or ranks.

Names (``rewards/*`` are the rewards the loss optimises, i.e. λ-weighted under UE-DPO; TRL's for DPO):

- ``rewards/chosen``, ``rewards/rejected``, ``rewards/margins``, ``rewards/accuracies``, ``logps/chosen``,
  ``logps/rejected`` (TRL ``DPOTrainer``);
- ``uedpo/vanilla_rewards/{chosen,rejected,margins,accuracies}``: β Σ (log π_θ − log π_ref), unweighted;
- ``uedpo/gated_frac/{chosen,rejected}``: share of completion tokens with I = 1;
- ``uedpo/lambda_mean/{chosen,rejected}``: mean λ_w over gated chosen tokens, λ_l over gated rejected ones;
- ``uedpo/type_i_per_pair``, ``uedpo/type_ii_per_pair``: Type-I / Type-II tokens per chosen response;
- ``uedpo/u_mean/{gated,ungated}``, ``uedpo/delta_mean/{gated,ungated}``: over completion tokens of both
  branches;
- ``uedpo/argmax_match_frac``: share of completion tokens whose blurred-image argmax â equals the token a.

Baselines log their own terms next to TRL's names (``rewards/*`` are the rewards each loss optimises):

- TPO: ``tpo/weight_mean/{chosen,rejected}`` (policy token weight σ(s) + 0.5 / 1.5 − σ(s)) and
  ``tpo/score_mean/{chosen,rejected}`` (s = clear − noised logit), plus the unweighted ``uedpo/vanilla_rewards/*``;
- V-DPO: ``vdpo/image_contribution/{chosen,rejected}`` (Σ log π(a|v) − log π(a|v_null)) and the vanilla rewards;
- mDPO: ``mdpo/loss_dpo``, ``mdpo/loss_conditional``, ``mdpo/loss_anchor`` and ``mdpo/rewards_crop_chosen``.

SFT logs ``logps/chosen`` and ``sft/token_logp`` (mean log-prob per target token).
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

import torch
from transformers import TrainerCallback

from uedpo.baselines import MDPOLoss, TPOLoss, VDPOLoss
from uedpo.exploration import Exploration, TokenType, token_types
from uedpo.io import atomic_write_text
from uedpo.loss import PreferenceLoss
from uedpo.signals import TokenSignals

TRL_NAMES = (
    "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
    "logps/chosen", "logps/rejected",
)
VANILLA_NAMES = tuple(f"uedpo/vanilla_rewards/{k}" for k in ("chosen", "rejected", "margins", "accuracies"))
UEDPO_NAMES = VANILLA_NAMES + (
    "uedpo/gated_frac/chosen", "uedpo/gated_frac/rejected",
    "uedpo/lambda_mean/chosen", "uedpo/lambda_mean/rejected",
    "uedpo/type_i_per_pair", "uedpo/type_ii_per_pair", "uedpo/u_mean/gated", "uedpo/u_mean/ungated",
    "uedpo/delta_mean/gated", "uedpo/delta_mean/ungated", "uedpo/argmax_match_frac",
)
SFT_NAMES = ("logps/chosen", "sft/token_logp")
TPO_NAMES = VANILLA_NAMES + ("tpo/weight_mean/chosen", "tpo/weight_mean/rejected", "tpo/score_mean/chosen",
                             "tpo/score_mean/rejected")
VDPO_NAMES = VANILLA_NAMES + ("vdpo/image_contribution/chosen", "vdpo/image_contribution/rejected")
MDPO_NAMES = ("mdpo/loss_dpo", "mdpo/loss_conditional", "mdpo/loss_anchor", "mdpo/rewards_crop_chosen")
TRAINER_NAMES = ("loss", "grad_norm", "learning_rate")


def metric_names(loss: str) -> tuple[str, ...]:
    """The metric keys a run with ``loss`` logs (besides the Trainer's loss / grad_norm / learning_rate)."""
    return {"ue_dpo": TRL_NAMES + UEDPO_NAMES, "dpo": TRL_NAMES, "sft": SFT_NAMES, "tpo": TRL_NAMES + TPO_NAMES,
            "vdpo": TRL_NAMES + VDPO_NAMES, "mdpo": TRL_NAMES + MDPO_NAMES}[loss]


Stats = dict[str, tuple[torch.Tensor, torch.Tensor]]


def _pair(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return values.detach().float().sum(), torch.tensor(float(values.numel()), device=values.device)


def _tokens(values: torch.Tensor, where: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.where(where, values.detach().float(), 0.0).sum(), where.sum().float()


def preference_stats(out: PreferenceLoss) -> Stats:
    return {
        "rewards/chosen": _pair(out.rewards_chosen),
        "rewards/rejected": _pair(out.rewards_rejected),
        "rewards/margins": _pair(out.reward_margins),
        "rewards/accuracies": _pair(out.reward_accuracies),
        "logps/chosen": _pair(out.logps_chosen),
        "logps/rejected": _pair(out.logps_rejected),
    }


def vanilla_stats(out: PreferenceLoss) -> Stats:
    """β Σ (log π_θ − log π_ref) without any token weight or guidance, per pair."""
    return {
        "uedpo/vanilla_rewards/chosen": _pair(out.vanilla_rewards_chosen),
        "uedpo/vanilla_rewards/rejected": _pair(out.vanilla_rewards_rejected),
        "uedpo/vanilla_rewards/margins": _pair(out.vanilla_rewards_chosen - out.vanilla_rewards_rejected),
        "uedpo/vanilla_rewards/accuracies": _pair(out.vanilla_reward_accuracies),
    }


def baseline_stats(out: TPOLoss | VDPOLoss | MDPOLoss, mask: torch.Tensor) -> Stats:
    """The terms of a TPO / V-DPO / mDPO loss (``mask``: (2B, T) completion mask, [chosen; rejected])."""
    half = mask.shape[0] // 2
    n_w, n_l = mask[:half].sum().float(), mask[half:].sum().float()
    pairs = torch.tensor(float(half), device=mask.device)
    if isinstance(out, TPOLoss):  # TPO: token means, weighted back to sums so micro-steps add up
        return vanilla_stats(out) | {
            "tpo/weight_mean/chosen": (out.weight_chosen_mean.detach() * n_w, n_w),
            "tpo/weight_mean/rejected": (out.weight_rejected_mean.detach() * n_l, n_l),
            "tpo/score_mean/chosen": (out.score_chosen_mean.detach() * n_w, n_w),
            "tpo/score_mean/rejected": (out.score_rejected_mean.detach() * n_l, n_l),
        }
    if isinstance(out, VDPOLoss):
        return vanilla_stats(out) | {
            "vdpo/image_contribution/chosen": _pair(out.image_contribution_chosen),
            "vdpo/image_contribution/rejected": _pair(out.image_contribution_rejected),
        }
    return {
        "mdpo/loss_dpo": (out.loss_dpo.detach() * pairs, pairs),
        "mdpo/loss_conditional": (out.loss_conditional.detach() * pairs, pairs),
        "mdpo/loss_anchor": (out.loss_anchor.detach() * pairs, pairs),
        "mdpo/rewards_crop_chosen": _pair(out.rewards_crop_chosen),
    }


def exploration_stats(
    out: PreferenceLoss, signals: TokenSignals, labels: torch.Tensor, mask: torch.Tensor,
    chosen: Exploration, rejected: Exploration, *, tau: float, scope: str,
) -> Stats:
    """``uedpo/*`` for one micro-batch; ``signals``, ``labels``, ``mask`` are (2B, T), [chosen; rejected]."""
    half = mask.shape[0] // 2
    u, delta = signals.u, signals.delta
    types = token_types(u[:half], delta[:half], mask[:half], preferred=True, tau=tau, scope=scope)
    gate = torch.cat([chosen.gate, rejected.gate])
    ungated = mask & ~gate
    pairs = torch.tensor(float(half), device=mask.device)
    return vanilla_stats(out) | {
        "uedpo/gated_frac/chosen": (chosen.gate.sum().float(), mask[:half].sum().float()),
        "uedpo/gated_frac/rejected": (rejected.gate.sum().float(), mask[half:].sum().float()),
        "uedpo/lambda_mean/chosen": _tokens(chosen.lam, chosen.gate),
        "uedpo/lambda_mean/rejected": _tokens(rejected.lam, rejected.gate),
        "uedpo/type_i_per_pair": ((types == int(TokenType.TYPE_I)).sum().float(), pairs),
        "uedpo/type_ii_per_pair": ((types == int(TokenType.TYPE_II)).sum().float(), pairs),
        "uedpo/u_mean/gated": _tokens(u, gate),
        "uedpo/u_mean/ungated": _tokens(u, ungated),
        "uedpo/delta_mean/gated": _tokens(delta, gate),
        "uedpo/delta_mean/ungated": _tokens(delta, ungated),
        "uedpo/argmax_match_frac": _tokens((signals.blurred_argmax == labels).float(), mask),
    }


def sft_stats(logps: torch.Tensor, mask: torch.Tensor) -> Stats:
    per_row = torch.where(mask, logps.detach(), 0.0).sum(dim=1)
    return {"logps/chosen": _pair(per_row), "sft/token_logp": _tokens(logps, mask)}


class MetricSums:
    """Running (sum, count) per metric between two logging steps."""

    def __init__(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}

    def add(self, stats: Stats) -> None:
        for name, (total, count) in stats.items():
            count = count.float().reshape(()).to(total.device)
            pair = torch.stack([total.detach().float().reshape(()), count])
            self._sums[name] = self._sums[name] + pair if name in self._sums else pair

    def pop_means(self, reduce=None) -> dict[str, float]:
        """Means since the last call; ``reduce`` sums a (K, 2) tensor across processes (e.g. accelerate)."""
        if not self._sums:
            return {}
        names = list(self._sums)
        table = torch.stack([self._sums[n] for n in names])
        if reduce is not None:
            table = reduce(table)
        self._sums = {}
        rows = zip(names, table.tolist(), strict=True)
        return {name: (float(s / c) if c > 0 else math.nan) for name, (s, c) in rows}


class MetricsCsvCallback(TrainerCallback):
    """Append one row per logging step to ``<output_dir>/metrics.csv``, flushed to disk at once.

    On (re)start, rows logged after the resumed step by an interrupted run are dropped, so the file shows one
    trajectory; a file with other columns (another loss) is replaced. The last step is always logged, so a
    run shorter than ``logging_steps`` (or ending between two logging steps) still has its final row.
    """

    def __init__(self, path: str | Path, names: tuple[str, ...]) -> None:
        self.path = Path(path)
        self.columns = ("step", "epoch", *TRAINER_NAMES, *names)

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        header = ",".join(self.columns) + "\n"
        kept = []
        if self.path.is_file():
            with open(self.path, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                if tuple(reader.fieldnames or ()) == self.columns:
                    kept = [r for r in reader if r["step"] and int(r["step"]) <= state.global_step]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n")
        writer.writerows(kept)
        atomic_write_text(self.path, header + buffer.getvalue())

    def on_step_end(self, args, state, control, **kwargs):
        if state.max_steps > 0 and state.global_step >= state.max_steps:
            control.should_log = True  # the Trainer logs every logging_steps only
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        row = {"step": state.global_step, **{k: logs.get(k, "") for k in self.columns[1:]}}
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, fieldnames=self.columns, lineterminator="\n").writerow(row)
            f.flush()
            os.fsync(f.fileno())
