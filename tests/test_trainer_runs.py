"""Whole runs on a tiny LLaVA: resume continues the same trajectory, a few pairs are overfit, and the saved
adapter reloads through ``load_adapter(base, adapter_dir=...)`` with the trained behaviour.
"""

from __future__ import annotations

import csv
import json
import math
import shutil

import pytest
import torch
from safetensors.torch import load_file
from test_trainer_support import build_base, make_data, small_config

from uedpo.models import load_adapter
from uedpo.models.collate import response_targets
from uedpo.signals import selective_log_softmax
from uedpo.train.cli import main
from uedpo.train.data import load_rows
from uedpo.trainer import build_trainer, train


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return build_base(tmp_path_factory.mktemp("run_ckpt"), "llava")


def _losses(history: list[dict]) -> dict[int, float]:
    return {h["step"]: h["loss"] for h in history if "loss" in h}


def test_resume_continues_the_same_trajectory(base, tmp_path):
    """4 steps straight vs 2 steps, checkpoint, a fresh process-like trainer resuming for the last 2.

    Data order, optimizer and scheduler state, and the blur noise (seeded by step and sample id) must all be
    restored, so steps 3-4 and the final weights are identical.
    """
    data = make_data(tmp_path / "data", 6)
    common = dict(max_steps=4, save_steps=2, batch_size=1, learning_rate=1e-3, lr_scheduler="linear")
    straight = build_trainer(small_config(base, data, tmp_path / "a", **common))
    straight.train()
    assert (tmp_path / "a" / "checkpoint-2").is_dir()

    # The interrupted run had logged steps 1-4 but only checkpoint-2 survived: rows 3-4 must be replaced.
    resumed_dir = tmp_path / "b"
    shutil.copytree(tmp_path / "a" / "checkpoint-2", resumed_dir / "checkpoint-2")
    shutil.copy(tmp_path / "a" / "metrics.csv", resumed_dir / "metrics.csv")
    out = train(small_config(base, data, resumed_dir, resume="latest", **common))
    a, b = load_file(tmp_path / "a" / "checkpoint-4" / "adapter_model.safetensors"), load_file(
        out / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with open(out / "metrics.csv", newline="") as f:
        steps = [(int(r["step"]), float(r["loss"])) for r in csv.DictReader(f)]
    straight_losses = _losses(straight.state.log_history)
    assert [s for s, _ in steps] == [1, 2, 3, 4]
    assert all(loss == pytest.approx(straight_losses[s], rel=1e-7) for s, loss in steps)
    resumed_history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    resumed_losses = _losses(resumed_history)
    assert sorted(resumed_losses) == [1, 2, 3, 4]  # 1-2 restored from the checkpoint, 3-4 computed again
    assert all(resumed_losses[s] == pytest.approx(straight_losses[s], rel=1e-7) for s in (3, 4))


def test_overfit_and_the_saved_adapter_reloads_with_trained_logps(base, tmp_path):
    """4 pairs, 30 full-batch steps at lr 1e-2: preference accuracy must reach 1 and the margin grow.

    The saved adapter, reloaded onto the base, must give exactly the trained model's log-probs, with
    log p(chosen) above and log p(rejected) below the base model's for every pair.
    """
    data = make_data(tmp_path / "data", 4)
    cfg = small_config(base, data, tmp_path / "run", max_steps=30, batch_size=4, lora_r=8, lora_alpha=16,
                       learning_rate=1e-2, logging_steps=5, save_steps=30)
    trainer = build_trainer(cfg)
    trainer.train()
    trainer.save_model(cfg.output_dir)
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert logs[-1]["rewards/accuracies"] == 1.0 and logs[0]["rewards/accuracies"] < 1.0
    assert logs[-1]["loss"] < logs[0]["loss"] - 0.2
    assert logs[-1]["uedpo/vanilla_rewards/margins"] > 0.2

    rows = load_rows(data)
    images, questions = [r.open_image() for r in rows], [r.prompt for r in rows]

    def logps(adapter, responses):
        return adapter.forward_batch(images, questions, responses, add_eos=True).logprobs.sum(dim=1)

    chosen, rejected = [r.chosen for r in rows], [r.rejected for r in rows]
    reloaded = load_adapter(base, adapter_dir=cfg.output_dir, device="cpu")
    plain = load_adapter(base, device="cpu")
    trainer.adapter.model.eval()
    assert torch.allclose(logps(reloaded, chosen), logps(trainer.adapter, chosen), atol=1e-5)
    assert (logps(reloaded, chosen) > logps(plain, chosen)).all()
    assert (logps(reloaded, rejected) < logps(plain, rejected)).all()


def test_cli_run_writes_config_metrics_checkpoints_and_adapter(base, tmp_path):
    data = make_data(tmp_path / "data", 2)
    out = tmp_path / "run"
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(f"model: {base}\ndata: {data}\nlora_r: 4\nlora_alpha: 8\nreport_to: tensorboard\n")
    code = main(["--config", str(cfg_file), f"output_dir={out}", "max_steps=2", "save_steps=1",
                 "batch_size=2", "gradient_checkpointing=false", "logging_steps=1"])
    assert code == 0
    assert {"config.yaml", "metrics.csv", "adapter_model.safetensors", "adapter_config.json"} <= {
        p.name for p in out.iterdir()}
    assert (out / "checkpoint-1" / "adapter_model.safetensors").is_file() and (out / "checkpoint-2").is_dir()
    assert "max_steps: 2" in (out / "config.yaml").read_text()
    assert list((out / "runs").rglob("events.out.tfevents.*"))  # TensorBoard by default


def test_continuing_from_an_adapter_uses_it_as_the_reference(base, tmp_path):
    """SFT adapter -> DPO: π_ref must be base + the starting adapter, so at step 0 π_θ = π_ref and the DPO
    margin is 0, i.e. the loss is log 2 exactly; the bare base as reference would give other log-probs.
    The reference copy stays frozen while the trained adapter moves, and the result reloads onto the base.
    """
    data = make_data(tmp_path / "data", 4)
    sft = train(small_config(base, data, tmp_path / "sft", loss="sft", max_steps=4, learning_rate=5e-2,
                             batch_size=4))
    cfg = small_config(base, data, tmp_path / "dpo", loss="dpo", adapter=str(sft), max_steps=3, batch_size=4)
    trainer = build_trainer(cfg)
    rows = [trainer.train_dataset[i] for i in range(4)]
    batch = trainer._prepare_inputs(trainer.data_collator(rows))
    trainer.model.train()
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, dict(batch))
        assert torch.allclose(loss, torch.tensor(math.log(2)), atol=1e-7)
        labels, mask = response_targets(batch)
        targets = labels.masked_fill(~mask, 0)
        reference = trainer.reference_logps(trainer.model, batch, targets)
        with trainer.model.disable_adapter():
            bare = selective_log_softmax(trainer.adapter.response_logits(batch), targets)
    assert not torch.allclose(reference[mask], bare[mask], atol=1e-3)  # the SFT adapter really is in π_ref

    frozen = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if ".reference." in n}
    trained = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if ".default." in n}
    assert frozen and all(not p.requires_grad for n, p in trainer.model.named_parameters() if n in frozen)
    trainer.train()
    now = dict(trainer.model.named_parameters())
    assert all(torch.equal(now[n], p) for n, p in frozen.items())
    assert any(not torch.equal(now[n], p) for n, p in trained.items())
    assert all(now[n].requires_grad for n in trained)
    trainer.save_model(cfg.output_dir)
    reloaded = load_adapter(base, adapter_dir=cfg.output_dir, device="cpu")
    trainer.model.eval()
    with torch.no_grad():
        ours = selective_log_softmax(trainer.adapter.response_logits(batch), targets)
        theirs = selective_log_softmax(reloaded.response_logits(batch), targets)
    assert torch.allclose(ours[mask], theirs[mask], atol=1e-5)
