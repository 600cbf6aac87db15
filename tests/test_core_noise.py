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
