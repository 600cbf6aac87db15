"""Data-parallel training equals one process: 2 CPU ranks × 1 pair vs 1 process × 2 pairs, one SGD step.

Checks the DDP code path of the trainer: forwards through the wrapped model, the reference pass on the
unwrapped peft model, per-pair noise seeds (independent of the rank), and metrics reduced across ranks as
(sum, count).
Runs ``torch.distributed.run`` with the gloo backend (``ACCELERATE_USE_CPU=true``), so no GPU is needed.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file
from test_trainer_support import build_base, pair_rows, write_json

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable"),
]


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def test_two_ranks_equal_one_process(tmp_path):
    base = build_base(tmp_path, "llava")
    data = write_json(tmp_path / "two.json", pair_rows(tmp_path, 2))
    common = [
        f"model={base}", f"data={data}", "max_steps=1", "lora_r=4", "lora_alpha=8", "report_to=none",
        "gradient_checkpointing=false", "logging_steps=1", "learning_rate=0.5", "optim=sgd",
        "max_grad_norm=0", "warmup_ratio=0",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "ACCELERATE_USE_CPU": "true"}
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
          "-m", "uedpo.train.cli", *common, f"output_dir={tmp_path / 'ddp'}", "batch_size=1"], env)
    one_process = [sys.executable, "-m", "uedpo.train.cli", *common, f"output_dir={tmp_path / 'one'}"]
    _run([*one_process, "batch_size=2"], env)

    ddp, one = (load_file(tmp_path / d / "adapter_model.safetensors") for d in ("ddp", "one"))
    assert ddp.keys() == one.keys()
    assert any(t.abs().max() > 0 for k, t in ddp.items() if "lora_B" in k)  # the step moved B off zero
    for name in ddp:
        assert torch.allclose(ddp[name], one[name], atol=1e-7, rtol=1e-5), name
    rows = {}
    for d in ("ddp", "one"):
        with open(tmp_path / d / "metrics.csv", newline="") as f:
            rows[d] = list(csv.DictReader(f))
    assert len(rows["ddp"]) == 1  # rank 0 alone writes metrics.csv
    keys = ("loss", "rewards/margins", "logps/chosen", "uedpo/gated_frac/chosen",
            "uedpo/lambda_mean/rejected", "uedpo/u_mean/gated")
    for key in keys:
        expected = float(rows["one"][0][key])
        assert float(rows["ddp"][0][key]) == pytest.approx(expected, rel=1e-5, abs=1e-6), key
