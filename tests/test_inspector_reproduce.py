"""``uedpo-inspect`` rebuilds a training step's counterfactual: the u and Δ a run computed, exactly.

A 2-step UE-DPO run (``noise_mode: per_step``, one pair per step, a checkpoint after each step) records the u
and Δ its own ``signals`` step computed. The inspector, built by the CLI's own code from the run's seed, the
adapter of ``checkpoint-N`` and ``--step N``, must give the same numbers for that pair, picked from a samples
file by its training id; step 0 started from the fresh LoRA (B = 0), which is the bare base model.
"""

from __future__ import annotations

import json

import torch
from test_trainer_support import build_base, make_data, small_config

from inspector import cli
from uedpo.trainer import build_trainer

SEED = 5


def _record_signals(trainer) -> dict[int, tuple]:
    """Wrap the trainer's signals step: global step -> (sample ids, u, Δ, mask) as the step computed them."""
    seen: dict[int, tuple] = {}
    step_signals = trainer.signals

    def spy(model, batch, sample_ids, clear_logits, labels, mask):
        sig = step_signals(model, batch, sample_ids, clear_logits, labels, mask)
        seen[trainer.state.global_step] = (list(sample_ids), sig.u.clone(), sig.delta.clone(), mask.clone())
        return sig

    trainer.signals = spy
    return seen


def _inspect(base, samples, sample_id: str, *extra: str):
    args = cli.parser().parse_args(
        ["--ckpt", str(base), "--samples", str(samples), "--seed", str(SEED), *extra]
    )
    session = cli.build_session(args)
    sample = next(s for s in session.samples.samples if s.id == sample_id)
    out = session.analyse(
        None, sample.label, sample.question, sample.preferred, sample.dispreferred, "", 0.3, 0.4, 500, "type", "u"
    )
    assert out["status"].startswith("✓ analysed"), out["status"]
    return out["state"].view


def test_the_inspector_reproduces_the_u_and_delta_of_a_training_step(tmp_path):
    base = build_base(tmp_path, "llava")
    data = make_data(tmp_path / "data", 2)
    samples = tmp_path / "data" / "samples.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in json.loads(data.read_text())), encoding="utf-8")
    cfg = small_config(base, data, tmp_path / "run", max_steps=2, batch_size=1, save_steps=1, seed=SEED,
                       noise_mode="per_step", learning_rate=1e-2)
    trainer = build_trainer(cfg)
    seen = _record_signals(trainer)
    trainer.train()
    assert sorted(seen) == [0, 1]

    for step, adapter in ((1, ["--adapter", str(tmp_path / "run" / "checkpoint-1")]), (0, [])):
        (sample_id,), u, delta, mask = seen[step]
        view = _inspect(base, samples, sample_id, "--step", str(step), *adapter)
        assert (view.seed, view.step, view.sample_id) == (SEED, step, sample_id)
        for row, branch in enumerate(view.signals):  # preferred = the chosen row, dispreferred = rejected
            assert torch.equal(branch.mask[0], mask[row, : branch.mask.shape[1]])
            assert torch.equal(branch.u[0][branch.mask[0]], u[row][mask[row]]), (step, row)
            assert torch.equal(branch.delta[0][branch.mask[0]], delta[row][mask[row]]), (step, row)

    # Another step's noise, the fixed per-sample noise, or the weights before the step do not reproduce it.
    (sample_id,), _, delta, mask = seen[1]
    checkpoint = ["--adapter", str(tmp_path / "run" / "checkpoint-1")]
    for other in (["--step", "0", *checkpoint], checkpoint, ["--step", "1"]):
        view = _inspect(base, samples, sample_id, *other)
        assert not torch.equal(view.signals[0].delta[0][view.signals[0].mask[0]], delta[0][mask[0]]), other
