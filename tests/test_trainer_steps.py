"""The UE-DPO / DPO / SFT training step on tiny LLaVA and Qwen2.5-VL checkpoints (CPU, a few steps each).

Mechanics only, never quality: finite losses, the α = 0 ≡ DPO identity, the reference = adapter disabled, the
initial-loss offset of METHOD.md §1.3, gradients through checkpointing, gradient-accumulation equivalence,
dropout off, and the metrics.csv columns.
"""

from __future__ import annotations

import csv
import math

import pytest
import torch
import torch.nn.functional as F
from test_trainer_support import (
    FAMILIES,
    build_base,
    lora_grads,
    lora_params,
    make_data,
    perturb_lora,
    small_config,
)

from uedpo.models import load_adapter
from uedpo.models.collate import response_targets
from uedpo.signals import token_signals
from uedpo.train.blur import train_view, view_step
from uedpo.train.data import load_rows
from uedpo.train.metrics import TRAINER_NAMES, TRL_NAMES, UEDPO_NAMES
from uedpo.train.policy import disable_dropout, load_policy
from uedpo.trainer import build_trainer, train
from uedpo.views import make_view


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    root = tmp_path_factory.mktemp("step_ckpts")
    return {family: build_base(root, family) for family in FAMILIES}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("step_data"), 4)


def _batch(trainer, n_pairs: int = 2) -> dict:
    rows = [trainer.train_dataset[i] for i in range(n_pairs)]
    return trainer._prepare_inputs(trainer.data_collator(rows))


def _loss_and_grads(trainer, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    trainer.model.train()
    trainer.model.zero_grad(set_to_none=True)
    loss = trainer.compute_loss(trainer.model, dict(batch))
    loss.backward()
    return loss.detach(), lora_grads(trainer.model)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("loss", ["ue_dpo", "dpo", "sft"])
def test_a_few_steps_run_and_log_every_metric(bases, data, tmp_path, family, loss):
    over = {} if loss == "ue_dpo" else {"loss": loss}
    out = train(small_config(bases[family], data, tmp_path / "run", max_steps=2, **over))
    with open(out / "metrics.csv", newline="") as f:
        reader = csv.DictReader(f)
        columns, rows = reader.fieldnames, list(reader)
    assert [int(r["step"]) for r in rows] == [1, 2]
    assert all(math.isfinite(float(r["loss"])) for r in rows)
    sft_names = ("logps/chosen", "sft/token_logp")
    expected = {"ue_dpo": TRL_NAMES + UEDPO_NAMES, "dpo": TRL_NAMES, "sft": sft_names}[loss]
    assert set(TRAINER_NAMES + expected) <= set(columns)
    assert all(r[name] != "" and math.isfinite(float(r[name])) for r in rows for name in expected)
    assert (out / "adapter_model.safetensors").is_file() and (out / "config.yaml").is_file()


@pytest.mark.parametrize("family", FAMILIES)
def test_blurred_forward_runs_on_the_policy_weights(bases, data, tmp_path, family):
    """u and Δ of a whole UE-DPO step come from the *policy* on the blurred image (METHOD.md §3.3 step 4).

    With a non-zero LoRA the policy differs from the reference, so u and Δ recomputed by hand with the adapter
    enabled must equal the step's, and those with the adapter disabled must not: wrapping the blurred forward
    in ``reference_weights(...)`` fails here. The clear logits are the policy's in both recomputations.
    """
    trainer = build_trainer(small_config(bases[family], data, tmp_path / "ue", alpha=0.3))
    perturb_lora(trainer.model, seed=4)
    batch = _batch(trainer)
    seen = []
    step_signals = trainer.signals

    def spy(*args):
        seen.append(step_signals(*args))
        return seen[-1]

    trainer.signals = spy
    with torch.no_grad():
        trainer.compute_loss(trainer.model, dict(batch))
    assert len(seen) == 1
    inputs = {k: v for k, v in batch.items() if k != "sample_ids"}
    labels, mask = response_targets(inputs)
    cfg, global_step = trainer.cfg, trainer.state.global_step
    pixels = make_view(trainer.adapter, inputs["pixel_values"], inputs, batch["sample_ids"], train_view(cfg),
                       seed=cfg.seed, step=view_step(cfg, global_step))
    with torch.no_grad():
        clear = trainer.adapter.response_logits(inputs)
        on_policy = token_signals(clear, trainer.adapter.response_logits(inputs, pixel_values=pixels), labels, mask)
        with trainer.model.disable_adapter():
            blurred_ref = trainer.adapter.response_logits(inputs, pixel_values=pixels)
        on_reference = token_signals(clear, blurred_ref, labels, mask)
    got = seen[0]
    assert torch.equal(got.u, on_policy.u) and torch.equal(got.delta, on_policy.delta)
    assert (got.delta - on_reference.delta)[mask].abs().max() > 1e-3


@pytest.mark.parametrize("family", FAMILIES)
def test_alpha_zero_is_exactly_dpo_and_matches_a_hand_computed_dpo(bases, data, tmp_path, family):
    """α = 0 ⇒ λ ≡ 1.0 exactly, so UE-DPO must equal the loss=dpo path bit for bit (loss and LoRA grads).

    Hand DPO (Rafailov et al.): L = mean −log σ(β[(Σ lp_w − Σ lp_ref_w) − (Σ lp_l − Σ lp_ref_l)]) with
    lp = log_softmax(logits)[token] summed over completion tokens, from the adapter's own logits; the
    reference is the base model loaded separately (no LoRA), which the adapter-disabled pass must reproduce.
    """
    beta = 0.1
    ue = build_trainer(small_config(bases[family], data, tmp_path / "ue", alpha=0.0))
    dpo = build_trainer(small_config(bases[family], data, tmp_path / "dpo", loss="dpo"))
    perturb_lora(ue.model, seed=1)
    perturb_lora(dpo.model, seed=1)
    batch = _batch(ue)
    loss_ue, grads_ue = _loss_and_grads(ue, batch)
    loss_dpo, grads_dpo = _loss_and_grads(dpo, batch)
    assert torch.equal(loss_ue, loss_dpo)
    assert grads_ue.keys() == grads_dpo.keys()
    assert all(torch.equal(grads_ue[k], grads_dpo[k]) for k in grads_ue)
    assert any(g.abs().sum() > 0 for g in grads_ue.values())

    labels, mask = response_targets(batch)
    targets = labels.masked_fill(~mask, 0)

    def summed_logps(logits):
        lp = torch.log_softmax(logits.float(), dim=-1).gather(-1, targets[..., None])[..., 0]
        return (lp * mask).sum(dim=1)

    ue.model.zero_grad(set_to_none=True)
    policy = summed_logps(ue.adapter.response_logits(batch))
    base = load_adapter(bases[family], device="cpu", dtype="float32")
    with torch.no_grad():
        reference = summed_logps(base.response_logits(batch))
    n = batch["input_ids"].shape[0] // 2
    hand = -F.logsigmoid(beta * ((policy[:n] - reference[:n]) - (policy[n:] - reference[n:]))).mean()
    hand.backward()
    assert torch.allclose(loss_ue, hand.detach(), atol=1e-6, rtol=0)
    hand_grads = lora_grads(ue.model)
    for name, grad in grads_ue.items():
        assert torch.allclose(grad, hand_grads[name], atol=1e-7, rtol=1e-4), name
    ref_trainer = ue.reference_logps(ue.model, batch, targets)
    assert torch.allclose((ref_trainer * mask).sum(dim=1), reference, atol=1e-5)


def test_initial_loss_is_log2_for_dpo_and_above_for_ue_dpo(bases, data, tmp_path):
    """Fresh LoRA (B = 0): π_θ = π_ref, so DPO's margin is 0 and its loss is log 2 exactly.

    UE-DPO (METHOD.md §1.3): h₀ = β[Σ(λ_w − 1)·lp_w − Σ(λ_l − 1)·lp_l] ≤ 0 since λ_w ≥ 1, λ_l ≤ 1 and lp ≤ 0,
    strictly < 0 once a token is gated (α > 0), so the loss is strictly above log 2.
    """
    dpo = build_trainer(small_config(bases["llava"], data, tmp_path / "dpo", loss="dpo"))
    ue = build_trainer(small_config(bases["llava"], data, tmp_path / "ue", alpha=0.5))
    batch = _batch(dpo, 4)
    with torch.no_grad():
        assert torch.allclose(dpo.compute_loss(dpo.model, dict(batch)), torch.tensor(math.log(2)), atol=1e-7)
        assert ue.compute_loss(ue.model, dict(batch)) > math.log(2) + 1e-4
    gated = ue.metric_sums.pop_means()["uedpo/gated_frac/chosen"]
    assert 0 < gated < 1


def test_gradient_checkpointing_passes_gradients_to_lora(bases, data, tmp_path):
    plain = build_trainer(small_config(bases["llava"], data, tmp_path / "plain"))
    ckpt = build_trainer(small_config(bases["llava"], data, tmp_path / "gc", gradient_checkpointing=True))
    # The Trainer turns checkpointing on at train(); do it the same way here, with the trainer's kwargs.
    ckpt.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=ckpt.args.activation_checkpointing_kwargs)
    assert ckpt.model.base_model.model.is_gradient_checkpointing
    assert not plain.model.base_model.model.is_gradient_checkpointing
    for trainer in (plain, ckpt):
        perturb_lora(trainer.model, seed=2)  # with B = 0 the LoRA A matrices get no gradient at all
    batch = _batch(plain)
    _, grads_plain = _loss_and_grads(plain, batch)
    _, grads_ckpt = _loss_and_grads(ckpt, batch)
    a_grads = [g for name, g in grads_ckpt.items() if "lora_A" in name]
    assert a_grads and all(g.abs().sum() > 0 for g in grads_ckpt.values())
    for name, grad in grads_plain.items():
        assert torch.allclose(grads_ckpt[name], grad, atol=1e-7, rtol=1e-5), name


@pytest.mark.parametrize("family", FAMILIES)
def test_grad_accumulation_2x1_equals_1x2(bases, data, tmp_path, family):
    """Same 2 pairs, one SGD step: batch 2 × accum 1 vs batch 1 × accum 2.

    The loss is a mean over pairs and λ is computed per response with noise seeded per pair, so both splits
    give the same gradient up to float rounding; SGD (no clipping) makes the update proportional to it.
    """
    common = dict(max_steps=1, optim="sgd", learning_rate=0.5, max_grad_norm=0.0, alpha=0.3)
    base = bases[family]
    one = build_trainer(small_config(base, data, tmp_path / "a", batch_size=2, grad_accum=1, **common))
    two = build_trainer(small_config(base, data, tmp_path / "b", batch_size=1, grad_accum=2, **common))
    one.train_dataset = torch.utils.data.Subset(one.train_dataset, range(2))
    two.train_dataset = torch.utils.data.Subset(two.train_dataset, range(2))
    before = lora_params(one.model)
    one.train()
    two.train()
    after_one, after_two = lora_params(one.model), lora_params(two.model)
    assert any(not torch.equal(after_one[k], before[k]) for k in before)
    for name in before:
        assert torch.allclose(after_one[name], after_two[name], atol=1e-7, rtol=1e-5), name
    assert one.state.log_history[0]["loss"] == pytest.approx(two.state.log_history[0]["loss"], rel=1e-6)
    margins = [t.state.log_history[0]["rewards/margins"] for t in (one, two)]
    assert margins[0] == pytest.approx(margins[1], rel=1e-5, abs=1e-7)


def test_dropout_is_off_in_the_policy_passes(bases, data, tmp_path):
    on = load_policy(small_config(bases["llava"], data, tmp_path, lora_dropout=0.3, disable_dropout=False))
    off = load_policy(small_config(bases["llava"], data, tmp_path, lora_dropout=0.3, disable_dropout=False))
    assert disable_dropout(off.model) > 0  # LoRA dropout modules were active
    assert any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in on.model.modules())
    assert not any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in off.model.modules())
    rows = load_rows(data)[:2]
    batch = on.encode([r.open_image() for r in rows], [on.build_prompt(r.prompt) for r in rows],
                      [r.chosen for r in rows], add_eos=True)
    for adapter, deterministic in ((on, False), (off, True)):
        perturb_lora(adapter.model, seed=3)
        adapter.model.train()
        with torch.no_grad():
            first, second = adapter.response_logits(batch), adapter.response_logits(batch)
        assert torch.equal(first, second) is deterministic

