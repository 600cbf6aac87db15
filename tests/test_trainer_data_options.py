"""uedpo-train's loading options (attn_implementation, device_map, quantization, dtype): config keys that reach
``from_pretrained`` through the one loading function, refused in one line before any data or model is read."""

from __future__ import annotations

import sys

import pytest
import yaml
from test_trainer_support import build_base, make_data, small_config

import uedpo.trainer as trainer_module
from uedpo.train.cli import main
from uedpo.train.config import ConfigError, TrainConfig
from uedpo.trainer import build_trainer, train


@pytest.fixture(scope="module")
def llava(tmp_path_factory):
    return build_base(tmp_path_factory.mktemp("options_ckpt"), "llava")


def _base_config(model):
    return model.get_base_model().config


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_attn_implementation_reaches_the_policy(llava, tmp_path, attn):
    trainer = build_trainer(small_config(llava, make_data(tmp_path / "data", 2), tmp_path / "run",
                                         attn_implementation=attn))
    assert _base_config(trainer.model)._attn_implementation == attn
    assert _base_config(trainer.model).text_config._attn_implementation == attn


def test_training_runs_with_eager_attention(llava, tmp_path):
    out = train(small_config(llava, make_data(tmp_path / "data", 2), tmp_path / "run", attn_implementation="eager",
                             max_steps=1))
    assert (out / "adapter_model.safetensors").is_file()
    written = yaml.safe_load((out / "config.yaml").read_text())
    assert written["attn_implementation"] == "eager" and written["quantization"] == "none"
    assert written["device_map"] is None


@pytest.mark.parametrize(("key", "blocked", "expected"), [
    ("attn_implementation=flash_attention_2", "flash_attn",
     "attn_implementation flash_attention_2: the flash_attn package is not installed"),
    ("quantization=4bit", "bitsandbytes", "quantization 4bit: the bitsandbytes package is not installed"),
    ("quantization=8bit", "bitsandbytes", "quantization 8bit: the bitsandbytes package is not installed"),
])
def test_unavailable_options_stop_uedpo_train_before_data_and_model(tmp_path, capsys, monkeypatch, key, blocked,
                                                                   expected):
    monkeypatch.setitem(sys.modules, blocked, None)
    monkeypatch.setattr(trainer_module, "load_rows", lambda *a, **k: pytest.fail("data read first"))
    monkeypatch.setattr(trainer_module, "load_policy", lambda *a, **k: pytest.fail("model loaded first"))
    code = main(["model=/no/model", "data=/no/data.json", f"output_dir={tmp_path / 'run'}", key])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"uedpo-train: error: {expected}")


def test_device_map_with_ddp_is_refused_before_the_model(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(trainer_module, "load_policy", lambda *a, **k: pytest.fail("model loaded first"))
    code = main(["model=/no/model", "data=/no/data.json", f"output_dir={tmp_path / 'run'}", "device_map=auto"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "device_map auto: spreads one model over the GPUs of one process" in err
    assert "\n" not in err


@pytest.mark.parametrize(("values", "expected"), [
    (dict(attn_implementation="spda"), r"'attn_implementation' = 'spda': expected one of eager, sdpa, "
                                       r"flash_attention_2 \(did you mean 'sdpa'\?\)"),
    (dict(device_map="balanced"), r"'device_map' = 'balanced': expected one of auto"),
    (dict(quantization="nf4"), r"'quantization' = 'nf4': expected one of none, 4bit, 8bit"),
    (dict(quantization="4bit", lora_r=0, loss="sft"), r"quantization=4bit freezes the base weights .* lora_r=0"),
    (dict(data_split=" "), r"'data_split' = ' ': expected a split name"),
])
def test_option_keys_are_checked_with_the_config(values, expected):
    with pytest.raises(ConfigError, match=expected):
        TrainConfig(model="m", data="d", output_dir="o", **values)
