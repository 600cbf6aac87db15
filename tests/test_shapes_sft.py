"""The captioning stage: full-parameter SFT from scratch on the on-the-fly ShapesWorld stream.

Mechanics only, on the unit-test-sized model (``size="tiny"``: tiny_1L of SHAPESWORLD.md §7a): the stream
gives capitalised yes/no targets, ``lora_r: 0`` trains every weight without peft, the run directory is a
complete checkpoint that ``load_adapter`` opens, and the loss goes down within a few steps.
"""

from __future__ import annotations

import csv
import itertools

import pytest
import torch

from benchmarks_data.shapesworld.model import build_shapes_model, shapes_tokenizer
from benchmarks_data.shapesworld.stream import ShapesWorldStream, parse_stream_seed
from uedpo.models import load_adapter
from uedpo.train.config import ConfigError, load_config
from uedpo.train.data import TrainDataError
from uedpo.trainer import train


def test_tokenizer_keeps_yes_no_capitalised_and_lowercases_the_rest():
    tok = shapes_tokenizer()
    for text in ("Yes", "No", "a red circle , a blue star ."):
        assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text
    assert tok("Describe", add_special_tokens=False)["input_ids"] == tok("describe", add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in tok("Describe this image.", add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id in tok("Nothing", add_special_tokens=False)["input_ids"]  # "No" only as a whole word


def test_stream_is_seeded_and_answers_are_capitalised():
    first = [(r.prompt, r.chosen) for r in itertools.islice(iter(ShapesWorldStream(3)), 40)]
    again = [(r.prompt, r.chosen) for r in itertools.islice(iter(ShapesWorldStream(3)), 40)]
    assert first == again
    answers = {c for p, c in first if p.startswith("is there")}
    assert answers and answers <= {"Yes", "No"}
    assert parse_stream_seed("") == 0 and parse_stream_seed("seed=7") == 7
    with pytest.raises(TrainDataError, match="shapesworld:seed=N"):
        parse_stream_seed("sed=1")


def test_stream_and_full_parameter_need_sft(tmp_path):
    base = ["model=m", "output_dir=o"]
    with pytest.raises(ConfigError, match="max_steps"):
        load_config(None, [*base, "data=shapesworld", "loss=sft", "lora_r=0"])
    with pytest.raises(ConfigError, match="lora_r=0"):
        load_config(None, [*base, "data=d.jsonl", "loss=dpo", "lora_r=0"])


@pytest.mark.slow
def test_sft_from_scratch_on_the_stream_lowers_the_loss(tmp_path):
    torch.set_flush_denormal(True)
    init = build_shapes_model(tmp_path / "init", seed=0, size="tiny")
    out = tmp_path / "run"
    cfg = load_config(None, [
        f"model={init}", "data=shapesworld:seed=1", f"output_dir={out}", "loss=sft", "lora_r=0", "dtype=float32",
        "gradient_checkpointing=false", "learning_rate=3e-3", "max_steps=24", "batch_size=16",
        "logging_steps=4", "save_steps=1000", "report_to=none", "warmup_ratio=0.0", "lr_scheduler=constant",
    ])
    before = {k: v.clone() for k, v in load_adapter(init, dtype="float32", device="cpu").model.state_dict().items()}
    train(cfg)
    with open(out / "metrics.csv", encoding="utf-8") as f:
        losses = [float(r["loss"]) for r in csv.DictReader(f) if r.get("loss")]
    assert len(losses) >= 5 and losses[-1] < losses[0] - 0.5, losses
    trained = load_adapter(out, dtype="float32", device="cpu")  # a complete checkpoint: weights + processor
    after = trained.model.state_dict()
    vision = [k for k in before if "vision_tower" in k and k.endswith("weight")]
    assert any(not torch.equal(before[k], after[k]) for k in vision)  # full-parameter: the vision tower trains
    assert not any("lora" in k for k in after)
