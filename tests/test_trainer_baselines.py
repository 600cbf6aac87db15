"""The baselines (TPO, V-DPO, mDPO) and the UE-DPO branch ablations in the trainer, on tiny checkpoints.

Every method trains a few steps on the tiny LLaVA and the tiny Qwen2.5-VL, logs its own terms to metrics.csv
and writes an adapter that the evaluation loader reads; the trainer's loss equals the library loss recomputed
here from independent forwards on the same seeded views; V-DPO with γ = 1 is DPO bit for bit.
"""

from __future__ import annotations

import csv
import math

import pytest
import torch
from test_trainer_support import FAMILIES, build_base, make_data, perturb_lora, small_config

from uedpo.baselines import mdpo_loss, tpo_loss, tpo_score, vdpo_loss
from uedpo.models import load_adapter
from uedpo.models.collate import response_targets
from uedpo.signals import selective_log_softmax
from uedpo.train.baseline_steps import chosen_rows
from uedpo.train.metrics import TRAINER_NAMES, metric_names
from uedpo.train.policy import reference_weights
from uedpo.trainer import build_trainer, train
from uedpo.views import MDPO_CROP_SCALE, ViewSpec, make_view

METHOD_OPTIONS = {"tpo": {}, "vdpo": {"vdpo_gamma": 2.0}, "mdpo": {}, "ue_dpo": {"branches": "preferred"}}


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    root = tmp_path_factory.mktemp("baseline_ckpts")
    return {family: build_base(root, family) for family in FAMILIES}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("baseline_data"), 4)


def _batch(trainer, n_pairs: int = 2) -> dict:
    """A collated batch without its ``sample_ids`` (the rows' ids p0.. are :func:`_ids`)."""
    rows = [trainer.train_dataset[i] for i in range(n_pairs)]
    batch = trainer._prepare_inputs(trainer.data_collator(rows))
    assert batch.pop("sample_ids") == _ids(batch)
    return batch


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("loss", ["tpo", "vdpo", "mdpo", "ue_dpo"])
def test_every_method_trains_logs_its_terms_and_writes_a_loadable_adapter(bases, data, tmp_path, family, loss):
    out = train(small_config(bases[family], data, tmp_path / "run", loss=loss, **METHOD_OPTIONS[loss]))
    with open(out / "metrics.csv", newline="") as f:
        reader = csv.DictReader(f)
        columns, rows = reader.fieldnames, list(reader)
    expected = metric_names(loss)
    assert [int(r["step"]) for r in rows] == [1, 2] and set(TRAINER_NAMES + expected) <= set(columns)
    assert all(r[name] != "" and math.isfinite(float(r[name])) for r in rows for name in expected)
    adapter = load_adapter(bases[family], adapter_dir=out, device="cpu", dtype="float32")
    from PIL import Image

    text = adapter.generate([Image.new("RGB", (32, 32), (90, 20, 200))], ["describe the image ."],
                            max_new_tokens=3, batch_size=1, progress=False)
    assert len(text) == 1 and isinstance(text[0], str)


def _trainer(bases, data, tmp_path, family, **over):
    trainer = build_trainer(small_config(bases[family], data, tmp_path / "t", **over))
    perturb_lora(trainer.model, seed=4)  # policy != reference, so every term is non-trivial
    trainer.model.eval()
    return trainer


def _ids(batch) -> list[str]:
    return [f"p{i}" for i in range(batch["input_ids"].shape[0] // 2)]


def _logps(adapter, batch, targets, pixels=None, reference=False):
    with torch.no_grad():
        if reference:
            with reference_weights(adapter.model):
                return selective_log_softmax(adapter.response_logits(batch, pixel_values=pixels), targets)
        return selective_log_softmax(adapter.response_logits(batch, pixel_values=pixels), targets)


@pytest.mark.parametrize("family", FAMILIES)
def test_tpo_step_equals_the_library_loss_on_independent_forwards(bases, data, tmp_path, family):
    """TPO: policy and reference each get their own score s = z_clear[a] − z_noised[a] on ONE noised image
    (view ``noise`` of the run, seeded by (seed, sample id, step 0))."""
    trainer = _trainer(bases, data, tmp_path, family, loss="tpo")
    batch = _batch(trainer)
    ids = _ids(batch)
    with torch.no_grad():
        got = trainer.compute_loss(trainer.model, {**batch, "sample_ids": ids})
    adapter, cfg = trainer.adapter, trainer.cfg
    labels, mask = response_targets(batch)
    targets = labels.masked_fill(~mask, 0)
    spec = ViewSpec(kind="noise", noise_step=cfg.noise_step, noise_kind=cfg.noise_kind,
                    noise_space=cfg.noise_space, pair_shared=cfg.noise_share_pair)
    noised = make_view(adapter, batch["pixel_values"], batch, ids, spec, seed=cfg.seed, step=0)
    with torch.no_grad():
        clear, blurred = adapter.response_logits(batch), adapter.response_logits(batch, pixel_values=noised)
        with reference_weights(adapter.model):
            ref_clear = adapter.response_logits(batch)
            ref_blurred = adapter.response_logits(batch, pixel_values=noised)
    n = len(ids)
    lp, rlp = selective_log_softmax(clear, targets), selective_log_softmax(ref_clear, targets)
    s, rs = tpo_score(clear, blurred, labels, mask), tpo_score(ref_clear, ref_blurred, labels, mask)
    assert not torch.equal(s, rs)  # the reference really scores with its own weights
    hand = tpo_loss(lp[:n], lp[n:], rlp[:n], rlp[n:], s[:n], s[n:], rs[:n], rs[n:], mask[:n], mask[n:], cfg.beta)
    assert torch.allclose(got, hand.loss, atol=1e-6, rtol=0)


@pytest.mark.parametrize("family", FAMILIES)
def test_vdpo_gamma_one_is_dpo_bit_for_bit_in_the_trainer(bases, data, tmp_path, family):
    vdpo = _trainer(bases, data, tmp_path / "v", family, loss="vdpo", vdpo_gamma=1.0)
    dpo = _trainer(bases, data, tmp_path / "d", family, loss="dpo")
    batch = _batch(vdpo)
    losses, grads = [], []
    for trainer in (vdpo, dpo):
        trainer.model.zero_grad(set_to_none=True)
        loss = trainer.compute_loss(trainer.model, {**batch, "sample_ids": _ids(batch)})
        loss.backward()
        losses.append(loss.detach())
        grads.append({k: p.grad.clone() for k, p in trainer.model.named_parameters() if p.grad is not None})
    assert torch.equal(losses[0], losses[1]) and grads[0].keys() == grads[1].keys() and grads[0]
    assert all(torch.equal(grads[0][k], grads[1][k]) for k in grads[0])


@pytest.mark.parametrize("null, null_model", [("zeros", "policy"), ("random", "reference")])
def test_vdpo_step_equals_the_library_loss(bases, data, tmp_path, null, null_model):
    over = {"vdpo_null": null, "vdpo_null_model": null_model} | ({"vdpo_null_images": 2} if null == "random" else {})
    trainer = _trainer(bases, data, tmp_path, "llava", loss="vdpo", vdpo_gamma=2.0, **over)
    batch = _batch(trainer)
    ids = _ids(batch)
    with torch.no_grad():
        got = trainer.compute_loss(trainer.model, {**batch, "sample_ids": ids})
    adapter = trainer.adapter
    labels, mask = response_targets(batch)
    targets = labels.masked_fill(~mask, 0)
    specs = ([ViewSpec(kind="null_zeros")] if null == "zeros" else
             [ViewSpec(kind="null_random", pair_shared=False, salt=f"draw{j}") for j in range(2)])
    nulls = [_logps(adapter, batch, targets, make_view(adapter, batch["pixel_values"], batch, ids, s, seed=0,
                                                        step=0), reference=null_model == "reference")
             for s in specs]
    null_lp = sum(nulls) / len(nulls)
    lp, rlp = _logps(adapter, batch, targets), _logps(adapter, batch, targets, reference=True)
    n = len(ids)
    hand = vdpo_loss(lp[:n], lp[n:], rlp[:n], rlp[n:], null_lp[:n], null_lp[n:], mask[:n], mask[n:], 0.1, gamma=2.0)
    assert torch.allclose(got, hand.loss, atol=1e-6, rtol=0)


@pytest.mark.parametrize("family", FAMILIES)
def test_mdpo_step_equals_the_library_loss_with_separate_policy_and_reference_crops(bases, data, tmp_path, family):
    trainer = _trainer(bases, data, tmp_path, family, loss="mdpo")
    batch = _batch(trainer)
    ids = _ids(batch)
    with torch.no_grad():
        got = trainer.compute_loss(trainer.model, {**batch, "sample_ids": ids})
    adapter = trainer.adapter
    labels, mask = response_targets(batch)
    targets = labels.masked_fill(~mask, 0)
    n = len(ids)
    chosen = chosen_rows(batch, n)
    crops = {who: make_view(adapter, chosen["pixel_values"], chosen, ids,
                            ViewSpec(kind="crop", crop_scale=MDPO_CROP_SCALE, salt=who), seed=0, step=0)
             for who in ("policy", "reference")}
    assert not torch.equal(crops["policy"], crops["reference"])
    lp, rlp = _logps(adapter, batch, targets), _logps(adapter, batch, targets, reference=True)
    crop_lp = _logps(adapter, chosen, targets[:n], crops["policy"])
    ref_crop_lp = _logps(adapter, chosen, targets[:n], crops["reference"], reference=True)
    hand = mdpo_loss(lp[:n], lp[n:], rlp[:n], rlp[n:], crop_lp, ref_crop_lp, mask[:n], mask[n:], 0.1)
    assert torch.allclose(got, hand.loss, atol=1e-6, rtol=0)
    assert torch.allclose(hand.loss, hand.loss_dpo + hand.loss_conditional + hand.loss_anchor, atol=1e-6)


def test_chosen_rows_keeps_each_rows_images(bases, data, tmp_path):
    trainer = _trainer(bases, data, tmp_path, "qwen2_5_vl", loss="mdpo")
    batch = _batch(trainer, 2)
    chosen = chosen_rows(batch, 2)
    patches = int(batch["image_grid_thw"][:2].prod(dim=-1).sum())
    assert torch.equal(chosen["pixel_values"], batch["pixel_values"][:patches])
    assert torch.equal(chosen["input_ids"], batch["input_ids"][:2]) and chosen["image_grid_thw"].shape[0] == 2


@pytest.mark.parametrize("branches, fixed", [("preferred", "rejected"), ("dispreferred", "chosen")])
def test_branch_ablations_leave_the_other_branch_at_one(bases, data, tmp_path, branches, fixed):
    """"w/o dispref." (branches=preferred) trains with λ_l ≡ 1; "w/o pref." with λ_w ≡ 1; both differ from
    the full method, whose two branches are both active."""
    losses = {}
    for b in ("both", branches):
        trainer = _trainer(bases, data, tmp_path / b, "llava", alpha=0.5, branches=b)
        batch = _batch(trainer, 4)
        with torch.no_grad():
            losses[b] = trainer.compute_loss(trainer.model, {**batch, "sample_ids": [f"p{i}" for i in range(4)]})
        means = trainer.metric_sums.pop_means()
        if b == "both":
            assert means["uedpo/lambda_mean/chosen"] > 1 and means["uedpo/lambda_mean/rejected"] < 1
        else:
            active = "chosen" if fixed == "rejected" else "rejected"
            assert means[f"uedpo/lambda_mean/{fixed}"] == 1.0
            assert means[f"uedpo/lambda_mean/{active}"] != 1.0
    assert not torch.equal(losses["both"], losses[branches])
