"""Diffusion-noise "blur": the counterfactual image v' = sqrt(ᾱ_k)·v + sqrt(1−ᾱ_k)·ε.

Follows VCD (``DAMO-NLP-SG/VCD`` ``vcd_utils/vcd_add_noise.py`` @ d6568ff), which TPO reuses: T = 1000,
``betas = sigmoid(linspace(-6, 6, T)) * (5e-3 - 1e-5) + 1e-5`` and ᾱ = cumprod(1 − betas), indexed so that
``diffusion_schedule()[500]`` gives √ᾱ = 0.8630 and √(1−ᾱ) = 0.5052 (METHOD.md §2.1). The schedule is
computed in float64 and cast only at the end.
"""

from __future__ import annotations

import math

import torch

SCHEDULES = ("vcd_sigmoid", "ddpm_linear")
VCD_BETA_MIN, VCD_BETA_MAX = 1e-5, 5e-3  # VCD: sigmoid(...) * (0.5e-2 - 1e-5) + 1e-5
DDPM_BETA_START, DDPM_BETA_END = 1e-4, 0.02  # Ho et al. 2020 linear schedule


def diffusion_schedule(num_steps: int = 1000, kind: str = "vcd_sigmoid") -> torch.Tensor:
    """ᾱ_k for k = 0..num_steps-1 (float64), as VCD indexes it."""
    if num_steps < 1:
        raise ValueError(f"num_steps: expected a positive integer, got {num_steps}")
    if kind == "vcd_sigmoid":
        betas = torch.sigmoid(torch.linspace(-6, 6, num_steps, dtype=torch.float64))
        betas = betas * (VCD_BETA_MAX - VCD_BETA_MIN) + VCD_BETA_MIN
    elif kind == "ddpm_linear":
        betas = torch.linspace(DDPM_BETA_START, DDPM_BETA_END, num_steps, dtype=torch.float64)
    else:
        raise ValueError(f"kind: expected one of {SCHEDULES}, got {kind!r}")
    return torch.cumprod(1.0 - betas, dim=0)


def noise_scales(step: int, *, kind: str = "vcd_sigmoid", num_steps: int = 1000) -> tuple[float, float]:
    """(√ᾱ_k, √(1−ᾱ_k)) as Python floats (exact float64 values)."""
    if not 0 <= int(step) < num_steps:
        raise ValueError(f"step: expected an integer in [0, {num_steps}), got {step}")
    abar = float(diffusion_schedule(num_steps, kind)[int(step)])
    return math.sqrt(abar), math.sqrt(1.0 - abar)


def _draw(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    # Draw on the generator's device (a CPU generator cannot fill a CUDA tensor), in float32 so that a seed
    # gives the same ε whatever the image dtype.
    device = generator.device if generator is not None else like.device
    eps = torch.randn(shape, generator=generator, dtype=torch.float32, device=device)
    return eps.to(like.device)


def _pair_shared(shape: tuple[int, ...], like: torch.Tensor, generator, pair_shared: bool) -> torch.Tensor:
    if not pair_shared:
        return _draw(shape, like, generator)
    if shape[0] % 2:
        raise ValueError(
            f"images: pair_shared=True needs an even leading dimension ([chosen; rejected] rows), got {shape[0]}"
        )
    half = _draw((shape[0] // 2, *shape[1:]), like, generator)
    return torch.cat([half, half], dim=0)


def add_diffusion_noise(
    images: torch.Tensor,
    step: int = 500,
    *,
    generator: torch.Generator | None = None,
    kind: str = "vcd_sigmoid",
    pair_shared: bool = False,
    num_steps: int = 1000,
) -> torch.Tensor:
    """v' = √ᾱ_k·v + √(1−ᾱ_k)·ε with ε ~ N(0, 1), same shape and dtype as ``images``.

    ``pair_shared=True`` treats the rows as ``[chosen; rejected]`` (2B rows) and gives rows i and i+B the
    same ε, so both responses of a pair are scored against one counterfactual image.
    """
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        raise ValueError("images: expected a floating-point torch.Tensor (e.g. normalised pixel_values)")
    a, b = noise_scales(step, kind=kind, num_steps=num_steps)
    eps = _pair_shared(tuple(images.shape), images, generator, pair_shared)
    return (a * images.float() + b * eps).to(images.dtype)


def add_diffusion_noise_qwen_patches(
    pixel_values: torch.Tensor,
    step: int = 500,
    *,
    channels: int = 3,
    temporal_patch_size: int = 2,
    patch_size: int = 14,
    generator: torch.Generator | None = None,
    kind: str = "vcd_sigmoid",
    pair_shared: bool = False,
    num_steps: int = 1000,
) -> torch.Tensor:
    """Diffusion noise for Qwen2(.5)-VL's flattened patches, (num_patches, C·T·P·P).

    A still image is stored twice along the temporal-patch axis; per-element noise would break that
    duplication (ENVIRONMENT.md pitfall 7). One ε of shape (C, 1, P, P) per patch is broadcast over T, which
    equals noising the image before it is patchified.
    """
    width = channels * temporal_patch_size * patch_size * patch_size
    if pixel_values.ndim != 2 or pixel_values.shape[1] != width:
        raise ValueError(
            f"pixel_values: expected shape (num_patches, C*T*P*P = {width}), got {tuple(pixel_values.shape)}"
        )
    a, b = noise_scales(step, kind=kind, num_steps=num_steps)
    n = pixel_values.shape[0]
    x = pixel_values.float().view(n, channels, temporal_patch_size, patch_size, patch_size)
    eps = _pair_shared((n, channels, 1, patch_size, patch_size), pixel_values, generator, pair_shared)
    return (a * x + b * eps).reshape(n, width).to(pixel_values.dtype)
