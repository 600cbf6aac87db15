"""The family registry and the families added to it (LLaVA-NeXT, LLaVA-OneVision, Qwen2-VL, Qwen3-VL) on tiny
random checkpoints built offline: prompts, generation, teacher-forced clear/counterfactual forwards under every
view, and each family's pixel layout. Training steps and the inspector are in test_models_families_train.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

from uedpo.models import ADAPTERS, FAMILIES, LM_LORA_TARGETS, Family, get_family, load_adapter, register
from uedpo.models.families.llava_next import STYLES, conversation_style
from uedpo.models.layouts import tiled_noise
from uedpo.models.tiny import build_tiny
from uedpo.noise import noise_scales
from uedpo.signals import token_signals
from uedpo.views import VIEW_KINDS, ViewSpec, make_view

NEW = ["llava_next", "llava_onevision", "qwen2_vl", "qwen3_vl"]
TILED = ["llava_next", "llava_onevision"]
SIZES = [(40, 48), (64, 30), (50, 50), (90, 40)]  # (h, w): different tile / patch counts
QUESTIONS = ["describe the image .", "is there a dog in the image ?", "what", "what color is the car on the left ?"]
RESPONSES = ["a dog on the grass", "yes", "the car is red and blue ."]


def _images(seed: int = 0) -> list[Image.Image]:
    rs = np.random.RandomState(seed)
    return [Image.fromarray((rs.rand(h, w, 3) * 255).astype("uint8")) for h, w in SIZES]


@pytest.fixture(scope="module")
def adapters(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    return {family: load_adapter(build_tiny(family, root / family, seed=0)) for family in NEW}


# -- the registry --------------------------------------------------------------------------------------------
def test_registry_covers_the_families_by_model_type():
    assert set(FAMILIES) == {"llava", "llava_next", "llava_onevision", "qwen2_vl", "qwen2_5_vl", "qwen3_vl"}
    for name, family in FAMILIES.items():
        assert family.model_type == name and family.adapter.family == name and ADAPTERS[name] is family.adapter
        model_cls, _ = family.classes()
        assert model_cls.config_class.model_type == name  # the transformers class of that model_type
    with pytest.raises(KeyError, match="'blip_2' is not supported"):
        get_family("blip_2")
    with pytest.raises(ValueError, match="already registered"):
        register(FAMILIES["llava"])


def test_register_adds_a_family_that_loading_uses(tmp_path, monkeypatch):
    """A family registered from outside is loaded through its own adapter class."""
    from uedpo.models.families import llava

    class Custom(llava.LlavaAdapter):
        family = "llava"

    monkeypatch.setitem(FAMILIES, "llava", FAMILIES["llava"])
    monkeypatch.setitem(ADAPTERS, "llava", ADAPTERS["llava"])
    register(Family("llava", Custom, "LlavaForConditionalGeneration", "LlavaProcessor", llava.tiny_llava, "x"),
             replace=True)
    assert type(load_adapter(build_tiny("llava", tmp_path / "l"))) is Custom


def test_tiny_help_lists_every_family(capsys):
    from uedpo.models.tiny import main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name, family in FAMILIES.items():
        assert f"{name}  " in out and family.summary in out


@pytest.mark.parametrize("family", NEW)
def test_lora_targets_only_the_language_model(adapters, family):
    model = adapters[family].model
    pattern = re.compile(LM_LORA_TARGETS)
    hits = [n for n, _ in model.named_modules() if pattern.fullmatch(n)]
    assert len(hits) == 2 * 7  # 2 layers x q/k/v/o/gate/up/down
    assert all(".language_model." in n for n in hits)


# -- prompts -------------------------------------------------------------------------------------------------
def test_prompts_are_the_official_conversations():
    """Written out by hand from LLaVA-NeXT's conv templates and the Qwen chat templates."""
    q = "What is it?"
    assert STYLES["mistral_instruct"][0](q) == "[INST] <image>\nWhat is it? [/INST]"
    assert STYLES["chatml_direct"][0](q) == (
        "<|im_start|>system\nAnswer the questions.<|im_end|><|im_start|>user\n<image>\nWhat is it?<|im_end|>"
        "<|im_start|>assistant\n"
    )
    assert STYLES["qwen_1_5"][0](q) == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<image>\nWhat is it?"
        "<|im_end|>\n<|im_start|>assistant\n"
    )
    assert STYLES["vicuna_v1"][0](q).endswith(" USER: <image>\nWhat is it? ASSISTANT:")
    from uedpo.models.families.qwen2_vl import qwen2vl_prompt
    from uedpo.models.families.qwen3_vl import qwen3vl_prompt
    from uedpo.models.prompts import qwen25vl_prompt

    assert qwen2vl_prompt(q) == qwen25vl_prompt(q)
    assert qwen3vl_prompt(q) == (
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is it?<|im_end|>\n<|im_start|>assistant\n"
    )


def test_llava_next_picks_the_conversation_from_the_language_model(adapters):
    from transformers import LlamaConfig, LlavaNextConfig, MistralConfig, Qwen2Config

    tok = adapters["llava_next"].tokenizer  # no <|im_start|>
    assert conversation_style(LlavaNextConfig(text_config=MistralConfig()), tok) == "mistral_instruct"
    assert conversation_style(LlavaNextConfig(text_config=Qwen2Config()), tok) == "qwen_1_5"
    assert conversation_style(LlavaNextConfig(text_config=LlamaConfig()), tok) == "vicuna_v1"
    qwen_tok = adapters["llava_onevision"].tokenizer  # has <|im_start|>: a Yi-34B-style Llama
    assert conversation_style(LlavaNextConfig(text_config=LlamaConfig()), qwen_tok) == "chatml_direct"
    assert adapters["llava_next"].prompt_style == "vicuna_v1"
    assert adapters["llava_onevision"].prompt_style == "qwen_1_5"


@pytest.mark.parametrize("family", NEW)
def test_saved_chat_template_gives_the_adapter_prompt(adapters, family):
    adapter = adapters[family]
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "describe the dog ."}]}]
    text = adapter.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text == adapter.build_prompt("describe the dog .")
    assert adapter.chat_template == adapter.processor.chat_template


@pytest.mark.parametrize("style", ["mistral_instruct", "chatml_direct"])
def test_every_llava_next_template_renders_its_prompt(adapters, style):
    prompt, template = STYLES[style]
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "what is it ?"}]}]
    text = adapters["llava_next"].processor.apply_chat_template(
        messages, chat_template=template, add_generation_prompt=True, tokenize=False)
    assert text == prompt("what is it ?")


# -- generation ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", NEW)
def test_batched_greedy_generation_equals_one_at_a_time(adapters, family):
    adapter, images = adapters[family], _images()
    enc = adapter.encode_prompts(images, [adapter.build_prompt(q) for q in QUESTIONS])
    assert (enc["attention_mask"] == 0).any(), "the batch must actually need left padding"
    batched = adapter.generate(images, QUESTIONS, max_new_tokens=5, batch_size=4)
    single = [adapter.generate([im], [q], max_new_tokens=5)[0] for im, q in zip(images, QUESTIONS, strict=True)]
    assert batched == single and all(batched)


@pytest.mark.parametrize("family", NEW)
def test_greedy_first_token_is_the_argmax_of_a_plain_forward(adapters, family):
    adapter, image = adapters[family], _images()[1]
    enc = adapter.encode_prompts([image], [adapter.build_prompt(QUESTIONS[0])])
    with torch.no_grad():
        first = adapter.model(**enc).logits[0, -1].argmax().item()
    expected = adapter.tokenizer.decode([first], skip_special_tokens=True).strip()
    assert adapter.generate([image], [QUESTIONS[0]], max_new_tokens=1) == [expected]


# -- teacher-forced forwards ---------------------------------------------------------------------------------
@pytest.mark.parametrize("family", NEW)
def test_response_logprobs_equal_a_manual_full_forward(adapters, family):
    adapter, image = adapters[family], _images()[0]
    out = adapter.forward_pair(image, QUESTIONS[0], RESPONSES[0])
    enc = adapter.processor(images=[image], text=[adapter.build_prompt(QUESTIONS[0]) + " " + RESPONSES[0]],
                            return_tensors="pt")
    n = int(out.mask.sum())
    with torch.no_grad():
        logits = adapter.model(**enc).logits[0]
    expected = torch.log_softmax(logits[-n - 1 : -1], -1).gather(-1, enc["input_ids"][0, -n:, None])[:, 0]
    assert enc["input_ids"][0, -n:].tolist() == out.labels[0].tolist()
    torch.testing.assert_close(out.logprobs[0], expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", NEW)
def test_left_padded_rows_equal_single_forwards(adapters, family):
    """Rows of different image sizes (tile / patch counts) in one left-padded batch score as they do alone."""
    adapter, images = adapters[family], _images()[:3]
    out = adapter.forward_batch(images, QUESTIONS[:3], RESPONSES, add_eos=True,
                                generator=torch.Generator().manual_seed(0))
    for row in range(3):
        one = adapter.forward_pair(images[row], QUESTIONS[row], RESPONSES[row], add_eos=True)
        n = one.labels.shape[1]
        assert out.token_ids[row] == one.token_ids[0]
        torch.testing.assert_close(out.clear_logits[row, :n], one.clear_logits[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", VIEW_KINDS)
@pytest.mark.parametrize("family", NEW)
def test_every_view_keeps_layout_and_positions_and_changes_the_logits(adapters, family, kind):
    adapter, image = adapters[family], _images()[1]
    prompts = [adapter.build_prompt("what is it ?")] * 2
    batch = adapter.encode([image, image], prompts, ["a dog .", "a cat on the bed ."])
    viewed = adapter.view_pixel_values(batch, ViewSpec(kind=kind), sample_ids=["p0"], seed=0, step=3)
    assert viewed.shape == batch["pixel_values"].shape and viewed.dtype == batch["pixel_values"].dtype
    assert not torch.equal(viewed, batch["pixel_values"])
    out = adapter.forward_batch([image, image], ["what is it ?"] * 2, ["a dog .", "a cat on the bed ."],
                                view=ViewSpec(kind=kind), sample_ids=["p0"], seed=0, step=3)
    assert out.blurred_logits.shape == out.clear_logits.shape
    assert out.labels.tolist() == batch["input_ids"][:, batch["prompt_length"] :].tolist()  # positions kept
    sig = token_signals(out.clear_logits, out.blurred_logits, out.labels, out.mask)
    assert torch.isfinite(sig.u).all() and torch.isfinite(sig.delta).all()
    assert not torch.allclose(out.blurred_logits, out.clear_logits)


@pytest.mark.parametrize("family", NEW)
def test_identity_view_gives_zero_delta(adapters, family, monkeypatch):
    adapter = adapters[family]
    monkeypatch.setattr(adapter, "_add_noise", lambda pv, *args: pv)
    out = adapter.forward_batch(_images()[:3], QUESTIONS[:3], RESPONSES)
    sig = token_signals(out.clear_logits, out.blurred_logits, out.labels, out.mask)
    assert torch.equal(sig.delta, torch.zeros_like(sig.delta)) and bool((sig.u >= 0).all())


# -- anyres tiles (LLaVA-NeXT / OneVision) -------------------------------------------------------------------
@pytest.mark.parametrize("family", TILED)
def test_tiles_are_five_dimensional_and_zero_padded(adapters, family):
    adapter = adapters[family]
    enc = adapter.encode_prompts(_images(), [adapter.build_prompt("hi")] * 4)
    pv = enc["pixel_values"]
    assert pv.ndim == 5 and pv.shape[0] == 4 and enc["image_sizes"].tolist() == [[h, w] for h, w in SIZES]
    real = pv.flatten(2).abs().sum(-1) > 0
    assert not bool(real.all()), "images with fewer tiles are zero-padded to the batch's tile count"
    assert torch.equal(adapter.from_frames(adapter.to_frames(pv[:1]), None), pv[:1])


@pytest.mark.parametrize("family", TILED)
@pytest.mark.parametrize("shared", [True, False])
def test_tile_noise_is_per_element_and_independent_of_padding(adapters, family, shared):
    """ε is drawn tile index by tile index: a pair's real tiles get the same ε beside a batch mate with more
    tiles (more padding) as alone; within an image every element gets its own draw."""
    adapter = adapters[family]
    images = _images()
    tiles = [adapter.encode_prompts([im], ["<image>"])["pixel_values"].shape[1] for im in images]
    small, big = images[tiles.index(min(tiles))], images[tiles.index(max(tiles))]  # different tile counts
    prompt = adapter.build_prompt("hi")
    alone = adapter.encode_prompts([small, small], [prompt] * 2)["pixel_values"]  # [chosen; rejected] of "a"
    mixed = adapter.encode_prompts([small, big, small, big], [prompt] * 4)["pixel_values"]  # pairs "a", "b"
    assert mixed.shape[1] > alone.shape[1]
    n = alone.shape[1]
    spec = ViewSpec(kind="noise", noise_step=500, pair_shared=shared)
    a = make_view(adapter, alone, {"pixel_values": alone}, ["a"], spec, seed=0, step=1)
    b = make_view(adapter, mixed, {"pixel_values": mixed}, ["a", "b"], spec, seed=0, step=1)
    torch.testing.assert_close(a, b[[0, 2], :n], atol=0, rtol=0)
    assert torch.equal(a[0], a[1]) == shared
    sqrt_abar, scale = noise_scales(500)
    eps = (a - sqrt_abar * alone) / scale
    assert abs(float(eps.std()) - 1.0) < 0.1 and not torch.allclose(eps[0, 0], eps[0, 1])


def test_tiled_noise_pair_sharing():
    x = torch.zeros(4, 3, 2, 5, 5)
    eps = tiled_noise(x, torch.Generator().manual_seed(0), pair_shared=True)
    assert torch.equal(eps[:2], eps[2:]) and not torch.equal(eps[0], eps[1])
    with pytest.raises(ValueError, match="even number"):
        tiled_noise(x[:3], None, pair_shared=True)


@pytest.mark.parametrize("family", TILED)
def test_pixel01_noise_on_tiles_is_clamped(adapters, family):
    adapter = adapters[family]
    pv = adapter.encode_prompts(_images()[:2], [adapter.build_prompt("hi")] * 2)["pixel_values"]
    ip = adapter.processor.image_processor
    mean, std = adapter.per_channel(ip.image_mean, pv), adapter.per_channel(ip.image_std, pv)
    real = pv[0, :1] * std[0] + mean[0]
    assert float(real.min()) >= -1e-5 and float(real.max()) <= 1 + 1e-5  # the mean/std broadcast is right
    noisy01 = adapter.noised_pixel_values(pv, step=999, space="pixel01") * std + mean
    assert float(noisy01.min()) >= -1e-5 and float(noisy01.max()) <= 1 + 1e-5


# -- Qwen-VL patches (Qwen2-VL 14, Qwen3-VL 16) ------------------------------------------------------------
@pytest.mark.parametrize(("family", "patch"), [("qwen2_vl", 14), ("qwen3_vl", 16)])
def test_qwen_patches_keep_the_temporal_duplicate(adapters, family, patch):
    adapter = adapters[family]
    batch = adapter.encode(_images()[:2], [adapter.build_prompt(q) for q in "xy"], ["a", "b"])
    pv = batch["pixel_values"]
    assert pv.shape[1] == 3 * 2 * patch * patch
    for space in ("normalized", "pixel01"):
        noisy = adapter.noised_pixel_values(pv, space=space, generator=torch.Generator().manual_seed(0))
        view = noisy.view(pv.shape[0], 3, 2, patch, patch)
        assert torch.equal(view[:, :, 0], view[:, :, 1]) and not torch.equal(noisy, pv)


def test_qwen3_frames_are_the_half_normalised_image(adapters):
    """At a size the processor keeps (multiples of 32), the frame is (image / 255 − 0.5) / 0.5."""
    adapter = adapters["qwen3_vl"]
    image = _images(3)[0].resize((96, 64))
    enc = adapter.processor(images=[image], text=[adapter.build_prompt("hi")], return_tensors="pt")
    grid = enc["image_grid_thw"][0]
    assert grid.tolist() == [1, 4, 6]
    frames = adapter.to_frames(enc["pixel_values"], grid)
    want = (torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1) - 0.5) / 0.5
    torch.testing.assert_close(frames[0], want, atol=1e-5, rtol=0)
    assert torch.equal(adapter.from_frames(frames, grid), enc["pixel_values"])
