"""ShapesWorld rendering: cached fast path == direct computation, hidden/faint objects, distinct shapes, JPEG."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from benchmarks_data.shapesworld.render import (
    decode_jpeg,
    encode_jpeg,
    jpeg_roundtrip,
    render,
    render_batch,
    render_reference,
    shape_coverage,
)
from benchmarks_data.shapesworld.scene import SHAPES, Scene, SceneConfig, SceneObject, sample_scene


def _one(shape: str, *, x: int = 18, y: int = 33, size: int = 13, visible: bool = True, alpha: float = 1.0,
         rgb=(40, 70, 205), background: int = 230) -> Scene:
    obj = SceneObject(shape=shape, colour="blue", rgb=rgb, cell=9, x=x, y=y, size=size, visible=visible,
                      alpha=alpha)
    return Scene(objects=(obj,), background=background, noise_seed=3)


def test_fast_render_equals_direct_full_canvas_render():
    """The per-(shape, size) coverage cache, the slicing and the blending give exactly the image computed
    without them (every object drawn afresh on a full 256x256 mask), faint and hidden objects included."""
    rng = np.random.default_rng(0)
    config = SceneConfig(p_faint=0.3, faint_size=(5, 9))
    for _ in range(150):
        scene = sample_scene(rng, config)
        np.testing.assert_array_equal(render(scene), render_reference(scene))


def test_image_format_and_determinism():
    scene = sample_scene(np.random.default_rng(4))
    image = render(scene)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, render(scene))
    batch = render_batch([scene, scene])
    assert batch.shape == (2, 64, 64, 3)


def test_hidden_object_is_not_drawn():
    """Without noise a hidden object leaves the flat background level everywhere."""
    image = render(_one("star", visible=False), noise=False)
    assert (image == 230).all()
    drawn = render(_one("star"), noise=False)
    assert (drawn != 230).any(axis=2).sum() > 20


def test_object_pixels_stay_in_their_box():
    scene = _one("cross", x=18, y=33, size=13)
    changed = np.argwhere((render(scene, noise=False) != 230).any(axis=2))
    assert changed[:, 0].min() >= 33 and changed[:, 0].max() < 33 + 13
    assert changed[:, 1].min() >= 18 and changed[:, 1].max() < 18 + 13


def test_solid_shape_centre_has_the_object_colour():
    image = render(_one("square", rgb=(200, 30, 40)), noise=False)
    np.testing.assert_array_equal(image[33 + 6, 18 + 6], [200, 30, 40])


def test_faint_object_is_a_low_contrast_blend():
    """alpha 0.2 at a fully covered pixel: 230 + 0.2 * (rgb - 230) (float32 blend, then rounding)."""
    image = render(_one("square", rgb=(30, 30, 30), alpha=0.2), noise=False)
    assert image[33 + 6, 18 + 6].tolist() == [190, 190, 190]


def test_noise_level():
    """Sensor noise N(0, 4): on a blank image the pixel sd is ~4 (rounding adds 1/12 variance)."""
    image = render(_one("star", visible=False)).astype(float)
    assert image.mean() == pytest.approx(230, abs=0.3)
    assert image.std() == pytest.approx(4.0, abs=0.3)


@pytest.mark.parametrize("size", range(11, 16))
def test_shapes_are_distinct(size):
    """Every pair of classes differs on at least 10 % of its box (mean |coverage difference|), so a model
    cannot confuse two shapes at equal size and position."""
    for a, b in itertools.combinations(SHAPES, 2):
        difference = np.abs(shape_coverage(a, size) - shape_coverage(b, size)).mean()
        assert difference > 0.1, (a, b, difference)


def test_shapes_fill_a_reasonable_part_of_their_box():
    for shape in SHAPES:
        assert 0.2 < shape_coverage(shape, 13).mean() < 0.9, shape


def test_unknown_shape_is_rejected():
    with pytest.raises(ValueError, match="hexagon"):
        shape_coverage("hexagon", 12)


def test_jpeg_roundtrip_is_what_a_reader_of_the_file_gets():
    image = render(sample_scene(np.random.default_rng(9)))
    data = encode_jpeg(image)
    assert data[:2] == b"\xff\xd8" and data == encode_jpeg(image)
    np.testing.assert_array_equal(jpeg_roundtrip(image), decode_jpeg(data))
    # Quality 95, 4:4:4: close to the source pixels.
    assert np.abs(jpeg_roundtrip(image).astype(int) - image).mean() < 3


def test_colour_fidelity_survives_jpeg():
    """4:4:4 chroma keeps a small object's colour: the centre of a 13-px red square stays red."""
    image = jpeg_roundtrip(render(_one("square", rgb=(210, 40, 40)), noise=False))
    red, green, blue = image[33 + 6, 18 + 6].astype(int)
    assert red > 180 and green < 70 and blue < 70
