"""The trainer's loss steps (``UEDPOTrainer.preference_step`` / ``sft_step``, :mod:`uedpo.train.baseline_steps`)
on a tiny fake VLM, in milliseconds.

The fake is a lookup table (the token before each response position) plus an image term, with a trainable
"LoRA" matrix that ``disable_adapter()`` switches off, so the policy, the reference and the blurred / null /
cropped images all give different logits. It records every forward: the pixels it saw, whether grad was on and
whether the adapter was off. Each step's loss, gradient and logged stats are compared with the same quantities
assembled independently from the core functions (:mod:`uedpo.loss`, :mod:`uedpo.exploration`,
:mod:`uedpo.baselines`), and its forwards with the ones the docstrings promise. ``test_trainer_steps.py`` and
``test_trainer_baselines.py`` run the same steps inside ``transformers.Trainer`` on real tiny checkpoints.
"""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from uedpo.baselines import mdpo_loss, tpo_loss, tpo_score, vdpo_loss
from uedpo.exploration import explore
from uedpo.loss import dpo_loss, ue_dpo_loss
from uedpo.signals import token_signals
from uedpo.train import baseline_steps
from uedpo.train.blur import train_view, view_step
from uedpo.train.config import TrainConfig
from uedpo.train.metrics import MetricSums, baseline_stats, exploration_stats, preference_stats, sft_stats
from uedpo.trainer import UEDPOTrainer
from uedpo.views import MDPO_CROP_SCALE, ImageLayout, ViewSpec, make_view

V, PROMPT, RESPONSE, SIDE = 7, 2, 5, 4
IDS = ["pair-a", "pair-b"]
GLOBAL_STEP = 3


class FakeVLM(torch.nn.Module):
    peft_config: dict = {}  # no frozen start adapter: the reference is the adapter disabled

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.table = torch.nn.Parameter(torch.randn(V, V, generator=g), requires_grad=False)
        self.pix = torch.nn.Parameter(torch.randn(3 * SIDE * SIDE, V, generator=g) * 0.3, requires_grad=False)
        self.lora = torch.nn.Parameter(torch.randn(V, V, generator=g) * 0.5)
        self.enabled = True
        self.calls: list[dict] = []

    @contextmanager
    def disable_adapter(self):
        self.enabled = False
        try:
            yield
        finally:
            self.enabled = True

    def logits(self, batch, pixel_values, record=True):
        start = int(batch["prompt_length"])
        prev = batch["input_ids"][:, start - 1 : -1]  # logits[:, t] predicts the response token t
        image = pixel_values.flatten(1) @ self.pix  # (rows, V)
        out = self.table[prev] + image[:, None, :]
        if self.enabled:
            out = out + self.lora[prev] * (1 + torch.tanh(image))[:, None, :]
        if record:
            self.calls.append({"pixels": pixel_values.detach().clone(), "grad": torch.is_grad_enabled(),
                               "reference": not self.enabled, "rows": int(prev.shape[0])})
        return out


@dataclasses.dataclass(frozen=True)
class FakeAdapter(ImageLayout):
    """LLaVA's plain image layout (what ``make_view`` needs) plus ``response_logits``."""

    def response_logits(self, batch, pixel_values=None, model=None):
        return model.logits(batch, batch["pixel_values"] if pixel_values is None else pixel_values)


class FakeTrainer:
    compute_loss = UEDPOTrainer.compute_loss
    preference_step = UEDPOTrainer.preference_step
    sft_step = UEDPOTrainer.sft_step
    signals = UEDPOTrainer.signals
    reference_logps = UEDPOTrainer.reference_logps

    def __init__(self, **overrides):
        defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)
                    if f.default is not dataclasses.MISSING}
        self.cfg = SimpleNamespace(**{**defaults, "seed": 5, "alpha": 0.5, "tau": 0.4, **overrides})
        self.adapter = FakeAdapter(image_mean=(0.5, 0.5, 0.5), image_std=(0.25, 0.25, 0.25))
        self.model = FakeVLM()
        self.state = SimpleNamespace(global_step=GLOBAL_STEP)
        self.accelerator = SimpleNamespace(unwrap_model=lambda model: model)
        self.metric_sums = MetricSums()


def make_batch(pairs: bool = True) -> dict:
    """[chosen; rejected] rows of two pairs (ragged response masks), the pair's image on both of its rows."""
    g = torch.Generator().manual_seed(1)
    rows = 2 * len(IDS) if pairs else len(IDS)
    input_ids = torch.randint(0, V, (rows, PROMPT + RESPONSE), generator=g)
    mask = torch.zeros(rows, PROMPT + RESPONSE, dtype=torch.bool)
    mask[:, PROMPT:] = True
    mask[1, -2:] = False
    mask[rows - 1, -1] = False
    images = torch.randn(len(IDS), 3, SIDE, SIDE, generator=g)
    return {"input_ids": input_ids, "response_mask": mask, "prompt_length": PROMPT,
            "pixel_values": torch.cat([images, images]) if pairs else images}


def targets_of(batch):
    labels, mask = batch["input_ids"][:, PROMPT:], batch["response_mask"][:, PROMPT:]
    return labels, mask, labels.masked_fill(~mask, 0)


def logps_of(logits, targets):
    return torch.log_softmax(logits.float(), -1).gather(-1, targets[..., None])[..., 0]


def reference_logits(model, batch, pixels):
    with torch.no_grad(), model.disable_adapter():
        return model.logits(batch, pixels, record=False)


def view(trainer, batch, spec, pixels=None):
    pixels = batch["pixel_values"] if pixels is None else pixels
    return make_view(trainer.adapter, pixels, batch, IDS, spec, seed=trainer.cfg.seed,
                     step=view_step(trainer.cfg, GLOBAL_STEP))


def run_step(trainer, step, batch):
    model = trainer.model
    model.zero_grad(set_to_none=True)
    model.calls.clear()
    loss, stats = step(trainer, model, batch, list(IDS))
    loss.backward()
    return loss.detach(), model.lora.grad.clone(), stats


def expected(trainer, loss_fn):
    """(loss, grad of the LoRA matrix) of ``loss_fn(model)`` on a fresh graph."""
    model = trainer.model
    model.zero_grad(set_to_none=True)
    out = loss_fn(model)
    out.loss.backward()
    return out, model.lora.grad.clone()


def close(a, b):
    """Equal up to float32 rounding (log-softmax and the chunked logsumexp round differently)."""
    return torch.allclose(a, b, rtol=1e-6, atol=1e-6)


def assert_stats_equal(got, want):
    assert set(got) == set(want)
    for name, (total, count) in want.items():
        assert close(got[name][0].float(), total.float()), name
        assert torch.equal(got[name][1].float(), count.float()), name


def assert_calls(model, want):
    """``want``: (pixels, grad, reference, rows) per forward, in order."""
    assert len(model.calls) == len(want)
    for call, (pixels, grad, reference, rows) in zip(model.calls, want, strict=True):
        assert torch.equal(call["pixels"], pixels)
        assert (call["grad"], call["reference"], call["rows"]) == (grad, reference, rows)


# -- UE-DPO / DPO ------------------------------------------------------------------------------------------
def expected_preference(trainer, batch):
    cfg, n = trainer.cfg, len(IDS)
    labels, mask, targets = targets_of(batch)
    pixels = batch["pixel_values"]
    blurred_pixels = view(trainer, batch, train_view(cfg))
    parts = {}

    def loss_fn(model):
        clear = model.logits(batch, pixels, record=False)
        logps = logps_of(clear, targets)
        ref = logps_of(reference_logits(model, batch, pixels), targets)
        branches = (logps[:n], logps[n:], ref[:n], ref[n:])
        if cfg.loss == "dpo":
            return dpo_loss(*branches, mask[:n], mask[n:], cfg.beta)
        with torch.no_grad():
            blurred = model.logits(batch, blurred_pixels, record=False)
        signals = token_signals(clear.detach(), blurred, labels, mask, score_space=cfg.score_space)
        common = dict(alpha=cfg.alpha, tau=cfg.tau, scope=cfg.quantile_scope, std_eps=cfg.std_eps)
        chosen = explore(signals.u[:n], signals.delta[:n], mask[:n], preferred=True, **common)
        rejected = explore(signals.u[n:], signals.delta[n:], mask[n:], preferred=False, **common)
        if cfg.branches == "preferred":
            rejected = dataclasses.replace(rejected, lam=torch.ones(n, RESPONSE))
        if cfg.branches == "dispreferred":
            chosen = dataclasses.replace(chosen, lam=torch.ones(n, RESPONSE))
        parts.update(signals=signals, chosen=chosen, rejected=rejected)
        return ue_dpo_loss(*branches, chosen.lam, rejected.lam, mask[:n], mask[n:], cfg.beta,
                           weight_reference=cfg.weight_reference)

    out, grad = expected(trainer, loss_fn)
    stats = preference_stats(out)
    if cfg.loss != "dpo":
        stats |= exploration_stats(out, parts["signals"], labels, mask, parts["chosen"], parts["rejected"],
                                   tau=cfg.tau, scope=cfg.quantile_scope)
    return out, grad, stats, blurred_pixels


PREFERENCE_CASES = {
    "ue_dpo": {},
    "preferred-only": {"branches": "preferred"},
    "dispreferred-only": {"branches": "dispreferred"},
    "ablations": {"quantile_scope": "batch", "score_space": "logprob",
                  "weight_reference": True, "beta": 0.7},
    "std-eps-floor": {"std_eps": 100.0},  # every z = 0: λ = 1 ± α/2 on the gate
    "dpo": {"loss": "dpo"},
}


@pytest.mark.parametrize("case", list(PREFERENCE_CASES))
def test_preference_step_equals_the_loss_assembled_from_the_core(case):
    trainer = FakeTrainer(**PREFERENCE_CASES[case])
    batch = make_batch()
    out, grad, stats, blurred_pixels = expected_preference(trainer, batch)
    loss, got_grad, got_stats = run_step(trainer, FakeTrainer.preference_step, batch)
    assert close(loss, out.loss) and close(got_grad, grad)
    assert_stats_equal(got_stats, stats)
    pixels, rows = batch["pixel_values"], 2 * len(IDS)
    if trainer.cfg.loss == "dpo":  # no blurred pass
        assert_calls(trainer.model, [(pixels, True, False, rows), (pixels, False, True, rows)])
    else:  # clear with grad, blurred on the policy weights without grad, then the reference
        assert_calls(trainer.model, [(pixels, True, False, rows), (blurred_pixels, False, False, rows),
                                     (pixels, False, True, rows)])


def test_preference_step_cases_differ():
    """The cases above are not vacuous: each option changes the loss of this batch."""
    losses = {}
    for case, overrides in PREFERENCE_CASES.items():
        trainer = FakeTrainer(**overrides)
        losses[case] = run_step(trainer, FakeTrainer.preference_step, make_batch())[0].item()
    assert len(set(losses.values())) == len(losses), losses


# -- SFT ------------------------------------------------------------------------------------------------------
def test_sft_step_is_token_mean_cross_entropy_on_the_chosen_rows():
    trainer = FakeTrainer(loss="sft")
    batch = make_batch(pairs=False)
    labels, mask, targets = targets_of(batch)

    def loss_fn(model):
        logits = model.logits(batch, batch["pixel_values"], record=False)
        ce = F.cross_entropy(logits.reshape(-1, V), labels.masked_fill(~mask, -100).reshape(-1), ignore_index=-100)
        return SimpleNamespace(loss=ce, logps=logps_of(logits, targets))

    out, grad = expected(trainer, loss_fn)
    loss, got_grad, stats = run_step(trainer, FakeTrainer.sft_step, batch)
    assert mask.sum().item() == 2 * RESPONSE - 2  # the ragged row really drops tokens from the mean
    assert close(loss, out.loss) and close(got_grad, grad)
    assert_stats_equal(stats, sft_stats(out.logps.detach(), mask))
    assert_calls(trainer.model, [(batch["pixel_values"], True, False, len(IDS))])


# -- baselines ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("detach", [False, True])
def test_tpo_step_equals_tpo_loss_on_four_forwards(detach):
    trainer = FakeTrainer(loss="tpo", tpo_detach_score=detach, beta=0.3)
    batch = make_batch()
    cfg, n, rows = trainer.cfg, len(IDS), 2 * len(IDS)
    labels, mask, targets = targets_of(batch)
    pixels = batch["pixel_values"]
    noised = view(trainer, batch, train_view(cfg))
    assert not torch.equal(noised, pixels)

    def loss_fn(model):
        clear = model.logits(batch, pixels, record=False)
        blurred = model.logits(batch, noised, record=False)
        ref_clear, ref_blurred = reference_logits(model, batch, pixels), reference_logits(model, batch, noised)
        lp, ref = logps_of(clear, targets), logps_of(ref_clear, targets)
        s, s_ref = tpo_score(clear, blurred, labels, mask), tpo_score(ref_clear, ref_blurred, labels, mask)
        return tpo_loss(lp[:n], lp[n:], ref[:n], ref[n:], s[:n], s[n:], s_ref[:n], s_ref[n:], mask[:n], mask[n:],
                        cfg.beta, detach_score=detach)

    out, grad = expected(trainer, loss_fn)
    loss, got_grad, stats = run_step(trainer, baseline_steps.tpo_step, batch)
    assert close(loss, out.loss) and close(got_grad, grad)
    assert_stats_equal(stats, preference_stats(out) | baseline_stats(out, mask))
    # the policy's noised forward keeps its graph unless the score is detached (TPO runs both with grad)
    assert_calls(trainer.model, [(pixels, True, False, rows), (noised, not detach, False, rows),
                                 (pixels, False, True, rows), (noised, False, True, rows)])


VDPO_CASES = {
    "zeros-policy": {},
    "random-reference": {"vdpo_null": "random", "vdpo_null_images": 3, "vdpo_null_model": "reference"},
    "random-policy": {"vdpo_null": "random", "vdpo_null_images": 2},
}


@pytest.mark.parametrize("case", list(VDPO_CASES))
def test_vdpo_step_equals_vdpo_loss_with_the_null_images_averaged(case):
    trainer = FakeTrainer(loss="vdpo", vdpo_gamma=1.5, **VDPO_CASES[case])
    batch = make_batch()
    cfg, n, rows = trainer.cfg, len(IDS), 2 * len(IDS)
    labels, mask, targets = targets_of(batch)
    pixels = batch["pixel_values"]
    if cfg.vdpo_null == "zeros":
        nulls = [torch.zeros_like(pixels)]
    else:
        nulls = [view(trainer, batch, ViewSpec(kind="null_random", pair_shared=False, salt=f"draw{j}"))
                 for j in range(cfg.vdpo_null_images)]
        assert not torch.equal(nulls[0], nulls[1]) and not torch.equal(nulls[0][0], nulls[0][n])
    on_reference = cfg.vdpo_null_model == "reference"

    def loss_fn(model):
        lp = logps_of(model.logits(batch, pixels, record=False), targets)
        ref = logps_of(reference_logits(model, batch, pixels), targets)
        with torch.no_grad():
            null = sum(logps_of(reference_logits(model, batch, p) if on_reference
                                else model.logits(batch, p, record=False), targets) for p in nulls) / len(nulls)
        return vdpo_loss(lp[:n], lp[n:], ref[:n], ref[n:], null[:n], null[n:], mask[:n], mask[n:], cfg.beta,
                         gamma=cfg.vdpo_gamma)

    out, grad = expected(trainer, loss_fn)
    loss, got_grad, stats = run_step(trainer, baseline_steps.vdpo_step, batch)
    assert close(loss, out.loss) and close(got_grad, grad)
    assert_stats_equal(stats, preference_stats(out) | baseline_stats(out, mask))
    assert_calls(trainer.model, [(pixels, True, False, rows), (pixels, False, True, rows)]
                 + [(p, False, on_reference, rows) for p in nulls])


def test_mdpo_step_crops_the_chosen_rows_separately_for_policy_and_reference():
    trainer = FakeTrainer(loss="mdpo", beta=0.2)
    batch = make_batch()
    cfg, n, rows = trainer.cfg, len(IDS), 2 * len(IDS)
    labels, mask, targets = targets_of(batch)
    pixels = batch["pixel_values"]
    chosen = {**batch, "input_ids": batch["input_ids"][:n], "response_mask": batch["response_mask"][:n],
              "pixel_values": pixels[:n]}
    crops = {who: view(trainer, chosen, ViewSpec(kind="crop", crop_scale=MDPO_CROP_SCALE, salt=who), pixels[:n])
             for who in ("policy", "reference")}
    assert not torch.equal(crops["policy"], crops["reference"])

    def loss_fn(model):
        lp = logps_of(model.logits(batch, pixels, record=False), targets)
        ref = logps_of(reference_logits(model, batch, pixels), targets)
        crop = logps_of(model.logits(chosen, crops["policy"], record=False), targets[:n])
        ref_crop = logps_of(reference_logits(model, chosen, crops["reference"]), targets[:n])
        return mdpo_loss(lp[:n], lp[n:], ref[:n], ref[n:], crop, ref_crop, mask[:n], mask[n:], cfg.beta)

    out, grad = expected(trainer, loss_fn)
    loss, got_grad, stats = run_step(trainer, baseline_steps.mdpo_step, batch)
    assert close(loss, out.loss) and close(got_grad, grad)
    assert_stats_equal(stats, preference_stats(out) | baseline_stats(out, mask))
    assert_calls(trainer.model, [(pixels, True, False, rows), (pixels, False, True, rows),
                                 (crops["policy"], True, False, n), (crops["reference"], False, True, n)])


def test_chosen_rows_keeps_the_first_half_of_every_row_tensor():
    n = 2
    batch = {"input_ids": torch.arange(8).view(4, 2), "pixel_values": torch.arange(4.0).view(4, 1, 1, 1),
             "prompt_length": 3, "scalar": torch.tensor(7), "not_rows": torch.arange(3), "note": "x"}
    out = baseline_steps.chosen_rows(batch, n)
    assert torch.equal(out["input_ids"], batch["input_ids"][:2])
    assert torch.equal(out["pixel_values"], batch["pixel_values"][:2])
    assert out["prompt_length"] == 3 and out["note"] == "x"
    assert out["scalar"] is batch["scalar"] and out["not_rows"] is batch["not_rows"]
    # Qwen2.5-VL: flattened patches, prod(image_grid_thw[r]) per row; the grid rows are sliced too
    grids = torch.tensor([[1, 2, 2], [1, 1, 2], [1, 2, 2], [1, 1, 2]])
    qwen = {"input_ids": torch.zeros(4, 3), "pixel_values": torch.arange(12.0)[:, None], "image_grid_thw": grids}
    out = baseline_steps.chosen_rows(qwen, n)
    assert torch.equal(out["pixel_values"], qwen["pixel_values"][:6]) and torch.equal(out["image_grid_thw"], grids[:2])
    one = baseline_steps.chosen_rows({"input_ids": torch.zeros(2, 3), "pixel_values": torch.ones(2, 1, 1, 1)}, 1)
    assert one["input_ids"].shape == (1, 3) and one["pixel_values"].shape == (1, 1, 1, 1)


@pytest.mark.parametrize("loss", ["ue_dpo", "dpo", "sft", "tpo", "vdpo", "mdpo"])
def test_compute_loss_dispatches_on_cfg_loss_and_accumulates_the_stats(loss):
    """``compute_loss`` pops ``sample_ids``, runs the step of ``cfg.loss`` and adds its stats to the sums."""
    steps = {"ue_dpo": FakeTrainer.preference_step, "dpo": FakeTrainer.preference_step,
             "sft": FakeTrainer.sft_step, **baseline_steps.STEPS}
    trainer = FakeTrainer(loss=loss)
    batch = make_batch(pairs=loss != "sft")
    want, _, stats = run_step(trainer, steps[loss], batch)
    got = trainer.compute_loss(trainer.model, {**batch, "sample_ids": list(IDS)})
    assert close(got.detach(), want)
    loss_only, outputs = trainer.compute_loss(trainer.model, {**batch, "sample_ids": list(IDS)}, return_outputs=True)
    assert outputs == {} and close(loss_only.detach(), want)
    means = trainer.metric_sums.pop_means()
    assert set(means) == set(stats)
    for name, (total, count) in stats.items():
        assert means[name] == pytest.approx(float(total / count), rel=1e-5, abs=1e-6), name
