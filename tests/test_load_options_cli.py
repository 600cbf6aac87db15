"""`uedpo-eval --ckpt` and `uedpo-inspect` take the loading options of `uedpo-train` (--dtype,
--attn-implementation, --device-map, --quantization; `uedpo.models.load_options.LoadOptions`), load through
the one loading function, refuse what cannot load here with one line before any model loads, and record the
options in results.json. Real tiny checkpoints; bitsandbytes / flash_attn are blocked (or faked) so the
refusals are the same on any machine."""

from __future__ import annotations

import json
import sys
import types

import pytest
from conftest import need_data, need_nltk
from PIL import Image

from evaluation.cli import main
from inspector import cli as inspect_cli
from uedpo.models.tiny import build_tiny

FAST = ["--limit", "2", "--max-new-tokens", "6", "--quiet", "--similarity", "exact"]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return build_tiny("llava", tmp_path_factory.mktemp("load_ckpt") / "llava", seed=0)


@pytest.fixture(scope="module")
def amber(tmp_path_factory):
    """The AMBER data and two images for the first items."""
    need_nltk()
    data = need_data("amber/data/query/query_all.json", "amber/data/annotations.json")
    from benchmarks_data.amber import load_amber_queries

    img = tmp_path_factory.mktemp("load_img")
    for k, q in enumerate(load_amber_queries("all", data)[:2]):
        Image.new("RGB", (40 + k, 30), (30 * k, 120, 60)).save(img / q.image)
    return ["--bench", "amber", "--image-dir", str(img), "--data-dir", str(data)]


def _spy(monkeypatch) -> list[dict]:
    """Record every ``from_pretrained`` call of the one loading function (dtype, keywords, attention used)."""
    import uedpo.models.loading as loading

    seen, real = [], loading._load_model

    def spy(family, name, dtype, trust_remote_code, model_kwargs):
        model, processor = real(family, name, dtype, trust_remote_code, model_kwargs)
        seen.append({"dtype": str(dtype).removeprefix("torch."), "kwargs": dict(model_kwargs),
                     "attn": model.config._attn_implementation, "model_dtype": str(model.dtype)})
        return model, processor

    monkeypatch.setattr(loading, "_load_model", spy)
    return seen


@pytest.fixture
def loads(monkeypatch):
    return _spy(monkeypatch)


@pytest.fixture(scope="module")
def default_run(ckpt, amber, tmp_path_factory):
    """A run with no loading options: the numbers the other runs must equal."""
    out = tmp_path_factory.mktemp("load_default") / "out"
    with pytest.MonkeyPatch.context() as mp:
        seen = _spy(mp)
        assert main([*amber, "--ckpt", str(ckpt), "--out", str(out), *FAST]) == 0
    assert len(seen) == 1 and seen[0]["kwargs"] == {}  # nothing asked: transformers' defaults
    return out, seen[0]


@pytest.fixture
def nothing_loads(monkeypatch):
    """Fail the test if a model is loaded or the benchmark is read (the options are checked before either)."""
    import evaluation.checkpoint as checkpoint
    import uedpo.models.loading as loading

    monkeypatch.setattr(loading, "_load_model", lambda *a: pytest.fail("a model was loaded"))
    monkeypatch.setattr(checkpoint, "plan_bench", lambda *a: pytest.fail("the benchmark was read before the check"))
    monkeypatch.setattr("evaluation.blindspots.plan_blindspots", lambda *a: pytest.fail("the file was read first"))


def _installed(monkeypatch, *, missing=(), cuda=True):
    """``missing`` packages cannot be imported, the others of flash_attn / bitsandbytes can; CUDA as given."""
    import uedpo.models.load_options as load_options

    for name in ("flash_attn", "bitsandbytes"):
        monkeypatch.setitem(sys.modules, name, None if name in missing else types.ModuleType(name))
    monkeypatch.setattr(load_options, "cuda_available", lambda: cuda)


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.endswith("\n") and err.count("\n") == 1, err
    return err.strip()


# -- uedpo-eval --ckpt: the options reach from_pretrained and the numbers are the default run's ---------------
@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_eval_attention_implementation_is_used_and_gives_the_default_numbers(ckpt, amber, default_run, loads,
                                                                           tmp_path, attn):
    base, _ = default_run
    out = tmp_path / "out"
    assert main([*amber, "--ckpt", str(ckpt), "--out", str(out), "--attn-implementation", attn, *FAST]) == 0
    (load,) = loads
    assert load["kwargs"] == {"attn_implementation": attn} and load["attn"] == attn
    texts = [[r["response"] for r in _lines(d / "amber" / "responses.jsonl")] for d in (base, out)]
    assert texts[0] == texts[1]
    result, default = (json.loads((d / "amber" / "results.json").read_text()) for d in (out, base))
    assert result["metrics"] == default["metrics"] and result["variant"] == default["variant"]
    assert result["model"]["load"] == {"attn_implementation": attn}  # recorded: it can change the numbers
    assert "load" not in default["model"]  # defaults: nothing added to older records
    settings = json.loads((out / "amber" / "responses.settings.json").read_text())
    assert settings["load"] == {"attn_implementation": attn}  # resuming with other options is refused


def test_eval_bfloat16_with_device_map_auto(ckpt, amber, loads, tmp_path):
    """On a machine without CUDA accelerate keeps the model on the CPU; it is not moved again."""
    out = tmp_path / "out"
    assert main([*amber, "--ckpt", str(ckpt), "--out", str(out), "--dtype", "bfloat16", "--device-map", "auto",
                 *FAST]) == 0
    (load,) = loads
    assert load["kwargs"] == {"device_map": "auto"} and load["dtype"] == "bfloat16"
    assert load["model_dtype"] == "torch.bfloat16"
    result = json.loads((out / "amber" / "results.json").read_text())
    assert result["n_items"] == 2 and result["model"]["load"] == {"dtype": "bfloat16", "device_map": "auto"}
    settings = json.loads((out / "amber" / "responses.settings.json").read_text())
    assert settings["dtype"] == "bfloat16" and settings["load"] == {"device_map": "auto"}


def test_eval_blindspots_from_loads_with_the_options(ckpt, amber, default_run, loads, tmp_path):
    base, _ = default_run
    items = base / "amber" / "results.items.jsonl"
    out = tmp_path / "bs"
    assert main([*amber, "--ckpt", str(ckpt), "--blindspots-from", str(items), "--out", str(out), "--quiet",
                 "--attn-implementation", "eager"]) == 0
    (load,) = loads
    assert load["kwargs"] == {"attn_implementation": "eager"} and load["attn"] == "eager"
    assert (out / "amber" / "blindspots.jsonl").exists()


# -- uedpo-eval: options that cannot load here exit 2 with one line, before anything is read or loaded --------
@pytest.mark.parametrize(("flags", "missing", "cuda", "expected"), [
    (["--quantization", "4bit"], ["bitsandbytes"], True,
     "quantization 4bit: the bitsandbytes package is not installed; `pip install bitsandbytes`"),
    (["--load-in-8bit"], ["bitsandbytes"], True, "quantization 8bit: the bitsandbytes package is not installed"),
    (["--quantization", "4bit"], [], False, "quantization 4bit: bitsandbytes needs a CUDA GPU and none is visible"),
    (["--attn-implementation", "flash_attention_2"], ["flash_attn"], True,
     "attn_implementation flash_attention_2: the flash_attn package is not installed; `pip install flash-attn`"),
    (["--attn-implementation", "flash_attention_2"], [], False,
     "attn_implementation flash_attention_2: needs a CUDA GPU and none is visible; use sdpa or eager"),
    (["--attn-implementation", "flash_attention_2", "--dtype", "float32"], [], True,
     "runs in float16 / bfloat16 only, not dtype float32"),
    (["--device-map", "auto", "--device", "cpu"], [], True, "--device cpu with --device-map auto"),
], ids=["4bit-no-bnb", "8bit-no-bnb", "4bit-no-cuda", "fa2-missing", "fa2-no-cuda", "fa2-fp32", "device-and-map"])
def test_eval_refuses_options_that_cannot_load_here(ckpt, tmp_path, capsys, monkeypatch, nothing_loads, flags,
                                                     missing, cuda, expected):
    _installed(monkeypatch, missing=missing, cuda=cuda)
    out = tmp_path / "out"
    code = main(["--bench", "amber", "--ckpt", str(ckpt), "--image-dir", str(tmp_path), "--out", str(out),
                 "--quiet", *flags])
    err = _one_line(capsys)
    assert code == 2 and err.startswith("uedpo-eval: error: ") and expected in err, err
    assert not out.exists()  # nothing written


def test_eval_blindspots_from_refuses_before_loading(ckpt, tmp_path, capsys, monkeypatch, nothing_loads):
    _installed(monkeypatch, missing=["bitsandbytes"])
    items = tmp_path / "results.items.jsonl"
    items.write_text("{}\n")
    code = main(["--bench", "amber", "--ckpt", str(ckpt), "--blindspots-from", str(items), "--quiet",
                 "--quantization", "4bit"])
    assert code == 2 and "quantization 4bit: the bitsandbytes package is not installed" in _one_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.items.jsonl"]


@pytest.mark.parametrize("flags", [["--quantization", "4bit"], ["--attn-implementation", "eager"],
                                   ["--device-map", "auto"]])
def test_eval_loading_options_are_refused_when_scoring_a_file(tmp_path, capsys, flags):
    responses = tmp_path / "r.jsonl"
    responses.write_text('{"id": 1, "response": "Yes"}\n')
    assert main(["--bench", "amber", "--responses", str(responses), *flags]) == 2
    assert f"{flags[0]}: applies to --ckpt runs" in _one_line(capsys)


# -- uedpo-inspect: the same options, for both checkpoints ----------------------------------------------------
def test_inspect_loads_both_checkpoints_with_the_options(ckpt, loads):
    args = inspect_cli.parser().parse_args(["--ckpt", str(ckpt), "--compare-ckpt", str(ckpt),
                                            "--attn-implementation", "eager", "--dtype", "bfloat16"])
    session = inspect_cli.build_session(args)
    assert [(x["kwargs"], x["attn"], x["dtype"]) for x in loads] == [({"attn_implementation": "eager"}, "eager",
                                                                     "bfloat16")] * 2
    for fn in (session.analyse_fn, session.compare_fn):
        adapter = fn.args[0]
        assert adapter.model.config._attn_implementation == "eager" and str(adapter.model.dtype) == "torch.bfloat16"


def test_inspect_defaults_leave_transformers_choice(ckpt, loads):
    inspect_cli.build_session(inspect_cli.parser().parse_args(["--ckpt", str(ckpt)]))
    assert [x["kwargs"] for x in loads] == [{}]


@pytest.mark.parametrize(("flags", "missing", "cuda", "expected"), [
    (["--quantization", "4bit"], ["bitsandbytes"], True,
     "uedpo-inspect: quantization 4bit: the bitsandbytes package is not installed; `pip install bitsandbytes`"),
    (["--load-in-8bit"], [], False,
     "uedpo-inspect: quantization 8bit: bitsandbytes needs a CUDA GPU and none is visible"),
    (["--attn-implementation", "flash_attention_2"], ["flash_attn"], True,
     "uedpo-inspect: attn_implementation flash_attention_2: the flash_attn package is not installed"),
], ids=["4bit-no-bnb", "8bit-no-cuda", "fa2-missing"])
def test_inspect_refuses_options_that_cannot_load_here(ckpt, capsys, monkeypatch, flags, missing, cuda, expected):
    import inspector.cli as cli_module
    import uedpo.models.loading as loading

    _installed(monkeypatch, missing=missing, cuda=cuda)
    monkeypatch.setattr(loading, "_load_model", lambda *a: pytest.fail("a model was loaded"))
    monkeypatch.setattr(cli_module, "_serve", lambda *a: pytest.fail("the server was started"))
    assert inspect_cli.main(["--ckpt", str(ckpt), *flags]) == 2
    assert _one_line(capsys).startswith(expected)
