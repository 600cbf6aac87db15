"""Preference pairs from a ShapesWorld model's own captions (SHAPESWORLD.md §5 "Pairs").

Per image the model samples ``n_samples`` captions at temperature 1 plus its greedy caption; chosen = the
ground-truth caption of what is drawn, rejected = the sample naming the most absent objects
(:func:`benchmarks_data.shapesworld.write_preference_pairs` does the picking and writing; this module is the
model side). Sampling uses the generation config's defaults besides ``do_sample`` (transformers' top_k = 50
keeps all but the 8 least likely of the 58 tokens).

    python -m benchmarks_data.shapesworld.model_pairs --ckpt shapes-demo --out runs/shapes-pairs [--n-images 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks_data.shapesworld import CAPTION_PROMPT, EVAL_CONFIG, SceneConfig, write_preference_pairs
from benchmarks_data.shapesworld.pairs import PairsReport

MAX_CAPTION_TOKENS = 32


def caption_sampler(adapter, *, n_samples: int = 4, seed: int = 0):
    """A :data:`~benchmarks_data.shapesworld.pairs.CaptionSampler`: ``n_samples`` sampled + 1 greedy caption
    per image; the sampling RNG is seeded once per call from ``seed`` and a call counter (reproducible)."""
    calls = [0]

    def sample(pixels: Sequence[np.ndarray]) -> list[list[str]]:
        images = [Image.fromarray(p, mode="RGB") for p in pixels]
        prompts = [CAPTION_PROMPT] * len(images)
        sampled = adapter.generate(images * n_samples, prompts * n_samples, max_new_tokens=MAX_CAPTION_TOKENS,
                                   do_sample=True, seed=seed * 100_003 + calls[0], batch_size=len(images) * n_samples,
                                   progress=False)
        greedy = adapter.generate(images, prompts, max_new_tokens=MAX_CAPTION_TOKENS, batch_size=len(images),
                                  progress=False)
        calls[0] += 1
        n = len(images)
        return [[sampled[k * n + i] for k in range(n_samples)] + [greedy[i]] for i in range(n)]

    return sample


def write_model_pairs(adapter, out_dir: str | Path, *, seed: int = 0, n_images: int = 2000, n_samples: int = 4,
                      config: SceneConfig = EVAL_CONFIG, progress: bool | None = None) -> PairsReport:
    """Sample ``n_images`` fresh scenes of ``config`` and write ``<out_dir>/pairs.jsonl`` + images."""
    return write_preference_pairs(out_dir, caption_sampler(adapter, n_samples=n_samples, seed=seed), seed=seed,
                                  n_images=n_images, batch_size=100, config=config, progress=progress)


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(prog="python -m benchmarks_data.shapesworld.model_pairs", description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", default="shapes-demo")
    parser.add_argument("--adapter", help="LoRA adapter on --ckpt")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--n-images", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_flush_denormal(True)
    from uedpo.models import load_adapter

    try:
        adapter = load_adapter(args.ckpt, adapter_dir=args.adapter, dtype="float32", device="cpu")
        report = write_model_pairs(adapter, args.out, seed=args.seed, n_images=args.n_images)
    except ValueError as err:
        print(f"error: {err}", file=__import__("sys").stderr)
        return 2
    print(f"{report.n_pairs} pairs from {report.n_images} images ({report.n_rejected_with_bias_target} rejected "
          f"captions name a bias target): {report.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
