"""Baseline preference losses on the core's (B, T) per-token inputs: TPO, V-DPO, mDPO (METHOD.md §2.2–2.4).

All three return :class:`uedpo.loss.PreferenceLoss` subclasses, so the trainer logs them like UE-DPO. Sums are
taken in TRL's order (per branch policy sum minus reference sum, then chosen minus rejected), as in
:mod:`uedpo.loss`; the original repositories subtract in the order (π_w − π_l) − (ref_w − ref_l), which is the
same quantity up to floating-point rounding. These baselines have no λ exponent, so the λ fields of the result
read ``lam_*_mean = 1`` and ``frac_weighted_* = 0``; each subclass adds its own fields.

TPO    [alibaba/TPO @2f87f27, trl/trainer/tpo_trainer.py]
    s_t = z_t[a_t] − z̃_t[a_t]              raw logits, clear minus noised image (L536–540, L598–602)
    log w^w_t = log(σ(s_t) + 0.5)          chosen weight in (0.5, 1.5) (L558–560)
    log w^l_t = log(1 − σ(s_t) + 0.5)      rejected weight in (0.5, 1.5) (L612–614)
    h = β [ Σ m^w (lp^w + log w^w) − Σ m^w (lp_ref^w + log w_ref^w)
          − Σ m^l (lp^l + log w^l) + Σ m^l (lp_ref^l + log w_ref^l) ],   L = mean(−log σ(h)) (L445–459)
    The policy's s is not detached (both its forwards run with grad, L671–777); the reference's s comes
    from the reference's own clear and noised forwards under no_grad (L796–815).

V-DPO  [YuxiXie/V-DPO @ed27c32, llava_dpo/utils.py L314–319;
        llava_dpo/train/llava_trainer.py L633–660, L731–771]
    lp̃_t = γ·lp_t − (γ − 1)·sg[lp_null_t]   only on the policy term; the reference term is plain (L740)
    h = β [ (Σ m^w lp̃^w − Σ m^w lp_ref^w) − (Σ m^l lp̃^l − Σ m^l lp_ref^l) ],   L = mean(−log σ(h))
    lp_null is the image-free log-prob, under no_grad, from the policy (``--dynamic_llm``) or the reference.

mDPO   [luka-group/mDPO @2221bb3, mdpo_trainer.py L92–135, L200]
    r_w = Σ m^w (lp^w − lp_ref^w),  r_l likewise,  r_crop = Σ m^w (lp_crop^w − lp_ref,crop^w)
    L = mean( −log σ(β(r_w − r_l)) − log σ(β(r_w − r_crop)) − log σ(β·r_w) )   (L108–123; mean L200)
    unweighted DPO, conditional (clear vs cropped image, same chosen response) and anchor terms (δ = 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from uedpo._checks import (
    check_bool,
    check_float,
    check_has_valid,
    check_ndim,
    check_nonnegative,
    check_same_device,
    check_shape,
    check_token_ids,
)
from uedpo.loss import PreferenceLoss, _masked_sum, _validate


@dataclass(frozen=True)
class TPOLoss(PreferenceLoss):
    """TPO; ``rewards_*`` are the weighted β-log-ratios in h, ``vanilla_rewards_*`` the unweighted ones."""

    weight_chosen_mean: torch.Tensor  # mean policy w^w = σ(s) + 0.5 over valid chosen tokens
    weight_rejected_mean: torch.Tensor  # mean policy w^l = 1.5 − σ(s) over valid rejected tokens
    score_chosen_mean: torch.Tensor  # mean policy s over valid chosen tokens
    score_rejected_mean: torch.Tensor


@dataclass(frozen=True)
class VDPOLoss(PreferenceLoss):
    """V-DPO; ``rewards_*`` use the guided policy term lp̃, ``vanilla_rewards_*`` (V-DPO's log) plain lp."""

    image_contribution_chosen: torch.Tensor  # (B,) Σ m (lp − lp_null), detached (V-DPO L706)
    image_contribution_rejected: torch.Tensor


@dataclass(frozen=True)
class MDPOLoss(PreferenceLoss):
    """mDPO; ``losses`` is the per-pair total, ``margin`` the DPO margin; the three parts come apart."""

    loss_dpo: torch.Tensor  # scalar mean −log σ(β(r_w − r_l))
    loss_conditional: torch.Tensor  # scalar mean −log σ(β(r_w − r_crop))
    loss_anchor: torch.Tensor  # scalar mean −log σ(β r_w)
    margin_conditional: torch.Tensor  # (B,) β(r_w − r_crop)
    margin_anchor: torch.Tensor  # (B,) β r_w
    rewards_crop_chosen: torch.Tensor  # (B,) β r_crop, detached (mDPO's imageless reward)


# -- per-token functions -------------------------------------------------------------------------------------


def _validate_tokens(**tensors: torch.Tensor) -> None:
    """(B, T) float tensors of one shape on one device; the first names the expected shape."""
    first_name, first = next(iter(tensors.items()))
    check_ndim(first_name, first, 2, "(B, T)")
    for name, t in tensors.items():
        check_shape(name, t, tuple(first.shape), f"(B, T) like {first_name}")
        check_float(name, t)
    check_same_device(**tensors)


def tpo_score(
    clear_logits: torch.Tensor, noised_logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """TPO's visual-anchored score s_t = z_t[a_t] − z̃_t[a_t] on raw logits, (B, T), 0 outside ``mask``.

    Args:
        clear_logits: (B, T, V) logits given the clear image; logits[:, t] predicts labels[:, t] (shifted).
        noised_logits: (B, T, V) the same model, same tokens, given the noised image.
        labels: (B, T) token ids a_t (any value, e.g. -100, where ``mask`` is False).
        mask: (B, T) bool, True on response tokens.

    Only gathers touch the (B, T, V) tensors. Gradient flows into both logits (TPO runs both forwards with
    grad); half-precision inputs are gathered and cast to float32 before subtracting.
    """
    check_ndim("clear_logits", clear_logits, 3, "(B, T, V)")
    check_float("clear_logits", clear_logits)
    check_shape("noised_logits", noised_logits, tuple(clear_logits.shape), "(B, T, V) like clear_logits")
    check_float("noised_logits", noised_logits)
    check_shape("labels", labels, tuple(clear_logits.shape[:2]), "(B, T)")
    check_shape("mask", mask, tuple(clear_logits.shape[:2]), "(B, T)")
    check_bool("mask", mask)
    check_same_device(clear_logits=clear_logits, noised_logits=noised_logits, labels=labels, mask=mask)
    check_token_ids("labels", labels, mask, clear_logits.shape[-1])
    check_has_valid("mask", mask)
    index = labels.masked_fill(~mask, 0).long().unsqueeze(-1)
    dtype = torch.promote_types(clear_logits.dtype, torch.float32)
    clear = clear_logits.gather(-1, index).squeeze(-1).to(dtype)
    score = clear - noised_logits.gather(-1, index).squeeze(-1).to(dtype)
    return torch.where(mask, score, torch.zeros((), dtype=dtype, device=score.device))


def _tpo_log_weight(score: torch.Tensor, preferred: bool, detach_score: bool) -> torch.Tensor:
    s = score.detach() if detach_score else score
    # σ(−s) = 1 − σ(s) in real arithmetic and keeps precision for large s; s = 0 gives log 1 = 0 exactly.
    return torch.log(torch.sigmoid(s if preferred else -s) + 0.5)


def tpo_token_logps(
    logps: torch.Tensor, score: torch.Tensor, *, preferred: bool, detach_score: bool = False
) -> torch.Tensor:
    """TPO's weighted per-token log-probs, (B, T): lp + log w with w = σ(s) + 0.5 or 1 − σ(s) + 0.5.

    Chosen (``preferred=True``): lp_t + log(σ(s_t) + 0.5), a weight in (0.5, 1.5) growing with s.
    Rejected: lp_t + log(1 − σ(s_t) + 0.5), a weight in (0.5, 1.5) shrinking with s.
    [alibaba/TPO @2f87f27, trl/trainer/tpo_trainer.py L558–560, L612–614]

    s from :func:`tpo_score`. TPO keeps s in the graph, so by default
    ∂(lp + log w^w)/∂s = σ(s)σ(−s)/(σ(s) + 0.5) and ∂(lp + log w^l)/∂s = −σ(s)σ(−s)/(1.5 − σ(s));
    ``detach_score=True`` uses sg[s] (gradient only through lp). Values outside any mask are left as computed;
    the losses drop them.
    """
    _validate_tokens(logps=logps, score=score)
    return logps + _tpo_log_weight(score, preferred, detach_score)


def vdpo_token_logps(logps_image: torch.Tensor, logps_null: torch.Tensor, *, gamma: float) -> torch.Tensor:
    """V-DPO's guided per-token log-probs, (B, T): γ·lp_image − (γ − 1)·sg[lp_null].

    [YuxiXie/V-DPO @ed27c32, llava_dpo/utils.py L314–319 ``calculate_log_probs``]

    γ = 1 returns ``logps_image`` itself, with no arithmetic: bit for bit the plain log-probs, and a ±inf or
    NaN in ``logps_null`` (e.g. at padded positions) cannot leak in through 0·inf (V-DPO also skips the mix
    at γ = 1).
    γ = 0 makes the term the detached image-free log-prob (no gradient); γ < 0 is refused. For γ ≠ 1 a
    non-finite value outside the mask is harmless: the losses' masked sums drop it and ∂lp̃/∂lp_image = γ.
    """
    _validate_tokens(logps_image=logps_image, logps_null=logps_null)
    check_nonnegative("gamma", gamma)
    if float(gamma) == 1.0:
        return logps_image
    return gamma * logps_image - (gamma - 1.0) * logps_null.detach()


# -- losses --------------------------------------------------------------------------------------------------


def _token_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return _masked_sum(x.detach(), mask).sum() / mask.sum().clamp(min=1)


def _sigmoid_dpo(pol_w, pol_l, ref_w, ref_l, mask_w, mask_l, beta):
    """TRL-order masked sums of per-token policy and reference terms: (h, logratio_w, logratio_l), (B,)."""
    logratio_w = _masked_sum(pol_w, mask_w) - _masked_sum(ref_w, mask_w)
    logratio_l = _masked_sum(pol_l, mask_l) - _masked_sum(ref_l, mask_l)
    return beta * (logratio_w - logratio_l), logratio_w, logratio_l


def _common_fields(losses, margin, logratio_w, logratio_l, plain, beta) -> dict[str, torch.Tensor]:
    """PreferenceLoss fields; ``plain`` = (Σ m lp_w, Σ m lp_l, Σ m lp_ref_w, Σ m lp_ref_l), all detached."""
    lp_w, lp_l, ref_w, ref_l = plain
    one, zero = margin.new_ones(()), margin.new_zeros(())
    return dict(
        loss=losses.mean(), losses=losses, margin=margin,
        rewards_chosen=beta * logratio_w.detach(), rewards_rejected=beta * logratio_l.detach(),
        vanilla_rewards_chosen=beta * (lp_w - ref_w), vanilla_rewards_rejected=beta * (lp_l - ref_l),
        logps_chosen=lp_w, logps_rejected=lp_l,
        lam_chosen_mean=one, lam_rejected_mean=one, frac_weighted_chosen=zero, frac_weighted_rejected=zero,
    )


def _plain_sums(pc, pr, rc, rr, mask_w, mask_l) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        return (_masked_sum(pc.detach(), mask_w), _masked_sum(pr.detach(), mask_l),
                _masked_sum(rc.detach(), mask_w), _masked_sum(rr.detach(), mask_l))


def tpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    policy_chosen_score: torch.Tensor,
    policy_rejected_score: torch.Tensor,
    ref_chosen_score: torch.Tensor,
    ref_rejected_score: torch.Tensor,
    mask_chosen: torch.Tensor,
    mask_rejected: torch.Tensor,
    beta: float,
    *,
    detach_score: bool = False,
) -> TPOLoss:
    """TPO: sigmoid DPO on :func:`tpo_token_logps` sums, for the policy and (with its own s) the reference.

        h = β [ (Σ m^w (lp^w + log w^w) − Σ m^w (lp_ref^w + log w_ref^w))
              − (Σ m^l (lp^l + log w^l) − Σ m^l (lp_ref^l + log w_ref^l)) ],   L = mean(−log σ(h))

    Scores (B, T) from :func:`tpo_score`: the policy's from its clear and noised forwards, the reference's
    from the reference's. Reference log-probs and scores are detached (TPO runs the reference under no_grad,
    tpo_trainer.py L796–815). The policy score keeps its gradient unless ``detach_score=True``:
        ∂L/∂lp^w_t = −β·σ(−h),  ∂L/∂s^w_t = −β·σ(−h)·σ(s)σ(−s)/(σ(s) + 0.5),
        ∂L/∂lp^l_t = +β·σ(−h),  ∂L/∂s^l_t = −β·σ(−h)·σ(s)σ(−s)/(1.5 − σ(s))   (per pair, before the mean).
    s ≡ 0 gives log w = log 1 = 0 on every token, which is sigmoid DPO bit for bit.
    """
    _validate(
        {
            "policy_chosen_logps": policy_chosen_logps, "policy_rejected_logps": policy_rejected_logps,
            "ref_chosen_logps": ref_chosen_logps, "ref_rejected_logps": ref_rejected_logps,
            "policy_chosen_score": policy_chosen_score, "policy_rejected_score": policy_rejected_score,
            "ref_chosen_score": ref_chosen_score, "ref_rejected_score": ref_rejected_score,
        },
        {"mask_chosen": mask_chosen, "mask_rejected": mask_rejected},
        beta,
    )
    logw_w = _tpo_log_weight(policy_chosen_score, True, detach_score)
    logw_l = _tpo_log_weight(policy_rejected_score, False, detach_score)
    ref_w = ref_chosen_logps.detach() + _tpo_log_weight(ref_chosen_score, True, True)
    ref_l = ref_rejected_logps.detach() + _tpo_log_weight(ref_rejected_score, False, True)
    margin, logratio_w, logratio_l = _sigmoid_dpo(
        policy_chosen_logps + logw_w, policy_rejected_logps + logw_l, ref_w, ref_l,
        mask_chosen, mask_rejected, beta,
    )
    losses = -F.logsigmoid(margin)
    plain = _plain_sums(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps,
                        mask_chosen, mask_rejected)
    return TPOLoss(
        **_common_fields(losses, margin, logratio_w, logratio_l, plain, beta),
        weight_chosen_mean=_token_mean(logw_w.exp(), mask_chosen),
        weight_rejected_mean=_token_mean(logw_l.exp(), mask_rejected),
        score_chosen_mean=_token_mean(policy_chosen_score, mask_chosen),
        score_rejected_mean=_token_mean(policy_rejected_score, mask_rejected),
    )


def vdpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    null_chosen_logps: torch.Tensor,
    null_rejected_logps: torch.Tensor,
    mask_chosen: torch.Tensor,
    mask_rejected: torch.Tensor,
    beta: float,
    *,
    gamma: float,
) -> VDPOLoss:
    """V-DPO: sigmoid DPO with the guided policy term of :func:`vdpo_token_logps`; a plain reference term.

        lp̃ = γ·lp − (γ − 1)·sg[lp_null]
        h = β [ (Σ m^w lp̃^w − Σ m^w lp_ref^w) − (Σ m^l lp̃^l − Σ m^l lp_ref^l) ],   L = mean(−log σ(h))
        ∂L/∂lp^w_t = −β·σ(−h)·γ,  ∂L/∂lp^l_t = +β·σ(−h)·γ  (per pair); lp_null and lp_ref get none.

    ``null_*_logps`` (B, T): the response's log-probs given the null image, from the model the trainer picks
    (the policy for V-DPO's ``--dynamic_llm``, else the reference; llava_trainer.py L656, L735–738); always
    detached here. γ = 1 is :func:`uedpo.loss.dpo_loss` bit for bit, whatever ``null_*_logps`` hold. V-DPO's
    γ = 1 slicing from the first diverging token (L720–726) is a data choice, left to the masks.
    """
    _validate(
        {
            "policy_chosen_logps": policy_chosen_logps, "policy_rejected_logps": policy_rejected_logps,
            "ref_chosen_logps": ref_chosen_logps, "ref_rejected_logps": ref_rejected_logps,
            "null_chosen_logps": null_chosen_logps, "null_rejected_logps": null_rejected_logps,
        },
        {"mask_chosen": mask_chosen, "mask_rejected": mask_rejected},
        beta,
    )
    check_nonnegative("gamma", gamma)
    pol_w = vdpo_token_logps(policy_chosen_logps, null_chosen_logps, gamma=gamma)
    pol_l = vdpo_token_logps(policy_rejected_logps, null_rejected_logps, gamma=gamma)
    margin, logratio_w, logratio_l = _sigmoid_dpo(
        pol_w, pol_l, ref_chosen_logps.detach(), ref_rejected_logps.detach(), mask_chosen, mask_rejected, beta
    )
    losses = -F.logsigmoid(margin)
    plain = _plain_sums(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps,
                        mask_chosen, mask_rejected)
    with torch.no_grad():
        contribution_w = plain[0] - _masked_sum(null_chosen_logps.detach(), mask_chosen)
        contribution_l = plain[1] - _masked_sum(null_rejected_logps.detach(), mask_rejected)
    return VDPOLoss(
        **_common_fields(losses, margin, logratio_w, logratio_l, plain, beta),
        image_contribution_chosen=contribution_w, image_contribution_rejected=contribution_l,
    )


def mdpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    policy_chosen_crop_logps: torch.Tensor,
    ref_chosen_crop_logps: torch.Tensor,
    mask_chosen: torch.Tensor,
    mask_rejected: torch.Tensor,
    beta: float,
) -> MDPOLoss:
    """mDPO: DPO + conditional (clear vs cropped image) + anchor terms, each −log σ(β·…), summed unweighted.

        r_w = Σ m^w (lp^w − lp_ref^w),  r_l = Σ m^l (lp^l − lp_ref^l),
        r_crop = Σ m^w (lp_crop^w − lp_ref,crop^w)
        L = mean( −log σ(β(r_w − r_l)) − log σ(β(r_w − r_crop)) − log σ(β·r_w) )

    [luka-group/mDPO @2221bb3, mdpo_trainer.py L108 (DPO), L110–116 (conditional), L118 (anchor, δ = 0),
    L121–123 (unweighted sum), L200 (batch mean)]. ``*_crop_logps`` (B, T) are the chosen response's log-probs
    given the randomly cropped image (mDPO: a fresh crop per model), masked by ``mask_chosen``. The policy
    crop term keeps its gradient (mDPO's forward runs with grad, L77–88); the reference terms are detached.
    Per pair: ∂L/∂lp^w_t = −β[σ(−h) + σ(−h_c) + σ(−h_a)], ∂L/∂lp^l_t = +β·σ(−h), ∂L/∂lp_crop^w_t = +β·σ(−h_c).
    """
    _validate(
        {
            "policy_chosen_logps": policy_chosen_logps, "policy_rejected_logps": policy_rejected_logps,
            "ref_chosen_logps": ref_chosen_logps, "ref_rejected_logps": ref_rejected_logps,
            "policy_chosen_crop_logps": policy_chosen_crop_logps,
            "ref_chosen_crop_logps": ref_chosen_crop_logps,
        },
        {"mask_chosen": mask_chosen, "mask_rejected": mask_rejected},
        beta,
    )
    margin, logratio_w, logratio_l = _sigmoid_dpo(
        policy_chosen_logps, policy_rejected_logps, ref_chosen_logps.detach(), ref_rejected_logps.detach(),
        mask_chosen, mask_rejected, beta,
    )
    logratio_crop = _masked_sum(policy_chosen_crop_logps, mask_chosen) - _masked_sum(
        ref_chosen_crop_logps.detach(), mask_chosen
    )
    margin_conditional, margin_anchor = beta * (logratio_w - logratio_crop), beta * logratio_w
    parts = -F.logsigmoid(margin), -F.logsigmoid(margin_conditional), -F.logsigmoid(margin_anchor)
    losses = parts[0] + parts[1] + parts[2]
    plain = _plain_sums(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps,
                        mask_chosen, mask_rejected)
    return MDPOLoss(
        **_common_fields(losses, margin, logratio_w, logratio_l, plain, beta),
        loss_dpo=parts[0].mean(), loss_conditional=parts[1].mean(), loss_anchor=parts[2].mean(),
        margin_conditional=margin_conditional, margin_anchor=margin_anchor,
        rewards_crop_chosen=beta * logratio_crop.detach(),
    )
