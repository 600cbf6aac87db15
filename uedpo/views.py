"""Counterfactual "views" of a batch's images: one seeded mechanism for the trainer, the inspector and probes.

The methods differ in which counterfactual image they score a response against (METHOD.md §2.1-2.4):

- ``noise``: the diffusion-noised image v' = √ᾱ_k·v + √(1−ᾱ_k)·ε (:mod:`uedpo.noise`). VCD
  (``DAMO-NLP-SG/VCD`` @ d6568ff ``vcd_utils/vcd_add_noise.py``) noises the normalised tensor
  (``noise_space: normalized``); TPO (``alibaba/TPO`` @ 2f87f27 ``llava/train/scaling_train.py`` L87-119) noises
  the [0, 1] image (``pixel01``, clamped here). UE-DPO and TPO use it.
- ``null_zeros``: V-DPO's "no image" with ``n_random_images = 0``, an all-zero *normalised* tensor, i.e. the
  CLIP-mean grey image (``YuxiXie/V-DPO`` @ ed27c32 ``llava_dpo/train/llava_trainer.py`` L558-559).
- ``null_random``: V-DPO's random image (``llava_dpo/utils.py`` L339-345 ``sample_random_image``):
  ``randn(C, H, W)·std_c + mean_c`` with the CLIP mean/std, fed to the model *as the normalised tensor*. The
  same distribution is reproduced in normalised space: each element N(mean_c, std_c²), independent over
  pixels (and, for Qwen2.5-VL, shared by the two temporal copies of a still image). V-DPO averages the
  log-probs over ``n_random_images`` draws; draw j is ``ViewSpec(kind="null_random", salt=f"draw{j}")``.
  V-DPO draws one image per row (chosen and rejected differ): ``pair_shared=False`` is the faithful setting.
- ``crop``: mDPO's ``v2.RandomResizedCrop(size=image.size()[-2:], scale=(0.01, 0.2))`` on the normalised
  tensor (``luka-group/mDPO`` @ 2221bb3 ``bunny/modeling_bunny_phi.py`` L2358-2364): a box of 1-20 % of the
  area with aspect ratio in [3/4, 4/3] (torchvision's defaults), resized back to the full size with bilinear
  interpolation and antialiasing. Written with torch ops only; the box is drawn exactly as torchvision draws
  it (``pytorch/vision`` ``torchvision/transforms/v2/_geometry.py`` ``RandomResizedCrop``, 10 tries, then a
  centre crop) and resized as its tensor kernel does (``v2/functional/_geometry.py`` ``resize_image``:
  ``interpolate(mode="bilinear", align_corners=False, antialias=True)``, unchanged when the size already
  matches). Cropping the normalised tensor equals cropping the [0, 1] image (the resize is linear). mDPO crops
  inside ``forward``, so its policy and reference passes see different crops: give them different ``salt``.

Seeding. :func:`make_view` gives each pair its own ``torch.Generator`` seeded by :func:`view_seed` from the
run seed, the pair's sample id and the step (``step=None``: a fixed ε per sample, ``noise_mode:
fixed_per_sample``), so a pair's view does not depend on its batch mates, gradient accumulation, the DDP rank
or a resume, and anything holding the same (seed, sample id, step) rebuilds it exactly: the inspector
(``uedpo-inspect --seed S --step N``) reproduces the counterfactual of a training step. With ``pair_shared``
the chosen and rejected rows of a pair get the same draw (same ε, same random image, same crop box).

Layout. Every view returns pixel values of the input's shape and dtype, so token positions and
``image_grid_thw`` are unchanged. The noise is drawn in the model's stored layout (:meth:`PixelLayout.add_noise`,
e.g. one ε per Qwen patch broadcast over its two temporal copies); image-space views (``null_random``,
``crop``) un-patchify each image to (F, C, H, W) frames (:meth:`PixelLayout.to_frames`), work there and
re-patchify (:meth:`PixelLayout.from_frames`). The model adapters (:mod:`uedpo.models.adapter`) implement
:class:`PixelLayout`; :class:`ImageLayout` is the plain (N, C, H, W) layout for tensors without a model.

Pure torch: this module does not import transformers.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

from uedpo.noise import SCHEDULES, add_diffusion_noise

VIEW_KINDS = ("noise", "null_zeros", "null_random", "crop")
NOISE_SPACES = ("normalized", "pixel01")
MDPO_CROP_SCALE = (0.01, 0.2)  # mDPO: v2.RandomResizedCrop(size, scale=(0.01, 0.2))
CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)  # torchvision's RandomResizedCrop default
CROP_TRIES = 10  # torchvision: 10 tries, then the centre crop


@dataclass(frozen=True)
class ViewSpec:
    """Which counterfactual image to build; the fields a kind does not use are ignored.

    Attributes:
        kind: ``noise`` | ``null_zeros`` | ``null_random`` | ``crop`` (module docstring: the sources).
        noise_step: diffusion step k (``noise``); METHOD.md §3.1: 500.
        noise_kind: the ᾱ schedule, ``vcd_sigmoid`` or ``ddpm_linear`` (``noise``).
        noise_space: ``normalized`` (VCD) or ``pixel01`` (TPO, clamped to [0, 1]) (``noise``).
        noise_T: number of diffusion steps of the schedule (``noise``).
        crop_scale: the box's share of the image area (``crop``); mDPO: (0.01, 0.2).
        crop_ratio: the box's aspect-ratio range, sampled log-uniformly (``crop``); torchvision: (3/4, 4/3).
        pair_shared: the chosen and rejected rows of a pair get the same draw.
        salt: mixed into the seed (empty: the plain (seed, sample id, step) key the trainer always used), to
            draw independent views of one sample at one step (V-DPO's several random images, mDPO's separate
            policy and reference crops).
    """

    kind: str = "noise"
    noise_step: int = 500
    noise_kind: str = "vcd_sigmoid"
    noise_space: str = "normalized"
    noise_T: int = 1000
    crop_scale: tuple[float, float] = MDPO_CROP_SCALE
    crop_ratio: tuple[float, float] = CROP_RATIO
    pair_shared: bool = True
    salt: str = ""

    def __post_init__(self) -> None:
        if self.kind not in VIEW_KINDS:
            raise ValueError(f"view kind: expected one of {VIEW_KINDS}, got {self.kind!r}")
        if self.noise_kind not in SCHEDULES:
            raise ValueError(f"noise_kind: expected one of {SCHEDULES}, got {self.noise_kind!r}")
        if self.noise_space not in NOISE_SPACES:
            raise ValueError(f"noise_space: expected one of {NOISE_SPACES}, got {self.noise_space!r}")
        if not 0 <= int(self.noise_step) < int(self.noise_T):
            raise ValueError(f"noise_step: expected an integer in [0, {self.noise_T}), got {self.noise_step}")
        lo, hi = self.crop_scale
        if not 0.0 < lo <= hi <= 1.0:
            raise ValueError(f"crop_scale: expected 0 < min <= max <= 1, got {self.crop_scale}")
        lo, hi = self.crop_ratio
        if not 0.0 < lo <= hi:
            raise ValueError(f"crop_ratio: expected 0 < min <= max, got {self.crop_ratio}")


def view_seed(seed: int, sample_id: str, step: int | None, salt: str = "") -> int:
    """A 63-bit generator seed from the run seed, the sample id and the step (``None``: fixed per sample).

    ``blake2b(f"{seed}|{sample_id}|{step or 'fixed'}")``, the key ``uedpo.train.blur`` always used, so runs
    keep their noise; a non-empty ``salt`` is appended as ``|salt``.
    """
    key = f"{seed}|{sample_id}|{'fixed' if step is None else int(step)}"
    if salt:
        key += f"|{salt}"
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") >> 1


def view_generator(seed: int, sample_id: str, step: int | None, salt: str = "") -> torch.Generator:
    """The CPU generator of one pair's view (draws are moved to the pixels' device afterwards)."""
    return torch.Generator().manual_seed(view_seed(seed, sample_id, step, salt))


class PixelLayout(Protocol):
    """How a model stores the images of a batch; the model adapters implement it.

    ``image_mean`` / ``image_std``: the processor's per-channel normalisation. ``add_noise`` adds
    ``√ᾱ·x + √(1−ᾱ)·ε`` with ε ~ N(0, 1) drawn in the stored layout (``pair_shared``: rows i and i + n/2 get
    the same ε). ``per_channel`` shapes per-channel values to broadcast against stored pixels. ``to_frames``
    turns the stored pixels of *one* image (its rows; ``grid`` its ``image_grid_thw`` row or None) into
    (F, C, H, W) frames and ``from_frames`` is its inverse.
    """

    image_mean: Sequence[float]
    image_std: Sequence[float]

    def add_noise(self, pixels: torch.Tensor, step: int, kind: str, generator, pair_shared: bool) -> torch.Tensor:
        ...

    def per_channel(self, values: Sequence[float], pixels: torch.Tensor) -> torch.Tensor: ...

    def to_frames(self, pixels: torch.Tensor, grid: torch.Tensor | None) -> torch.Tensor: ...

    def from_frames(self, frames: torch.Tensor, grid: torch.Tensor | None) -> torch.Tensor: ...


@dataclass(frozen=True)
class ImageLayout:
    """The plain layout: one (C, H, W) image per row of an (N, C, H, W) tensor (LLaVA's ``pixel_values``)."""

    image_mean: tuple[float, ...]
    image_std: tuple[float, ...]

    def add_noise(self, pixels, step, kind, generator, pair_shared):
        return add_diffusion_noise(pixels, step, generator=generator, kind=kind, pair_shared=pair_shared)

    def per_channel(self, values, pixels):
        return torch.tensor(values, dtype=pixels.dtype, device=pixels.device).view(1, -1, 1, 1)

    def to_frames(self, pixels, grid=None):
        if pixels.ndim != 4:
            raise ValueError(f"pixel_values: expected (N, C, H, W) images, got shape {tuple(pixels.shape)}")
        return pixels

    def from_frames(self, frames, grid=None):
        return frames


# -- the draws of one image ------------------------------------------------------------------------------------
def crop_box(
    height: int,
    width: int,
    *,
    scale: tuple[float, float] = MDPO_CROP_SCALE,
    ratio: tuple[float, float] = CROP_RATIO,
    generator: torch.Generator | None = None,
) -> tuple[int, int, int, int]:
    """(top, left, h, w) of a random box: torchvision's ``RandomResizedCrop`` parameters, from ``generator``.

    The same draws in the same order as torchvision (float32 uniforms for the area share and the log aspect
    ratio, then integer offsets), so a generator in the state of torch's global RNG gives torchvision's box.
    """
    area = height * width
    log_ratio = torch.log(torch.tensor(ratio))
    for _ in range(CROP_TRIES):
        target_area = area * torch.empty(1).uniform_(scale[0], scale[1], generator=generator).item()
        log_aspect = torch.empty(1).uniform_(float(log_ratio[0]), float(log_ratio[1]), generator=generator)
        aspect_ratio = torch.exp(log_aspect).item()
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, size=(1,), generator=generator).item())
            left = int(torch.randint(0, width - w + 1, size=(1,), generator=generator).item())
            return top, left, h, w
    in_ratio = float(width) / float(height)  # fallback: the centre crop at the nearest allowed ratio
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def resized_crop(frames: torch.Tensor, box: tuple[int, int, int, int], size: tuple[int, int]) -> torch.Tensor:
    """Crop (…, C, H, W) frames to ``box`` and resize to ``size`` as torchvision's tensor kernel does."""
    top, left, h, w = box
    crop = frames[..., top : top + h, left : left + w]
    if (h, w) == tuple(size):
        return crop.clone()
    lead = crop.shape[:-3]
    flat = crop.reshape(-1, *crop.shape[-3:]).float()
    out = F.interpolate(flat, size=list(size), mode="bilinear", align_corners=False, antialias=True)
    return out.reshape(*lead, *out.shape[-3:]).to(frames.dtype)


def random_null_image(
    channels: int,
    height: int,
    width: int,
    mean: Sequence[float],
    std: Sequence[float],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """V-DPO's ``sample_random_image``: (C, H, W) float32, channel c ~ N(mean_c, std_c²), as normalised input."""
    if len(mean) != channels or len(std) != channels:
        raise ValueError(f"image_mean / image_std: expected {channels} values each, got {len(mean)}, {len(std)}")
    z = torch.randn((channels, height, width), generator=generator, dtype=torch.float32)
    return z * torch.tensor(std, dtype=torch.float32).view(-1, 1, 1) + torch.tensor(mean).view(-1, 1, 1)


# -- views of a group of images ------------------------------------------------------------------------------
def noised(layout: PixelLayout, pixels: torch.Tensor, spec: ViewSpec, generator) -> torch.Tensor:
    """The ``noise`` view of stored pixels (METHOD.md §3.3 step 1), same shape and dtype."""
    if not isinstance(pixels, torch.Tensor) or not pixels.is_floating_point():
        raise ValueError("pixel_values: expected a floating-point torch.Tensor (normalised pixel values)")
    x = pixels.float()
    if spec.noise_space == "normalized":
        out = layout.add_noise(x, spec.noise_step, spec.noise_kind, generator, spec.pair_shared)
        return out.to(pixels.dtype)
    mean, std = layout.per_channel(layout.image_mean, x), layout.per_channel(layout.image_std, x)
    noisy = layout.add_noise(x * std + mean, spec.noise_step, spec.noise_kind, generator, spec.pair_shared)
    return ((noisy.clamp(0.0, 1.0) - mean) / std).to(pixels.dtype)


def _consecutive(counts: Sequence[int]) -> list[slice]:
    """Back-to-back slices of ``counts[0]``, ``counts[1]``, ... rows, from row 0."""
    bounds = [0]
    for c in counts:
        bounds.append(bounds[-1] + int(c))
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _image_slices(pixels: torch.Tensor, grids: torch.Tensor | None) -> list[slice]:
    counts = [1] * pixels.shape[0] if grids is None else [int(n) for n in grids.prod(dim=-1).tolist()]
    if sum(counts) != pixels.shape[0]:
        raise ValueError(f"image_grid_thw: {sum(counts)} patches for pixel_values of {pixels.shape[0]} rows")
    return _consecutive(counts)


def _image_space_view(layout, frames: torch.Tensor, spec: ViewSpec, generator, draw):
    """One image's frames (F, C, H, W) -> its view; ``draw`` is a cached draw to reuse (pair sharing)."""
    n_channels, height, width = frames.shape[-3:]
    if spec.kind == "crop":
        box = draw if draw is not None else crop_box(
            height, width, scale=spec.crop_scale, ratio=spec.crop_ratio, generator=generator
        )
        return resized_crop(frames, box, (height, width)), box
    image = draw if draw is not None else random_null_image(
        n_channels, height, width, layout.image_mean, layout.image_std, generator
    )
    if image.shape != frames.shape[-3:]:
        raise ValueError(
            f"pair_shared: the two rows of a pair hold images of shapes {tuple(image.shape)} and "
            f"{tuple(frames.shape[-3:])}; a shared random image needs one size (or pair_shared=False)"
        )
    return image.to(frames.device, frames.dtype).expand_as(frames).clone(), image


def apply_view(
    layout: PixelLayout,
    pixels: torch.Tensor,
    spec: ViewSpec,
    *,
    generator: torch.Generator | None = None,
    grids: torch.Tensor | None = None,
) -> torch.Tensor:
    """The view of a group of images drawn from one ``generator``, same shape and dtype as ``pixels``.

    ``pixels`` holds k images in the stored layout (LLaVA: (k, C, H, W); Qwen: their patch rows, one
    ``grids`` row (t, h, w) per image). With ``spec.pair_shared`` the group is ``[chosen; rejected]``:
    image i and image i + k/2 get the same draw. Draw order: the images in order (the first half only when
    shared). :func:`make_view` calls this once per pair; called on a whole batch it is one generator for all.
    """
    if not isinstance(pixels, torch.Tensor) or not pixels.is_floating_point():
        raise ValueError("pixel_values: expected a floating-point torch.Tensor (normalised pixel values)")
    if spec.kind == "noise":
        return noised(layout, pixels, spec, generator)
    if spec.kind == "null_zeros":
        return torch.zeros_like(pixels)
    slices = _image_slices(pixels, grids)
    k = len(slices)
    if spec.pair_shared and k % 2:
        raise ValueError(f"pair_shared=True needs an even number of images ([chosen; rejected]), got {k}")
    draws: list = [None] * k
    out = torch.empty_like(pixels)
    for j, rows in enumerate(slices):
        grid = None if grids is None else grids[j]
        shared = draws[j - k // 2] if spec.pair_shared and j >= k // 2 else None
        frames, draws[j] = _image_space_view(layout, layout.to_frames(pixels[rows], grid), spec, generator, shared)
        out[rows] = layout.from_frames(frames, grid).to(pixels.dtype)
    return out


# -- views of a training batch -------------------------------------------------------------------------------
def pixel_rows(batch: dict, n_rows: int) -> list[slice]:
    """The slice of ``pixel_values`` that belongs to each text row.

    LLaVA: one (3, H, W) image per row. Qwen2.5-VL: ``prod(image_grid_thw[r])`` flattened patches per row.
    """
    pixels = batch["pixel_values"]
    if "image_grid_thw" in batch:
        counts = batch["image_grid_thw"].prod(dim=-1).tolist()
    else:
        if pixels.shape[0] % n_rows:
            raise ValueError(f"pixel_values: {pixels.shape[0]} images for {n_rows} rows; expected 1 per row")
        counts = [pixels.shape[0] // n_rows] * n_rows
    if len(counts) != n_rows or sum(counts) != pixels.shape[0]:
        raise ValueError(f"image_grid_thw: {sum(counts)} patches of {pixels.shape[0]} for {n_rows} rows")
    return _consecutive(counts)


def _n_rows(batch: dict) -> int:
    if "input_ids" in batch:
        return int(batch["input_ids"].shape[0])
    if "image_grid_thw" in batch:
        return int(batch["image_grid_thw"].shape[0])
    return int(batch["pixel_values"].shape[0])


def make_view(
    layout: PixelLayout,
    pixel_values: torch.Tensor,
    batch: dict,
    sample_ids: Sequence[str],
    spec: ViewSpec,
    *,
    seed: int,
    step: int | None,
) -> torch.Tensor:
    """The view of a batch's images, each pair's draw seeded by ``view_seed(seed, sample id, step, salt)``.

    The batch rows are ``[chosen_1..B; rejected_1..B]`` (2B rows for B = ``len(sample_ids)``, the trainer's
    layout) or the B chosen rows alone (an SFT batch, or the inspector with no dispreferred response). A
    chosen row alone gets exactly the view it gets beside its rejected row: the pair's draw is made for both
    rows and the rejected half dropped. ``pixel_values`` is the tensor to view (usually
    ``batch["pixel_values"]``); ``batch`` gives ``image_grid_thw`` and the row count. Returns a tensor of
    ``pixel_values``' shape and dtype (token positions unchanged).
    """
    n_pairs = len(sample_ids)
    n_rows = _n_rows(batch)
    if n_pairs == 0 or n_rows not in (n_pairs, 2 * n_pairs):
        raise ValueError(
            f"sample_ids: {n_pairs} ids for {n_rows} rows; expected one id per pair ([chosen; rejected] rows) "
            "or per chosen row"
        )
    rows = pixel_rows({**batch, "pixel_values": pixel_values}, n_rows)
    grids = batch.get("image_grid_thw")
    out = torch.empty_like(pixel_values)
    for i, sample_id in enumerate(sample_ids):
        chosen, other = (i, n_pairs + i) if n_rows == 2 * n_pairs else (i, i)  # a lone chosen row: drawn twice
        pixels = torch.cat([pixel_values[rows[chosen]], pixel_values[rows[other]]], dim=0)
        viewed = apply_view(
            layout, pixels, spec, generator=view_generator(seed, str(sample_id), step, spec.salt),
            grids=None if grids is None else grids[[chosen, other]],
        )
        n = rows[chosen].stop - rows[chosen].start
        out[rows[chosen]] = viewed[:n]
        if other != chosen:
            out[rows[other]] = viewed[n:]
    return out
