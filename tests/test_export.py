"""``uedpo-export`` on tiny checkpoints: merged logits = base + adapter, the files other tools load, the
adapter export's model card, and bad input (exit 2, one line, nothing written)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from importlib import metadata

import pytest
import torch
import yaml
from PIL import Image
from test_trainer_support import make_data, perturb_lora, small_config

from uedpo.export import main
from uedpo.export_card import data_sha256
from uedpo.models import FAMILIES, LM_LORA_TARGETS, load_adapter
from uedpo.models.tiny import build_tiny
from uedpo.source import git_commit
from uedpo.trainer import train

TRAINED = ("llava", "qwen2_5_vl")  # adapters from two uedpo-train steps (config.yaml, data)
IMAGES = [Image.new("RGB", (40, 30), (200, 40, 40)), Image.new("RGB", (30, 52), (20, 90, 200))]


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    root = tmp_path_factory.mktemp("export_bases")
    return {family: build_tiny(family, root / family, seed=0) for family in FAMILIES}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("export_data"), 4)


@pytest.fixture(scope="module")
def loras(bases, data, tmp_path_factory):
    """A trained (uedpo-train) or randomly perturbed LoRA adapter per family."""
    from peft import LoraConfig, get_peft_model

    root = tmp_path_factory.mktemp("export_loras")
    out = {}
    for family, base in bases.items():
        if family in TRAINED:
            out[family] = train(small_config(base, data, root / family, max_steps=2, learning_rate=1e-2))
            continue
        model = get_peft_model(load_adapter(base).model, LoraConfig(r=4, lora_alpha=8, target_modules=LM_LORA_TARGETS))
        perturb_lora(model, seed=1)
        model.save_pretrained(root / family)
        out[family] = root / family
    return out


def _logits(adapter) -> torch.Tensor:
    batch = adapter.encode(IMAGES, [adapter.build_prompt(q) for q in ("describe the image .", "what")],
                           ["a dog on the grass .", "a red car"])
    with torch.no_grad():
        return adapter.response_logits(batch).float()


def _front_matter(card: str) -> dict:
    return yaml.safe_load(card.split("---\n")[1])


@pytest.mark.parametrize("family", list(FAMILIES))
def test_merged_checkpoint_equals_base_plus_adapter(bases, loras, tmp_path, family, capsys):
    out = tmp_path / "merged"
    assert main(["--ckpt", str(bases[family]), "--adapter", str(loras[family]), "--out", str(out), "--merge"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"model.safetensors", "config.json", "generation_config.json", "chat_template.jinja",
            "processor_config.json", "tokenizer.json", "README.md"} <= names
    assert not any(n.endswith(".bin") or n.startswith("adapter_") for n in names)
    assert not any("ImageOnly" in (out / n).read_text() for n in names if n.endswith(".json"))
    merged, lora = load_adapter(out), load_adapter(bases[family], adapter_dir=loras[family])
    assert type(merged) is type(lora) and not hasattr(merged.model, "peft_config")
    z_merged, z_lora, z_base = _logits(merged), _logits(lora), _logits(load_adapter(bases[family]))
    torch.testing.assert_close(z_merged, z_lora, atol=1e-5, rtol=0)
    assert (z_lora - z_base).abs().max() > 1e-3, "the adapter must change the logits"
    assert merged.generate(IMAGES, ["describe the image ."] * 2, max_new_tokens=4) == \
        lora.generate(IMAGES, ["describe the image ."] * 2, max_new_tokens=4)
    card = _front_matter((out / "README.md").read_text())
    assert card["export"] == "merged" and card["library_name"] == "transformers" and card["model_family"] == family


@pytest.mark.parametrize("family", ["llava", "qwen3_vl"])
def test_plain_transformers_loads_the_merged_checkpoint(bases, loras, tmp_path, family):
    from transformers import AutoConfig, AutoModelForImageTextToText

    out = tmp_path / "merged"
    assert main(["--ckpt", str(bases[family]), "--adapter", str(loras[family]), "--out", str(out), "--merge"]) == 0
    model = AutoModelForImageTextToText.from_pretrained(out)
    ours = load_adapter(out)
    assert type(model) is type(ours.model) and AutoConfig.from_pretrained(out).model_type == family
    state = ours.model.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    stock = json.loads((out / "processor_config.json").read_text())["processor_class"]
    assert stock == {"llava": "LlavaProcessor", "qwen3_vl": "Qwen3VLProcessor"}[family]
    if family == "llava":  # AutoProcessor needs torchvision for the Qwen video processor
        from transformers import AutoProcessor

        assert AutoProcessor.from_pretrained(out).chat_template == ours.processor.chat_template


def test_merged_dtype_option_casts_the_weights(bases, loras, tmp_path):
    from safetensors import safe_open

    out = tmp_path / "bf16"
    assert main(["--ckpt", str(bases["llava"]), "--adapter", str(loras["llava"]), "--out", str(out), "--merge",
                 "--dtype", "bfloat16"]) == 0
    with safe_open(str(out / "model.safetensors"), framework="pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"BF16"}
    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"
    assert load_adapter(out, dtype="auto", device="cpu").dtype == torch.float32  # our loader's CPU default


def test_missing_chat_template_gets_the_familys(bases, loras, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(bases["qwen2_5_vl"], base)
    (base / "chat_template.jinja").unlink()
    assert main(["--ckpt", str(base), "--adapter", str(loras["qwen2_5_vl"]), "--out", str(tmp_path / "o"),
                 "--merge"]) == 0
    exported = load_adapter(tmp_path / "o")
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "what"}]}]
    text = exported.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text == exported.build_prompt("what")


def test_adapter_export_has_the_model_card(bases, loras, data, tmp_path):
    out = tmp_path / "adapter"
    assert main(["--ckpt", str(bases["llava"]), "--adapter", str(loras["llava"]), "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"adapter_config.json", "adapter_model.safetensors", "config.yaml",
                                               "README.md"}
    text = (out / "README.md").read_text()
    card = _front_matter(text)
    assert card["base_model"] == str(bases["llava"]) and card["export"] == "adapter"
    assert card["library_name"] == "peft" and card["training_loss"] == "ue_dpo"
    assert card["data"] == str(data) and card["data_sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert card["uedpo_version"] == metadata.version("uedpo") == card["versions"]["uedpo"]
    assert card["versions"]["transformers"] == metadata.version("transformers")
    assert card["uedpo_git"] == git_commit()
    assert git_commit() is None or re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", git_commit())
    assert (loras["llava"] / "config.yaml").read_text().strip() in text  # the training config, verbatim
    torch.testing.assert_close(_logits(load_adapter(bases["llava"], adapter_dir=out)),
                               _logits(load_adapter(bases["llava"], adapter_dir=loras["llava"])), atol=0, rtol=0)


def test_data_sha256_sources(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.json").write_text("[1]")
    (tmp_path / "d" / "b.jsonl").write_text("{}\n")
    (tmp_path / "d" / "img.png").write_bytes(b"not data")
    listing = "".join(f"{n}\0{hashlib.sha256(c).hexdigest()}\n" for n, c in [("a.json", b"[1]"), ("b.jsonl", b"{}\n")])
    assert data_sha256({"data": str(tmp_path / "d")}, tmp_path)[0] == hashlib.sha256(listing.encode()).hexdigest()
    assert data_sha256({"data": "d/a.json"}, tmp_path)[0] == hashlib.sha256(b"[1]").hexdigest()  # beside the run
    assert data_sha256({"data": str(tmp_path / "d"), "data_sha256": "ab" * 32}, tmp_path) == (
        "ab" * 32, "recorded in config.yaml")
    assert data_sha256({"data": "shapesworld:seed=3"}, tmp_path)[0] is None
    assert data_sha256({}, tmp_path) == (None, "config.yaml has no data path")


# -- bad input -------------------------------------------------------------------------------------------------
def _no_leftovers(parent) -> None:
    assert not [p for p in parent.iterdir() if ".export-" in p.name], "the temporary directory must be removed"


@pytest.mark.parametrize("case", ["no-base", "no-adapter", "other-family", "other-shapes", "out-not-empty",
                                  "out-is-file", "not-an-adapter"])
@pytest.mark.parametrize("merge", [False, True])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(bases, loras, tmp_path, capsys, case, merge):
    from safetensors.torch import load_file, save_file

    base, adapter, out = bases["llava"], loras["llava"], tmp_path / "out"
    if case == "no-base":
        base = tmp_path / "missing-base"
    elif case == "no-adapter":
        adapter = tmp_path / "missing-adapter"
    elif case == "other-family":
        base = bases["qwen3_vl"]
    elif case == "other-shapes":
        adapter = shutil.copytree(loras["llava"], tmp_path / "wide")
        weights = load_file(adapter / "adapter_model.safetensors")
        save_file({k: torch.zeros(v.shape[0], v.shape[1] + 8) if "lora_A" in k else v for k, v in weights.items()},
                  adapter / "adapter_model.safetensors")
    elif case == "out-not-empty":
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    elif case == "out-is-file":
        out.write_text("a file")
    elif case == "not-an-adapter":
        adapter = base  # a model directory, no adapter_config.json
    before = sorted(p.name for p in tmp_path.iterdir())
    code = main(["--ckpt", str(base), "--adapter", str(adapter), "--out", str(out), *(["--merge"] * merge)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("uedpo-export: error: "), err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    if case == "out-not-empty":
        assert [p.name for p in out.iterdir()] == ["keep.txt"]
    _no_leftovers(tmp_path)


def test_an_empty_out_directory_is_used(bases, loras, tmp_path):
    (tmp_path / "out").mkdir()
    assert main(["--ckpt", str(bases["llava"]), "--adapter", str(loras["llava"]), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "README.md").is_file()


def test_a_failure_while_writing_leaves_nothing(bases, loras, tmp_path, monkeypatch):
    import uedpo.export as export

    def broken(adapter, tmp, dtype):
        (tmp / "model.safetensors").write_bytes(b"half written")
        raise OSError("disk full")

    monkeypatch.setattr(export, "write_merged", broken)
    with pytest.raises(OSError, match="disk full"):
        main(["--ckpt", str(bases["llava"]), "--adapter", str(loras["llava"]), "--out", str(tmp_path / "o"),
              "--merge"])
    assert not (tmp_path / "o").exists()
    _no_leftovers(tmp_path)


def test_a_checkpoint_directory_takes_the_runs_config(tmp_path):
    from uedpo.export_card import read_run_config

    (tmp_path / "run" / "checkpoint-20").mkdir(parents=True)
    (tmp_path / "run" / "config.yaml").write_text("loss: dpo\ndata: pairs.json\n")
    assert read_run_config(tmp_path / "run" / "checkpoint-20") == ({"loss": "dpo", "data": "pairs.json"},
                                                                   "loss: dpo\ndata: pairs.json\n")
    assert read_run_config(tmp_path / "run" / "elsewhere") == ({}, None)


def test_the_console_script_is_declared():
    import importlib
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    scripts = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, attr = scripts["uedpo-export"].partition(":")
    assert getattr(importlib.import_module(module), attr) is main
