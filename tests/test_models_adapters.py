"""uedpo.models on tiny random LLaVA / Qwen2.5-VL checkpoints built offline by ``uedpo.models.tiny``.

Mechanics only (prompts, padding, alignment, noise layout, adapter reload, errors), never quality: the weights
are random. Every checkpoint is written to a tmp dir and opened through ``load_adapter``, the same code as a
real checkpoint.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from uedpo.models import LM_LORA_TARGETS, Qwen25VLAdapter, load_adapter
from uedpo.models.prompts import llava15_prompt, qwen25vl_prompt
from uedpo.models.tiny import build_tiny
from uedpo.signals import token_signals

FAMILIES = ["llava", "qwen2_5_vl"]
# Different sizes and aspect ratios: Qwen gets different numbers of image tokens, LLaVA different padding.
SIZES = [(40, 48), (64, 30), (50, 50), (90, 40)]
QUESTIONS = ["describe the image .", "is there a dog in the image ?", "what", "what color is the car on the left ?"]
RESPONSES = ["a dog on the grass", "yes", "the car is red and blue ."]


def _images(seed: int = 0) -> list[Image.Image]:
    rs = np.random.RandomState(seed)
    return [Image.fromarray((rs.rand(h, w, 3) * 255).astype("uint8")) for h, w in SIZES]


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_ckpts")
    return {family: build_tiny(family, root / family, seed=0) for family in FAMILIES}


@pytest.fixture(scope="session")
def adapters(tiny_dirs):
    return {family: load_adapter(path) for family, path in tiny_dirs.items()}


# -- prompts -------------------------------------------------------------------------------------------------
def test_prompts_are_the_official_templates():
    """Expected strings written out by hand from the official templates.

    LLaVA ``conv_vicuna_v1.get_prompt()`` with messages [USER: "<image>\\n" + q, ASSISTANT: None] and sep " ":
    system + " " + "USER: " + msg + " " + "ASSISTANT:". Qwen2.5-VL-Instruct chat template with the default
    system turn, a user turn [image, text] and ``add_generation_prompt``.
    """
    assert llava15_prompt("What is it?") == (
        "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, "
        "detailed, and polite answers to the human's questions. USER: <image>\nWhat is it? ASSISTANT:"
    )
    assert qwen25vl_prompt("What is it?") == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "<|vision_start|><|image_pad|><|vision_end|>What is it?<|im_end|>\n<|im_start|>assistant\n"
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_saved_chat_template_gives_the_adapter_prompt(adapters, family):
    adapter = adapters[family]
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "describe the dog ."}]}]
    text = adapter.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text == adapter.build_prompt("describe the dog .")


def test_tiny_cli_writes_a_loadable_safetensors_checkpoint(tmp_path):
    from uedpo.models.tiny import main

    assert main(["--family", "qwen2_5_vl", "--out", str(tmp_path / "q"), "--seed", "3"]) == 0
    names = {p.name for p in (tmp_path / "q").iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"} <= names
    assert not any(n.endswith(".bin") for n in names)
    assert isinstance(load_adapter(tmp_path / "q"), Qwen25VLAdapter)


# -- generation ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_batched_greedy_generation_equals_one_at_a_time(adapters, family):
    adapter, images = adapters[family], _images()
    enc = adapter.encode_prompts(images, [adapter.build_prompt(q) for q in QUESTIONS])
    assert (enc["attention_mask"] == 0).any(), "the batch must actually need left padding"
    batched = adapter.generate(images, QUESTIONS, max_new_tokens=6, batch_size=4)
    single = [adapter.generate([im], [q], max_new_tokens=6)[0] for im, q in zip(images, QUESTIONS, strict=True)]
    assert batched == single
    assert all(batched), "random tiny models still emit words"


@pytest.mark.parametrize("family", FAMILIES)
def test_greedy_first_token_is_the_argmax_of_a_plain_forward(adapters, family):
    adapter, image = adapters[family], _images()[1]
    enc = adapter.encode_prompts([image], [adapter.build_prompt(QUESTIONS[0])])
    with torch.no_grad():
        first = adapter.model(**enc).logits[0, -1].argmax().item()
    expected = adapter.tokenizer.decode([first], skip_special_tokens=True).strip()
    assert adapter.generate([image], [QUESTIONS[0]], max_new_tokens=1) == [expected]


# -- teacher-forced clear / blurred forward -----------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_forward_pair_is_aligned_with_the_tokenized_response(adapters, family):
    adapter = adapters[family]
    out = adapter.forward_pair(_images()[0], QUESTIONS[0], RESPONSES[0])
    ids = adapter.tokenizer(RESPONSES[0], add_special_tokens=False)["input_ids"]
    vocab = adapter.model.config.text_config.vocab_size
    assert out.clear_logits.shape == out.blurred_logits.shape == (1, len(ids), vocab)
    assert out.clear_logits.dtype == out.blurred_logits.dtype == torch.float32
    assert out.labels[0].tolist() == ids and out.token_ids == [ids]
    assert out.mask.dtype == torch.bool and bool(out.mask.all())
    assert "".join(out.token_strings[0]) == adapter.tokenizer.decode(ids)
    assert not torch.equal(out.clear_logits, out.blurred_logits), "noise at step 500 changes the logits"


@pytest.mark.parametrize("family", FAMILIES)
def test_response_logprobs_equal_a_manual_full_forward(adapters, family):
    """log p(response) = sum_t log_softmax(z_full[P + t - 1])[a_t] over the whole (1, L, V) forward.

    The manual path tokenizes prompt and response as one string with the raw processor (for LLaVA the
    processor's own ``do_pad`` squares the image), independently of ``encode``'s collation.
    """
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


@pytest.mark.parametrize("family", FAMILIES)
def test_forward_batch_rows_equal_single_forwards(adapters, family):
    adapter, images = adapters[family], _images()[:3]
    out = adapter.forward_batch(images, QUESTIONS[:3], RESPONSES, add_eos=True,
                                generator=torch.Generator().manual_seed(0))
    for row in range(3):
        one = adapter.forward_pair(images[row], QUESTIONS[row], RESPONSES[row], add_eos=True)
        n = one.labels.shape[1]
        assert out.token_ids[row] == one.token_ids[0]
        assert out.token_ids[row][-1] == adapter.tokenizer.eos_token_id
        assert int(out.mask[row].sum()) == n and not bool(out.mask[row, n:].any())
        torch.testing.assert_close(out.clear_logits[row, :n], one.clear_logits[0], atol=1e-5, rtol=0)
        torch.testing.assert_close(out.logprobs[row, :n], one.logprobs[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", FAMILIES)
def test_identity_blur_gives_zero_delta_and_nonnegative_u(adapters, family, monkeypatch):
    """METHOD.md §3.4 invariant 7: with v' = v, Δ ≡ 0 and u = max_j z[j] − z[a] ≥ 0."""
    adapter = adapters[family]
    monkeypatch.setattr(adapter, "_add_noise", lambda pv, *args: pv)
    out = adapter.forward_batch(_images()[:3], QUESTIONS[:3], RESPONSES)
    sig = token_signals(out.clear_logits, out.blurred_logits, out.labels, out.mask)
    assert torch.equal(sig.delta, torch.zeros_like(sig.delta))
    best = out.clear_logits.max(-1).values - out.clear_logits.gather(-1, out.labels[..., None])[..., 0]
    torch.testing.assert_close(sig.u, torch.where(out.mask, best, torch.zeros_like(best)))
    assert bool((sig.u >= 0).all())


@pytest.mark.parametrize("family", FAMILIES)
def test_step_zero_noise_barely_moves_delta(adapters, family):
    """VCD schedule: sqrt(1 - abar_0) ~ 0.005 against 0.959 at k = 999, so |Δ| must shrink accordingly."""
    adapter, images = adapters[family], _images()[:3]

    def max_abs_delta(step: int) -> float:
        out = adapter.forward_batch(images, QUESTIONS[:3], RESPONSES, noise_step=step,
                                    generator=torch.Generator().manual_seed(1))
        return float(token_signals(out.clear_logits, out.blurred_logits, out.labels, out.mask).delta.abs().max())

    small, large = max_abs_delta(0), max_abs_delta(999)
    assert large > 0 and small < 0.1 * large


@pytest.mark.parametrize("family", FAMILIES)
def test_noise_is_reproducible_from_the_generator(adapters, family):
    adapter, image = adapters[family], _images()[2]
    a, b, c = (adapter.forward_pair(image, "what", "a cat", generator=torch.Generator().manual_seed(s)).blurred_logits
               for s in (5, 5, 6))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("space", ["normalized", "pixel01"])
def test_qwen_noise_keeps_the_temporal_duplicate(adapters, space):
    """A still image is stored twice along T (temporal_patch_size 2); the noised copies must stay equal."""
    adapter = adapters["qwen2_5_vl"]
    batch = adapter.encode(_images()[:2], [adapter.build_prompt(q) for q in "xy"], ["a", "b"])
    pv = batch["pixel_values"]
    noisy = adapter.noised_pixel_values(pv, space=space, generator=torch.Generator().manual_seed(0))
    view = noisy.view(pv.shape[0], 3, 2, 14, 14)
    assert torch.equal(pv.view_as(view)[:, :, 0], pv.view_as(view)[:, :, 1])
    assert torch.equal(view[:, :, 0], view[:, :, 1])
    assert noisy.shape == pv.shape and not torch.equal(noisy, pv)


@pytest.mark.parametrize("family", FAMILIES)
def test_pixel01_noise_is_clamped_to_the_unit_range(adapters, family):
    adapter = adapters[family]
    pv = adapter.encode(_images()[:2], [adapter.build_prompt(q) for q in "xy"], ["a", "b"])["pixel_values"]
    ip = adapter.processor.image_processor
    mean, std = adapter._per_channel(ip.image_mean, pv), adapter._per_channel(ip.image_std, pv)
    clean01 = pv * std + mean
    assert float(clean01.min()) >= -1e-5 and float(clean01.max()) <= 1 + 1e-5  # the mean/std layout is right
    noisy01 = adapter.noised_pixel_values(pv, step=999, space="pixel01") * std + mean
    assert float(noisy01.min()) >= -1e-5 and float(noisy01.max()) <= 1 + 1e-5
    assert float(noisy01.min()) < 1e-3 and float(noisy01.max()) > 1 - 1e-3  # heavy noise does hit the clamp


def test_llava_pads_to_a_mean_colour_square(adapters):
    """``expand2square``: a 48x40 (w x h) image goes on a 48x48 canvas, rows 4..43, mean colour elsewhere."""
    adapter = adapters["llava"]
    square = np.asarray(adapter.prepare_image(Image.new("RGB", (48, 40), (255, 0, 0))))
    fill = [int(x * 255) for x in adapter.processor.image_processor.image_mean]
    assert square.shape == (48, 48, 3)
    assert (square[:4] == fill).all() and (square[44:] == fill).all() and (square[4:44] == [255, 0, 0]).all()


def test_bad_inputs_raise_one_line_errors(adapters):
    adapter = adapters["llava"]
    with pytest.raises(ValueError, match="one entry per item"):
        adapter.forward_batch(_images()[:2], QUESTIONS[:2], RESPONSES[:1])
    with pytest.raises(ValueError, match="every response is empty"):
        adapter.forward_pair(_images()[0], "what", "")
    with pytest.raises(ValueError, match="noise_space"):
        adapter.forward_pair(_images()[0], "what", "a dog", noise_space="latent")


# -- LoRA adapters -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_reloaded_lora_adapter_equals_merged_weights(tiny_dirs, tmp_path, family):
    from peft import LoraConfig, get_peft_model

    from uedpo.signals import selective_log_softmax

    adapter = load_adapter(tiny_dirs[family])  # get_peft_model mutates this one, not the session adapters
    peft_model = get_peft_model(adapter.model, LoraConfig(r=4, lora_alpha=8, target_modules=LM_LORA_TARGETS))
    wrapped = [n for n, _ in peft_model.named_modules() if n.endswith("lora_A")]
    assert wrapped and all("language_model" in n for n in wrapped)
    adapter.model = peft_model
    batch = adapter.encode(_images()[:2], [adapter.build_prompt(q) for q in QUESTIONS[:2]], RESPONSES[:2])
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    labels = batch["input_ids"][:, batch["prompt_length"] :]
    for _ in range(2):
        loss = -selective_log_softmax(adapter.response_logits(batch), labels).sum()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    peft_model.save_pretrained(tmp_path / "lora")
    merged = peft_model.merge_and_unload()
    merged.save_pretrained(tmp_path / "merged")
    adapter.processor.save_pretrained(tmp_path / "merged")

    with torch.no_grad():
        z_lora, z_merged, z_base = (
            load_adapter(ckpt, adapter_dir=lora).response_logits(batch)
            for ckpt, lora in [(tiny_dirs[family], tmp_path / "lora"), (tmp_path / "merged", None),
                               (tiny_dirs[family], None)]
        )
    assert (z_lora - z_merged).abs().max() < 1e-5
    assert (z_lora - z_base).abs().max() > 1e-3, "the trained adapter must change the logits"
