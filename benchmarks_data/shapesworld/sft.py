"""The ShapesWorld supervised (captioning) training stream (SHAPESWORLD.md §1 and §7b).

Fresh scenes from the TRAINING distribution (bias pairs at 0.9, ``p_hidden`` 0.1); 75 % caption examples
(prompt :data:`~benchmarks_data.shapesworld.captions.CAPTION_PROMPT`, target = the caption naming every
object, hidden ones included) and 25 % yes/no questions, 50/50 about a named shape ("yes"; hidden objects
count as present: that label noise is the point) and a shape not named ("no"). Images go through the
benchmark's JPEG encoding by default, so training and evaluation pixels come from the same encoder.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from benchmarks_data.shapesworld.captions import CAPTION_PROMPT, NO, YES, caption, existence_question
from benchmarks_data.shapesworld.render import jpeg_roundtrip, render
from benchmarks_data.shapesworld.scene import SHAPES, TRAIN_CONFIG, Scene, SceneConfig, sample_scene
from uedpo.errors import InputError

P_QUESTION = 0.25
CAPTION, QUESTION = "caption", "question"


@dataclass(frozen=True)
class SftExample:
    image: np.ndarray  # (64, 64, 3) uint8
    prompt: str
    target: str
    kind: str  # CAPTION or QUESTION
    scene: Scene


def iter_sft_examples(seed: int, *, config: SceneConfig = TRAIN_CONFIG, p_question: float = P_QUESTION,
                      jpeg: bool = True) -> Iterator[SftExample]:
    """An endless, reproducible stream of training examples (see the module docstring)."""
    if not 0.0 <= p_question <= 1.0:
        raise InputError(f"iter_sft_examples: p_question={p_question} is not a probability; use [0, 1]")
    rng = np.random.default_rng(seed)
    while True:
        scene = sample_scene(rng, config)
        pixels = render(scene)
        image = jpeg_roundtrip(pixels) if jpeg else pixels
        if rng.random() < p_question:
            present = rng.random() < 0.5
            options = scene.named if present else tuple(s for s in SHAPES if s not in scene.named)
            shape = options[int(rng.integers(len(options)))]
            yield SftExample(image=image, prompt=existence_question(shape), target=YES if present else NO,
                             kind=QUESTION, scene=scene)
        else:
            yield SftExample(image=image, prompt=CAPTION_PROMPT, target=caption(scene), kind=CAPTION, scene=scene)
