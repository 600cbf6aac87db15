"""Tiny random checkpoints of every registered family, built offline (ENVIRONMENT.md §2 recipe).

They exercise the same loading, prompting, generation and teacher-forced code as real checkpoints: a
word-level tokenizer made with ``tokenizers`` (words outside :data:`TINY_WORDS` map to ``<unk>``), the Pil image
processors (no torchvision), the model config, safetensors weights and the chat template are written to one
directory that :func:`uedpo.models.load_adapter` opens. Each family's builder lives in its module of
:mod:`uedpo.models.families`. Tests only; the weights are random.

Usage: ``python -m uedpo.models.tiny --family NAME --out DIR [--seed S]`` (``--help`` lists the families).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from uedpo.models.families import FAMILIES as _REGISTRY
from uedpo.models.families.llava import LLAVA_IMAGE_SIZE, PATCH, tiny_llava  # noqa: F401  (re-exported)
from uedpo.models.families.qwen2_5_vl import QWEN_MAX_PIXELS, QWEN_MIN_PIXELS, tiny_qwen25vl  # noqa: F401
from uedpo.models.tiny_parts import word_tokenizer  # noqa: F401  (re-exported)
from uedpo.models.tiny_vocab import TINY_WORDS  # noqa: F401

FAMILIES = tuple(_REGISTRY)  # the family names, in registry order
BUILDERS = {name: family.tiny for name, family in _REGISTRY.items()}


def build_tiny(family: str, out_dir: str | Path, *, seed: int = 0) -> Path:
    """Write a tiny random checkpoint of ``family`` to ``out_dir`` (safetensors) and return the directory."""
    if family not in _REGISTRY:
        raise ValueError(f"family: expected one of {tuple(_REGISTRY)}, got {family!r}")
    model, proc = _REGISTRY[family].tiny(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)  # safetensors is the default serialisation
    proc.save_pretrained(out)
    return out


def _epilog() -> str:
    width = max(len(name) for name in _REGISTRY)
    return "families:\n" + "\n".join(f"  {name:<{width}}  {f.summary}" for name, f in _REGISTRY.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m uedpo.models.tiny", description=__doc__.splitlines()[0],
                                     epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", required=True, choices=tuple(_REGISTRY), metavar="NAME",
                        help=f"one of {', '.join(_REGISTRY)}")
    parser.add_argument("--out", required=True, type=Path, help="output directory (created if missing)")
    parser.add_argument("--seed", type=int, default=0, help="torch seed for the random weights")
    args = parser.parse_args(argv)
    torch.set_flush_denormal(True)
    out = build_tiny(args.family, args.out, seed=args.seed)
    n = sum(f.stat().st_size for f in out.glob("*.safetensors"))
    print(f"wrote tiny {args.family} checkpoint to {out} ({n / 1e6:.2f} MB of safetensors)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
