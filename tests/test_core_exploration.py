"""λ and token types: bounds, selectivity, gated counts, degenerate rows, row independence."""

import math

import pytest
import torch

from uedpo.exploration import TokenType, exploration_strengths, explore, token_types


def _signals(b=4, t=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(b, t, generator=g)
    delta = torch.randn(b, t, generator=g)
    mask = torch.ones(b, t, dtype=torch.bool)
    mask[2, 30:] = False
    return u, delta, mask


@pytest.mark.parametrize("preferred", [True, False])
def test_lambda_bounds_and_one_outside_gate_and_mask(preferred):
    u, delta, mask = _signals()
    ex = explore(u, delta, mask, preferred=preferred, alpha=0.3, tau=0.4)
    lam = ex.lam
    if preferred:
        assert bool(((lam >= 1) & (lam <= 1.3 + 1e-6)).all())
    else:
        assert bool(((lam <= 1) & (lam >= 0.7 - 1e-6)).all())
    assert torch.equal(lam[~ex.gate], torch.ones(int((~ex.gate).sum())))
    assert not bool((ex.gate & ~mask).any())
    assert bool((lam[ex.gate] != 1).all())


def test_selectivity_chosen_low_delta_rejected_high_delta():
    u, delta, mask = _signals()
    w = explore(u, delta, mask, preferred=True, alpha=0.3, tau=0.4)
    lo = explore(u, delta, mask, preferred=False, alpha=0.3, tau=0.4)
    for row in range(u.shape[0]):
        valid = delta[row][mask[row]]
        q_lo, q_hi = torch.quantile(valid, 0.4), torch.quantile(valid, 0.6)
        assert torch.equal(w.gate[row], mask[row] & (delta[row] < q_lo))
        assert torch.equal(lo.gate[row], mask[row] & (delta[row] >= q_hi))


@pytest.mark.parametrize("n, tau", [(50, 0.4), (37, 0.3), (11, 0.25), (2, 0.4)])
def test_gated_counts_follow_the_quantile_formula(n, tau):
    g = torch.Generator().manual_seed(n)
    delta = torch.randperm(n, generator=g).float()[None] / 7.0  # distinct values
    u, mask = torch.randn(1, n, generator=g), torch.ones(1, n, dtype=torch.bool)
    n_w = int(explore(u, delta, mask, preferred=True, alpha=0.3, tau=tau).n_gated)
    n_l = int(explore(u, delta, mask, preferred=False, alpha=0.3, tau=tau).n_gated)
    assert abs(n_w - math.ceil(tau * (n - 1))) <= 1
    assert abs(n_l - (n - math.ceil((1 - tau) * (n - 1)))) <= 1


def test_n50_tau04_gates_exactly_twenty_each():
    delta = torch.arange(50, dtype=torch.float32)[None] * 0.37
    u, mask = torch.randn(1, 50), torch.ones(1, 50, dtype=torch.bool)
    assert int(explore(u, delta, mask, preferred=True, alpha=0.3, tau=0.4).n_gated) == 20
    assert int(explore(u, delta, mask, preferred=False, alpha=0.3, tau=0.4).n_gated) == 20


def test_single_token_row_chosen_flags_nothing_rejected_flags_it():
    u, delta, mask = torch.tensor([[0.7]]), torch.tensor([[0.2]]), torch.ones(1, 1, dtype=torch.bool)
    assert int(explore(u, delta, mask, preferred=True, alpha=0.3, tau=0.4).n_gated) == 0
    ex = explore(u, delta, mask, preferred=False, alpha=0.3, tau=0.4)
    assert int(ex.n_gated) == 1 and math.isclose(ex.lam[0, 0].item(), 1 - 0.3 * 0.5, rel_tol=1e-6)


def test_all_equal_delta_chosen_flags_nothing_rejected_flags_all():
    u, mask = torch.randn(2, 9), torch.ones(2, 9, dtype=torch.bool)
    delta = torch.full((2, 9), 0.25)
    assert int(explore(u, delta, mask, preferred=True, alpha=0.3, tau=0.4).gate.sum()) == 0
    assert int(explore(u, delta, mask, preferred=False, alpha=0.3, tau=0.4).gate.sum()) == 18


def test_degenerate_rows_give_no_nan():
    delta = torch.tensor([[0.0, 0.0, 0.0, 0.0], [1e30, -1e30, 3.0, 2.0], [0.1, 0.2, 0.3, 0.4]])
    u = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1e30, -1e30, 5.0, 5.0], [2.0, 2.0, 2.0, 2.0]])
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[2] = False  # a row with no valid token
    for preferred in (True, False):
        for scope in ("sequence", "batch"):
            lam = exploration_strengths(u, delta, mask, preferred=preferred, alpha=0.5, tau=0.4, scope=scope)
            assert bool(torch.isfinite(lam).all())
            assert torch.equal(lam[2], torch.ones(4))


def test_zero_spread_gives_sigma_half():
    # rejected row, all gated tokens share u: ς = 0 → z = 0 → λ = 1 − α/2
    u = torch.full((1, 5), 2.0)
    delta = torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0]])
    ex = explore(u, delta, torch.ones(1, 5, dtype=torch.bool), preferred=False, alpha=0.4, tau=0.4)
    assert torch.allclose(ex.lam[ex.gate], torch.full((int(ex.gate.sum()),), 0.8))


def test_rows_are_independent_of_other_rows_and_of_padding():
    u, delta, mask = _signals(b=3, t=20)
    alone = exploration_strengths(u[:1], delta[:1], mask[:1], preferred=True, alpha=0.3, tau=0.4)
    other = _signals(b=3, t=20, seed=9)
    mixed = torch.cat([u[:1], other[0][1:]]), torch.cat([delta[:1], other[1][1:]]), mask
    together = exploration_strengths(*mixed, preferred=True, alpha=0.3, tau=0.4)
    assert torch.equal(alone[0], together[0])
    # pad the row with garbage positions outside the mask
    pad_u = torch.cat([u[:1], torch.full((1, 6), 99.0)], 1)
    pad_d = torch.cat([delta[:1], torch.full((1, 6), -99.0)], 1)
    pad_m = torch.cat([mask[:1], torch.zeros(1, 6, dtype=torch.bool)], 1)
    padded = exploration_strengths(pad_u, pad_d, pad_m, preferred=True, alpha=0.3, tau=0.4)
    assert torch.equal(padded[0, :20], alone[0]) and torch.equal(padded[0, 20:], torch.ones(6))


def test_values_outside_mask_do_not_change_lambda_on_valid_positions():
    u, delta, mask = _signals()
    u2, d2 = u.clone(), delta.clone()
    u2[~mask], d2[~mask] = 1e6, -1e6
    for preferred in (True, False):
        a = exploration_strengths(u, delta, mask, preferred=preferred, alpha=0.3, tau=0.4)
        b = exploration_strengths(u2, d2, mask, preferred=preferred, alpha=0.3, tau=0.4)
        assert torch.equal(a, b)


def test_batch_scope_pools_rows():
    u, delta, mask = _signals()
    ex = explore(u, delta, mask, preferred=True, alpha=0.3, tau=0.4, scope="batch")
    q = torch.quantile(delta[mask], 0.4)
    assert torch.equal(ex.gate, mask & (delta < q))
    gated_u = u[ex.gate]
    assert torch.allclose(ex.mu, gated_u.mean().expand(4))
    assert torch.allclose(ex.sigma, gated_u.std(unbiased=False).expand(4))


def test_alpha_zero_gives_exactly_one():
    u, delta, mask = _signals()
    for preferred in (True, False):
        lam = exploration_strengths(u, delta, mask, preferred=preferred, alpha=0.0, tau=0.4)
        assert torch.equal(lam, torch.ones_like(lam))


def test_token_types_split_gated_preferred_tokens_at_mu():
    u, delta, mask = _signals()
    ex = explore(u, delta, mask, preferred=True, alpha=0.3, tau=0.4)
    types = token_types(u, delta, mask, preferred=True, tau=0.4)
    above = u > ex.mu[:, None]
    assert torch.equal(types == TokenType.TYPE_I, ex.gate & above)
    assert torch.equal(types == TokenType.TYPE_II, ex.gate & ~above)
    assert torch.equal(types == TokenType.NOT_SCORED, ~mask)
    assert torch.equal(types == TokenType.UNGATED, mask & ~ex.gate)
    rej = token_types(u, delta, mask, preferred=False, tau=0.4)
    assert set(rej[mask].unique().tolist()) <= {int(TokenType.EASED), int(TokenType.UNGATED)}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"tau": 0.0}, "tau"), ({"tau": 1.0}, "tau"), ({"alpha": 1.0}, "alpha"), ({"alpha": -0.1}, "alpha"),
        ({"scope": "global"}, "scope"),
    ],
)
def test_bad_hyperparameters_raise(kwargs, match):
    u, delta, mask = _signals()
    args = {"preferred": True, "alpha": 0.3, "tau": 0.4, **kwargs}
    with pytest.raises(ValueError, match=match):
        exploration_strengths(u, delta, mask, **args)


def test_shape_mismatch_raises():
    u, delta, mask = _signals()
    with pytest.raises(ValueError, match="delta"):
        exploration_strengths(u, delta[:, :3], mask, preferred=True, alpha=0.3, tau=0.4)
    with pytest.raises(ValueError, match="mask"):
        exploration_strengths(u, delta, mask.float(), preferred=True, alpha=0.3, tau=0.4)
