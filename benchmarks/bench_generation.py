"""Batched (left-padded) vs one-at-a-time greedy generation on the tiny checkpoints, measured in one run.

Prints items/s for both and their ratio (target >= 3x on CPU at batch 8) and checks the texts are identical.
Usage: ``python benchmarks/bench_generation.py [--family llava qwen2_5_vl] [--items 32] [--batch-size 8]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from uedpo.models import load_adapter  # noqa: E402
from uedpo.models.tiny import FAMILIES, build_tiny  # noqa: E402

QUESTIONS = ["describe the image .", "is there a dog in the image ?", "what is on the table ?",
             "what color is the car on the left side of the road ?"]


def _items(n: int) -> tuple[list[Image.Image], list[str]]:
    rs = np.random.RandomState(0)
    sizes = [(40, 48), (64, 30), (50, 50), (90, 40), (30, 70)]
    images = [Image.fromarray((rs.rand(*sizes[i % 5], 3) * 255).astype("uint8")) for i in range(n)]
    return images, [QUESTIONS[i % len(QUESTIONS)] for i in range(n)]


def _timed(fn) -> tuple[list[str], float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def bench(family: str, root: Path, items: int, batch_size: int, max_new_tokens: int) -> None:
    adapter = load_adapter(build_tiny(family, root / family))
    images, questions = _items(items)
    adapter.generate(images[:batch_size], questions[:batch_size], max_new_tokens=4, batch_size=batch_size)  # warm-up
    single, t_single = _timed(lambda: [
        adapter.generate([im], [q], max_new_tokens=max_new_tokens, progress=False)[0]
        for im, q in zip(images, questions, strict=True)])
    batched, t_batched = _timed(lambda: adapter.generate(
        images, questions, max_new_tokens=max_new_tokens, batch_size=batch_size, progress=False))
    print(f"{family:11s} one-at-a-time {items / t_single:7.1f} items/s | batch {batch_size} "
          f"{items / t_batched:7.1f} items/s | ratio {t_single / t_batched:4.1f}x | "
          f"identical texts: {batched == single}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    args = parser.parse_args(argv)
    torch.set_flush_denormal(True)  # denormals slow tiny CPU models up to 10x (SHAPESWORLD.md §8)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.items} items, "
          f"{args.max_new_tokens} new tokens")
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.family:
            bench(family, Path(tmp), args.items, args.batch_size, args.max_new_tokens)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
