"""TPO, V-DPO and mDPO (uedpo.baselines): hand-computed examples, reductions to DPO, gradient laws, checks."""

import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from uedpo.baselines import (
    MDPOLoss,
    TPOLoss,
    VDPOLoss,
    mdpo_loss,
    tpo_loss,
    tpo_score,
    tpo_token_logps,
    vdpo_loss,
    vdpo_token_logps,
)
from uedpo.loss import PreferenceLoss, dpo_loss

LN3 = math.log(3.0)


def _softplus_neg(h: float) -> float:
    """−log σ(h) = log(1 + e^{−h})."""
    return math.log1p(math.exp(-h))


def _sig(x):
    return torch.sigmoid(x)


def _batch(b=3, t=7, seed=0, dtype=torch.float32):
    """Random per-token log-probs for a [policy, reference] × [chosen, rejected] batch with ragged masks."""
    g = torch.Generator().manual_seed(seed)
    keys = ("pw", "pl", "rw", "rl")
    lp = {k: -torch.rand(b, t, generator=g, dtype=torch.float64).mul(3).to(dtype) for k in keys}
    mw, ml = torch.ones(b, t, dtype=torch.bool), torch.ones(b, t, dtype=torch.bool)
    mw[0, 5:] = False
    ml[1, 3:] = False
    return lp, mw, ml, g


def _run(fn, *leaves):
    """Call ``fn`` on fresh grad-requiring copies of ``leaves``; (loss, *grads)."""
    xs = [x.detach().clone().requires_grad_(True) for x in leaves]
    loss = fn(*xs)
    loss.backward()
    return (loss.detach(), *[x.grad for x in xs])


# -- TPO -----------------------------------------------------------------------------------------------------


def test_tpo_score_gathers_raw_logits_clear_minus_noised():
    """V = 3; labels [0, 1, pad], mask [T, T, F].

    t0: z = [2, 1, 0],  z̃ = [1, 1.5, 0], a = 0 → s = 2 − 1 = 1
    t1: z = [.5, 3, 0], z̃ = [.5, 2, 0],  a = 1 → s = 3 − 2 = 1
    t2: masked → s = 0, and no gradient reaches its logits.
    ∂Σs/∂z is one-hot +1 at (t, a_t) on valid t, ∂Σs/∂z̃ the same with −1.
    """
    clear = torch.tensor([[[2.0, 1.0, 0.0], [0.5, 3.0, 0.0], [1.0, 0.0, 2.0]]], requires_grad=True)
    noised = torch.tensor([[[1.0, 1.5, 0.0], [0.5, 2.0, 0.0], [0.0, 0.0, 2.5]]], requires_grad=True)
    labels, mask = torch.tensor([[0, 1, -100]]), torch.tensor([[True, True, False]])
    s = tpo_score(clear, noised, labels, mask)
    assert s.tolist() == [[1.0, 1.0, 0.0]]
    s.sum().backward()
    onehot = torch.tensor([[[1.0, 0, 0], [0, 1.0, 0], [0, 0, 0]]])
    assert torch.equal(clear.grad, onehot) and torch.equal(noised.grad, -onehot)


def test_tpo_score_upcasts_half_precision():
    clear, noised = torch.zeros(1, 2, 4, dtype=torch.bfloat16), torch.ones(1, 2, 4, dtype=torch.bfloat16)
    s = tpo_score(clear, noised, torch.tensor([[1, 2]]), torch.ones(1, 2, dtype=torch.bool))
    assert s.dtype == torch.float32 and s.tolist() == [[-1.0, -1.0]]


def test_tpo_token_logps_hand_example():
    """lp = [−1, −2], s = [ln 3, −ln 3]: σ(s) = [3/4, 1/4].

    chosen:   w = σ(s) + 0.5     = [1.25, 0.75] → lp + log w = [−1 + ln 1.25, −2 + ln 0.75]
    rejected: w = 1 − σ(s) + 0.5 = [0.75, 1.25] → [−1 + ln 0.75, −2 + ln 1.25]
    """
    lp, s = torch.tensor([[-1.0, -2.0]]), torch.tensor([[LN3, -LN3]])
    chosen = tpo_token_logps(lp, s, preferred=True)
    rejected = tpo_token_logps(lp, s, preferred=False)
    assert torch.allclose(chosen, torch.tensor([[-1 + math.log(1.25), -2 + math.log(0.75)]]), atol=1e-6)
    assert torch.allclose(rejected, torch.tensor([[-1 + math.log(0.75), -2 + math.log(1.25)]]), atol=1e-6)
    zero = tpo_token_logps(lp, torch.zeros_like(lp), preferred=False)
    assert torch.equal(zero, lp)  # s = 0: log(σ(0) + 0.5) = log 1 = 0 exactly


def test_tpo_token_logps_score_gradient_and_detach():
    """∂(lp + log(σ(s)+.5))/∂s = σ(s)σ(−s)/(σ(s)+.5); rejected −σ(s)σ(−s)/(1.5−σ(s)); detached: none."""
    lp = torch.tensor([[-1.0, -2.0, -0.5]], dtype=torch.float64)
    for preferred in (True, False):
        s = torch.tensor([[0.7, -1.3, 2.0]], dtype=torch.float64, requires_grad=True)
        tpo_token_logps(lp, s, preferred=preferred).sum().backward()
        sd = _sig(s.detach())
        want = sd * (1 - sd) / (sd + 0.5) if preferred else -sd * (1 - sd) / (1.5 - sd)
        assert torch.allclose(s.grad, want, atol=1e-12)
        s2 = s.detach().clone().requires_grad_(True)
        out = tpo_token_logps(lp, s2, preferred=preferred, detach_score=True)
        assert not out.requires_grad


def test_tpo_loss_hand_example():
    """One pair, β = 0.5; σ(±ln 3) = 3/4, 1/4, so chosen weights σ + .5 ∈ {1.25, .75}, rejected 1.5 − σ.

    chosen (mask [T, T, F]):  lp = [−1, −2, ·],     s = [ln 3, 0, ·]      → w = [1.25, 1]
                              ref = [−1.5, −1, ·],  s_ref = [−ln 3, ln 3] → w_ref = [.75, 1.25]
      r_w = (−3 + ln 1.25) − (−2.5 + ln .9375) = −.5 + ln(4/3)
    rejected (all valid):     lp = [−.5, −1.5, −1], s = [ln 3, −ln 3, 0]  → w = [.75, 1.25, 1]
                              ref = [−1, −1, −1],   s_ref = 0             → w_ref = 1
      r_l = (−3 + ln .9375) − (−3) = ln(15/16)
    h = .5 (r_w − r_l) = .5 (−.5 + ln(64/45)),  L = log(1 + e^{−h})
    vanilla rewards: .5 (−3 + 2.5) = −.25 and .5 (−3 + 3) = 0; mean weights (1.25 + 1)/2 = 1.125, 3/3 = 1.
    """
    lp_w, s_w = torch.tensor([[-1.0, -2.0, -9.0]]), torch.tensor([[LN3, 0.0, 5.0]])
    ref_w, s_ref_w = torch.tensor([[-1.5, -1.0, -9.0]]), torch.tensor([[-LN3, LN3, 0.0]])
    lp_l, s_l = torch.tensor([[-0.5, -1.5, -1.0]]), torch.tensor([[LN3, -LN3, 0.0]])
    ref_l, s_ref_l = torch.tensor([[-1.0, -1.0, -1.0]]), torch.zeros(1, 3)
    mw, ml = torch.tensor([[True, True, False]]), torch.ones(1, 3, dtype=torch.bool)
    out = tpo_loss(lp_w, lp_l, ref_w, ref_l, s_w, s_l, s_ref_w, s_ref_l, mw, ml, 0.5)
    assert isinstance(out, TPOLoss) and isinstance(out, PreferenceLoss)
    r_w, r_l = -0.5 + math.log(4 / 3), math.log(15 / 16)
    h = 0.5 * (r_w - r_l)
    assert h == pytest.approx(0.5 * (-0.5 + math.log(64 / 45)))
    assert out.margin.item() == pytest.approx(h, abs=1e-6)
    assert out.loss.item() == pytest.approx(_softplus_neg(h), abs=1e-6)
    assert out.rewards_chosen.item() == pytest.approx(0.5 * r_w, abs=1e-6)
    assert out.rewards_rejected.item() == pytest.approx(0.5 * r_l, abs=1e-6)
    assert out.vanilla_rewards_chosen.item() == pytest.approx(-0.25, abs=1e-6)
    assert out.vanilla_rewards_rejected.item() == pytest.approx(0.0, abs=1e-6)
    assert out.logps_chosen.item() == pytest.approx(-3.0)
    assert out.weight_chosen_mean.item() == pytest.approx(1.125, abs=1e-6)
    assert out.weight_rejected_mean.item() == pytest.approx(1.0, abs=1e-6)
    assert out.score_chosen_mean.item() == pytest.approx(LN3 / 2, abs=1e-6)
    assert out.lam_chosen_mean.item() == 1.0 and out.frac_weighted_rejected.item() == 0.0


def test_tpo_zero_score_equals_dpo_bit_for_bit_in_loss_and_gradients():
    """s ≡ 0: every log-weight is log(σ(0) + 0.5) = log 1 = 0, so TPO is sigmoid DPO exactly."""
    lp, mw, ml, _ = _batch(seed=1)
    zero = torch.zeros_like(lp["pw"])
    tpo = _run(lambda pw, pl: tpo_loss(pw, pl, lp["rw"], lp["rl"], zero, zero, zero, zero, mw, ml, 0.1).loss,
               lp["pw"], lp["pl"])
    dpo = _run(lambda pw, pl: dpo_loss(pw, pl, lp["rw"], lp["rl"], mw, ml, 0.1).loss, lp["pw"], lp["pl"])
    for a, b in zip(tpo, dpo, strict=True):
        assert torch.equal(a, b)
    t = tpo_loss(lp["pw"], lp["pl"], lp["rw"], lp["rl"], zero, zero, zero, zero, mw, ml, 0.1)
    d = dpo_loss(lp["pw"], lp["pl"], lp["rw"], lp["rl"], mw, ml, 0.1)
    assert torch.equal(t.rewards_chosen, d.rewards_chosen)
    assert torch.equal(t.rewards_rejected, d.rewards_rejected)
    assert t.weight_chosen_mean.item() == 1.0 and t.weight_rejected_mean.item() == 1.0


@pytest.mark.parametrize("detach_score", [False, True])
def test_tpo_gradient_law_against_autograd(detach_score):
    """Per pair: ∂L/∂lp^w = −βσ(−h), ∂L/∂lp^l = +βσ(−h) (the DPO law at TPO's margin h), and

    ∂L/∂s^w = −βσ(−h)·σ(s)σ(−s)/(σ(s) + .5),  ∂L/∂s^l = −βσ(−h)·σ(s)σ(−s)/(1.5 − σ(s))
    (chain rule through log(σ(s) + .5) and log(σ(−s) + .5)); with ``detach_score`` the score gets none.
    The reference log-probs and scores never get a gradient.
    """
    lp, mw, ml, g = _batch(b=2, t=6, seed=4, dtype=torch.float64)
    scores = {k: torch.randn(2, 6, generator=g, dtype=torch.float64) * 2 for k in ("sw", "sl", "srw", "srl")}
    leaves = {k: v.clone().requires_grad_(True) for k, v in {**lp, **scores}.items()}
    beta = 0.1
    kwargs = {"detach_score": True} if detach_score else {}  # the default keeps the score in the graph
    args = [leaves[k] for k in ("pw", "pl", "rw", "rl", "sw", "sl", "srw", "srl")]
    out = tpo_loss(*args, mw, ml, beta, **kwargs)
    (out.loss * 2).backward()  # per-pair gradients (undo the batch mean)
    coeff = beta * _sig(-out.margin.detach())[:, None]
    assert torch.allclose(leaves["pw"].grad, torch.where(mw, -coeff, 0.0), atol=1e-12)
    assert torch.allclose(leaves["pl"].grad, torch.where(ml, coeff, 0.0), atol=1e-12)
    for k in ("rw", "rl", "srw", "srl"):
        assert leaves[k].grad is None
    if detach_score:
        assert leaves["sw"].grad is None and leaves["sl"].grad is None
        return
    sw, sl = _sig(scores["sw"]), _sig(scores["sl"])
    want_w = -coeff * sw * (1 - sw) / (sw + 0.5)
    want_l = -coeff * sl * (1 - sl) / (1.5 - sl)
    assert torch.allclose(leaves["sw"].grad, torch.where(mw, want_w, 0.0), atol=1e-12)
    assert torch.allclose(leaves["sl"].grad, torch.where(ml, want_l, 0.0), atol=1e-12)


# -- V-DPO ---------------------------------------------------------------------------------------------------


def test_vdpo_token_logps_hand_example():
    """lp = [−1, −2], lp_null = [−3, −4].

    γ = 2:  2·lp − 1·lp_null  = [−2 + 3, −4 + 4] = [1, 0]
    γ = .5: .5·lp + .5·lp_null = [−2, −3]
    γ = 0:  lp_null (detached)
    γ = 1:  lp itself, even with a NaN/inf null.
    """
    lp, null = torch.tensor([[-1.0, -2.0]]), torch.tensor([[-3.0, -4.0]])
    assert vdpo_token_logps(lp, null, gamma=2.0).tolist() == [[1.0, 0.0]]
    assert vdpo_token_logps(lp, null, gamma=0.5).tolist() == [[-2.0, -3.0]]
    assert vdpo_token_logps(lp, null, gamma=0.0).tolist() == [[-3.0, -4.0]]
    bad = torch.tensor([[float("nan"), float("-inf")]])
    assert vdpo_token_logps(lp, bad, gamma=1.0) is lp


def test_vdpo_loss_hand_example():
    """One pair, γ = 2, β = .5; lp̃ = 2·lp − lp_null on the policy only.

    chosen (mask [T, F]): lp = [−1, −7], null = [−3, −inf], ref = [−1.5, 0]
      lp̃ valid = −2 + 3 = 1 (the masked +inf is dropped);  r_w = 1 − (−1.5) = 2.5
    rejected: lp = [−2, −.5], null = [−1, −1], ref = [−1, −1]
      lp̃ = [−4 + 1, −1 + 1] = [−3, 0];  r_l = −3 − (−2) = −1
    h = .5 (2.5 + 1) = 1.75,  L = log(1 + e^{−1.75});  ∂L/∂lp^w_0 = −βσ(−h)γ = −σ(−1.75), 0 where masked.
    vanilla (plain lp) rewards: .5 (−1 + 1.5) = .25, .5 (−2.5 + 2) = −.25;
    image contributions Σ m (lp − null): −1 + 3 = 2 and (−2 + 1) + (−.5 + 1) = −.5.
    """
    pw = torch.tensor([[-1.0, -7.0]], requires_grad=True)
    nw, rw = torch.tensor([[-3.0, float("-inf")]]), torch.tensor([[-1.5, 0.0]])
    pl = torch.tensor([[-2.0, -0.5]], requires_grad=True)
    nl, rl = torch.tensor([[-1.0, -1.0]]), torch.tensor([[-1.0, -1.0]])
    mw, ml = torch.tensor([[True, False]]), torch.ones(1, 2, dtype=torch.bool)
    out = vdpo_loss(pw, pl, rw, rl, nw, nl, mw, ml, 0.5, gamma=2.0)
    assert isinstance(out, VDPOLoss)
    assert out.margin.item() == pytest.approx(1.75, abs=1e-6)
    assert out.loss.item() == pytest.approx(_softplus_neg(1.75), abs=1e-6)
    assert out.rewards_chosen.item() == pytest.approx(1.25)
    assert out.rewards_rejected.item() == pytest.approx(-0.5)
    assert out.vanilla_rewards_chosen.item() == pytest.approx(0.25)
    assert out.vanilla_rewards_rejected.item() == pytest.approx(-0.25)
    assert out.image_contribution_chosen.item() == pytest.approx(2.0)
    assert out.image_contribution_rejected.item() == pytest.approx(-0.5)
    out.loss.backward()
    s = 1 / (1 + math.exp(1.75))
    assert pw.grad[0].tolist() == pytest.approx([-s, 0.0], abs=1e-6)
    assert pl.grad[0].tolist() == pytest.approx([s, s], abs=1e-6)


def test_vdpo_gamma_one_equals_dpo_bit_for_bit_in_loss_and_gradients():
    """γ = 1: lp̃ = lp exactly, whatever the null term holds (here NaN and −inf at valid positions)."""
    lp, mw, ml, _ = _batch(seed=2)
    null = torch.full_like(lp["pw"], float("nan"))
    null[:, ::2] = float("-inf")
    vdpo = _run(lambda pw, pl: vdpo_loss(pw, pl, lp["rw"], lp["rl"], null, null, mw, ml, 0.1, gamma=1.0).loss,
                lp["pw"], lp["pl"])
    dpo = _run(lambda pw, pl: dpo_loss(pw, pl, lp["rw"], lp["rl"], mw, ml, 0.1).loss, lp["pw"], lp["pl"])
    for a, b in zip(vdpo, dpo, strict=True):
        assert torch.equal(a, b)
    v = vdpo_loss(lp["pw"], lp["pl"], lp["rw"], lp["rl"], null, null, mw, ml, 0.1, gamma=1.0)
    d = dpo_loss(lp["pw"], lp["pl"], lp["rw"], lp["rl"], mw, ml, 0.1)
    assert torch.equal(v.margin, d.margin) and torch.equal(v.rewards_chosen, d.rewards_chosen)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 3.0])
def test_vdpo_gradient_law_against_autograd(gamma):
    """Per pair ∂L/∂lp^w = −βσ(−h)γ, ∂L/∂lp^l = +βσ(−h)γ; lp_null and lp_ref get no gradient."""
    lp, mw, ml, g = _batch(b=2, t=6, seed=5, dtype=torch.float64)
    nulls = {k: -torch.rand(2, 6, generator=g, dtype=torch.float64) * 4 for k in ("nw", "nl")}
    leaves = {k: v.clone().requires_grad_(True) for k, v in {**lp, **nulls}.items()}
    beta = 0.1
    out = vdpo_loss(*(leaves[k] for k in ("pw", "pl", "rw", "rl", "nw", "nl")), mw, ml, beta, gamma=gamma)
    (out.loss * 2).backward()
    coeff = beta * _sig(-out.margin.detach())[:, None] * gamma
    assert torch.allclose(leaves["pw"].grad, torch.where(mw, -coeff, 0.0), atol=1e-12)
    assert torch.allclose(leaves["pl"].grad, torch.where(ml, coeff, 0.0), atol=1e-12)
    for k in ("rw", "rl", "nw", "nl"):
        assert leaves[k].grad is None


# -- mDPO ----------------------------------------------------------------------------------------------------


def test_mdpo_loss_hand_example_parts_and_total():
    """Two pairs, β = .5; pair 1 has policy = reference = crop = 0, so each of its parts is log 2.

    pair 0: lp_w = [−1, −1], ref_w = [−1.5, −1.5]            → r_w = −2 + 3 = 1
            lp_l = [−2, ·] (mask [T, F]), ref_l = [−1, ·]    → r_l = −2 + 1 = −1
            crop = [−2, −2], ref crop = [−2.5, −2]           → r_crop = −4 + 4.5 = .5
      DPO h = .5 (1 + 1) = 1;  conditional h_c = .5 (1 − .5) = .25;  anchor h_a = .5 · 1 = .5
    each part is the batch mean of log(1 + e^{−x}) over the two pairs; the total is their sum.
    """
    pw = torch.tensor([[-1.0, -1.0], [0.0, 0.0]])
    rw = torch.tensor([[-1.5, -1.5], [0.0, 0.0]])
    pl = torch.tensor([[-2.0, -50.0], [0.0, 0.0]])
    rl = torch.tensor([[-1.0, 0.0], [0.0, 0.0]])
    crop = torch.tensor([[-2.0, -2.0], [0.0, 0.0]], requires_grad=True)
    ref_crop = torch.tensor([[-2.5, -2.0], [0.0, 0.0]])
    mw, ml = torch.ones(2, 2, dtype=torch.bool), torch.tensor([[True, False], [True, True]])
    out = mdpo_loss(pw, pl, rw, rl, crop, ref_crop, mw, ml, 0.5)
    assert isinstance(out, MDPOLoss)
    log2 = math.log(2)
    parts = [(_softplus_neg(x) + log2) / 2 for x in (1.0, 0.25, 0.5)]
    assert out.loss_dpo.item() == pytest.approx(parts[0], abs=1e-6)
    assert out.loss_conditional.item() == pytest.approx(parts[1], abs=1e-6)
    assert out.loss_anchor.item() == pytest.approx(parts[2], abs=1e-6)
    assert out.loss.item() == pytest.approx(sum(parts), abs=1e-6)
    assert torch.allclose(out.loss, out.loss_dpo + out.loss_conditional + out.loss_anchor, atol=1e-7)
    assert out.losses[0].item() == pytest.approx(sum(_softplus_neg(x) for x in (1.0, 0.25, 0.5)), abs=1e-6)
    assert out.losses[1].item() == pytest.approx(3 * log2, abs=1e-6)
    assert out.margin.tolist() == pytest.approx([1.0, 0.0])
    assert out.margin_conditional.tolist() == pytest.approx([0.25, 0.0])
    assert out.margin_anchor.tolist() == pytest.approx([0.5, 0.0])
    assert out.rewards_crop_chosen.tolist() == pytest.approx([0.25, 0.0])
    assert out.rewards_chosen.tolist() == pytest.approx([0.5, 0.0])
    assert out.rewards_rejected.tolist() == pytest.approx([-0.5, 0.0])


def test_mdpo_gradient_law_against_autograd():
    """Per pair: ∂L/∂lp^w = −β[σ(−h) + σ(−h_c) + σ(−h_a)], ∂L/∂lp^l = +βσ(−h), ∂L/∂lp_crop = +βσ(−h_c).

    The reference log-probs (clear and cropped) get no gradient.
    """
    lp, mw, ml, g = _batch(b=2, t=6, seed=6, dtype=torch.float64)
    crops = {k: -torch.rand(2, 6, generator=g, dtype=torch.float64) * 4 for k in ("cw", "rcw")}
    leaves = {k: v.clone().requires_grad_(True) for k, v in {**lp, **crops}.items()}
    beta = 0.1
    out = mdpo_loss(*(leaves[k] for k in ("pw", "pl", "rw", "rl", "cw", "rcw")), mw, ml, beta)
    (out.loss * 2).backward()
    margins = (out.margin, out.margin_conditional, out.margin_anchor)
    s_h, s_c, s_a = (_sig(-m.detach())[:, None] for m in margins)
    assert torch.allclose(leaves["pw"].grad, torch.where(mw, -beta * (s_h + s_c + s_a), 0.0), atol=1e-12)
    assert torch.allclose(leaves["pl"].grad, torch.where(ml, beta * s_h, 0.0), atol=1e-12)
    assert torch.allclose(leaves["cw"].grad, torch.where(mw, beta * s_c, 0.0), atol=1e-12)
    for k in ("rw", "rl", "rcw"):
        assert leaves[k].grad is None


def test_mdpo_dpo_part_is_dpo():
    lp, mw, ml, _ = _batch(seed=7)
    out = mdpo_loss(lp["pw"], lp["pl"], lp["rw"], lp["rl"], lp["pw"], lp["rw"], mw, ml, 0.1)
    d = dpo_loss(lp["pw"], lp["pl"], lp["rw"], lp["rl"], mw, ml, 0.1)
    assert torch.equal(out.loss_dpo, d.loss) and torch.equal(out.margin, d.margin)
    # crop = clear: the conditional margin is 0, so its part is exactly log 2
    assert out.loss_conditional.item() == pytest.approx(math.log(2), abs=1e-7)
    expected_anchor = (-F.logsigmoid(d.rewards_chosen)).mean()
    assert torch.allclose(out.loss_anchor, expected_anchor, atol=1e-7)


# -- validation ----------------------------------------------------------------------------------------------


def _tpo_args():
    return [torch.zeros(3, 5)] * 8 + [torch.ones(3, 5, dtype=torch.bool)] * 2 + [0.1]


@pytest.mark.parametrize(
    "index, value, match",
    [
        (0, torch.zeros(3, 5, 1), "policy_chosen_logps"),
        (5, torch.zeros(3, 4), "policy_rejected_score"),
        (7, torch.zeros(2, 5), "ref_rejected_score"),
        (4, torch.zeros(3, 5, dtype=torch.long), "policy_chosen_score"),
        (9, torch.ones(3, 5), "mask_rejected"),
        (10, -1.0, "beta"),
    ],
)
def test_bad_tpo_loss_input(index, value, match):
    args = _tpo_args()
    args[index] = value
    with pytest.raises(ValueError, match=match):
        tpo_loss(*args)


@pytest.mark.parametrize(
    "index, value, match",
    [
        (4, torch.zeros(3, 4), "null_chosen_logps"),
        (5, torch.zeros(3, 5, dtype=torch.int32), "null_rejected_logps"),
        (6, torch.zeros(3, 5, dtype=torch.uint8), "mask_chosen"),
    ],
)
def test_bad_vdpo_loss_input(index, value, match):
    args = [torch.zeros(3, 5)] * 6 + [torch.ones(3, 5, dtype=torch.bool)] * 2 + [0.1]
    args[index] = value
    with pytest.raises(ValueError, match=match):
        vdpo_loss(*args, gamma=2.0)


@pytest.mark.parametrize("gamma", [-0.5, float("nan"), float("inf")])
def test_vdpo_refuses_bad_gamma(gamma):
    x, m = torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="gamma"):
        vdpo_token_logps(x, x, gamma=gamma)
    with pytest.raises(ValueError, match="gamma"):
        vdpo_loss(x, x, x, x, x, x, m, m, 0.1, gamma=gamma)


@pytest.mark.parametrize(
    "index, value, match",
    [
        (4, torch.zeros(3, 6), "policy_chosen_crop_logps"),
        (5, torch.zeros(3, 5, dtype=torch.long), "ref_chosen_crop_logps"),
        (8, 0.0, "beta"),
    ],
)
def test_bad_mdpo_loss_input(index, value, match):
    args = [torch.zeros(3, 5)] * 6 + [torch.ones(3, 5, dtype=torch.bool)] * 2 + [0.1]
    args[index] = value
    with pytest.raises(ValueError, match=match):
        mdpo_loss(*args)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: tpo_token_logps(torch.zeros(2, 3, 1), torch.zeros(2, 3, 1), preferred=True), "logps"),
        (lambda: tpo_token_logps(torch.zeros(2, 3), torch.zeros(2, 4), preferred=True), "score"),
        (lambda: tpo_token_logps(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3), preferred=True),
         "logps"),
        (lambda: vdpo_token_logps(torch.zeros(2, 3), torch.zeros(3, 3), gamma=2.0), "logps_null"),
        (lambda: tpo_token_logps(torch.zeros(2, 3), torch.zeros(2, 3, device="meta"), preferred=True),
         "device"),
    ],
)
def test_bad_token_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("clear", torch.zeros(1, 2), "clear_logits"),
        ("noised", torch.zeros(1, 2, 5), "noised_logits"),
        ("labels", torch.zeros(1, 2), "labels"),
        ("labels", torch.tensor([[0, 4]]), "labels"),
        ("mask", torch.ones(1, 2), "mask"),
        ("mask", torch.zeros(1, 2, dtype=torch.bool), "mask"),
    ],
)
def test_bad_tpo_score_input(field, value, match):
    args = {"clear": torch.zeros(1, 2, 4), "noised": torch.zeros(1, 2, 4), "labels": torch.tensor([[0, 3]]),
            "mask": torch.ones(1, 2, dtype=torch.bool)}
    args[field] = value
    with pytest.raises(ValueError, match=match):
        tpo_score(args["clear"], args["noised"], args["labels"], args["mask"])


def test_baselines_do_not_import_transformers():
    code = (
        "import sys; import uedpo.baselines; "
        "bad = [m for m in ('transformers', 'peft', 'gradio') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- reference scores, one-token means, tiny vocabularies (mutation testing, docs/testing.md) ----------------
def test_tpo_reference_scores_weight_the_rejected_reference_and_get_no_gradient():
    """One token per branch, β = 1, policy s = 0 (w = 1), reference s = ln 3 on both branches:
    w_ref^w = σ(ln 3) + .5 = 1.25, w_ref^l = 1.5 − σ(ln 3) = .75; lp = ref = −1 everywhere, so
    r_w = −1 − (−1 + ln 1.25) = −ln 1.25 and r_l = −1 − (−1 + ln .75) = −ln .75."""
    lp, mask = torch.tensor([[-1.0]]), torch.ones(1, 1, dtype=torch.bool)
    zero = torch.zeros(1, 1)
    s_ref_w = torch.full((1, 1), LN3, requires_grad=True)
    s_ref_l = torch.full((1, 1), LN3, requires_grad=True)
    pw = lp.clone().requires_grad_(True)
    out = tpo_loss(pw, lp, lp, lp, zero, zero, s_ref_w, s_ref_l, mask, mask, 1.0)
    assert out.rewards_chosen.item() == pytest.approx(-math.log(1.25), abs=1e-6)
    assert out.rewards_rejected.item() == pytest.approx(-math.log(0.75), abs=1e-6)
    assert out.margin.item() == pytest.approx(math.log(0.75) - math.log(1.25), abs=1e-6)
    out.loss.backward()
    assert pw.grad is not None and s_ref_w.grad is None and s_ref_l.grad is None


def test_tpo_token_means_with_a_single_valid_token():
    """Chosen mask [T, F]: the means are over that one token (σ(ln 3) + .5 = 1.25, s = ln 3), not halved."""
    lp = torch.tensor([[-1.0, -2.0]])
    s = torch.tensor([[LN3, 4.0]])
    mw, ml = torch.tensor([[True, False]]), torch.tensor([[False, True]])
    out = tpo_loss(lp, lp, lp, lp, s, s, torch.zeros(1, 2), torch.zeros(1, 2), mw, ml, 0.1)
    assert out.weight_chosen_mean.item() == pytest.approx(1.25, abs=1e-6)
    assert out.score_chosen_mean.item() == pytest.approx(LN3, abs=1e-6)
    assert out.weight_rejected_mean.item() == pytest.approx(1.5 - torch.sigmoid(torch.tensor(4.0)).item(), abs=1e-6)
    assert out.score_rejected_mean.item() == pytest.approx(4.0)


def test_tpo_score_gathers_masked_positions_at_id_zero_so_a_one_token_vocabulary_works():
    clear, noised = torch.tensor([[[2.0], [5.0]]]), torch.tensor([[[0.5], [1.0]]])
    s = tpo_score(clear, noised, torch.tensor([[0, -100]]), torch.tensor([[True, False]]))
    assert s.tolist() == [[1.5, 0.0]]
