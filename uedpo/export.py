"""``uedpo-export``: turn a trained LoRA adapter into a checkpoint other tools load.

    uedpo-export --ckpt BASE --adapter DIR --out OUT [--merge] [--dtype auto|float32|bfloat16|float16]

``--merge``: a full transformers checkpoint: the base with the LoRA merged into its weights (``peft``
``merge_and_unload``, computed in float32, then cast to ``--dtype``; ``auto`` = the dtype the base's
config.json records), saved as safetensors with the processor (the family's chat template written when the
base has none), ``generation_config.json`` and the model card. ``uedpo-eval --ckpt OUT`` and plain
``AutoModelForImageTextToText`` / ``AutoProcessor`` open it: the image-only processor subclasses of
:mod:`uedpo.models.processors` are named by their stock transformers class in ``processor_config.json``.

Without ``--merge``: the peft adapter (``adapter_config.json``, ``adapter_model.safetensors``, and the run's
``config.yaml`` when present) with the model card.

The model card (``README.md``) records the base, the training config (``config.yaml`` of the adapter
directory), the training data's sha256 (``data_sha256`` when the config records it, else computed from its
``data`` path: the file, or a digest over the data files of a directory) and the toolkit version (package
metadata) and git commit. Both modes first load the base with the adapter, so an adapter for another base is
refused. Bad input (missing directories, an adapter for another base, OUT existing and not empty) is one
line on stderr and exit code 2, with nothing written: the export is built in a temporary directory beside OUT
and renamed into place at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch

from uedpo.errors import InputError
from uedpo.export_card import model_card
from uedpo.models.loading import DTYPES

log = logging.getLogger(__name__)

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
RUN_CONFIG = "config.yaml"
PROCESSOR_CONFIGS = ("processor_config.json", "tokenizer_config.json", "preprocessor_config.json")


class ExportError(InputError):
    """The export cannot run as asked; the message names the path and the fix."""


def check_out(out: Path) -> None:
    """OUT must not exist, or be an empty directory."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"--out {out}: exists and is not empty; choose a new directory (nothing was written)")


def recorded_dtype(config_dir: Path) -> torch.dtype:
    """The dtype config.json records (``dtype``, or the older ``torch_dtype``); float32 when absent."""
    config = json.loads((config_dir / "config.json").read_text(encoding="utf-8"))
    name = config.get("dtype") or config.get("torch_dtype") or "float32"
    return DTYPES.get(str(name), torch.float32)


def stock_processor_names(out: Path) -> None:
    """Name the stock transformers processor class where an image-only subclass of ours was saved."""
    from uedpo.models.processors import STOCK_NAMES

    for name in PROCESSOR_CONFIGS:
        path = out / name
        if not path.is_file():
            continue
        config = json.loads(path.read_text(encoding="utf-8"))
        if config.get("processor_class") in STOCK_NAMES:
            config["processor_class"] = STOCK_NAMES[config["processor_class"]]
            path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_merged(adapter, tmp: Path, dtype: torch.dtype) -> None:
    """The merged model (safetensors), its generation config and the processor with a chat template."""
    model = adapter.model.merge_and_unload()
    model.to(dtype)
    model.save_pretrained(tmp)  # safetensors is transformers' default serialisation
    if not (tmp / "generation_config.json").is_file():
        model.generation_config.save_pretrained(tmp)
    processor = adapter.processor
    if not getattr(processor, "chat_template", None) and adapter.chat_template:
        processor.chat_template = adapter.chat_template
    processor.save_pretrained(tmp)
    stock_processor_names(tmp)


def write_adapter(adapter_dir: Path, tmp: Path) -> None:
    for name in (*ADAPTER_FILES, RUN_CONFIG):
        if (adapter_dir / name).is_file():
            shutil.copy2(adapter_dir / name, tmp / name)


def export(ckpt: str, adapter_dir: Path, out: Path, *, merge: bool, dtype: str = "auto") -> Path:
    """Write the export to ``out`` (module docstring); ``ModelLoadError`` / ``ExportError`` on bad input."""
    from uedpo.models import load_adapter
    from uedpo.models.loading import check_safetensors, read_family, resolve_checkpoint
    from uedpo.models.lora import check_adapter

    out = out.expanduser()
    check_out(out)
    if dtype != "auto" and dtype not in DTYPES:
        raise ExportError(f"--dtype {dtype}: expected auto or one of {', '.join(DTYPES)}")
    name, config_dir = resolve_checkpoint(ckpt)
    family = read_family(config_dir, name)
    if Path(name).is_dir():
        check_safetensors(Path(name))
    check_adapter(adapter_dir, base_name=name, family=family)  # before the (slow) model load
    out_dtype = recorded_dtype(config_dir) if dtype == "auto" else DTYPES[dtype]
    # float32 for the merge (exact to float32 rounding); the adapter-only export never casts weights.
    adapter = load_adapter(name, adapter_dir=adapter_dir, dtype=torch.float32 if merge else out_dtype,
                           device="cpu")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))
    try:
        if merge:
            write_merged(adapter, tmp, out_dtype)
        else:
            write_adapter(adapter_dir, tmp)
        card = model_card(name=name, family=adapter.family, adapter_dir=adapter_dir, merged=merge,
                          dtype=str(out_dtype).removeprefix("torch."), files=sorted(p.name for p in tmp.iterdir()))
        (tmp / "README.md").write_text(card, encoding="utf-8")
        check_out(out)  # nothing appeared there meanwhile
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="uedpo-export", description="Turn a trained LoRA adapter into a checkpoint other tools load.",
        epilog="Exit codes: 0 written, 2 bad input (nothing written).",
    )
    parser.add_argument("--ckpt", required=True, help="the base checkpoint the adapter was trained on")
    parser.add_argument("--adapter", required=True, type=Path, help="the peft LoRA adapter (a uedpo-train run)")
    parser.add_argument("--out", required=True, type=Path, help="new (or empty) output directory")
    parser.add_argument("--merge", action="store_true",
                        help="write a full checkpoint with the LoRA merged (default: the adapter + model card)")
    parser.add_argument("--dtype", default="auto", choices=("auto", *DTYPES),
                        help="weights of the merged checkpoint (auto: the base's recorded dtype)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # errors stay one line on stderr
    torch.set_flush_denormal(True)
    try:
        out = export(args.ckpt, args.adapter, args.out, merge=args.merge, dtype=args.dtype)
    except InputError as err:  # ModelLoadError, ExportError; a bug keeps its traceback
        print(f"uedpo-export: error: {err}", file=sys.stderr)
        return 2
    kind = "merged checkpoint" if args.merge else "adapter"
    print(f"wrote {kind} to {out} (model card: {out / 'README.md'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
