"""u and Δ: definitions, invariances, masking and bad input."""

import pytest
import torch

from uedpo.signals import selective_log_softmax, token_signals


def _random(b=3, t=7, v=11, seed=0):
    g = torch.Generator().manual_seed(seed)
    clear = torch.randn(b, t, v, generator=g) * 3
    blurred = clear + torch.randn(b, t, v, generator=g)
    labels = torch.randint(0, v, (b, t), generator=g)
    mask = torch.ones(b, t, dtype=torch.bool)
    mask[1, 5:] = False
    return clear, blurred, labels, mask


def test_definitions_on_random_logits():
    clear, blurred, labels, mask = _random()
    s = token_signals(clear, blurred, labels, mask)
    ahat = blurred.argmax(-1)
    u = clear.gather(-1, ahat[..., None])[..., 0] - clear.gather(-1, labels[..., None])[..., 0]
    d = clear.gather(-1, labels[..., None])[..., 0] - blurred.gather(-1, labels[..., None])[..., 0]
    assert torch.allclose(s.u[mask], u[mask]) and torch.allclose(s.delta[mask], d[mask])
    assert s.u.dtype == torch.float32 and s.delta.dtype == torch.float32


def test_u_is_zero_where_blurred_argmax_equals_label():
    clear, blurred, _, mask = _random()
    labels = blurred.argmax(-1)
    s = token_signals(clear, blurred, labels, mask)
    assert torch.equal(s.u, torch.zeros_like(s.u))


def test_identity_blur_gives_zero_delta_and_u_equal_to_max_gap():
    clear, _, labels, mask = _random()
    s = token_signals(clear, clear.clone(), labels, mask)
    assert torch.equal(s.delta, torch.zeros_like(s.delta))
    gap = clear.max(-1).values - clear.gather(-1, labels[..., None])[..., 0]
    assert torch.allclose(s.u[mask], gap[mask]) and bool((s.u >= 0).all())


def test_zero_outside_mask_even_with_ignore_index_labels():
    clear, blurred, labels, mask = _random()
    labels = labels.masked_fill(~mask, -100)
    s = token_signals(clear, blurred, labels, mask)
    assert torch.equal(s.u[~mask], torch.zeros(int((~mask).sum())))
    assert torch.equal(s.delta[~mask], torch.zeros(int((~mask).sum())))


def test_per_position_constant_leaves_u_unchanged_and_logprob_delta_unchanged():
    clear, blurred, labels, mask = _random()
    shifted = clear + torch.arange(clear.shape[1], dtype=torch.float32)[None, :, None] * 5
    a, b = token_signals(clear, blurred, labels, mask), token_signals(shifted, blurred, labels, mask)
    assert torch.allclose(a.u, b.u, atol=1e-5)
    assert not torch.allclose(a.delta, b.delta)  # raw-logit Δ is not shift invariant (documented)
    la = token_signals(clear, blurred, labels, mask, score_space="logprob")
    lb = token_signals(shifted, blurred, labels, mask, score_space="logprob")
    assert torch.allclose(la.delta, lb.delta, atol=1e-4)
    assert torch.allclose(la.u, a.u)  # u is the same in both spaces


def test_logprob_delta_equals_log_softmax_difference():
    clear, blurred, labels, mask = _random()
    s = token_signals(clear, blurred, labels, mask, score_space="logprob")
    lp_c = torch.log_softmax(clear, -1).gather(-1, labels[..., None])[..., 0]
    lp_b = torch.log_softmax(blurred, -1).gather(-1, labels[..., None])[..., 0]
    assert torch.allclose(s.delta[mask], (lp_c - lp_b)[mask], atol=1e-5)


def test_bf16_logits_are_scored_in_float32():
    clear, blurred, labels, mask = _random()
    s = token_signals(clear.bfloat16(), blurred.bfloat16(), labels, mask)
    assert s.u.dtype == torch.float32


def test_selective_log_softmax_matches_full_log_softmax():
    clear, _, labels, _ = _random(b=2, t=5, v=13)
    expected = torch.log_softmax(clear, -1).gather(-1, labels[..., None])[..., 0]
    assert torch.allclose(selective_log_softmax(clear, labels, chunk_rows=3), expected, atol=1e-6)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda c, b, y, m: (c[:, :, :5], b, y, m), "blurred_logits"),
        (lambda c, b, y, m: (c, b, y[:, :3], m), "labels"),
        (lambda c, b, y, m: (c, b, y, m.long()), "mask"),
        (lambda c, b, y, m: (c, b, y, torch.zeros_like(m)), "no valid token"),
        (lambda c, b, y, m: (c, b, y.float(), m), "labels"),
        (lambda c, b, y, m: (c, b, y + 100, m), r"\[0, V"),
        (lambda c, b, y, m: (c[0], b, y, m), r"\(B, T, V\)"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(mutate, match):
    with pytest.raises(ValueError, match=match):
        token_signals(*mutate(*_random()))


# -- boundaries (mutation testing, docs/testing.md) -----------------------------------------------------------
def test_selective_log_softmax_is_exact_on_every_row_with_the_default_chunk():
    clear, _, labels, _ = _random(b=2, t=5, v=13)
    expected = torch.log_softmax(clear, -1).gather(-1, labels[..., None])[..., 0]
    assert torch.allclose(selective_log_softmax(clear, labels), expected, atol=1e-6)  # all 10 rows, one chunk
    single = selective_log_softmax(clear[:1, :1], labels[:1, :1])  # one row: the first chunk is the only one
    assert torch.allclose(single, torch.log_softmax(clear[:1, :1], -1).gather(-1, labels[:1, :1, None])[..., 0])


def test_logprob_signals_stay_float32_under_a_float64_default_dtype():
    clear, blurred, labels, mask = _random()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        s = token_signals(clear, blurred, labels, mask, score_space="logprob")
        lp = selective_log_softmax(clear, labels)
    finally:
        torch.set_default_dtype(previous)
    assert s.delta.dtype == torch.float32 and lp.dtype == torch.float32


def test_label_bounds_are_zero_and_v_minus_one():
    clear, blurred, labels, mask = _random(v=11)
    token_signals(clear, blurred, torch.zeros_like(labels), mask)  # 0 is a valid id
    token_signals(clear, blurred, torch.full_like(labels, 10), mask)  # V − 1 too
    with pytest.raises(ValueError, match=r"\[0, V"):
        token_signals(clear, blurred, torch.full_like(labels, 11), mask)
    with pytest.raises(ValueError, match=r"\[0, V"):
        token_signals(clear, blurred, torch.full_like(labels, -1), mask)


def test_masked_positions_are_gathered_at_id_zero_so_a_one_token_vocabulary_works():
    clear, blurred = torch.randn(1, 3, 1), torch.randn(1, 3, 1)
    labels, mask = torch.tensor([[0, 0, -100]]), torch.tensor([[True, True, False]])
    s = token_signals(clear, blurred, labels, mask)
    assert torch.equal(s.u, torch.zeros(1, 3))
    assert torch.allclose(s.delta[0, :2], (clear - blurred)[0, :2, 0]) and s.delta[0, 2].item() == 0.0


def test_selective_log_softmax_covers_more_rows_than_one_chunk_with_a_small_vocabulary():
    """1500 rows of V = 3: two chunks of the default 1024 rows (the loop runs over rows, not over V)."""
    logits = torch.randn(2, 750, 3, generator=torch.Generator().manual_seed(0))
    labels = torch.randint(0, 3, (2, 750), generator=torch.Generator().manual_seed(1))
    expected = torch.log_softmax(logits, -1).gather(-1, labels[..., None])[..., 0]
    assert torch.allclose(selective_log_softmax(logits, labels), expected, atol=1e-6)
