"""Collation [chosen; rejected], the truncation guard (trl#5285) and per-pair blur noise (tiny models)."""

from __future__ import annotations

import pytest
import torch
from test_trainer_support import FAMILIES, build_base, make_data, pair_rows, write_json

from uedpo.models import load_adapter
from uedpo.noise import noise_scales
from uedpo.train.blur import blurred_pixel_values
from uedpo.train.cli import main
from uedpo.train.collate import PreferenceCollator, PromptLengths, check_rows_fit, response_ids
from uedpo.train.config import TrainConfig
from uedpo.train.data import TrainDataError, load_rows
from uedpo.views import pixel_rows


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    root = tmp_path_factory.mktemp("collate_ckpts")
    return {family: build_base(root, family) for family in FAMILIES}


@pytest.fixture(scope="module")
def adapters(bases):
    return {family: load_adapter(path, device="cpu") for family, path in bases.items()}


@pytest.fixture
def rows(tmp_path):
    return load_rows(make_data(tmp_path, 8))


@pytest.mark.parametrize("family", FAMILIES)
def test_predicted_prompt_lengths_equal_the_processor(adapters, rows, family):
    """The cheap pre-check (tokenizer + one blank image per size) must equal the real processor output."""
    adapter = adapters[family]
    predicted = PromptLengths(adapter)(rows)
    actual = [
        int(adapter.encode_prompts([r.open_image()], [adapter.build_prompt(r.prompt)])["input_ids"].shape[1])
        for r in rows
    ]
    assert predicted == actual
    if family == "qwen2_5_vl":
        assert len(set(actual)) > 1  # image sizes change the number of image tokens


@pytest.mark.parametrize("family", FAMILIES)
def test_collator_layout(adapters, rows, family):
    adapter = adapters[family]
    batch = PreferenceCollator(adapter, max_length=4096)(rows[:3])
    ids, mask, p = batch["input_ids"], batch["response_mask"], batch["prompt_length"]
    assert ids.shape[0] == 6 and batch["sample_ids"] == ["p0", "p1", "p2"]
    eos = adapter.tokenizer.eos_token_id
    for i, row in enumerate(rows[:3]):
        # Rows i and i + B share the prompt (and image); responses are chosen then rejected, ending in EOS.
        assert torch.equal(ids[i, :p], ids[3 + i, :p])
        for r, text in ((i, row.chosen), (3 + i, row.rejected)):
            expected = response_ids(adapter.tokenizer, [text])[0]
            assert ids[r, p:][mask[r, p:]].tolist() == expected and expected[-1] == eos
        assert not mask[i, :p].any()
    pixel = pixel_rows(batch, 6)
    for i in range(3):
        assert torch.equal(batch["pixel_values"][pixel[i]], batch["pixel_values"][pixel[3 + i]])
    sft = PreferenceCollator(adapter, max_length=4096, pairs=False)(rows[:3])
    assert sft["input_ids"].shape[0] == 3


@pytest.mark.parametrize("family", FAMILIES)
def test_truncation_cuts_completions_only(adapters, rows, family):
    adapter = adapters[family]
    row = rows[0]
    n_prompt = PromptLengths(adapter)([row])[0]
    full = PreferenceCollator(adapter, max_length=4096)([row])
    cut = PreferenceCollator(adapter, max_length=n_prompt + 3)([row])
    p = full["prompt_length"]
    image_id = adapter.processor.image_token_id
    for r in (0, 1):
        kept = cut["input_ids"][r, p:][cut["response_mask"][r, p:]].tolist()
        whole = full["input_ids"][r, p:][full["response_mask"][r, p:]].tolist()
        assert kept == whole[:3] and len(whole) > 3  # the first 3 completion tokens, cut from the end
        assert torch.equal(cut["input_ids"][r, :p], full["input_ids"][r, :p])  # prompt untouched
        assert (cut["input_ids"][r] == image_id).sum() == (full["input_ids"][r] == image_id).sum() > 0
    report = check_rows_fit([row], adapter, n_prompt + 3)
    assert (report.truncated_chosen, report.truncated_rejected, report.max_prompt_tokens) == (1, 1, n_prompt)
    assert check_rows_fit([row], adapter, 4096).truncated_chosen == 0


@pytest.mark.parametrize("family", FAMILIES)
def test_prompt_longer_than_max_length_is_an_error_naming_the_row(adapters, rows, family):
    adapter = adapters[family]
    lengths = PromptLengths(adapter)(rows)
    longest = max(range(len(rows)), key=lambda i: lengths[i])
    limit = lengths[longest]  # the longest prompt leaves no room for a completion token
    pattern = rf"row {longest} \(id p{longest}\): the prompt is {limit} tokens .* max_length={limit}; raise"
    with pytest.raises(TrainDataError, match=pattern):
        check_rows_fit(rows, adapter, limit)
    with pytest.raises(TrainDataError, match=pattern):
        PreferenceCollator(adapter, max_length=limit)([rows[longest]])


def test_image_placeholder_in_a_response_is_caught(adapters, tmp_path):
    data = pair_rows(tmp_path, 1)
    data[0]["rejected"] = "a dog <image> here ."
    rows = load_rows(write_json(tmp_path / "rows.json", data))
    with pytest.raises(TrainDataError, match=r"row 0 \(id p0\): .* image tokens in the batch row, expected"):
        PreferenceCollator(adapters["llava"], max_length=4096)(rows)


def test_cli_prompt_too_long_fails_before_training(bases, tmp_path, capsys):
    data = make_data(tmp_path, 2)
    out = tmp_path / "run"
    argv = [f"model={bases['llava']}", f"data={data}", f"output_dir={out}", "max_length=8", "report_to=none"]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and "pairs.json row 0 (id p0): the prompt is" in err and "max_length=8" in err
    assert not (out / "config.yaml").exists() and not list(out.glob("checkpoint-*"))


def _noise(adapter, batch, ids, step, **over):
    cfg = TrainConfig(model="m", data="d", output_dir="o", seed=3, **over)
    return blurred_pixel_values(adapter, batch, ids, cfg=cfg, step=step)


@pytest.mark.parametrize("family", FAMILIES)
def test_blur_noise_is_per_pair_shared_and_keyed_by_id(adapters, rows, family):
    """ε of a pair depends on (seed, step, id) only; chosen and rejected rows of a pair share it.

    v' = a·v + b·ε with (a, b) = noise_scales(500), so ε = (v' − a·v) / b recovers the noise.
    """
    adapter = adapters[family]
    a, b = noise_scales(500)
    collate = PreferenceCollator(adapter, max_length=4096)

    def eps(batch, ids, step, **over):
        clean = batch["pixel_values"].float()
        eps_all = (_noise(adapter, batch, ids, step, **over).float() - a * clean) / b
        rows_ = pixel_rows(batch, 2 * len(ids))
        return [(eps_all[rows_[i]], eps_all[rows_[len(ids) + i]]) for i in range(len(ids))]

    big = collate(rows[:3])
    alone = collate(rows[1:2])
    e_big, e_alone = eps(big, ["p0", "p1", "p2"], 5), eps(alone, ["p1"], 5)
    assert torch.allclose(e_big[1][0], e_alone[0][0], atol=1e-5)  # same pair, other batch mates: same ε
    assert all(torch.allclose(c, r, atol=1e-5) for c, r in e_big)  # noise_share_pair: one ε per pair
    assert not torch.allclose(e_big[0][0][:1], e_big[2][0][:1], atol=1e-2)  # other pairs: other ε
    # per_step: fresh noise at every optimizer step
    assert not torch.allclose(eps(alone, ["p1"], 6)[0][0], e_alone[0][0], atol=1e-2)
    fixed = [eps(alone, ["p1"], s, noise_mode="fixed_per_sample")[0][0] for s in (5, 6)]
    assert torch.allclose(fixed[0], fixed[1], atol=1e-5)
    unshared = eps(alone, ["p1"], 5, noise_share_pair=False)[0]
    assert not torch.allclose(unshared[0], unshared[1], atol=1e-2)
    noisy = _noise(adapter, big, ["p0", "p1", "p2"], 5)
    assert noisy.shape == big["pixel_values"].shape and noisy.dtype == big["pixel_values"].dtype
