"""The added families (LLaVA-NeXT, LLaVA-OneVision, Qwen2-VL, Qwen3-VL) through the trainer and the inspector.

Two UE-DPO optimizer steps with ``uedpo.trainer.train`` on each tiny checkpoint (finite metrics, LoRA on the
language model changed, the saved adapter reloads and changes the logits), and the inspector's
``analyse_pair`` equal to the library path (forward_batch -> token_signals -> analyse_rows).
"""

from __future__ import annotations

import csv
import math

import pytest
import torch
from test_trainer_support import make_data, small_config

from inspector.analysis import analyse_pair
from uedpo.analysis import analyse_rows
from uedpo.demo import DISPREFERRED, PREFERRED, QUESTION, demo_image
from uedpo.models import load_adapter
from uedpo.models.tiny import build_tiny
from uedpo.signals import token_signals
from uedpo.trainer import train
from uedpo.views import ViewSpec

NEW = ["llava_next", "llava_onevision", "qwen2_vl", "qwen3_vl"]


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    root = tmp_path_factory.mktemp("family_bases")
    return {family: build_tiny(family, root / family, seed=0) for family in NEW}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("family_data"), 4)


@pytest.mark.parametrize("family", NEW)
def test_two_ue_dpo_steps_train_the_language_model_lora(bases, data, tmp_path, family):
    out = train(small_config(bases[family], data, tmp_path / "run", max_steps=2, learning_rate=1e-2))
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [1, 2]
    assert all(math.isfinite(float(r["loss"])) for r in rows)
    assert all(math.isfinite(float(r[k])) for r in rows for k in r if k.startswith("uedpo/") and r[k] != "")
    trained = load_adapter(bases[family], adapter_dir=out)
    names = [n for n, _ in trained.model.named_modules() if n.endswith("lora_A")]
    assert names and all(".language_model." in n for n in names)
    base = load_adapter(bases[family])
    image = demo_image()
    batch = base.encode([image], [base.build_prompt(QUESTION)], [PREFERRED])
    with torch.no_grad():
        moved = (trained.response_logits(batch) - base.response_logits(batch)).abs().max()
    assert moved > 1e-4, "two steps at lr 1e-2 must move the LoRA away from B = 0"


@pytest.fixture(scope="module", params=NEW)
def adapter(request, bases):
    return load_adapter(bases[request.param])


def test_inspector_pair_analysis_is_the_library_path(adapter):
    view = analyse_pair(adapter, demo_image(), QUESTION, PREFERRED, DISPREFERRED, alpha=0.3, tau=0.4,
                        noise_step=500, seed=3)
    out = adapter.forward_batch([demo_image()] * 2, [QUESTION] * 2, [PREFERRED, DISPREFERRED],
                                view=ViewSpec(noise_step=500), sample_ids=[""], seed=3, add_eos=True)
    sig = token_signals(out.clear_logits, out.blurred_logits, out.labels, out.mask)
    want = [
        analyse_rows(sig.u[r : r + 1], sig.delta[r : r + 1], out.mask[r : r + 1], preferred=r == 0, alpha=0.3,
                     tau=0.4, token_strings=out.token_strings[r : r + 1], token_ids=out.token_ids[r : r + 1],
                     logprobs=out.logprobs[r : r + 1])[0]
        for r in range(2)
    ]
    assert view.preferred == want[0] and view.dispreferred == want[1]
    assert view.preferred.tokens[-1].token_id == adapter.tokenizer.eos_token_id
    assert all(math.isfinite(t.u) and math.isfinite(t.delta) for t in view.preferred.tokens)
    assert any(t.delta != 0 for t in view.preferred.tokens), "the noised image changes the scores"
