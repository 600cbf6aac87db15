"""The UE-DPO loss: α = 0 is DPO bit for bit, the gradient law, the init offset, a hand-computed example."""

import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from uedpo.exploration import TokenType, exploration_strengths, token_types
from uedpo.loss import dpo_loss, ue_dpo_loss
from uedpo.signals import token_signals


def trl_sigmoid_dpo(pc, pr, rc, rr, mc, mr, beta):
    """TRL-style sigmoid DPO written independently: masked sums, log-ratios, −logσ(β·Δ)."""
    chosen = (pc * mc).sum(-1) - (rc * mc).sum(-1)
    rejected = (pr * mr).sum(-1) - (rr * mr).sum(-1)
    return (-F.logsigmoid(beta * (chosen - rejected))).mean()


def _pair_batch(b=3, t=9, v=17, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = {k: torch.randn(b, t, v, generator=g) for k in ("cw", "bw", "cl", "bl", "rw", "rl")}
    labels_w, labels_l = torch.randint(0, v, (b, t), generator=g), torch.randint(0, v, (b, t), generator=g)
    mask_w, mask_l = torch.ones(b, t, dtype=torch.bool), torch.ones(b, t, dtype=torch.bool)
    mask_w[0, 6:] = False
    mask_l[1, 4:] = False
    return logits, labels_w, labels_l, mask_w, mask_l


def _logps(logits, labels):
    return torch.log_softmax(logits, -1).gather(-1, labels[..., None])[..., 0]


def test_alpha_zero_equals_dpo_bit_for_bit_in_loss_and_gradients():
    logits, lw, ll, mw, ml = _pair_batch()
    sw = token_signals(logits["cw"], logits["bw"], lw, mw)
    sl = token_signals(logits["cl"], logits["bl"], ll, ml)
    lam_w = exploration_strengths(sw.u, sw.delta, mw, preferred=True, alpha=0.0, tau=0.4)
    lam_l = exploration_strengths(sl.u, sl.delta, ml, preferred=False, alpha=0.0, tau=0.4)

    def run(fn):
        pw = _logps(logits["cw"], lw).requires_grad_(True)
        pl = _logps(logits["cl"], ll).requires_grad_(True)
        loss = fn(pw, pl)
        loss.backward()
        return loss.detach(), pw.grad, pl.grad

    rw, rl = _logps(logits["rw"], lw), _logps(logits["rl"], ll)
    ue = run(lambda pw, pl: ue_dpo_loss(pw, pl, rw, rl, lam_w, lam_l, mw, ml, 0.1).loss)
    dpo = run(lambda pw, pl: dpo_loss(pw, pl, rw, rl, mw, ml, 0.1).loss)
    trl = run(lambda pw, pl: trl_sigmoid_dpo(pw, pl, rw, rl, mw, ml, 0.1))
    for a, b, c in zip(ue, dpo, trl, strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)


def test_gradient_law_against_autograd():
    logits, lw, ll, mw, ml = _pair_batch(b=2, t=12, seed=3)
    sw = token_signals(logits["cw"], logits["bw"], lw, mw)
    sl = token_signals(logits["cl"], logits["bl"], ll, ml)
    lam_w = exploration_strengths(sw.u, sw.delta, mw, preferred=True, alpha=0.5, tau=0.4).double()
    lam_l = exploration_strengths(sl.u, sl.delta, ml, preferred=False, alpha=0.5, tau=0.4).double()
    pw = _logps(logits["cw"], lw).double().requires_grad_(True)
    pl = _logps(logits["cl"], ll).double().requires_grad_(True)
    rw = _logps(logits["rw"], lw).double().requires_grad_(True)
    rl = _logps(logits["rl"], ll).double().requires_grad_(True)
    beta = 0.1
    out = ue_dpo_loss(pw, pl, rw, rl, lam_w, lam_l, mw, ml, beta)
    (out.loss * pw.shape[0]).backward()  # per-pair gradients (undo the batch mean)
    coeff = beta * torch.sigmoid(-out.margin.detach())[:, None]
    assert torch.allclose(pw.grad, torch.where(mw, -coeff * lam_w, 0.0), atol=1e-12)
    assert torch.allclose(pl.grad, torch.where(ml, coeff * lam_l, 0.0), atol=1e-12)
    assert rw.grad is None and rl.grad is None  # the reference gets no gradient
    assert not lam_w.requires_grad and not sw.u.requires_grad and not sw.delta.requires_grad
    # the ratio of two same-branch token gradients is their λ ratio
    assert math.isclose((pw.grad[0, 0] / pw.grad[0, 1]).item(), (lam_w[0, 0] / lam_w[0, 1]).item(), rel_tol=1e-9)


def test_initial_loss_is_at_least_log2_and_equal_iff_nothing_weighted():
    logits, lw, ll, mw, ml = _pair_batch(b=4, t=30, seed=5)
    pw, pl = _logps(logits["cw"], lw), _logps(logits["cl"], ll)
    sw = token_signals(logits["cw"], logits["bw"], lw, mw)
    sl = token_signals(logits["cl"], logits["bl"], ll, ml)
    for alpha in (0.0, 0.3, 0.9):
        lam_w = exploration_strengths(sw.u, sw.delta, mw, preferred=True, alpha=alpha, tau=0.4)
        lam_l = exploration_strengths(sl.u, sl.delta, ml, preferred=False, alpha=alpha, tau=0.4)
        out = ue_dpo_loss(pw, pl, pw, pl, lam_w, lam_l, mw, ml, 0.1)  # policy == reference
        h0 = 0.1 * (((lam_w - 1) * pw * mw).sum(-1) - ((lam_l - 1) * pl * ml).sum(-1))
        assert torch.allclose(out.margin, h0, atol=1e-6) and bool((out.margin <= 0).all())
        if alpha == 0.0:
            assert out.loss.item() == pytest.approx(math.log(2), abs=1e-7)
        else:
            assert out.loss.item() > math.log(2)
            assert bool((out.rewards_chosen <= 0).all()) and bool((out.rewards_rejected >= 0).all())
            assert torch.equal(out.vanilla_rewards_chosen, torch.zeros(4))


def test_hand_computed_three_token_example():
    """One pair, V = 3, three response tokens, α = 0.4, τ = 0.9, β = 0.1.

    clear z / blurred z' / label per token:
      t0: z = [2, 1, 0],   z' = [1, 1.5, 0], a = 0 → â = 1, u = 1 − 2 = −1,    Δ = 2 − 1 = 1
      t1: z = [.5, 3, 0],  z' = [.5, 2, 0],  a = 0 → â = 1, u = 3 − .5 = 2.5,   Δ = .5 − .5 = 0
      t2: z = [1, 0, 2],   z' = [0, 0, 2.5], a = 2 → â = 2, u = 0,              Δ = 2 − 2.5 = −.5
    Preferred: q_0.9 of Δ sorted [−.5, 0, 1] at position 0.9·2 = 1.8 → 0 + .8·1 = 0.8; gate Δ < 0.8 = {t1, t2}.
      gated u = [2.5, 0]: μ = 1.25, ς = 1.25, z = [+1, −1];
      λ_w = [1, 1 + .4σ(1), 1 + .4σ(−1)]; types [ungated, Type-I, Type-II].
    Dispreferred (same signals): q_0.1 at 0.2 → −.5 + .2·.5 = −0.4; gate Δ ≥ −0.4 = {t0, t1};
      gated u = [−1, 2.5]: μ = .75, ς = 1.75, z = [−1, +1]; λ_l = [1 − .4σ(−1), 1 − .4σ(1), 1].
    Log-probs: lp_w = [−.5, −1, −2], ref_w = [−.6, −1, −1.5]; lp_l = [−1, −.5, −.2], ref_l = [−1, −.4, −.3].
      S_w = Σλ_w·lp_w − Σref_w = −.5 − (1 + .4σ(1)) − 2(1 + .4σ(−1)) + 3.1
      S_l = Σλ_l·lp_l − Σref_l = −(1 − .4σ(−1)) − .5(1 − .4σ(1)) − .2 + 1.7
      h = .1(S_w − S_l),  L = log(1 + e^{−h}).
    """
    s1, sm1 = 1 / (1 + math.exp(-1)), 1 / (1 + math.exp(1))
    clear = torch.tensor([[[2.0, 1.0, 0.0], [0.5, 3.0, 0.0], [1.0, 0.0, 2.0]]])
    blurred = torch.tensor([[[1.0, 1.5, 0.0], [0.5, 2.0, 0.0], [0.0, 0.0, 2.5]]])
    labels, mask = torch.tensor([[0, 0, 2]]), torch.ones(1, 3, dtype=torch.bool)
    s = token_signals(clear, blurred, labels, mask)
    assert s.u.tolist() == [[-1.0, 2.5, 0.0]] and s.delta.tolist() == [[1.0, 0.0, -0.5]]

    lam_w = exploration_strengths(s.u, s.delta, mask, preferred=True, alpha=0.4, tau=0.9)
    lam_l = exploration_strengths(s.u, s.delta, mask, preferred=False, alpha=0.4, tau=0.9)
    assert torch.allclose(lam_w, torch.tensor([[1.0, 1 + 0.4 * s1, 1 + 0.4 * sm1]]))
    assert torch.allclose(lam_l, torch.tensor([[1 - 0.4 * sm1, 1 - 0.4 * s1, 1.0]]))
    types = token_types(s.u, s.delta, mask, preferred=True, tau=0.9)
    assert types.tolist() == [[TokenType.UNGATED, TokenType.TYPE_I, TokenType.TYPE_II]]

    lp_w, ref_w = torch.tensor([[-0.5, -1.0, -2.0]]), torch.tensor([[-0.6, -1.0, -1.5]])
    lp_l, ref_l = torch.tensor([[-1.0, -0.5, -0.2]]), torch.tensor([[-1.0, -0.4, -0.3]])
    out = ue_dpo_loss(lp_w, lp_l, ref_w, ref_l, lam_w, lam_l, mask, mask, 0.1)
    s_w = -0.5 - (1 + 0.4 * s1) - 2 * (1 + 0.4 * sm1) + 3.1
    s_l = -(1 - 0.4 * sm1) - 0.5 * (1 - 0.4 * s1) - 0.2 + 1.7
    h = 0.1 * (s_w - s_l)
    assert out.margin.item() == pytest.approx(h, abs=1e-6)
    assert out.loss.item() == pytest.approx(math.log1p(math.exp(-h)), abs=1e-6)
    assert out.rewards_chosen.item() == pytest.approx(0.1 * s_w, abs=1e-6)
    assert out.vanilla_rewards_chosen.item() == pytest.approx(0.1 * (-3.5 + 3.1), abs=1e-6)


def test_weight_reference_ablation_weights_the_reference_sum():
    lp, ref = torch.tensor([[-1.0, -2.0]]), torch.tensor([[-0.5, -0.5]])
    lam, mask = torch.tensor([[2.0, 1.0]]), torch.ones(1, 2, dtype=torch.bool)
    plain = ue_dpo_loss(lp, lp, ref, ref, lam, torch.ones_like(lam), mask, mask, 1.0)
    ablated = ue_dpo_loss(lp, lp, ref, ref, lam, torch.ones_like(lam), mask, mask, 1.0, weight_reference=True)
    assert plain.rewards_chosen.item() == pytest.approx((-2 - 2) - (-1.0))
    assert ablated.rewards_chosen.item() == pytest.approx((-2 - 2) - (-1.0 - 0.5))


def test_lambda_statistics():
    lp, mask = torch.zeros(1, 4), torch.tensor([[True, True, True, False]])
    lam_w, lam_l = torch.tensor([[1.2, 1.0, 1.1, 5.0]]), torch.tensor([[1.0, 0.9, 1.0, 1.0]])
    out = ue_dpo_loss(lp, lp, lp, lp, lam_w, lam_l, mask, mask, 0.1)
    assert out.lam_chosen_mean.item() == pytest.approx(1.15)
    assert out.frac_weighted_chosen.item() == pytest.approx(2 / 3)
    assert out.lam_rejected_mean.item() == pytest.approx(0.9)


@pytest.mark.parametrize(
    "index, value, match",
    [
        (0, torch.zeros(3, 5, 1), "policy_chosen_logps"),
        (1, torch.zeros(2, 5), "policy_rejected_logps"),
        (2, torch.zeros(3, 4), "ref_chosen_logps"),
        (6, torch.ones(3, 5), "mask_chosen"),
        (5, torch.zeros(3, 2), "lam_rejected"),
        (8, 0.0, "beta"),
    ],
)
def test_bad_loss_input(index, value, match):
    args = [torch.zeros(3, 5)] * 6 + [torch.ones(3, 5, dtype=torch.bool)] * 2 + [0.1]
    args[index] = value
    with pytest.raises(ValueError, match=match):
        ue_dpo_loss(*args)


def test_core_modules_do_not_import_transformers():
    code = (
        "import sys; import uedpo.noise, uedpo.signals, uedpo.exploration, uedpo.loss; "
        "bad = [m for m in ('transformers', 'peft', 'gradio') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- hand-computed statistics and boundaries (mutation testing, docs/testing.md) ------------------------------
def test_rejected_rewards_margins_and_accuracies_by_hand():
    """β = 0.1, one pair of two tokens each, λ_w = [2, 1], λ_l = [1, 0.5]:
    chosen:   Σλ·lp = 2(−1) + (−2) = −4, Σref = −1, weighted reward .1(−3) = −.3, vanilla .1(−3 + 1) = −.2
    rejected: Σλ·lp = −3 + .5(−1) = −3.5, Σref = −2.5, weighted .1(−1) = −.1, vanilla .1(−4 + 2.5) = −.15
    margin h = −.3 − (−.1) = −.2; accuracies: −.3 > −.1 false, −.2 > −.15 false."""
    lp_w, ref_w = torch.tensor([[-1.0, -2.0]]), torch.tensor([[-0.5, -0.5]])
    lp_l, ref_l = torch.tensor([[-3.0, -1.0]]), torch.tensor([[-1.5, -1.0]])
    lam_w, lam_l, mask = torch.tensor([[2.0, 1.0]]), torch.tensor([[1.0, 0.5]]), torch.ones(1, 2, dtype=torch.bool)
    out = ue_dpo_loss(lp_w, lp_l, ref_w, ref_l, lam_w, lam_l, mask, mask, 0.1)
    assert out.rewards_chosen.item() == pytest.approx(-0.3)
    assert out.rewards_rejected.item() == pytest.approx(-0.1)
    assert out.vanilla_rewards_chosen.item() == pytest.approx(-0.2)
    assert out.vanilla_rewards_rejected.item() == pytest.approx(-0.15)
    assert out.logps_chosen.item() == -3.0 and out.logps_rejected.item() == -4.0
    assert out.reward_margins.item() == pytest.approx(-0.2)
    assert out.margin.item() == pytest.approx(-0.2)
    assert out.reward_accuracies.item() == 0.0 and out.vanilla_reward_accuracies.item() == 0.0
    swapped = ue_dpo_loss(lp_l, lp_w, ref_l, ref_w, lam_l, lam_w, mask, mask, 0.1)
    assert swapped.reward_accuracies.item() == 1.0 and swapped.vanilla_reward_accuracies.item() == 1.0


def test_tied_rewards_are_not_accurate():
    lp, mask = torch.tensor([[-1.0, -2.0]]), torch.ones(1, 2, dtype=torch.bool)
    out = dpo_loss(lp, lp, lp, lp, mask, mask, 0.1)
    assert out.reward_accuracies.item() == 0.0 and out.vanilla_reward_accuracies.item() == 0.0
    assert out.reward_margins.item() == 0.0


def test_weight_reference_ablation_weights_the_rejected_reference_too():
    """λ_l = [0.5, 1], ref_l = [−2, −1]: the weighted reference sum is .5(−2) − 1 = −2 (not −3)."""
    lp, mask = torch.tensor([[-1.0, -1.0]]), torch.ones(1, 2, dtype=torch.bool)
    ref_l, lam_l = torch.tensor([[-2.0, -1.0]]), torch.tensor([[0.5, 1.0]])
    out = ue_dpo_loss(lp, lp, lp, ref_l, torch.ones(1, 2), lam_l, mask, mask, 1.0, weight_reference=True)
    assert out.rewards_rejected.item() == pytest.approx((0.5 * -1 - 1) - (0.5 * -2 - 1))


def test_lambda_statistics_with_nothing_or_one_token_weighted():
    lp, mask = torch.zeros(1, 3), torch.ones(1, 3, dtype=torch.bool)
    ones = torch.ones(1, 3)
    out = ue_dpo_loss(lp, lp, lp, lp, ones, torch.tensor([[1.0, 0.7, 1.0]]), mask, mask, 0.1)
    assert out.lam_chosen_mean.item() == 1.0 and out.frac_weighted_chosen.item() == 0.0
    assert out.lam_rejected_mean.item() == pytest.approx(0.7)
    assert out.frac_weighted_rejected.item() == pytest.approx(1 / 3)


def test_chosen_and_rejected_may_have_different_lengths():
    """Each branch is checked against its own policy tensor: T_w = 3, T_l = 2 is valid."""
    lp_w, lp_l = torch.tensor([[-1.0, -1.0, -1.0]]), torch.tensor([[-2.0, -2.0]])
    mw, ml = torch.ones(1, 3, dtype=torch.bool), torch.ones(1, 2, dtype=torch.bool)
    out = ue_dpo_loss(lp_w, lp_l, lp_w, lp_l, torch.ones(1, 3), torch.ones(1, 2), mw, ml, 0.1)
    assert out.logps_chosen.item() == -3.0 and out.logps_rejected.item() == -4.0
    with pytest.raises(ValueError, match="lam_rejected"):
        ue_dpo_loss(lp_w, lp_l, lp_w, lp_l, torch.ones(1, 3), torch.ones(1, 3), mw, ml, 0.1)


def test_weighted_fraction_with_a_single_valid_token():
    """One valid chosen token, weighted (λ = 1.2): the share of weighted tokens is 1/1."""
    lp, mask = torch.zeros(1, 2), torch.tensor([[True, False]])
    out = ue_dpo_loss(lp, lp, lp, lp, torch.tensor([[1.2, 3.0]]), torch.ones(1, 2), mask, mask, 0.1)
    assert out.frac_weighted_chosen.item() == 1.0 and out.lam_chosen_mean.item() == pytest.approx(1.2)
    assert out.frac_weighted_rejected.item() == 0.0 and out.lam_rejected_mean.item() == 1.0
