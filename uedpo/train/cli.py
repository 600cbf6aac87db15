"""``uedpo-train --config cfg.yaml [key=value ...]``: train a LoRA adapter with UE-DPO, DPO or SFT.

Also ``python -m uedpo.train.cli ...`` and, on several GPUs, ``accelerate launch -m uedpo.train.cli ...``
(see :mod:`uedpo.trainer`). Keys and their defaults: :class:`uedpo.train.config.TrainConfig`, listed by
``--help`` (read from its source, so ``--help`` imports no torch). Exit codes: 0 done, 2 bad config / data /
checkpoint (one-line message on stderr, before any training compute), 130 interrupted (Ctrl-C: one line; the
checkpoints written so far are complete, so ``resume=latest`` continues).
"""

from __future__ import annotations

import argparse
import sys

from uedpo.errors import InputError

INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def _parser() -> argparse.ArgumentParser:
    from uedpo.train.keys import keys_help

    parser = argparse.ArgumentParser(
        prog="uedpo-train", description="Train a LoRA adapter with UE-DPO / DPO / SFT on a VLM.",
        epilog=keys_help(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="YAML file of key: value (only the keys you change)")
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value", help="override a config key, e.g. alpha=0.15"
    )
    return parser


def _interrupted(cfg) -> str:
    """The one line for Ctrl-C: where training can resume from, if anywhere."""
    from pathlib import Path

    from uedpo.trainer import last_complete_checkpoint

    found = last_complete_checkpoint(cfg.output_dir) if cfg and Path(cfg.output_dir).is_dir() else None
    if found:
        return f"uedpo-train: interrupted; {found} is the newest complete checkpoint: add resume=latest to continue"
    return "uedpo-train: interrupted before the first checkpoint was saved; nothing to resume, rerun to start again"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    cfg = None
    try:
        import torch

        torch.set_flush_denormal(True)  # denormals slow CPU training up to 10x (SHAPESWORLD.md §8)
        from uedpo.train.config import load_config
        from uedpo.trainer import train

        cfg = load_config(args.config, args.overrides)
        out = train(cfg)
    except InputError as err:  # ConfigError, TrainDataError, ModelLoadError: user-fixable, one line; a bug keeps its traceback
        print(f"uedpo-train: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(_interrupted(cfg), file=sys.stderr)
        return INTERRUPTED
    print(f"uedpo-train: adapter written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
