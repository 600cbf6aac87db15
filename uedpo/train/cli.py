"""``uedpo-train --config cfg.yaml [key=value ...]``: train a LoRA adapter with UE-DPO, DPO or SFT.

Also ``python -m uedpo.train.cli ...`` and, on several GPUs, ``accelerate launch -m uedpo.train.cli ...``
(see :mod:`uedpo.trainer`). Keys and their defaults: :class:`uedpo.train.config.TrainConfig`. Exit codes:
0 done, 2 bad config / data / checkpoint (one-line message on stderr, before any training compute).
"""

from __future__ import annotations

import argparse
import sys

import torch


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="uedpo-train", description="Train a LoRA adapter with UE-DPO / DPO / SFT on a VLM."
    )
    parser.add_argument("--config", help="YAML file of key: value (only the keys you change)")
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value", help="override a config key, e.g. alpha=0.15"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    torch.set_flush_denormal(True)  # denormals slow CPU training up to 10x (SHAPESWORLD.md §8)
    from uedpo.train.config import load_config
    from uedpo.trainer import train

    try:
        cfg = load_config(args.config, args.overrides)
        out = train(cfg)
    except ValueError as err:  # ConfigError, TrainDataError, ModelLoadError: user-fixable, one line
        print(f"uedpo-train: error: {err}", file=sys.stderr)
        return 2
    print(f"uedpo-train: adapter written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
