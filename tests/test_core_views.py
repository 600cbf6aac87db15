"""Counterfactual views (uedpo.views): seeding, pair sharing, each view's content, and Qwen2.5-VL's patch layout.

The layout tests run on the tiny Qwen2.5-VL processor's real output: un-patchify ∘ patchify is the identity,
the un-patchified image is the processor's normalised image, the processor's own ``patchify`` rebuilds the rows,
and a crop on the patches equals the crop on the plain (C, H, W) image.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from uedpo.models import load_adapter
from uedpo.models.adapter import qwen_frames_to_patches, qwen_patches_to_frames
from uedpo.models.tiny import build_tiny
from uedpo.noise import add_diffusion_noise, noise_scales
from uedpo.views import (
    VIEW_KINDS,
    ImageLayout,
    ViewSpec,
    apply_view,
    crop_box,
    make_view,
    pixel_rows,
    resized_crop,
    view_seed,
)

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
PLAIN = ImageLayout(CLIP_MEAN, CLIP_STD)
SIZES = [(40, 48), (64, 30), (90, 40)]  # (h, w): different numbers of Qwen patches


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _spec(kind: str, **over) -> ViewSpec:
    return ViewSpec(kind=kind, **over)


def _pairs_batch(n_pairs: int, seed: int = 0, size: int = 24) -> dict:
    """A LLaVA-style [chosen; rejected] batch: one image per pair, repeated for its rejected row."""
    images = torch.randn(n_pairs, 3, size, size, generator=_gen(seed))
    return {"input_ids": torch.zeros(2 * n_pairs, 1, dtype=torch.long), "pixel_values": torch.cat([images, images])}


# -- seeding -------------------------------------------------------------------------------------------------
def test_view_seed_is_the_trainers_blake2b_key():
    def legacy(seed, sample_id, step):  # uedpo.train.blur.noise_seed before views existed
        key = f"{seed}|{sample_id}|{'fixed' if step is None else step}".encode()
        return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") >> 1

    for args in [(0, "p0", 0), (3, "p1", 7), (3, "p1", None), (12, "row 5", 120)]:
        assert view_seed(*args) == legacy(*args) < 2**63
    assert view_seed(0, "p0", 1) != view_seed(0, "p0", 2) != view_seed(0, "p0", None)
    assert view_seed(0, "p0", 1, "draw1") != view_seed(0, "p0", 1) != view_seed(1, "p0", 1)


def test_view_spec_checks_its_fields():
    for bad, match in [
        (dict(kind="blur"), "view kind"), (dict(noise_space="latent"), "noise_space"),
        (dict(noise_kind="cosine"), "noise_kind"), (dict(noise_step=1000), "noise_step"),
        (dict(crop_scale=(0.3, 0.2)), "crop_scale"), (dict(crop_ratio=(0.0, 1.0)), "crop_ratio"),
    ]:
        with pytest.raises(ValueError, match=match):
            ViewSpec(**bad)
    assert ViewSpec(kind="crop").crop_scale == (0.01, 0.2)
    assert ViewSpec().crop_ratio == pytest.approx((3 / 4, 4 / 3))


# -- each view on plain images -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", VIEW_KINDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_every_view_keeps_shape_and_dtype_and_is_reproducible(kind, dtype):
    x = torch.randn(4, 3, 20, 30, generator=_gen(1)).to(dtype)
    spec = _spec(kind)
    a, b = apply_view(PLAIN, x, spec, generator=_gen(5)), apply_view(PLAIN, x, spec, generator=_gen(5))
    assert a.shape == x.shape and a.dtype == dtype and torch.equal(a, b)
    if kind != "null_zeros":
        assert not torch.equal(a, apply_view(PLAIN, x, spec, generator=_gen(6)))


def test_noise_view_is_the_diffusion_noise():
    x = torch.randn(4, 3, 8, 8, generator=_gen(2))
    got = apply_view(PLAIN, x, _spec("noise", noise_step=300), generator=_gen(3))
    assert torch.equal(got, add_diffusion_noise(x, 300, generator=_gen(3), pair_shared=True))
    a, b = noise_scales(300)
    assert torch.allclose(got[:2] - a * x[:2], got[2:] - a * x[2:], atol=1e-6)  # one ε per pair


def test_null_zeros_is_the_clip_mean_grey_image():
    out = apply_view(PLAIN, torch.randn(2, 3, 5, 5), _spec("null_zeros"), generator=_gen(0))
    assert torch.equal(out, torch.zeros(2, 3, 5, 5))


def test_null_random_has_v_dpo_s_distribution_in_normalised_space():
    """V-DPO sample_random_image: randn·std_c + mean_c per channel, fed as the normalised tensor."""
    x = torch.zeros(2, 3, 128, 128)
    out = apply_view(PLAIN, x, _spec("null_random", pair_shared=False), generator=_gen(0))
    for c in range(3):
        values = out[:, c]
        assert abs(values.mean().item() - CLIP_MEAN[c]) < 0.01
        assert abs(values.std().item() - CLIP_STD[c]) < 0.01
    assert not torch.equal(out[0], out[1])
    shared = apply_view(PLAIN, x, _spec("null_random"), generator=_gen(0))
    assert torch.equal(shared[0], shared[1])


def test_crop_box_follows_random_resized_crop():
    height, width = 336, 336
    areas, ratios = [], []
    for seed in range(300):
        top, left, h, w = crop_box(height, width, generator=_gen(seed))
        assert 0 <= top and top + h <= height and 0 <= left and left + w <= width
        areas.append(h * w / (height * width))
        ratios.append(w / h)
    assert 0.009 < min(areas) and max(areas) < 0.21 and np.mean(areas) == pytest.approx(0.105, abs=0.01)
    assert 0.72 < min(ratios) and max(ratios) < 1.39
    assert crop_box(height, width, generator=_gen(4)) == crop_box(height, width, generator=_gen(4))
    # A 1 x 1000 strip fits no box in 10 tries: torchvision's fallback, a centre crop at the ratio limit.
    assert crop_box(1, 1000, generator=_gen(0)) == (0, 499, 1, 1)


def test_resized_crop_takes_the_box_and_resizes_it_to_full_size():
    h, w = 30, 40
    rows = torch.arange(h, dtype=torch.float32).view(h, 1).expand(h, w)
    cols = torch.arange(w, dtype=torch.float32).view(1, w).expand(h, w)
    image = torch.stack([rows, cols, rows + cols])[None]
    box = (5, 12, 8, 10)
    out = resized_crop(image, box, (h, w))
    assert out.shape == image.shape
    assert 5 <= out[0, 0].min() and out[0, 0].max() <= 12  # rows 5..12 only
    assert 12 <= out[0, 1].min() and out[0, 1].max() <= 21  # columns 12..21 only
    assert torch.equal(resized_crop(image, (0, 0, h, w), (h, w)), image)


@pytest.mark.parametrize("kind", ["crop", "null_random", "noise"])
def test_pair_shared_gives_chosen_and_rejected_the_same_draw(kind):
    x = torch.randn(2, 3, 16, 16, generator=_gen(0)).repeat(2, 1, 1, 1)  # [chosen_1, chosen_2; same images]
    shared = apply_view(PLAIN, x, _spec(kind), generator=_gen(1))
    assert torch.equal(shared[:2], shared[2:]) and not torch.equal(shared[0], shared[1])
    apart = apply_view(PLAIN, x, _spec(kind, pair_shared=False), generator=_gen(1))
    assert not torch.equal(apart[:2], apart[2:])
    with pytest.raises(ValueError, match="even"):
        apply_view(PLAIN, x[:3], _spec(kind), generator=_gen(1))


# -- views of a batch: one generator per pair ------------------------------------------------------------------
@pytest.mark.parametrize("kind", VIEW_KINDS)
@pytest.mark.parametrize("shared", [True, False])
def test_make_view_depends_on_the_pair_alone(kind, shared):
    spec = _spec(kind, pair_shared=shared)
    big = _pairs_batch(3)
    ids = ["a", "b", "c"]
    full = make_view(PLAIN, big["pixel_values"], big, ids, spec, seed=7, step=3)
    alone = {"input_ids": big["input_ids"][[1, 4]], "pixel_values": big["pixel_values"][[1, 4]]}
    one = make_view(PLAIN, alone["pixel_values"], alone, ["b"], spec, seed=7, step=3)
    assert torch.equal(one, full[[1, 4]])  # batch mates do not matter
    # A chosen row alone (no rejected row) gets the view it has beside its rejected row.
    chosen = {"input_ids": big["input_ids"][:3], "pixel_values": big["pixel_values"][:3]}
    assert torch.equal(make_view(PLAIN, chosen["pixel_values"], chosen, ids, spec, seed=7, step=3), full[:3])
    if kind != "null_zeros":
        for other in (dict(seed=8, step=3), dict(seed=7, step=4), dict(seed=7, step=None)):
            assert not torch.equal(make_view(PLAIN, big["pixel_values"], big, ids, spec, **other), full), other
        salted = _spec(kind, pair_shared=shared, salt="draw1")
        assert not torch.equal(make_view(PLAIN, big["pixel_values"], big, ids, salted, seed=7, step=3), full)


def test_make_view_wants_one_id_per_pair():
    batch = _pairs_batch(2)
    with pytest.raises(ValueError, match="3 ids for 4 rows"):
        make_view(PLAIN, batch["pixel_values"], batch, ["a", "b", "c"], ViewSpec(), seed=0, step=0)


# -- Qwen2.5-VL: flattened, merge-ordered patches ------------------------------------------------------------------
@pytest.fixture(scope="module")
def qwen(tmp_path_factory):
    return load_adapter(build_tiny("qwen2_5_vl", tmp_path_factory.mktemp("views_qwen"), seed=0), device="cpu")


@pytest.fixture(scope="module")
def llava(tmp_path_factory):
    return load_adapter(build_tiny("llava", tmp_path_factory.mktemp("views_llava"), seed=0), device="cpu")


def _images(seed: int = 0) -> list[Image.Image]:
    rs = np.random.RandomState(seed)
    return [Image.fromarray((rs.rand(h, w, 3) * 255).astype("uint8")) for h, w in SIZES]


def _per_image(batch):
    """(patch rows, grid) of each image of a Qwen batch."""
    grids = batch["image_grid_thw"]
    rows = pixel_rows(batch, grids.shape[0])
    return [(batch["pixel_values"][r], grids[i]) for i, r in enumerate(rows)]


def test_unpatchify_then_patchify_is_the_identity_on_the_processor_output(qwen):
    batch = qwen.encode_prompts(_images(), [qwen.build_prompt("hi")] * len(SIZES))
    ip = qwen.processor.image_processor
    for rows, grid in _per_image(batch):
        frames = qwen.to_frames(rows, grid)
        t, h, w = grid.tolist()
        assert frames.shape == (2 * t, 3, h * 14, w * 14)
        assert torch.equal(frames[0], frames[1])  # a still image, stored twice along T
        assert torch.equal(qwen.from_frames(frames, grid), rows)
        # The processor's own patchify rebuilds the rows from the un-patchified image: same merge order.
        rebuilt, gh, gw = ip.patchify(frames[0].numpy(), ip.patch_size, ip.merge_size, ip.temporal_patch_size)
        assert (gh, gw) == (h, w) and torch.equal(torch.from_numpy(np.ascontiguousarray(rebuilt)), rows)


def test_unpatchified_image_is_the_processors_normalised_image(qwen):
    """At a size the processor keeps (multiples of 28), the frame is (image / 255 − mean) / std."""
    image = _images(3)[0].resize((84, 56))
    enc = qwen.processor(images=[image], text=[qwen.build_prompt("hi")], return_tensors="pt")
    assert enc["image_grid_thw"][0].tolist() == [1, 4, 6]
    frame = qwen.to_frames(enc["pixel_values"], enc["image_grid_thw"][0])[0]
    want = (torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)
            - torch.tensor(CLIP_MEAN).view(3, 1, 1)) / torch.tensor(CLIP_STD).view(3, 1, 1)
    torch.testing.assert_close(frame, want, atol=1e-5, rtol=0)


def test_patch_layout_checks_shapes():
    with pytest.raises(ValueError, match="patch rows for grid"):
        qwen_patches_to_frames(torch.zeros(5, 1176), torch.tensor([1, 2, 2]))
    with pytest.raises(ValueError, match="merge_size"):
        qwen_frames_to_patches(torch.zeros(2, 3, 42, 28), torch.tensor([1, 3, 2]))


@pytest.mark.parametrize("kind", ["crop", "null_random"])
def test_an_image_space_view_on_qwen_patches_equals_it_on_the_plain_image(qwen, kind):
    batch = qwen.encode_prompts(_images()[:1], [qwen.build_prompt("hi")])
    rows, grid = batch["pixel_values"], batch["image_grid_thw"]
    spec = _spec(kind, pair_shared=False)
    on_patches = apply_view(qwen, rows, spec, generator=_gen(11), grids=grid)
    plain = qwen.to_frames(rows, grid[0])[:1]  # the (1, C, H, W) image LLaVA would hold
    on_image = apply_view(PLAIN, plain, spec, generator=_gen(11))
    assert torch.equal(on_patches, qwen.from_frames(on_image.expand(2, -1, -1, -1), grid[0]))
    assert not torch.equal(on_patches, rows)


@pytest.mark.parametrize("kind", VIEW_KINDS)
def test_every_view_on_a_qwen_batch_keeps_layout_and_the_temporal_duplicate(qwen, kind):
    from uedpo.train.collate import PreferenceCollator

    class Row:  # the collator needs only these fields
        def __init__(self, i, image):
            self.id, self.prompt, self.chosen, self.rejected, self.image, self.source = (
                f"p{i}", "describe the image .", "a dog .", "a cat .", image, f"row {i}")

        def open_image(self):
            return self.image

    batch = PreferenceCollator(qwen, max_length=4096)([Row(i, im) for i, im in enumerate(_images())])
    pv = batch["pixel_values"]
    out = make_view(qwen, pv, batch, batch["sample_ids"], _spec(kind), seed=0, step=1)
    assert out.shape == pv.shape and out.dtype == pv.dtype
    view = out.view(-1, 3, 2, 14, 14)
    assert torch.equal(view[:, :, 0], view[:, :, 1])
    n = len(SIZES)
    chunks = _per_image({"pixel_values": out, "image_grid_thw": batch["image_grid_thw"]})
    for i in range(n):  # pair-shared: chosen and rejected rows of a pair get the same view
        assert torch.equal(chunks[i][0], chunks[n + i][0])


@pytest.mark.parametrize("kind", VIEW_KINDS)
def test_forward_batch_scores_under_every_view(llava, qwen, kind):
    image = _images()[1]
    for adapter in (llava, qwen):
        out = adapter.forward_batch(
            [image, image], ["what is it ?"] * 2, ["a dog .", "a cat ."], view=_spec(kind), sample_ids=["p0"],
            seed=0, step=3,
        )
        assert out.blurred_logits.shape == out.clear_logits.shape
        assert torch.isfinite(out.blurred_logits).all()
        assert not torch.allclose(out.blurred_logits, out.clear_logits)


def test_crop_scale_bounds_the_kept_area():
    box = crop_box(100, 100, scale=(0.25, 0.25), ratio=(1.0, 1.0), generator=_gen(0))
    assert box[2:] == (50, 50)
