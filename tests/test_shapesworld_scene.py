"""ShapesWorld scene sampler: the recipe of SHAPESWORLD.md §1 (layout, counts, bias, label noise)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from benchmarks_data.shapesworld.scene import (
    CELL_SIZE,
    COLOURS,
    EVAL_CONFIG,
    GRID,
    SHAPES,
    TRAIN_CONFIG,
    SceneConfig,
    iter_scenes,
    sample_scene,
    scene_from_dict,
    scene_to_dict,
)

N_SCENES = 4000


@pytest.fixture(scope="module")
def train_scenes():
    stream = iter_scenes(123, TRAIN_CONFIG)
    return [next(stream) for _ in range(N_SCENES)]


def test_layout_one_object_per_cell_inside_its_cell(train_scenes):
    for scene in train_scenes[:500]:
        cells = [o.cell for o in scene.objects]
        assert len(set(cells)) == len(cells)
        assert len(set(scene.named)) == len(scene.named)  # distinct classes
        assert list(scene.named) == sorted(scene.named, key=SHAPES.index)  # caption order
        assert 215 <= scene.background <= 250
        for o in scene.objects:
            row, col = divmod(o.cell, GRID)
            assert 11 <= o.size <= 15
            # The whole box lies inside the object's own 16-px cell (= one ViT patch).
            assert col * CELL_SIZE <= o.x and o.x + o.size <= (col + 1) * CELL_SIZE
            assert row * CELL_SIZE <= o.y and o.y + o.size <= (row + 1) * CELL_SIZE
            assert o.colour in COLOURS and all(0 <= v <= 255 for v in o.rgb)
            assert o.alpha == 1.0  # the faint regime is off by default


def test_cooccurrence_bias(train_scenes):
    """P(target | trigger) = 0.9 by construction. With ~1,000 trigger scenes the binomial sd is
    sqrt(0.09 / 1000) ~ 0.0095, so +-0.03 is a 3-sd band (4,000 scenes rather than 1,000 for that reason)."""
    for trigger, target in TRAIN_CONFIG.bias_pairs:
        with_trigger = [s for s in train_scenes if trigger in s.named]
        assert len(with_trigger) > 800
        rate = sum(target in s.named for s in with_trigger) / len(with_trigger)
        assert rate == pytest.approx(0.9, abs=0.03)


def test_p_hidden_and_counts(train_scenes):
    objects = [o for s in train_scenes for o in s.objects]
    assert sum(not o.visible for o in objects) / len(objects) == pytest.approx(0.1, abs=0.015)
    assert {len(s.objects) for s in train_scenes} == {1, 2, 3, 4}  # the bias never pushes past 4


def test_uniform_count_distribution_and_nothing_hidden():
    """Without bias correction the object count follows p = .25/.35/.25/.15 exactly in expectation
    (sd <= sqrt(.25 * .75 / 4000) ~ 0.007, band 0.03)."""
    rng = np.random.default_rng(5)
    scenes = [sample_scene(rng, EVAL_CONFIG) for _ in range(N_SCENES)]
    counts = Counter(len(s.objects) for s in scenes)
    for n, p in zip((1, 2, 3, 4), (0.25, 0.35, 0.25, 0.15), strict=True):
        assert counts[n] / N_SCENES == pytest.approx(p, abs=0.03)
    assert all(o.visible for s in scenes for o in s.objects)
    # No bias correction: P(square | circle) is near P(square) among the other classes, far from 0.9.
    with_circle = [s for s in scenes if "circle" in s.named]
    assert sum("square" in s.named for s in with_circle) / len(with_circle) < 0.3


def test_include_exclude_for_bias_breaking_scenes():
    rng = np.random.default_rng(0)
    for _ in range(300):
        scene = sample_scene(rng, EVAL_CONFIG, include=("circle",), exclude=("square",))
        assert "circle" in scene.drawn and "square" not in scene.named
    # include/exclude also override the bias correction of the training distribution.
    for _ in range(300):
        scene = sample_scene(rng, TRAIN_CONFIG, include=("triangle",), exclude=("star",))
        assert "triangle" in scene.named and "star" not in scene.named
    with pytest.raises(ValueError, match="disjoint"):
        sample_scene(rng, include=("circle",), exclude=("circle",))
    with pytest.raises(ValueError, match="hexagon"):
        sample_scene(rng, include=("hexagon",))


def test_seeded_stream_is_reproducible():
    a, b, c = iter_scenes(7), iter_scenes(7), iter_scenes(8)
    first = [next(a) for _ in range(50)]
    assert first == [next(b) for _ in range(50)]
    assert first != [next(c) for _ in range(50)]


def test_faint_regime_option():
    config = SceneConfig(p_faint=1.0, faint_size=(6, 8), p_hidden=0.0)
    rng = np.random.default_rng(1)
    objects = [o for _ in range(200) for o in sample_scene(rng, config).objects]
    assert all(o.faint and 0.08 <= o.alpha <= 0.3 and 6 <= o.size <= 8 and o.visible for o in objects)


@pytest.mark.parametrize("kwargs", [
    {"n_objects_probs": (0.5, 0.4)}, {"p_hidden": 1.5}, {"bias_pairs": (("circle", "circle"),)},
    {"size_range": (11, 17)},
])
def test_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError, match="SceneConfig"):
        SceneConfig(**kwargs)


def test_scene_dict_roundtrip(train_scenes):
    for scene in train_scenes[:50]:
        assert scene_from_dict(scene_to_dict(scene)) == scene
    raw = scene_to_dict(train_scenes[0])
    raw["objects"][0]["shape"] = "hexagon"
    with pytest.raises(ValueError, match="unknown shape"):
        scene_from_dict(raw)
