"""The blurred images of a training batch, with noise seeded per pair (METHOD.md §1.2 f, §3.3 step 1).

Each pair draws its ε from its own generator, seeded by ``(seed, step, sample id)`` (``noise_mode: per_step``:
fresh noise every optimizer step) or by ``(seed, sample id)`` (``fixed_per_sample``). The noise of a pair thus
does not depend on which other pairs share its micro-batch, on gradient accumulation, on the DDP rank or on a
resume, which is what makes "grad-accum 2×1 = 1×2" and "resume = straight run" hold exactly. With
``noise_share_pair`` the chosen and rejected rows of a pair get the same ε.
"""

from __future__ import annotations

import hashlib

import torch


def noise_seed(seed: int, sample_id: str, step: int | None) -> int:
    """A 63-bit generator seed from the run seed, the sample id and (per_step mode) the optimizer step."""
    key = f"{seed}|{sample_id}|{'fixed' if step is None else step}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") >> 1


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
    bounds = [0]
    for c in counts:
        bounds.append(bounds[-1] + int(c))
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def blurred_pixel_values(adapter, batch: dict, sample_ids: list[str], *, cfg, step: int) -> torch.Tensor:
    """v' for a ``[chosen; rejected]`` batch (2B rows), one generator per pair; same shape and dtype."""
    pixels = batch["pixel_values"]
    n_pairs = len(sample_ids)
    rows = pixel_rows(batch, 2 * n_pairs)
    out = torch.empty_like(pixels)
    for i, sample_id in enumerate(sample_ids):
        seed = noise_seed(cfg.seed, sample_id, None if cfg.noise_mode == "fixed_per_sample" else step)
        generator = torch.Generator().manual_seed(seed)
        chosen, rejected = rows[i], rows[n_pairs + i]
        both = torch.cat([pixels[chosen], pixels[rejected]], dim=0)
        noisy = adapter.noised_pixel_values(
            both, step=cfg.noise_step, kind=cfg.noise_kind, space=cfg.noise_space, generator=generator,
            pair_shared=cfg.noise_share_pair,
        )
        n = chosen.stop - chosen.start
        out[chosen], out[rejected] = noisy[:n], noisy[n:]
    return out
