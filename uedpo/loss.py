"""The UE-DPO loss and vanilla DPO (METHOD.md §1.3, §3.3 step 9).

    h = β [ Σ_t m^w_t (sg[λ^w_t]·log π_θ(a^w_t) − log π_ref(a^w_t))
          − Σ_t m^l_t (sg[λ^l_t]·log π_θ(a^l_t) − log π_ref(a^l_t)) ]
    L = mean(−log σ(h))

Only the policy term is weighted (π_θ^{sg[λ]} / π_ref); λ is detached. Per token the gradient is the
vanilla-DPO gradient scaled by λ: ∂L/∂log π_θ(a^w_t) = −β·σ(−h)·λ^w_t, ∂L/∂log π_θ(a^l_t) = +β·σ(−h)·λ^l_t.

Sums are taken in TRL's order (policy sum minus reference sum per branch, then chosen minus rejected), so
λ ≡ 1 reproduces TRL-style sigmoid DPO bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from uedpo._checks import check_bool, check_float, check_ndim, check_same_device, check_shape


@dataclass(frozen=True)
class PreferenceLoss:
    """Loss and the quantities trainers log; rewards are β-scaled log-ratios, (B,) each."""

    loss: torch.Tensor  # scalar, mean of ``losses``
    losses: torch.Tensor  # (B,) −log σ(h)
    margin: torch.Tensor  # (B,) h
    rewards_chosen: torch.Tensor  # weighted: β Σ m (λ lp − lp_ref), detached
    rewards_rejected: torch.Tensor
    vanilla_rewards_chosen: torch.Tensor  # unweighted: β Σ m (lp − lp_ref), detached
    vanilla_rewards_rejected: torch.Tensor
    logps_chosen: torch.Tensor  # Σ m lp, detached
    logps_rejected: torch.Tensor
    lam_chosen_mean: torch.Tensor  # mean λ_w over tokens with λ ≠ 1 (1 if none)
    lam_rejected_mean: torch.Tensor
    frac_weighted_chosen: torch.Tensor  # share of valid tokens with λ ≠ 1
    frac_weighted_rejected: torch.Tensor

    @property
    def reward_margins(self) -> torch.Tensor:
        return self.rewards_chosen - self.rewards_rejected

    @property
    def reward_accuracies(self) -> torch.Tensor:
        return (self.rewards_chosen > self.rewards_rejected).float()

    @property
    def vanilla_reward_accuracies(self) -> torch.Tensor:
        return (self.vanilla_rewards_chosen > self.vanilla_rewards_rejected).float()


def _masked_sum(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.where(mask, x, torch.zeros((), dtype=x.dtype, device=x.device)).sum(dim=-1)


def _weighted_stats(lam: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    weighted = mask & (lam != 1.0)
    n = weighted.sum()
    mean = torch.where(n > 0, lam[weighted].sum() / n.clamp(min=1), lam.new_ones(()))
    return mean, n.float() / mask.sum().clamp(min=1)


def _validate(tensors: dict[str, torch.Tensor], masks: dict[str, torch.Tensor], beta: float) -> None:
    first = next(iter(tensors.values()))
    check_ndim("policy_chosen_logps", first, 2, "(B, T)")
    check_ndim("policy_rejected_logps", tensors["policy_rejected_logps"], 2, "(B, T)")
    for name, t in tensors.items():
        check_float(name, t)
    for name, t in list(tensors.items()) + list(masks.items()):
        ref_name = "policy_chosen_logps" if "chosen" in name else "policy_rejected_logps"
        check_shape(name, t, tuple(tensors[ref_name].shape), f"(B, T) like {ref_name}")
    for name, m in masks.items():
        check_bool(name, m)
    if tensors["policy_rejected_logps"].shape[0] != first.shape[0]:
        raise ValueError(
            f"policy_rejected_logps: expected batch size B = {first.shape[0]} like policy_chosen_logps, "
            f"got {tensors['policy_rejected_logps'].shape[0]}"
        )
    check_same_device(**tensors, **masks)
    if not float(beta) > 0:
        raise ValueError(f"beta: expected a positive value, got {beta}")


def ue_dpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    lam_chosen: torch.Tensor,
    lam_rejected: torch.Tensor,
    mask_chosen: torch.Tensor,
    mask_rejected: torch.Tensor,
    beta: float,
    *,
    weight_reference: bool = False,
) -> PreferenceLoss:
    """UE-DPO on per-token log-probs (B, T) of each branch; λ from :mod:`uedpo.exploration`.

    ``weight_reference=True`` also weights the reference term (an ablation; not the method).
    """
    _validate(
        {
            "policy_chosen_logps": policy_chosen_logps, "policy_rejected_logps": policy_rejected_logps,
            "ref_chosen_logps": ref_chosen_logps, "ref_rejected_logps": ref_rejected_logps,
            "lam_chosen": lam_chosen, "lam_rejected": lam_rejected,
        },
        {"mask_chosen": mask_chosen, "mask_rejected": mask_rejected},
        beta,
    )
    lam_w, lam_l = lam_chosen.detach(), lam_rejected.detach()  # sg[λ]
    ref_w, ref_l = ref_chosen_logps.detach(), ref_rejected_logps.detach()
    if weight_reference:
        ref_w, ref_l = lam_w * ref_w, lam_l * ref_l
    pol_w = _masked_sum(lam_w * policy_chosen_logps, mask_chosen)
    pol_l = _masked_sum(lam_l * policy_rejected_logps, mask_rejected)
    sum_ref_w, sum_ref_l = _masked_sum(ref_w, mask_chosen), _masked_sum(ref_l, mask_rejected)
    logratio_w, logratio_l = pol_w - sum_ref_w, pol_l - sum_ref_l
    margin = beta * (logratio_w - logratio_l)
    losses = -F.logsigmoid(margin)

    with torch.no_grad():
        plain_w = _masked_sum(policy_chosen_logps.detach(), mask_chosen)
        plain_l = _masked_sum(policy_rejected_logps.detach(), mask_rejected)
        lam_w_mean, frac_w = _weighted_stats(lam_w, mask_chosen)
        lam_l_mean, frac_l = _weighted_stats(lam_l, mask_rejected)
    return PreferenceLoss(
        loss=losses.mean(), losses=losses, margin=margin,
        rewards_chosen=beta * logratio_w.detach(), rewards_rejected=beta * logratio_l.detach(),
        vanilla_rewards_chosen=beta * (plain_w - sum_ref_w), vanilla_rewards_rejected=beta * (plain_l - sum_ref_l),
        logps_chosen=plain_w, logps_rejected=plain_l,
        lam_chosen_mean=lam_w_mean, lam_rejected_mean=lam_l_mean,
        frac_weighted_chosen=frac_w, frac_weighted_rejected=frac_l,
    )


def dpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    mask_chosen: torch.Tensor,
    mask_rejected: torch.Tensor,
    beta: float,
) -> PreferenceLoss:
    """Sigmoid DPO: :func:`ue_dpo_loss` with λ ≡ 1 (multiplying by 1.0 is exact, so this is vanilla DPO)."""
    return ue_dpo_loss(
        policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps,
        torch.ones_like(policy_chosen_logps), torch.ones_like(policy_rejected_logps),
        mask_chosen, mask_rejected, beta,
    )
