"""Preference pairs from a model's own ShapesWorld captions (SHAPESWORLD.md §5, "Pairs").

Recipe: fresh scenes with every object visible (an annotator sees the image); the caller's model samples
captions for each image; chosen = the ground-truth caption of what is drawn, rejected = the sample that names
the most objects that are not drawn (first such sample on ties); images without a hallucinated sample are
skipped. No model code here: the sampler is a callable the caller passes.

Rows are JSONL in the trainer's TRL-style layout: ``{"id", "image", "prompt", "chosen", "rejected"}`` with
``image`` relative to the image directory (``<out_dir>/images``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from benchmarks_data.shapesworld.captions import CAPTION_PROMPT, drawn_caption, mentioned_shapes
from benchmarks_data.shapesworld.render import decode_jpeg, encode_jpeg, render
from benchmarks_data.shapesworld.scene import BIAS_PAIRS, EVAL_CONFIG, Scene, SceneConfig, sample_scene
from uedpo.errors import InputError
from uedpo.io import atomic_write_jsonl

PAIRS_FILE = "pairs.jsonl"
IMAGE_DIR = "images"

# images (uint8 (64, 64, 3), exactly the pixels of the saved JPEGs) -> sampled captions per image
CaptionSampler = Callable[[Sequence[np.ndarray]], Sequence[Sequence[str]]]


def hallucinated_objects(caption: str, scene: Scene) -> tuple[str, ...]:
    """Shapes ``caption`` names that ``scene`` does not draw, distinct, in order of mention. Hidden objects
    count as absent (they are not in the image); faint ones as present."""
    drawn = set(scene.drawn)
    return tuple(shape for shape in mentioned_shapes(caption) if shape not in drawn)


def pick_rejected(samples: Sequence[str], scene: Scene) -> tuple[str, tuple[str, ...]] | None:
    """The sample with the most hallucinated objects (the first of equals) and those objects; ``None`` if
    no sample hallucinates."""
    best: tuple[str, tuple[str, ...]] | None = None
    for sample in samples:
        hallucinated = hallucinated_objects(sample, scene)
        if hallucinated and (best is None or len(hallucinated) > len(best[1])):
            best = (sample, hallucinated)
    return best


@dataclass(frozen=True)
class PreferencePair:
    id: str
    image: str
    prompt: str
    chosen: str
    rejected: str
    hallucinated: tuple[str, ...]

    def to_row(self) -> dict[str, str]:
        return {"id": self.id, "image": self.image, "prompt": self.prompt, "chosen": self.chosen,
                "rejected": self.rejected}


def build_pairs(ids: Sequence[str], images: Sequence[str], scenes: Sequence[Scene],
                samples: Sequence[Sequence[str]], prompt: str = CAPTION_PROMPT) -> list[PreferencePair]:
    """Pure: one pair per image that has a hallucinated sample, in input order."""
    if not len(ids) == len(images) == len(scenes) == len(samples):
        raise InputError(f"build_pairs: {len(ids)} ids, {len(images)} images, {len(scenes)} scenes and "
                         f"{len(samples)} sample lists; pass one of each per image")
    pairs = []
    for item_id, image, scene, image_samples in zip(ids, images, scenes, samples, strict=True):
        chosen = drawn_caption(scene)
        picked = pick_rejected(image_samples, scene)
        if chosen is None or picked is None:
            continue
        pairs.append(PreferencePair(id=item_id, image=image, prompt=prompt, chosen=chosen, rejected=picked[0],
                                    hallucinated=picked[1]))
    return pairs


@dataclass(frozen=True)
class PairsReport:
    path: Path
    image_dir: Path
    n_images: int
    n_pairs: int
    n_rejected_with_bias_target: int


def write_preference_pairs(out_dir: str | os.PathLike, sample_captions: CaptionSampler, *, seed: int = 0,
                           n_images: int = 2000, batch_size: int = 64, config: SceneConfig = EVAL_CONFIG,
                           prompt: str = CAPTION_PROMPT, progress: bool | None = None) -> PairsReport:
    """Sample ``n_images`` scenes (seeded), save them as ``<out_dir>/images/sw{seed}_{i:06d}.jpg``, ask
    ``sample_captions`` for captions batch by batch (it gets the decoded JPEG pixels, what a trainer will
    read), and write the pairs to ``<out_dir>/pairs.jsonl`` atomically."""
    if n_images < 1 or batch_size < 1:
        raise InputError(f"write_preference_pairs: n_images={n_images} and batch_size={batch_size} must be >= 1")
    out_dir = Path(out_dir)
    image_dir = out_dir / IMAGE_DIR
    image_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pairs: list[PreferencePair] = []
    bar = tqdm(total=n_images, desc="ShapesWorld pairs", unit="image", disable=None if progress is None else not progress)
    for start in range(0, n_images, batch_size):
        scenes = [sample_scene(rng, config) for _ in range(min(batch_size, n_images - start))]
        names = [f"sw{seed}_{start + i:06d}.jpg" for i in range(len(scenes))]
        pixels = []
        for name, scene in zip(names, scenes, strict=True):
            data = encode_jpeg(render(scene))
            (image_dir / name).write_bytes(data)
            pixels.append(decode_jpeg(data))
        samples = sample_captions(pixels)
        if len(samples) != len(scenes):
            raise InputError(f"sample_captions returned {len(samples)} sample lists for {len(scenes)} images; "
                             "return one list of captions per image")
        pairs += build_pairs([Path(n).stem for n in names], names, scenes, samples, prompt)
        bar.update(len(scenes))
    bar.close()
    path = out_dir / PAIRS_FILE
    atomic_write_jsonl(path, [pair.to_row() for pair in pairs])
    targets = {target for _, target in BIAS_PAIRS}
    return PairsReport(path=path, image_dir=image_dir, n_images=n_images, n_pairs=len(pairs),
                       n_rejected_with_bias_target=sum(bool(targets & set(p.hallucinated)) for p in pairs))
