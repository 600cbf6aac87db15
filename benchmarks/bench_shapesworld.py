"""ShapesWorld generator speed: the cached renderer against the direct one, and the whole benchmark writer.

Measured in one process, median of repeats:
  render    = ``render`` (per-(shape, size) coverage cache + numpy blending) on N training scenes
  baseline  = ``render_reference`` (every object drawn afresh on a full 256x256 mask) on the same scenes
  write     = ``write_benchmark`` of the default 200-image benchmark (sampling, rendering, JPEG, JSON)
Prints images/s for both renderers, their ratio, and the write time (target: well under 1 s).

    python benchmarks/bench_shapesworld.py [--n 1000 --repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks_data.shapesworld.benchmark import write_benchmark
from benchmarks_data.shapesworld.render import render, render_reference
from benchmarks_data.shapesworld.scene import iter_scenes


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="scenes per render timing")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    stream = iter_scenes(0)
    scenes = [next(stream) for _ in range(args.n)]
    render(scenes[0])  # warm the coverage cache's first entries like a real run would

    fast = _median_seconds(lambda: [render(s) for s in scenes], args.repeats)
    slow = _median_seconds(lambda: [render_reference(s) for s in scenes], args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(args.repeats))
        write = _median_seconds(lambda: write_benchmark(Path(tmp) / f"b{next(counter)}", progress=False),
                                args.repeats)
    print(f"render    {args.n / fast:8.0f} images/s")
    print(f"baseline  {args.n / slow:8.0f} images/s (render_reference)")
    print(f"ratio     {slow / fast:8.2f}x faster than the baseline")
    print(f"write_benchmark (200 images + JSON): {write:.3f} s")


if __name__ == "__main__":
    main()
