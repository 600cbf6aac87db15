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


# -- hand-computed boundaries (mutation testing, docs/testing.md) ---------------------------------------------
def _one_row(u, delta, mask=None):
    u, delta = torch.tensor([u]), torch.tensor([delta])
    return u, delta, torch.ones_like(u, dtype=torch.bool) if mask is None else torch.tensor([mask])


def test_token_type_names_are_the_display_labels():
    from uedpo.exploration import TOKEN_TYPE_NAMES

    assert TOKEN_TYPE_NAMES == {TokenType.NOT_SCORED: "not-scored", TokenType.UNGATED: "ungated",
                                TokenType.TYPE_I: "type-i", TokenType.TYPE_II: "type-ii", TokenType.EASED: "eased"}


def test_u_equal_to_mu_is_type_ii_and_a_lone_gated_token_has_mu_equal_to_its_u():
    """τ = 0.99, Δ = [0, 0, 0, 1]: q ≈ 0.97, so the first three are gated; u = [0, 1, 2, 5] gives μ = 1 over
    them, so u = 1 (= μ) is Type-II and only u = 2 is Type-I. A row whose gate holds one token: μ = its u."""
    u, delta, mask = _one_row([0.0, 1.0, 2.0, 5.0], [0.0, 0.0, 0.0, 1.0])
    types = token_types(u, delta, mask, preferred=True, tau=0.99)
    assert types.tolist() == [[TokenType.TYPE_II, TokenType.TYPE_II, TokenType.TYPE_I, TokenType.UNGATED]]
    ex = explore(*_one_row([3.0, 7.0], [0.0, 1.0]), preferred=True, alpha=0.5, tau=0.5)  # q = 0.5: gate {t0}
    assert ex.gate.tolist() == [[True, False]] and ex.mu.item() == 3.0 and ex.n_gated.tolist() == [1]
    assert ex.lam.tolist() == [[1.25, 1.0]]  # fewer than two gated tokens: z = 0, σ(z) = 0.5


def test_z_uses_sigma_at_the_floor_and_is_zero_outside_the_gate():
    """Gated u = [0, 1]: μ = 0.5, ς = 0.5, z = ±1 with the default floor and with std_eps = ς exactly; a floor
    above ς switches z off. The ungated token (Δ = 1) keeps z = 0."""
    u, delta, mask = _one_row([0.0, 1.0, 9.0], [0.0, 0.0, 1.0])
    for kwargs in ({}, {"std_eps": 0.5}):
        ex = explore(u, delta, mask, preferred=True, alpha=0.2, tau=0.9, **kwargs)
        assert ex.gate.tolist() == [[True, True, False]]
        assert ex.z.tolist() == [[-1.0, 1.0, 0.0]] and ex.sigma.item() == 0.5
        lam = exploration_strengths(u, delta, mask, preferred=True, alpha=0.2, tau=0.9, **kwargs)
        assert torch.allclose(lam, torch.tensor([[1 + 0.2 * torch.sigmoid(torch.tensor(-1.0)).item(),
                                                  1 + 0.2 * torch.sigmoid(torch.tensor(1.0)).item(), 1.0]]))
    floored = exploration_strengths(u, delta, mask, preferred=True, alpha=0.2, tau=0.9, std_eps=0.6)
    assert torch.allclose(floored, torch.tensor([[1.1, 1.1, 1.0]]))


def test_near_constant_gated_u_gives_z_zero():
    """ς = 5e-8 < std_eps = 1e-6 with two gated tokens: not usable, z = 0 (not ±0.05)."""
    u, delta, mask = _one_row([0.0, 1e-7, 0.0], [0.0, 0.0, 1.0])
    ex = explore(u, delta, mask, preferred=True, alpha=0.2, tau=0.9)
    assert ex.n_gated.tolist() == [2] and 0 < ex.sigma.item() < 1e-6
    assert ex.z.tolist() == [[0.0, 0.0, 0.0]]


def test_n_gated_is_per_row():
    u = torch.zeros(2, 4)
    delta = torch.tensor([[0.0, 1.0, 1.0, 1.0], [0.0, 1.0, 2.0, 3.0]])
    ex = explore(u, delta, torch.ones(2, 4, dtype=torch.bool), preferred=True, alpha=0.1, tau=0.5)
    assert ex.threshold.tolist() == [1.0, 1.5] and ex.n_gated.tolist() == [1, 2]


def test_token_types_pass_the_scope_through():
    """Row 0 Δ = [0, 1], row 1 Δ = [10, 11]. Per row (τ = 0.5) the first token of each row is gated; pooled over
    the batch q = 5.5 gates both tokens of row 0 and none of row 1."""
    u = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    delta = torch.tensor([[0.0, 1.0], [10.0, 11.0]])
    mask = torch.ones(2, 2, dtype=torch.bool)
    seq = token_types(u, delta, mask, preferred=True, tau=0.5)
    batch = token_types(u, delta, mask, preferred=True, tau=0.5, scope="batch")
    assert seq.tolist() == [[TokenType.TYPE_II, TokenType.UNGATED], [TokenType.TYPE_II, TokenType.UNGATED]]
    assert batch.tolist() == [[TokenType.TYPE_II, TokenType.TYPE_I], [TokenType.UNGATED, TokenType.UNGATED]]


def test_batch_scope_with_no_valid_token_gives_a_nan_threshold():
    u = torch.zeros(2, 3)
    ex = explore(u, u, torch.zeros(2, 3, dtype=torch.bool), preferred=True, alpha=0.3, tau=0.4, scope="batch")
    assert bool(ex.threshold.isnan().all()) and ex.threshold.shape == (2,)
    assert torch.equal(ex.lam, torch.ones(2, 3)) and ex.n_gated.tolist() == [0, 0]


@pytest.mark.parametrize("which", ["delta", "mask"])
def test_tensors_on_another_device_are_refused(which):
    u, delta, mask = _one_row([0.0, 1.0], [0.0, 1.0])
    if which == "delta":
        delta = delta.to("meta")
    else:
        mask = mask.to("meta")
    with pytest.raises(ValueError, match="one device"):
        explore(u, delta, mask, preferred=True, alpha=0.3, tau=0.4)
