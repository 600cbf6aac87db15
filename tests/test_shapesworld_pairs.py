"""ShapesWorld preference pairs and the SFT stream (SHAPESWORLD.md §1 and §5)."""

from __future__ import annotations

import json
from collections import Counter
from itertools import islice

import numpy as np
import pytest

from benchmarks_data.shapesworld.captions import CAPTION_PROMPT, caption, drawn_caption
from benchmarks_data.shapesworld.pairs import (
    build_pairs,
    hallucinated_objects,
    pick_rejected,
    write_preference_pairs,
)
from benchmarks_data.shapesworld.render import decode_jpeg, jpeg_roundtrip, render
from benchmarks_data.shapesworld.scene import EVAL_CONFIG, SHAPES, Scene, SceneObject, sample_scene
from benchmarks_data.shapesworld.sft import CAPTION, QUESTION, iter_sft_examples


def _obj(shape: str, colour: str = "red", visible: bool = True, alpha: float = 1.0) -> SceneObject:
    return SceneObject(shape=shape, colour=colour, rgb=(200, 40, 40), cell=0, x=1, y=1, size=12, visible=visible,
                       alpha=alpha)


SCENE = Scene(objects=(_obj("circle"), _obj("moon", "blue"), _obj("arrow", visible=False),
                       _obj("heart", alpha=0.1)), background=230, noise_seed=1)


def test_hallucinated_objects():
    assert hallucinated_objects("a red circle and a blue moon .", SCENE) == ()
    assert hallucinated_objects("a red circle , a red square and a blue moon .", SCENE) == ("square",)
    # Hidden objects are not in the image: naming one is a hallucination. Faint ones are drawn.
    assert hallucinated_objects("a red arrow and a red heart .", SCENE) == ("arrow",)
    # Distinct objects, in order of mention; colour errors are not object hallucinations.
    assert hallucinated_objects("a star , a bar , a star and a green circle .", SCENE) == ("star", "bar")


def test_pick_rejected_takes_the_most_hallucinated_sample_first_on_ties():
    samples = ["a red circle and a blue moon .", "a red circle and a red square .",
               "a red star , a red square and a blue moon .", "a red bar , a red cross and a blue moon ."]
    assert pick_rejected(samples, SCENE) == ("a red star , a red square and a blue moon .", ("star", "square"))
    assert pick_rejected(samples[:1], SCENE) is None
    assert pick_rejected([], SCENE) is None


def test_build_pairs_chosen_is_the_drawn_caption_and_clean_images_are_skipped():
    pairs = build_pairs(["a", "b"], ["a.jpg", "b.jpg"], [SCENE, SCENE],
                        [["a red circle and a blue moon ."], ["a red circle and a green square ."]])
    assert len(pairs) == 1
    pair = pairs[0]
    assert (pair.id, pair.image, pair.prompt) == ("b", "b.jpg", CAPTION_PROMPT)
    assert pair.chosen == "a red circle , a red heart and a blue moon ." == drawn_caption(SCENE)
    assert pair.rejected == "a red circle and a green square ." and pair.hallucinated == ("square",)
    assert pair.to_row() == {"id": "b", "image": "b.jpg", "prompt": CAPTION_PROMPT, "chosen": pair.chosen,
                             "rejected": pair.rejected}
    with pytest.raises(ValueError, match="one of each per image"):
        build_pairs(["a"], [], [SCENE], [[]])


def test_write_preference_pairs_with_a_fake_sampler(tmp_path):
    """The fake model names the square on every image; pairs exist exactly where no square is drawn."""
    seen: list[np.ndarray] = []

    def sampler(images):
        seen.extend(images)
        return [["a red square .", "a blue square ."] for _ in images]

    report = write_preference_pairs(tmp_path, sampler, seed=3, n_images=10, batch_size=4, progress=False)
    rows = [json.loads(line) for line in report.path.read_text().splitlines()]
    assert len(seen) == 10 and report.n_images == 10 and report.n_pairs == len(rows)
    images = sorted(report.image_dir.iterdir())
    assert len(images) == 10
    for image_path, pixels in zip(images, seen, strict=True):  # the sampler saw the saved JPEG's pixels
        np.testing.assert_array_equal(decode_jpeg(image_path.read_bytes()), pixels)
    for row in rows:
        assert set(row) == {"id", "image", "prompt", "chosen", "rejected"}
        assert (report.image_dir / row["image"]).is_file() and row["id"] == row["image"].removesuffix(".jpg")
        assert row["prompt"] == CAPTION_PROMPT and "square" not in row["chosen"]
        assert row["rejected"] == "a red square ."  # the first of equally hallucinated samples
    # The same seeded scenes, drawn independently: a pair for every image without a drawn square.
    rng = np.random.default_rng(3)
    scenes = [sample_scene(rng, EVAL_CONFIG) for _ in range(10)]
    expected = sum("square" not in s.drawn for s in scenes)
    assert report.n_pairs == expected and report.n_rejected_with_bias_target == expected
    assert [r["chosen"] for r in rows] == [caption(s) for s in scenes if "square" not in s.drawn]


def test_write_preference_pairs_checks_the_sampler_output(tmp_path):
    with pytest.raises(ValueError, match="one list of captions per image"):
        write_preference_pairs(tmp_path, lambda images: [], n_images=2, progress=False)


def test_sft_stream():
    """25 % questions (sd sqrt(.1875 / 4000) ~ 0.007, band 0.03), half of them "yes"; "yes" exactly when
    the shape is named (hidden objects count as present); captions name every object; images are the
    JPEG round trip of the render."""
    examples = list(islice(iter_sft_examples(11, jpeg=False), 4000))  # same draws, no JPEG cost
    kinds = Counter(e.kind for e in examples)
    assert kinds[QUESTION] / len(examples) == pytest.approx(0.25, abs=0.03)
    questions = [e for e in examples if e.kind == QUESTION]
    assert sum(e.target == "yes" for e in questions) / len(questions) == pytest.approx(0.5, abs=0.06)
    hidden_yes = 0
    for e in questions:
        shape = next(s for s in SHAPES if f" {s} " in e.prompt)
        assert e.prompt == f"is there a {shape} in the image ?"
        assert (e.target == "yes") == (shape in e.scene.named)
        hidden_yes += e.target == "yes" and shape not in e.scene.drawn
    assert hidden_yes > 0  # label noise reaches the yes/no questions too
    for e in examples[:300]:
        if e.kind == CAPTION:
            assert e.prompt == CAPTION_PROMPT and e.target == caption(e.scene)
    first = examples[0]
    np.testing.assert_array_equal(first.image, render(first.scene))
    encoded = next(iter_sft_examples(11))
    assert encoded.target == first.target and encoded.scene == first.scene
    np.testing.assert_array_equal(encoded.image, jpeg_roundtrip(render(first.scene)))
