"""load_adapter errors: every broken checkpoint or mismatched adapter gives one ModelLoadError line."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import types

import pytest
import torch

from uedpo.models import LM_LORA_TARGETS, LlavaAdapter, ModelLoadError, load_adapter
from uedpo.models.load_options import LoadOptions
from uedpo.models.loading import resolve_device_dtype
from uedpo.models.tiny import build_tiny


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    """Tiny llava + qwen checkpoints and an (untrained) LM-only LoRA adapter saved for the llava one."""
    from peft import LoraConfig, get_peft_model

    root = tmp_path_factory.mktemp("tiny_load")
    dirs = {family: build_tiny(family, root / family) for family in ("llava", "qwen2_5_vl")}
    base = load_adapter(dirs["llava"]).model
    get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=LM_LORA_TARGETS)).save_pretrained(
        root / "lora"
    )
    dirs["lora"] = root / "lora"
    return dirs


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def _one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def test_loads_a_local_checkpoint_in_float32_eval_mode_on_cpu(ckpts):
    adapter = load_adapter(ckpts["llava"], device="cpu")
    assert isinstance(adapter, LlavaAdapter) and adapter.dtype == torch.float32 and not adapter.model.training


def test_auto_dtype_is_bf16_on_gpu_and_fp32_on_cpu():
    assert resolve_device_dtype("cpu", "auto") == (torch.device("cpu"), torch.float32)
    assert resolve_device_dtype("cuda", "auto") == (torch.device("cuda"), torch.bfloat16)
    assert resolve_device_dtype("cpu", "float16")[1] == torch.float16
    with pytest.raises(ModelLoadError, match="dtype 'fp8'"):
        resolve_device_dtype("cpu", "fp8")


def test_missing_directory(tmp_path):
    with pytest.raises(ModelLoadError, match="directory not found") as err:
        load_adapter(tmp_path / "nope")
    assert str(tmp_path / "nope") in _one_line(err)


def test_hub_id_while_offline_is_refused_without_network(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="offline mode") as err:
        load_adapter("uedpo-tests/no-such-model")
    assert "uedpo-tests/no-such-model" in _one_line(err)


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda p: p.write_bytes(b"\x00garbage" * 8), "not a valid safetensors file"),
        (lambda p: p.write_bytes(p.read_bytes()[:4096]), "not a valid safetensors file"),
    ],
    ids=["garbage", "truncated"],
)
def test_corrupt_safetensors(ckpts, tmp_path, damage, expected):
    bad = _copy(ckpts["llava"], tmp_path / "bad")
    damage(bad / "model.safetensors")
    with pytest.raises(ModelLoadError, match=expected) as err:
        load_adapter(bad)
    assert "model.safetensors" in _one_line(err)


def test_pickled_weights_are_refused(ckpts, tmp_path):
    bad = _copy(ckpts["llava"], tmp_path / "bad")
    (bad / "model.safetensors").rename(bad / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="never loaded") as err:
        load_adapter(bad)
    _one_line(err)


@pytest.mark.parametrize(
    ("config_text", "expected"),
    [("{not json", "not valid JSON"), ('{"model_type": "blip_2"}', "'blip_2' is not supported"), (None, "no config")],
    ids=["corrupt", "unknown-family", "missing"],
)
def test_bad_config(ckpts, tmp_path, config_text, expected):
    bad = _copy(ckpts["llava"], tmp_path / "bad")
    if config_text is None:
        (bad / "config.json").unlink()
    else:
        (bad / "config.json").write_text(config_text)
    with pytest.raises(ModelLoadError, match=expected) as err:
        load_adapter(bad)
    _one_line(err)


def test_adapter_for_another_family(ckpts):
    with pytest.raises(ModelLoadError, match="trained on a llava base") as err:
        load_adapter(ckpts["qwen2_5_vl"], adapter_dir=ckpts["lora"])
    _one_line(err)


def test_adapter_with_other_shapes(ckpts, tmp_path):
    """An adapter made for a wider model: lora_A has 8 more input columns than q_proj has inputs."""
    from safetensors.torch import load_file, save_file

    bad = _copy(ckpts["lora"], tmp_path / "lora")
    weights = load_file(bad / "adapter_model.safetensors")
    weights = {k: torch.zeros(v.shape[0], v.shape[1] + 8) if "lora_A" in k else v for k, v in weights.items()}
    save_file(weights, bad / "adapter_model.safetensors")
    with pytest.raises(ModelLoadError, match="size mismatch") as err:
        load_adapter(ckpts["llava"], adapter_dir=bad)
    _one_line(err)


def test_adapter_targeting_modules_the_base_lacks(ckpts, tmp_path):
    bad = _copy(ckpts["lora"], tmp_path / "lora")
    config = json.loads((bad / "adapter_config.json").read_text())
    config["target_modules"] = ["query_key_value"]
    (bad / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="query_key_value") as err:
        load_adapter(ckpts["llava"], adapter_dir=bad)
    _one_line(err)


def test_adapter_missing_tensors(ckpts, tmp_path):
    from safetensors.torch import load_file, save_file

    bad = _copy(ckpts["lora"], tmp_path / "lora")
    weights = load_file(bad / "adapter_model.safetensors")
    dropped = sorted(weights)[0]
    save_file({k: v for k, v in weights.items() if k != dropped}, bad / "adapter_model.safetensors")
    with pytest.raises(ModelLoadError, match="1 missing") as err:
        load_adapter(ckpts["llava"], adapter_dir=bad)
    _one_line(err)


@pytest.mark.parametrize("what", ["dir", "config", "weights"])
def test_adapter_files_missing(ckpts, tmp_path, what):
    bad = _copy(ckpts["lora"], tmp_path / "lora")
    if what == "dir":
        shutil.rmtree(bad)
    else:
        (bad / {"config": "adapter_config.json", "weights": "adapter_model.safetensors"}[what]).unlink()
    with pytest.raises(ModelLoadError, match="adapter") as err:
        load_adapter(ckpts["llava"], adapter_dir=bad)
    _one_line(err)


# -- original-format LLaVA (haotian-liu/LLaVA layout) ---------------------------------------------------------
ORIGINAL_15 = {  # liuhaotian/llava-v1.5-7b config.json, abridged
    "_name_or_path": "./checkpoints/vicuna-7b-v1-5", "architectures": ["LlavaLlamaForCausalLM"],
    "model_type": "llava", "mm_vision_tower": "openai/clip-vit-large-patch14-336", "mm_projector_type": "mlp2x_gelu",
    "mm_vision_select_layer": -2, "image_aspect_ratio": "pad", "hidden_size": 4096,
}
ORIGINAL_16 = {**ORIGINAL_15, "architectures": ["LlavaMistralForCausalLM"], "model_type": "llava_mistral",
               "image_aspect_ratio": "anyres", "mm_patch_merge_type": "spatial_unpad"}
ORIGINAL_OV = {**ORIGINAL_15, "architectures": ["LlavaQwenForCausalLM"], "image_aspect_ratio": "anyres_max_9",
               "mm_vision_tower": "google/siglip-so400m-patch14-384"}


@pytest.mark.parametrize(
    ("config", "script", "args"),
    [
        (ORIGINAL_15, "llava/convert_llava_weights_to_hf.py",
         "--vision_model_id openai/clip-vit-large-patch14-336 --output_hub_path OUT_REPO --old_state_dict_id"),
        (ORIGINAL_16, "llava_next/convert_llava_next_weights_to_hf.py", "--pytorch_dump_folder_path OUT_DIR"),
        (ORIGINAL_OV, "llava_onevision/convert_llava_onevision_weights_to_hf.py", "--pytorch_dump_folder_path"),
    ],
    ids=["llava-1.5", "llava-1.6", "onevision"],
)
def test_original_format_llava_is_refused_with_the_conversion_command(ckpts, tmp_path, config, script, args):
    orig = _copy(ckpts["llava"], tmp_path / "llava-v1.5-7b")
    (orig / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="original-format LLaVA") as err:
        load_adapter(orig)
    message = _one_line(err)
    assert f"python transformers/src/transformers/models/{script}" in message and args in message
    assert f"--model_id {orig}" in message or f"--old_state_dict_id {orig}" in message
    assert str(orig) in message and config["architectures"][0] in message


def test_llava_hf_config_is_not_mistaken_for_an_original_one(ckpts):
    from uedpo.models.legacy import is_original_llava

    config = json.loads((ckpts["llava"] / "config.json").read_text())
    assert config["model_type"] == "llava" and not is_original_llava(config)
    assert is_original_llava({"model_type": "llava", "mm_vision_tower": "x"})


# -- loading options hook -------------------------------------------------------------------------------------
def test_model_kwargs_reach_from_pretrained(ckpts):
    adapter = load_adapter(ckpts["llava"], model_kwargs={"attn_implementation": "eager"})
    assert adapter.model.config._attn_implementation == "eager"
    assert load_adapter(ckpts["llava"]).model.config._attn_implementation != "eager"
    with pytest.raises(ModelLoadError, match="'dtype' is set by load_adapter"):
        load_adapter(ckpts["llava"], model_kwargs={"dtype": "float16"})


# -- LoadOptions: --dtype / --attn-implementation / --device-map / --quantization -------------------------------
def _blocked(monkeypatch, *packages):
    """Make ``import package`` fail (as when it is not installed), whatever this machine has."""
    for name in packages:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_attn_implementation_reaches_from_pretrained(ckpts, attn):
    adapter = LoadOptions(attn_implementation=attn).load(ckpts["llava"], device="cpu")
    assert adapter.model.config._attn_implementation == attn
    assert adapter.model.config.text_config._attn_implementation == attn


def test_dtype_and_device_map_reach_from_pretrained(ckpts, monkeypatch):
    import uedpo.models.loading as loading

    seen, real = [], loading._load_model
    monkeypatch.setattr(loading, "_load_model", lambda *a: seen.append(a) or real(*a))
    adapter = LoadOptions(dtype="bfloat16", device_map="auto").load(ckpts["qwen2_5_vl"])
    (family, _, dtype, _, model_kwargs), = seen
    assert family == "qwen2_5_vl" and dtype == torch.bfloat16 and model_kwargs == {"device_map": "auto"}
    assert adapter.model.dtype == torch.bfloat16  # accelerate placed it (on the CPU here): not moved again
    assert LoadOptions().model_kwargs() == {}  # nothing set: transformers' defaults


def test_quantization_kwargs_are_a_bitsandbytes_config(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "3")
    four = LoadOptions(quantization="4bit").model_kwargs(torch.bfloat16)
    config = four["quantization_config"]
    assert config.load_in_4bit and config.bnb_4bit_quant_type == "nf4" and config.bnb_4bit_compute_dtype == torch.bfloat16
    assert four["device_map"] == {"": 3}  # bitsandbytes weights are placed at load, on this rank's GPU
    eight = LoadOptions(quantization="8bit", device_map="auto").model_kwargs()
    assert eight["quantization_config"].load_in_8bit and eight["device_map"] == "auto"


@pytest.mark.parametrize(("options", "blocked", "cuda", "expected"), [
    (dict(attn_implementation="flash_attention_2"), ["flash_attn"], True,
     "attn_implementation flash_attention_2: the flash_attn package is not installed; `pip install flash-attn`"),
    (dict(attn_implementation="flash_attention_2"), [], False,
     "attn_implementation flash_attention_2: needs a CUDA GPU and none is visible; use sdpa or eager"),
    (dict(attn_implementation="flash_attention_2", dtype="float32"), [], True,
     "runs in float16 / bfloat16 only, not dtype float32"),
    (dict(quantization="4bit"), ["bitsandbytes"], True,
     "quantization 4bit: the bitsandbytes package is not installed; `pip install bitsandbytes`"),
    (dict(quantization="8bit"), [], False,
     "quantization 8bit: bitsandbytes needs a CUDA GPU and none is visible; set quantization none"),
    (dict(device_map="auto"), ["accelerate"], True, "device_map auto: needs the accelerate package"),
    (dict(attn_implementation="flash"), [], True, "attn_implementation 'flash': expected one of eager, sdpa"),
    (dict(quantization="int4"), [], True, "quantization 'int4': expected one of none, 4bit, 8bit"),
], ids=["fa2-missing", "fa2-no-cuda", "fa2-fp32", "4bit-missing", "8bit-no-cuda", "accelerate-missing",
        "unknown-attn", "unknown-quant"])
def test_options_that_cannot_load_here_are_refused_in_one_line(monkeypatch, options, blocked, cuda, expected):
    import uedpo.models.load_options as load_options

    _blocked(monkeypatch, *blocked)
    for name in {"flash_attn", "bitsandbytes"} - set(blocked):  # "installed", whatever this machine has
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setattr(load_options, "cuda_available", lambda: cuda)
    with pytest.raises(ModelLoadError) as err:
        LoadOptions(**options).check()
    assert expected in _one_line(err)


def test_refused_options_load_nothing(ckpts, monkeypatch):
    _blocked(monkeypatch, "bitsandbytes")
    monkeypatch.setattr("uedpo.models.loading.load_adapter", lambda *a, **k: pytest.fail("a model was loaded"))
    with pytest.raises(ModelLoadError, match="bitsandbytes package is not installed"):
        LoadOptions(quantization="4bit").load(ckpts["llava"])


def test_device_map_is_refused_under_ddp(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ModelLoadError, match=r"which DDP cannot do \(WORLD_SIZE=2\); drop device_map") as err:
        LoadOptions(device_map="auto").check()
    _one_line(err)


def test_cli_flags_become_options():
    parser = argparse.ArgumentParser()
    LoadOptions.add_arguments(parser)
    args = parser.parse_args(["--attn-implementation", "eager", "--device-map", "auto", "--load-in-4bit",
                              "--dtype", "float16"])
    assert LoadOptions.from_args(args) == LoadOptions("float16", "eager", "auto", "4bit")
    assert LoadOptions.from_args(parser.parse_args([])) == LoadOptions()
    assert LoadOptions.from_args(parser.parse_args(["--quantization", "8bit"])).quantization == "8bit"
    own = argparse.ArgumentParser()  # a CLI with its own --dtype (uedpo-eval)
    own.add_argument("--dtype", default="auto")
    LoadOptions.add_arguments(own, dtype=False)
    assert LoadOptions.from_args(own.parse_args(["--dtype", "bfloat16"])).dtype == "bfloat16"
    with pytest.raises(SystemExit):
        parser.parse_args(["--attn-implementation", "flash"])
