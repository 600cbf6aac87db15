"""The app's handlers without gradio: which ones run the model, what they render, and their error messages."""

from __future__ import annotations

import json

import pytest
from inspector_fakes import fake_analyse
from PIL import Image

from inspector.samples import read_samples
from inspector.session import InspectorSession, parse_words


class CountingAnalyse:
    def __init__(self):
        self.calls = []

    def __call__(self, image, question, preferred, dispreferred=None, **kwargs):
        self.calls.append(kwargs)
        return fake_analyse(image, question, preferred, dispreferred, **kwargs)


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "img.png"
    Image.new("RGB", (8, 8)).save(path)
    return str(path)


def run(session, image, preferred="a red dog .", dispreferred="a cat .", words="dog", k=500, mode="type"):
    return session.analyse(image, None, "q", preferred, dispreferred, words, 0.3, 0.4, k, mode, "u")


def test_alpha_tau_and_colour_changes_never_call_the_model_but_k_does(image):
    fn = CountingAnalyse()
    session = InspectorSession(fn)
    state = run(session, image)["state"]
    assert [c["noise_step"] for c in fn.calls] == [500]
    regated = session.regate(state, "dog", 0.9, 0.2, "lambda", "u")
    assert len(fn.calls) == 1 and regated["status"].startswith("✓ gates recomputed for α = 0.9, τ = 0.2")
    assert (regated["state"].view.alpha, regated["state"].view.tau) == (0.9, 0.2)
    assert 'data-mode="lambda"' in regated["overlay_preferred"]
    assert (
        'data-mode="u"' in session.rerender(state, "", "u", "u")["overlay_preferred"] and len(fn.calls) == 1
    )
    run(session, image, k=100)
    assert [c["noise_step"] for c in fn.calls] == [500, 100]


def test_regate_and_rerender_before_any_analysis_change_nothing():
    session = InspectorSession(fake_analyse)
    assert session.regate(None, "", 0.3, 0.4, "type", "u") == {}
    assert session.rerender(None, "", "type", "u") == {}
    assert session.export(None, "")["status"].startswith("⚠ nothing to export yet")


def test_outputs_without_a_dispreferred_or_a_comparison(image):
    out = run(InspectorSession(fake_analyse), image, dispreferred="", words="")
    assert "no response given" in out["overlay_dispreferred"] and out["scatter_dispreferred"] is None
    assert out["hal_table"] is None and out["compare_overlay"] == ""
    assert 'id="token-overlay"' in out["overlay_preferred"] and out["preview"].size == (8, 8)


def test_compare_outputs(image):
    session = InspectorSession(fake_analyse, compare_fn=lambda *a, **k: fake_analyse(*a, checkpoint="B", **k))
    out = run(session, image)
    assert 'id="token-overlay-compare"' in out["compare_overlay"] and "Type flips" in out["compare_summary"]
    table = out["compare_table"]
    assert list(table["response"].unique()) == ["preferred", "dispreferred"] and len(table) == 7
    lam_out = session.rerender(out["state"], "", "type", "lambda")
    assert 'data-mode="diff-lambda"' in lam_out["compare_overlay"]


def test_pick_fills_the_inputs_and_clears_the_upload(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "img.png")
    row = {
        "bench": "chair",
        "id": "9",
        "image": "img.png",
        "question": "What?",
        "response": "a dog .",
        "hallucinated": ["dog", "teddy bear"],
    }
    (tmp_path / "s.jsonl").write_text(json.dumps(row) + "\n")
    session = InspectorSession(fake_analyse, samples=read_samples(tmp_path / "s.jsonl"))
    label = session.samples.samples[0].label
    picked = session.pick(label)
    assert picked["upload"] is None and picked["question"] == "What?" and picked["preferred"] == "a dog ."
    assert picked["dispreferred"] == "" and picked["words"] == "dog, teddy bear"
    out = session.analyse(None, label, "What?", "a dog .", "", "dog", 0.3, 0.4, 500, "type", "u")
    assert out["status"].startswith("✓ analysed 3 tokens of the sample 9 (img.png)")
    assert session.pick("no such row")["status"].startswith("⚠ samples file s.jsonl: no row 'no such row'")


def test_export_writes_three_files(image, tmp_path):
    session = InspectorSession(fake_analyse, export_root=tmp_path / "exports")
    state = run(session, image)["state"]
    out = session.export(state, "dog")
    csv, jsonl, report = out["files"]
    assert csv.endswith("tokens.csv") and open(csv).read().startswith("response,index,token,token_id,u,delta")
    rows = [json.loads(line) for line in open(jsonl)]
    assert len(rows) == 7 and rows[2]["hallucinated_word"] == "dog"
    assert "Scorer-flagged words" in open(report, encoding="utf-8").read()


def test_parse_words():
    assert parse_words(" dog, teddy bear ,,\ncat ") == ["dog", "teddy bear", "cat"]
    assert parse_words(None) == []
