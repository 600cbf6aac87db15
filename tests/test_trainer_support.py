"""Helpers shared by the ``test_trainer_*`` files (no tests here): tiny checkpoints, images, rows, configs.

Tiny random LLaVA / Qwen2.5-VL checkpoints come from :func:`uedpo.models.tiny.build_tiny`; images are small
random PIL images written to a tmp dir with varied sizes (Qwen then gets different numbers of image tokens).
The responses use words of the tiny tokenizer's vocabulary, so no token is ``<unk>``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from uedpo.models.tiny import build_tiny
from uedpo.train.config import TrainConfig

FAMILIES = ("llava", "qwen2_5_vl")
SIZES = [(40, 48), (64, 30), (50, 50), (90, 40), (30, 70), (56, 56), (44, 60), (72, 36)]
QUESTIONS = [
    "describe the image .", "what is in the picture ?", "<image>\nwhat do you see ?", "describe the scene .",
]
CHOSEN = [
    "a dog on the grass .", "two people sitting on a bench .", "a white cat on a bed .",
    "a small boat on the lake .", "a bus on the street .", "a red apple on a table .",
    "a man riding a horse .", "a clock on the wall .",
]
REJECTED = [
    "a red car next to a cat .", "a dog and a pizza on a bench .", "a black dog on a chair .",
    "a big train near the lake .", "a truck and a bird on the street .", "a green banana on a plate .",
    "a woman riding a bicycle .", "a tv on the floor .",
]


def build_base(root: Path, family: str) -> Path:
    return build_tiny(family, root / f"tiny_{family}", seed=0)


def write_images(folder: Path, n: int, seed: int = 0) -> list[str]:
    rs = np.random.RandomState(seed)
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n):
        h, w = SIZES[i % len(SIZES)]
        name = f"img_{i}.png"
        Image.fromarray((rs.rand(h, w, 3) * 255).astype("uint8")).save(folder / name)
        names.append(name)
    return names


def pair_rows(folder: Path, n: int, seed: int = 0) -> list[dict]:
    """``n`` TRL rows with their images written to ``folder``; ids p0..p{n-1}."""
    images = write_images(folder, n, seed)
    return [
        {"id": f"p{i}", "image": images[i], "prompt": QUESTIONS[i % len(QUESTIONS)],
         "chosen": CHOSEN[i % len(CHOSEN)], "rejected": REJECTED[i % len(REJECTED)]}
        for i in range(n)
    ]


def write_json(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def make_data(folder: Path, n: int, seed: int = 0) -> Path:
    return write_json(folder / "pairs.json", pair_rows(folder, n, seed))


def small_config(base: Path, data: Path, out: Path, **overrides) -> TrainConfig:
    """A config for tiny CPU runs: small LoRA, no warm-up, no checkpointing overhead, no TensorBoard."""
    values = dict(
        model=str(base), data=str(data), output_dir=str(out), lora_r=4, lora_alpha=8, learning_rate=1e-3,
        warmup_ratio=0.0, gradient_checkpointing=False, report_to="none", logging_steps=1, max_steps=2,
        batch_size=2, save_steps=1000,
    )
    values.update(overrides)
    return TrainConfig(**values)


def lora_params(model) -> dict[str, torch.Tensor]:
    """Copies of the LoRA weights (the only trainable tensors)."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}


def lora_grads(model) -> dict[str, torch.Tensor]:
    named = model.named_parameters()
    return {n: p.grad.detach().clone() for n, p in named if "lora_" in n and p.grad is not None}


def perturb_lora(model, seed: int = 0, std: float = 0.05) -> None:
    """Random LoRA B so that the policy differs from the reference (fresh LoRA has B = 0)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * std)
