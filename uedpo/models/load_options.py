"""Model loading options shared by ``uedpo-train``, ``uedpo-eval`` and ``uedpo-inspect``: one place, checked first.

:class:`LoadOptions` holds ``dtype``, ``attn_implementation`` (eager / sdpa / flash_attention_2), ``device_map``
(auto) and ``quantization`` (none / 4bit / 8bit through bitsandbytes). :meth:`LoadOptions.check` refuses what
cannot work on this machine with one line, before any weights are read: flash_attention_2 without the
``flash_attn`` package or without CUDA (or in float32), 4/8-bit without ``bitsandbytes`` or without CUDA,
``device_map`` without ``accelerate`` or together with DDP. :meth:`LoadOptions.model_kwargs` is what
:func:`uedpo.models.load_adapter` passes on to ``from_pretrained`` (its ``model_kwargs`` hook), so every CLI
loads through the one function. The CLIs wire it as::

    LoadOptions.add_arguments(parser)            # --dtype --attn-implementation --device-map --quantization
    options = LoadOptions.from_args(args)        # (--load-in-4bit / --load-in-8bit are aliases)
    adapter = options.load(args.ckpt, adapter_dir=args.adapter, device=args.device)

``uedpo-train`` reads the same options from its config keys (``dtype``, ``attn_implementation``, ``device_map``,
``quantization``; :func:`uedpo.train.policy.load_options`).

Quantized weights are placed on this process's GPU at load (``device_map={"": LOCAL_RANK}`` unless a
``device_map`` is given), since a bitsandbytes model cannot be moved afterwards; 4-bit is NF4 with double
quantization and the compute dtype of ``dtype``; ``from_pretrained`` keeps its default list of modules left
unquantized (``lm_head``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uedpo.models.errors import ModelLoadError

DTYPES = ("auto", "float32", "bfloat16", "float16")
ATTN_IMPLEMENTATIONS = ("eager", "sdpa", "flash_attention_2")
DEVICE_MAPS = ("auto",)
QUANTIZATIONS = ("none", "4bit", "8bit")


def importable(name: str) -> bool:
    """``import name`` would find the package (without importing it); a ``None`` in ``sys.modules`` blocks it."""
    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _world_size() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def local_gpu() -> int:
    """This process's GPU index: ``LOCAL_RANK`` under torchrun / accelerate, else the current device."""
    if os.environ.get("LOCAL_RANK", "").isdigit():
        return int(os.environ["LOCAL_RANK"])
    import torch

    return torch.cuda.current_device()


def _choice(name: str, value: Any, choices: tuple[str, ...], *, optional: bool = False) -> None:
    if (value is None and optional) or value in choices:
        return
    allowed = ", ".join(choices) + (" (or unset for the default)" if optional else "")
    raise ModelLoadError(f"{name} {value!r}: expected one of {allowed}")


@dataclass(frozen=True)
class LoadOptions:
    """How to load a checkpoint; ``None`` / ``"none"`` leave transformers' defaults."""

    dtype: str = "auto"  # auto: bfloat16 on GPU, float32 on CPU
    attn_implementation: str | None = None  # None: transformers' default (sdpa where the model supports it)
    device_map: str | None = None  # auto: spread over the visible GPUs (accelerate)
    quantization: str = "none"  # 4bit | 8bit: bitsandbytes, CUDA only

    def check(self) -> LoadOptions:
        """Refuse, with one line naming the option and the fix, what cannot load here; returns ``self``."""
        _choice("dtype", self.dtype, DTYPES)
        _choice("attn_implementation", self.attn_implementation, ATTN_IMPLEMENTATIONS, optional=True)
        _choice("device_map", self.device_map, DEVICE_MAPS, optional=True)
        _choice("quantization", self.quantization, QUANTIZATIONS)
        if self.attn_implementation == "flash_attention_2":
            what = "attn_implementation flash_attention_2"
            if not importable("flash_attn"):
                raise ModelLoadError(f"{what}: the flash_attn package is not installed; `pip install flash-attn` "
                                     "on a CUDA machine, or use sdpa")
            if not cuda_available():
                raise ModelLoadError(f"{what}: needs a CUDA GPU and none is visible; use sdpa or eager")
            if self.dtype == "float32":
                raise ModelLoadError(f"{what}: runs in float16 / bfloat16 only, not dtype float32; set dtype "
                                     "bfloat16 (or auto)")
        if self.quantization != "none":
            what = f"quantization {self.quantization}"
            if not importable("bitsandbytes"):
                raise ModelLoadError(f"{what}: the bitsandbytes package is not installed; `pip install "
                                     "bitsandbytes` on a CUDA machine, or set quantization none")
            if not cuda_available():
                raise ModelLoadError(f"{what}: bitsandbytes needs a CUDA GPU and none is visible; set "
                                     "quantization none")
        if self.device_map is not None:
            if not importable("accelerate"):
                raise ModelLoadError(f"device_map {self.device_map}: needs the accelerate package; "
                                     "`pip install accelerate`")
            if _world_size() > 1:
                raise ModelLoadError(f"device_map {self.device_map}: spreads one model over the GPUs of one "
                                     f"process, which DDP cannot do (WORLD_SIZE={_world_size()}); drop device_map, "
                                     "or launch a single process")
        return self

    def torch_dtype(self, device: str = "auto"):
        """``dtype`` as a ``torch.dtype`` for ``device`` (auto: bfloat16 on GPU, float32 on CPU)."""
        from uedpo.models.loading import resolve_device_dtype

        return resolve_device_dtype(device, self.dtype)[1]

    def model_kwargs(self, dtype=None) -> dict[str, Any]:
        """The ``from_pretrained`` keywords (``attn_implementation``, ``device_map``, ``quantization_config``);
        ``dtype`` (a ``torch.dtype``) is the 4-bit compute dtype, by default :meth:`torch_dtype`."""
        kwargs: dict[str, Any] = {}
        if self.attn_implementation is not None:
            kwargs["attn_implementation"] = self.attn_implementation
        if self.device_map is not None:
            kwargs["device_map"] = self.device_map
        if self.quantization != "none":
            from transformers import BitsAndBytesConfig

            if self.quantization == "4bit":
                compute = dtype if dtype is not None else self.torch_dtype()
                kwargs["quantization_config"] = BitsAndBytesConfig(
                    load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                    bnb_4bit_compute_dtype=compute,
                )
            else:
                kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
            kwargs.setdefault("device_map", {"": local_gpu()})
        return kwargs

    def load(self, ckpt: str | Path, *, adapter_dir: str | Path | None = None, device: str = "auto",
             trust_remote_code: bool = False):
        """:meth:`check`, then :func:`uedpo.models.load_adapter` with these options."""
        from uedpo.models.loading import load_adapter

        self.check()
        dtype = self.torch_dtype(device)
        return load_adapter(ckpt, adapter_dir=adapter_dir, dtype=dtype, device=device,
                            trust_remote_code=trust_remote_code, model_kwargs=self.model_kwargs(dtype))

    @classmethod
    def from_args(cls, args) -> LoadOptions:
        """The options of an ``argparse`` namespace filled by :meth:`add_arguments` (missing ones: defaults)."""
        return cls(dtype=getattr(args, "dtype", None) or "auto",
                   attn_implementation=getattr(args, "attn_implementation", None),
                   device_map=getattr(args, "device_map", None),
                   quantization=getattr(args, "quantization", None) or "none")

    @staticmethod
    def add_arguments(parser, *, dtype: bool = True) -> None:
        """``--dtype`` (unless the CLI has its own), ``--attn-implementation``, ``--device-map``,
        ``--quantization`` and its aliases ``--load-in-4bit`` / ``--load-in-8bit``."""
        group = parser.add_argument_group("model loading")
        if dtype:
            group.add_argument("--dtype", default="auto", choices=DTYPES,
                               help="weights dtype; auto = bfloat16 on GPU, float32 on CPU")
        group.add_argument("--attn-implementation", choices=ATTN_IMPLEMENTATIONS, default=None,
                           help="attention kernel (default: transformers' choice, sdpa where supported); "
                                "flash_attention_2 needs flash_attn and CUDA")
        group.add_argument("--device-map", choices=DEVICE_MAPS, default=None,
                           help="auto: spread the model over the visible GPUs (accelerate)")
        group.add_argument("--quantization", choices=QUANTIZATIONS, default="none",
                           help="4bit (NF4) / 8bit weights through bitsandbytes (CUDA only)")
        group.add_argument("--load-in-4bit", dest="quantization", action="store_const", const="4bit",
                           help="same as --quantization 4bit")
        group.add_argument("--load-in-8bit", dest="quantization", action="store_const", const="8bit",
                           help="same as --quantization 8bit")
