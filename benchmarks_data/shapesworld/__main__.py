"""``python -m benchmarks_data.shapesworld --out DIR [--seed 0] [--faint]``: write the ShapesWorld benchmark.

``--faint`` writes the faint variant (``FAINT_EVAL_CONFIG``: 40 % of objects small and low-contrast), the data
of ``uedpo-eval --bench shapes-faint``.

Exit codes: 0 written, 2 bad input (one-line message on stderr).
"""

from __future__ import annotations

import argparse
import sys
import time

from benchmarks_data.shapesworld.benchmark import write_benchmark
from benchmarks_data.shapesworld.scene import EVAL_CONFIG, FAINT_EVAL_CONFIG
from benchmarks_data.store import DataError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks_data.shapesworld", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output directory (created; must be empty or a ShapesWorld "
                                                     "benchmark with --overwrite)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-breaking", type=int, default=100, help="bias-breaking images, split over the pairs")
    parser.add_argument("--n-uniform", type=int, default=100)
    parser.add_argument("--no-colour-questions", action="store_true", help="existence questions only")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing ShapesWorld benchmark")
    parser.add_argument("--faint", action="store_true", help="the faint variant (40 %% of objects hard to see)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        written = write_benchmark(args.out, seed=args.seed, n_breaking=args.n_breaking, n_uniform=args.n_uniform,
                                  colour_questions=not args.no_colour_questions, overwrite=args.overwrite,
                                  config=FAINT_EVAL_CONFIG if args.faint else EVAL_CONFIG)
    except (ValueError, DataError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {written.root}: {written.n_images} images, {written.n_generative} generative + "
          f"{written.n_discriminative} yes/no items, {len(written.files) + 1} files in "
          f"{time.perf_counter() - start:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
