"""How each family stores the images of a batch: the :class:`uedpo.views.PixelLayout` half of an adapter.

Three layouts cover the supported families; each is a mixin giving an adapter ``_add_noise``,
``_per_channel``, ``to_frames`` and ``from_frames`` (the hooks :class:`~uedpo.models.adapter.VLMAdapter`
turns into the ``PixelLayout`` methods that :mod:`uedpo.views` calls):

- :class:`ImageLayout`: one (C, H, W) image per row, ``pixel_values`` (N, C, H, W) (LLaVA-1.5's CLIP input).
- :class:`TiledLayout`: LLaVA-NeXT / LLaVA-OneVision "anyres": ``pixel_values`` (B, P, C, H, W) holds per
  image the resized whole image (tile 0) and the tiles of the best-fitting grid resolution, zero-padded to the
  batch's largest P (``LlavaNextImageProcessorPil._pad_for_batching``); ``image_sizes`` (B, 2) tells the model
  how many tiles are real. A frame of :meth:`TiledLayout.to_frames` is a tile, so the image-space views act
  tile by tile: ``crop`` takes the same relative box of the whole-image tile and of every grid tile, and
  ``null_random`` puts one random image in every tile. The noise is i.i.d. per element (VCD noises the
  processed tensor), drawn tile index by tile index so that the real tiles' ε does not depend on how much
  padding the batch adds.
- :class:`QwenPatchLayout`: Qwen2-VL / Qwen2.5-VL / Qwen3-VL flattened patches (t·h·w, C·T·P·P) plus
  ``image_grid_thw``; a still image is stored twice along T, so one ε per patch is broadcast over T
  (:func:`uedpo.noise.add_diffusion_noise_qwen_patches`). The patch size comes from the image processor
  (14 for Qwen2/2.5-VL, 16 for Qwen3-VL).
"""

from __future__ import annotations

import torch

from uedpo import views
from uedpo.noise import add_diffusion_noise_qwen_patches, noise_scales


class ImageLayout:
    """(N, C, H, W) images, one per text row (``LlavaForConditionalGeneration``'s CLIP ``pixel_values``): the
    plain layout of :class:`uedpo.views.ImageLayout`, whose methods serve as this mixin's hooks."""

    _add_noise = views.ImageLayout.add_noise
    _per_channel = views.ImageLayout.per_channel
    to_frames = views.ImageLayout.to_frames
    from_frames = views.ImageLayout.from_frames


def tiled_noise(pixels: torch.Tensor, generator, pair_shared: bool) -> torch.Tensor:
    """ε ~ N(0, 1) of the shape of (B, P, C, H, W) tiles, drawn tile index by tile index (float32).

    Tile j of every image is drawn before tile j + 1 of any, so the first tiles get the same ε whatever the
    padded P; ``pair_shared``: images i and i + B/2 share theirs ([chosen; rejected] rows).
    """
    n, tiles = pixels.shape[:2]
    if pair_shared and n % 2:
        raise ValueError(f"images: pair_shared=True needs an even number of images ([chosen; rejected]), got {n}")
    drawn = n // 2 if pair_shared else n
    device = generator.device if generator is not None else pixels.device
    eps = torch.stack([
        torch.randn((drawn, *pixels.shape[2:]), generator=generator, dtype=torch.float32, device=device)
        for _ in range(tiles)
    ], dim=1).to(pixels.device)
    return torch.cat([eps, eps], dim=0) if pair_shared else eps


class TiledLayout:
    """LLaVA-NeXT / LLaVA-OneVision anyres tiles (B, P, C, H, W) (module docstring)."""

    def _add_noise(self, pixel_values, step, kind, generator, pair_shared):
        if pixel_values.ndim != 5:
            raise ValueError(
                f"pixel_values: expected (B, tiles, C, H, W) anyres tiles, got shape {tuple(pixel_values.shape)}"
            )
        a, b = noise_scales(step, kind=kind)
        eps = tiled_noise(pixel_values, generator, pair_shared)
        return (a * pixel_values.float() + b * eps).to(pixel_values.dtype)

    def _per_channel(self, values, pixel_values):
        return torch.tensor(values, dtype=pixel_values.dtype, device=pixel_values.device).view(1, 1, -1, 1, 1)

    def to_frames(self, pixels, grid=None):
        if pixels.ndim != 5 or pixels.shape[0] != 1:
            raise ValueError(f"pixel_values: expected one image's (1, tiles, C, H, W) tiles, got {tuple(pixels.shape)}")
        return pixels[0]

    def from_frames(self, frames, grid=None):
        return frames[None]


def _grid(grid, merge_size: int) -> tuple[int, int, int]:
    t, h, w = (int(v) for v in torch.as_tensor(grid).tolist())
    if h % merge_size or w % merge_size:
        raise ValueError(f"image_grid_thw: ({t}, {h}, {w}) is not a multiple of merge_size {merge_size}")
    return t, h, w


def qwen_patches_to_frames(
    rows: torch.Tensor, grid, *, channels: int = 3, temporal_patch_size: int = 2, patch_size: int = 14,
    merge_size: int = 2,
) -> torch.Tensor:
    """One image's flattened Qwen2-VL / Qwen2.5-VL / Qwen3-VL patches (t·h·w, C·T·P·P) -> frames (t·T, C, h·P, w·P).

    The inverse of the image processor's patchify (transformers 5.x ``Qwen2VLImageProcessorPil.patchify`` and
    the fast processor alike): rows run over the (h/m, w/m) merge blocks in raster order, then over the m × m
    patches inside a block (m = ``merge_size``, so that the vision merger's 2 × 2 neighbours are adjacent
    rows); each row is C × T × P × P, a still image stored twice along T (``temporal_patch_size``).
    """
    t, h, w = _grid(grid, merge_size)
    m, p, c, tp = merge_size, patch_size, channels, temporal_patch_size
    if rows.shape != (t * h * w, c * tp * p * p):
        raise ValueError(
            f"pixel_values: expected ({t * h * w}, {c * tp * p * p}) patch rows for grid ({t}, {h}, {w}), "
            f"got {tuple(rows.shape)}"
        )
    x = rows.reshape(t, h // m, w // m, m, m, c, tp, p, p)
    x = x.permute(0, 6, 5, 1, 3, 7, 2, 4, 8)  # (t, T, C, h/m, m, P, w/m, m, P)
    return x.reshape(t * tp, c, h * p, w * p)


def qwen_frames_to_patches(
    frames: torch.Tensor, grid, *, channels: int = 3, temporal_patch_size: int = 2, patch_size: int = 14,
    merge_size: int = 2,
) -> torch.Tensor:
    """The inverse of :func:`qwen_patches_to_frames`: frames (t·T, C, h·P, w·P) -> rows (t·h·w, C·T·P·P)."""
    t, h, w = _grid(grid, merge_size)
    m, p, c, tp = merge_size, patch_size, channels, temporal_patch_size
    if frames.shape != (t * tp, c, h * p, w * p):
        raise ValueError(
            f"frames: expected ({t * tp}, {c}, {h * p}, {w * p}) for grid ({t}, {h}, {w}), got {tuple(frames.shape)}"
        )
    x = frames.reshape(t, tp, c, h // m, m, p, w // m, m, p)
    x = x.permute(0, 3, 6, 4, 7, 2, 1, 5, 8)  # (t, h/m, w/m, m, m, C, T, P, P)
    return x.reshape(t * h * w, c * tp * p * p)


class QwenPatchLayout:
    """Qwen-VL flattened patches (num_patches, C·T·P·P) + ``image_grid_thw`` (module docstring).

    Needs ``self.processor.image_processor`` with ``patch_size``, ``temporal_patch_size``, ``merge_size``.
    """

    def _patch_kwargs(self) -> dict[str, int]:
        ip = self.processor.image_processor
        return dict(channels=len(ip.image_mean), temporal_patch_size=ip.temporal_patch_size,
                    patch_size=ip.patch_size, merge_size=ip.merge_size)

    def _add_noise(self, pixel_values, step, kind, generator, pair_shared):
        kw = self._patch_kwargs()
        return add_diffusion_noise_qwen_patches(
            pixel_values, step, channels=kw["channels"], temporal_patch_size=kw["temporal_patch_size"],
            patch_size=kw["patch_size"], generator=generator, kind=kind, pair_shared=pair_shared,
        )

    def _per_channel(self, values, pixel_values):
        # Each row is laid out C x T x P x P, so a channel's value repeats over T*P*P consecutive columns.
        kw = self._patch_kwargs()
        vec = torch.tensor(values, dtype=pixel_values.dtype, device=pixel_values.device)
        return vec.repeat_interleave(kw["temporal_patch_size"] * kw["patch_size"] ** 2).view(1, -1)

    def to_frames(self, pixels, grid):
        if grid is None:
            raise ValueError("image_grid_thw: Qwen-VL patches need the image's (t, h, w) grid to un-patchify")
        return qwen_patches_to_frames(pixels, grid, **self._patch_kwargs())

    def from_frames(self, frames, grid):
        if grid is None:
            raise ValueError("image_grid_thw: Qwen-VL patches need the image's (t, h, w) grid to patchify")
        return qwen_frames_to_patches(frames, grid, **self._patch_kwargs())
