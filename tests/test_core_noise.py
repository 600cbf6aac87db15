"""Diffusion-noise blur: schedule values, statistics, seeding, pair sharing, Qwen patch layout."""

import pytest
import torch

from uedpo.noise import (
    add_diffusion_noise,
    add_diffusion_noise_qwen_patches,
    diffusion_schedule,
    noise_scales,
)


def test_vcd_schedule_at_step_500_matches_vcd_reference_values():
    abar = diffusion_schedule()
    assert abar.dtype == torch.float64 and abar.shape == (1000,)
    assert abs(abar[500].sqrt().item() - 0.8630) < 1e-4
    assert abs((1 - abar[500]).sqrt().item() - 0.5052) < 1e-4


def test_vcd_betas_monotone_and_within_bounds():
    abar = diffusion_schedule()
    betas = 1 - abar / torch.cat([abar.new_ones(1), abar[:-1]])
    assert bool((betas[1:] >= betas[:-1] - 1e-15).all())
    assert betas.min().item() >= 1e-5 - 1e-12 and betas.max().item() <= 5e-3 + 1e-12


def test_ddpm_linear_is_much_stronger_at_500():
    a, b = noise_scales(500, kind="ddpm_linear")
    assert abs(a - 0.279) < 2e-3 and abs(b - 0.960) < 2e-3


def test_same_seed_gives_identical_noise_and_shape_dtype_kept():
    x = torch.rand(2, 3, 8, 8, dtype=torch.float16)
    y1 = add_diffusion_noise(x, 500, generator=torch.Generator().manual_seed(7))
    y2 = add_diffusion_noise(x, 500, generator=torch.Generator().manual_seed(7))
    y3 = add_diffusion_noise(x, 500, generator=torch.Generator().manual_seed(8))
    assert y1.shape == x.shape and y1.dtype == x.dtype
    assert torch.equal(y1, y2) and not torch.equal(y1, y3)


def test_noise_statistics_match_sqrt_one_minus_abar():
    x = torch.randn(4, 3, 64, 64)
    a, b = noise_scales(500)
    eps = add_diffusion_noise(x, 500, generator=torch.Generator().manual_seed(0)) - a * x
    assert abs(eps.mean().item()) < 0.01
    assert abs(eps.std().item() - b) < 0.01


def test_pair_shared_gives_both_rows_of_a_pair_the_same_eps():
    x = torch.zeros(6, 3, 4, 4)
    y = add_diffusion_noise(x, 500, generator=torch.Generator().manual_seed(1), pair_shared=True)
    assert torch.equal(y[:3], y[3:])
    assert not torch.equal(y[0], y[1])
    with pytest.raises(ValueError, match="even"):
        add_diffusion_noise(torch.zeros(3, 2), pair_shared=True)


def test_qwen_patch_noise_keeps_the_temporal_duplication():
    c, t, p = 3, 2, 14
    frame = torch.randn(5, c, 1, p, p)
    pixel_values = frame.expand(5, c, t, p, p).reshape(5, c * t * p * p)
    y = add_diffusion_noise_qwen_patches(pixel_values, 500, generator=torch.Generator().manual_seed(0))
    view = y.view(5, c, t, p, p)
    assert y.shape == pixel_values.shape
    assert torch.equal(view[:, :, 0], view[:, :, 1])
    assert not torch.equal(y, pixel_values)


def test_bad_noise_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="step"):
        add_diffusion_noise(torch.zeros(1, 3, 2, 2), 1000)
    with pytest.raises(ValueError, match="kind"):
        diffusion_schedule(kind="cosine")
    with pytest.raises(ValueError, match="floating-point"):
        add_diffusion_noise(torch.zeros(1, 3, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="C\\*T\\*P\\*P"):
        add_diffusion_noise_qwen_patches(torch.zeros(4, 100))


# -- boundaries and exact formulas (mutation testing, docs/testing.md) ----------------------------------------
def _eps(shape, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float32)


def test_one_step_schedule_and_the_first_and_last_step():
    """num_steps = 1 is allowed (ᾱ_0 = 1 − β_0); steps 0 and num_steps − 1 are in range, num_steps is not."""
    one = diffusion_schedule(1)
    assert one.shape == (1,) and one.dtype == torch.float64
    assert one.item() == 1.0 - torch.sigmoid(torch.tensor([-6.0], dtype=torch.float64)).item() * (5e-3 - 1e-5) - 1e-5
    assert diffusion_schedule(1, "ddpm_linear").item() == pytest.approx(1 - 1e-4, abs=1e-15)
    abar = diffusion_schedule()
    assert noise_scales(0) == (abar[0].sqrt().item(), (1 - abar[0]).sqrt().item())
    assert noise_scales(999) == (abar[999].sqrt().item(), (1 - abar[999]).sqrt().item())
    with pytest.raises(ValueError, match="step"):
        noise_scales(1000)
    with pytest.raises(ValueError, match="step"):
        noise_scales(-1)
    with pytest.raises(ValueError, match="num_steps"):
        diffusion_schedule(0)


def test_ddpm_linear_schedule_is_float64_and_exact():
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    abar = diffusion_schedule(kind="ddpm_linear")
    assert abar.dtype == torch.float64
    assert torch.equal(abar, torch.cumprod(1.0 - betas, dim=0))


def test_noise_scales_defaults_are_the_1000_step_vcd_schedule():
    abar = diffusion_schedule(1000, "vcd_sigmoid")
    assert noise_scales(500) == (abar[500].sqrt().item(), (1.0 - abar[500]).sqrt().item())
    small = diffusion_schedule(10, "ddpm_linear")
    assert noise_scales(5, kind="ddpm_linear", num_steps=10) == (small[5].sqrt().item(),
                                                                 (1.0 - small[5]).sqrt().item())


def test_add_diffusion_noise_is_exactly_a_v_plus_b_eps_with_its_defaults():
    x = torch.rand(2, 3, 4, 4)
    a, b = noise_scales(500)
    y = add_diffusion_noise(x, generator=torch.Generator().manual_seed(3))  # step 500, one ε per row
    assert torch.equal(y, a * x + b * _eps(x.shape, 3))
    a2, b2 = noise_scales(5, kind="ddpm_linear", num_steps=10)
    y2 = add_diffusion_noise(x, 5, generator=torch.Generator().manual_seed(3), kind="ddpm_linear", num_steps=10)
    assert torch.equal(y2, a2 * x + b2 * _eps(x.shape, 3))


def test_add_diffusion_noise_without_a_generator_and_with_odd_rows():
    x = torch.zeros(3, 2, 2)
    y = add_diffusion_noise(x)  # the global RNG; odd rows are fine without pair sharing
    assert y.shape == x.shape and not torch.equal(y[0], y[1])


def test_eps_is_drawn_in_float32_whatever_the_default_dtype():
    x = torch.rand(2, 3, 4, 4)
    want = add_diffusion_noise(x, generator=torch.Generator().manual_seed(5))
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        got = add_diffusion_noise(x, generator=torch.Generator().manual_seed(5))
    finally:
        torch.set_default_dtype(previous)
    assert torch.equal(got, want)


def test_qwen_patch_noise_is_exactly_a_v_plus_b_eps_per_patch():
    c, t, p, n = 3, 2, 14, 4
    pixel_values = torch.rand(n, c * t * p * p)
    a, b = noise_scales(500)
    eps = _eps((n, c, 1, p, p), 2)
    want = (a * pixel_values.view(n, c, t, p, p) + b * eps).reshape(n, -1)
    got = add_diffusion_noise_qwen_patches(pixel_values, generator=torch.Generator().manual_seed(2))
    assert torch.equal(got, want)
    a2, b2 = noise_scales(3, kind="ddpm_linear", num_steps=10)
    want2 = (a2 * pixel_values.view(n, c, t, p, p) + b2 * eps).reshape(n, -1)
    got2 = add_diffusion_noise_qwen_patches(pixel_values, 3, generator=torch.Generator().manual_seed(2),
                                            kind="ddpm_linear", num_steps=10)
    assert torch.equal(got2, want2)


def test_unknown_schedule_message_lists_the_schedules():
    with pytest.raises(ValueError, match=r"\('vcd_sigmoid', 'ddpm_linear'\)"):
        diffusion_schedule(kind="cosine")
