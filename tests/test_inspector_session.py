"""The app's handlers without gradio: which ones run the model, what they render, and their error messages."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import pytest
from inspector_fakes import BLIND_RESPONSE, blindspot_fixture, fake_analyse
from PIL import Image

from inspector.samples import read_samples
from inspector.session import Choices, InspectorSession, ModelInfo, parse_words


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
    session = InspectorSession(fake_analyse)
    out = run(session, image, dispreferred="", words="")
    # The empty dispreferred panel and its plot are hidden, not shown empty.
    assert out["show_dispreferred"] is False and out["scatter_dispreferred"] is None
    assert (
        out["hal_table"] is None
        and out["compare_overlay"] == ""
        and out["show_compare_dispreferred"] is False
    )
    assert 'id="token-overlay"' in out["overlay_preferred"]
    with Image.open(out["preview"]) as shown:  # a file gradio serves, not a PIL image (see preview_file)
        assert shown.size == (8, 8)
    assert run(InspectorSession(fake_analyse), image)["show_dispreferred"] is True
    assert out["object_panel"] == "" and out["show_object"] is False and out["response_note"] == ""


def test_compare_labels_both_sides_with_checkpoint_and_adapter_and_compares_both_responses(image):
    session = InspectorSession(
        fake_analyse,
        compare_fn=lambda *a, **k: fake_analyse(*a, checkpoint="B", **k),
        model_a=ModelInfo("base-7b"),
        model_b=ModelInfo("base-7b", "runs/ue/checkpoint-400"),
    )
    out = run(session, image)
    assert 'id="token-overlay-compare"' in out["compare_overlay"] and "Type flips" in out["compare_summary"]
    assert 'id="token-overlay-compare-dispreferred"' in out["compare_overlay_dispreferred"]
    assert (
        'data-branch="dispreferred"' in out["compare_overlay_dispreferred"]
        and out["show_compare_dispreferred"]
    )
    summary = out["compare_summary"]
    assert (
        "**A** = `base-7b (no adapter)`" in summary
        and "**B** = `base-7b + adapter runs/ue/checkpoint-400`" in summary
    )
    table = out["compare_table"]
    assert list(table["response"].unique()) == ["preferred", "dispreferred"] and len(table) == 7
    lam_out = session.rerender(out["state"], "", "type", "lambda")
    assert 'data-mode="diff-lambda"' in lam_out["compare_overlay"]
    assert 'data-mode="diff-lambda"' in lam_out["compare_overlay_dispreferred"]


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
    assert label == "9 · hallucinated: dog, teddy bear"
    picked = session.pick(label)
    assert picked["upload"] is None and picked["question"] == "What?" and picked["preferred"] == "a dog ."
    assert picked["dispreferred"] == "" and picked["words"] == "dog, teddy bear"
    assert picked["show_object"] is False and picked["object"] == Choices([], None)
    out = session.analyse(None, label, "What?", "a dog .", "", "dog", 0.3, 0.4, 500, "type", "u")
    assert out["status"].startswith("✓ analysed 3 tokens of the sample 9 (img.png)")
    # The model's own greedy output: said plainly, pointing to the probes.
    assert out["response_note"].startswith("**The model's own greedy output.**")
    assert "uedpo-eval --blindspots" in out["response_note"]
    edited = session.analyse(None, label, "What?", "a cat .", "", "dog", 0.3, 0.4, 500, "type", "u")
    assert edited["response_note"] == ""
    missing = session.pick("no such row")
    assert missing["status"].startswith("⚠ samples file s.jsonl: no row 'no such row'")
    assert "no row" in missing["error:sample"] and "error:preferred" not in missing


def test_errors_appear_beside_the_control_that_caused_them(image, tmp_path):
    session = InspectorSession(fake_analyse, export_root=tmp_path / "exports")
    (tmp_path / "notes.txt").write_text("text")
    cases = [
        (dict(preferred="  "), "preferred", "⚠ preferred response: empty"),
        (dict(preferred="TOO_LONG x"), "preferred", "⚠ preferred response: 5000 tokens"),
        (
            dict(k=None),
            "noise-step",
            "⚠ noise step k: None is not a whole number; type a whole number from 0 to 999",
        ),
        (dict(k="12.5"), "noise-step", "⚠ noise step k: '12.5' is not a whole number"),
        (dict(k=1200), "noise-step", "⚠ noise step k: 1200 is out of range"),
        (dict(preferred="CRASH"), "analyze", "✗ internal error (RuntimeError: simulated crash"),
    ]
    for kwargs, field_name, message in cases:
        out = run(session, image, **kwargs)
        assert out["status"].startswith(message), out["status"]
        note = html.unescape(out[f"error:{field_name}"])
        assert message in note and 'role="alert"' in note
        assert [k for k in out if k.startswith("error:")] == [f"error:{field_name}"]  # the others keep theirs
    out = session.analyse(str(tmp_path / "notes.txt"), None, "q", "a", "", "", 0.3, 0.4, 500, "type", "u")
    assert "not a readable image" in out["error:image"]
    out = session.analyse(None, None, "q", "a", "", "", 0.3, 0.4, 500, "type", "u")
    assert "no image" in out["error:image"]
    assert "nothing to export" in session.export(None, "")["error:export"]
    state = run(session, image)["state"]
    assert "α: 'x' is not a number" in html.unescape(
        session.regate(state, "", "x", 0.4, "type", "u")["error:alpha"]
    )
    ok = run(session, image)  # a good run clears every note
    assert ok["status"].startswith("✓") and ok["error:preferred"] == ok["error:noise-step"] == ""
    other = InspectorSession(  # B tokenizes differently: the error shows beside the comparison
        fake_analyse, compare_fn=lambda img, q, p, *a, **k: fake_analyse(img, q, p + " more", *a, **k)
    )
    out = run(other, image)
    assert "tokenize the response differently" in out["error:compare"]
    assert [k for k in out if k.startswith("error:")] == ["error:compare"]


def test_refresh_runs_the_forwards_only_when_text_image_or_k_changed(image):
    fn = CountingAnalyse()
    session = InspectorSession(fn)
    args = [image, None, "q", "a red dog .", "a cat .", "dog", 0.3, 0.4, 500, "type", "u"]
    state = session.refresh(None, *args)["state"]
    assert len(fn.calls) == 1
    assert session.refresh_k(state, *args)["state"] == state and len(fn.calls) == 1  # k released unchanged
    typed = list(args)
    typed[8] = "300"  # a typed number arrives as text or float: the same as sliding to 300
    out = session.refresh_k(state, *typed)
    assert len(fn.calls) == 2 and fn.calls[-1]["noise_step"] == 300 and "at k = 300" in out["status"]
    bad = list(args)
    bad[8] = ""
    assert "noise step k" in session.refresh_k(state, *bad)["error:noise-step"] and len(fn.calls) == 2
    assert session.refresh(None, None, None, *args[2:]) == {}  # nothing picked, nothing uploaded


def test_export_writes_three_files_with_the_run_settings(image, tmp_path):
    session = InspectorSession(
        fake_analyse, export_root=tmp_path / "exports", model_a=ModelInfo("base-7b", "runs/ue/checkpoint-400")
    )
    state = run(session, image)["state"]
    out = session.export(state, "dog")
    csv, jsonl, report = out["files"]
    header = open(csv).readline().strip().split(",")
    assert csv.endswith("tokens.csv") and header[:10] == [
        "sample_id",
        "checkpoint",
        "adapter",
        "alpha",
        "tau",
        "k",
        "seed",
        "step",
        "response",
        "index",
    ]
    rows = [json.loads(line) for line in open(jsonl)]
    assert len(rows) == 7 and rows[2]["hallucinated_word"] == "dog"
    assert {
        (r["checkpoint"], r["adapter"], r["alpha"], r["tau"], r["k"], r["seed"], r["step"]) for r in rows
    } == {("base-7b", "runs/ue/checkpoint-400", 0.3, 0.4, 500, 0, "fixed")}
    text = open(report, encoding="utf-8").read()
    assert "Scorer-flagged words" in text and "runs/ue/checkpoint-400" in text and "<b>seed</b>: 0" in text


@pytest.fixture
def blind(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "img.png")
    rows = blindspot_fixture() + [
        {
            "bench": "amber",
            "id": 20,
            "image": "img.png",
            "question": "Q",
            "response": "a bus .",
            "hallucinated": [],
        }
    ]
    (tmp_path / "blindspots.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return InspectorSession(
        CountingAnalyse(),
        samples=read_samples(tmp_path / "blindspots.jsonl"),
        export_root=tmp_path / "exports",
    )


def test_a_blindspot_item_selects_an_object_and_shows_its_panel(blind):
    picked = blind.pick("1", "blind-spot")
    cat_probe = BLIND_RESPONSE + " There is also a cat ."
    assert picked["preferred"] == cat_probe and picked["show_object"] is True
    assert picked["object"].value == "cat [missed]" and [v for _, v in picked["object"].options] == [
        "dog [hallucinated]",
        "car [grounded]",
        "cat [missed]",
    ]
    args = ["1", "Describe this image.", cat_probe, "", "dog", 0.3, 0.4, 500, "type", "u"]
    out = blind.refresh(None, None, *args, "cat [missed]")
    assert 'data-verdict="blind-spot"' in out["object_panel"] and 'data-p-clear="0.02"' in out["object_panel"]
    assert out["overlay_preferred"].count('data-object="cat"') == 1
    assert out["response_note"].startswith("**Probe for the missed object 'cat'**")
    state, calls = out["state"], len(blind.analyse_fn.calls)
    # Another object of the same probe: no forward, only the panel and the marks change.
    out = blind.refresh(state, None, *args, "dog [hallucinated]")
    assert len(blind.analyse_fn.calls) == calls and 'data-word="dog"' in out["object_panel"]
    assert 'data-probe-analysed="false"' in out["object_panel"]  # its probe is the response, not this text
    # The object's own probe is the response: the greedy note and a forward.
    dog = blind.pick_object("1", "dog [hallucinated]")
    assert dog["preferred"] == BLIND_RESPONSE
    args[2] = BLIND_RESPONSE
    out = blind.refresh(state, None, *args, "dog [hallucinated]")
    assert len(blind.analyse_fn.calls) == calls + 1 and 'data-probe-analysed="true"' in out["object_panel"]
    assert (
        out["response_note"].startswith("**The model's own greedy output.**")
        and "pick a missed object (cat)" in out["response_note"]
    )
    assert "no object" in blind.pick_object("1", "zebra [missed]")["error:object"]


def test_export_of_a_blindspot_item_carries_its_object_and_the_note(blind):
    cat_probe = BLIND_RESPONSE + " There is also a cat ."
    out = blind.refresh(
        None,
        None,
        "1",
        "Describe this image.",
        cat_probe,
        "",
        "dog",
        0.3,
        0.4,
        500,
        "type",
        "u",
        "cat [missed]",
    )
    files = {p.rsplit("/", 1)[1]: p for p in blind.export(out["state"], "dog")["files"]}
    rows = [json.loads(line) for line in open(files["tokens.jsonl"])]
    assert {r["sample_id"] for r in rows} == {"1"} and {r["k"] for r in rows} == {500}
    report = open(files["report.html"], encoding="utf-8").read()
    assert (
        'id="object-panel"' in report and 'data-p-clear="0.02"' in report and "Blind-spot objects" in report
    )
    assert "<b>Probe for the missed object 'cat'</b>" in report and "**Probe" not in report


def test_filters_update_the_dropdown_and_keep_or_replace_the_item(blind):
    out = blind.filter_items("blind-spot", "", "20", None)
    assert out["sample"] == Choices([("1 · hallucinated: dog · missed: cat · blind spots: cat", "1")], "1")
    assert out["filter_count"] == "1 of 4 items shown (blind spots)"
    assert out["preferred"].endswith("There is also a cat .") and out["object"].value == "cat [missed]"
    # The shown item stays; its object gives way to one the filter selects.
    kept = blind.filter_items("flagged", "", "1", "cat [missed]")
    assert (
        kept["sample"].value == "1"
        and kept["object"].value == "dog [hallucinated]"
        and "question" not in kept
    )
    assert "object" not in blind.filter_items("missed", "", "1", "cat [missed]")
    assert [v for _, v in blind.filter_items("missed", "", "1", None)["sample"].options] == ["1", "3"]
    assert [v for _, v in blind.filter_items("all", "bus", "1", None)["sample"].options] == ["20"]
    none = blind.filter_items("type-i", "zebra", "1", None)
    assert none["sample"] == Choices([], None) and none["filter_count"].startswith("**no item matches**")


def test_batch_export_of_all_shown_samples(blind):
    out = blind.export_all("missed", "", 0.3, 0.4, 250)
    assert out["status"].startswith("✓ exported 2 analyses of 2 shown samples"), out["status"]
    names = sorted(p.rsplit("/", 1)[1] for p in out["files"])
    assert names == ["objects.csv", "report.html", "tokens.csv", "tokens.jsonl"]
    files = {p.rsplit("/", 1)[1]: p for p in out["files"]}
    rows = [json.loads(line) for line in open(files["tokens.jsonl"])]
    assert {r["k"] for r in rows} == {250} and {r["text"] for r in rows} == {"probe of cat", "probe of bench"}
    assert [c["sample_id"] for c in blind.analyse_fn.calls] == ["1", "3"]
    objects = open(files["objects.csv"]).read()
    assert objects.startswith("sample_id,word,status,verdict,p_clear,p_blurred") and "bench" in objects
    report = open(files["report.html"], encoding="utf-8").read()
    assert "<script src" not in report and "probe of cat" in report and 'data-object="cat"' in report
    assert "no sample is shown" in blind.export_all("type-i", "zebra", 0.3, 0.4, 500)["error:export"]


def test_batch_export_decodes_each_image_once_for_all_its_probes(blind, monkeypatch):
    import inspector.session

    opened = []
    real = inspector.session.open_image
    monkeypatch.setattr(inspector.session, "open_image", lambda path: opened.append(path) or real(path))
    out = blind.export_all("all", "", 0.3, 0.4, 500)
    assert out["status"].startswith("✓ exported"), out["status"]
    assert len(opened) == len(blind.samples.samples) < len(blind.analyse_fn.calls)  # once per item


def test_parse_words():
    assert parse_words(" dog, teddy bear ,,\ncat ") == ["dog", "teddy bear", "cat"]
    assert parse_words(None) == []


def test_previews_are_files_written_once_per_image_and_the_own_folder_is_removed(tmp_path, image):
    """gradio rewrites a PIL output in place (``<hash>/image.webp``) while others download it; a preview is
    a file in the session's folder instead, written once per image and never rewritten."""
    other = tmp_path / "other.png"
    Image.new("RGB", (6, 4), (200, 10, 10)).save(other)
    session = InspectorSession(fake_analyse)
    root = session.export_root
    assert root.name.startswith("uedpo-inspect-") and root.is_dir()
    first = run(session, image)["preview"]
    before = os.stat(first)
    again = run(session, image, preferred="another text .")["preview"]
    assert again == first and Path(first).parent == root / "previews"
    after = os.stat(first)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not rewritten
    third = run(session, str(other))["preview"]
    assert third != first
    with Image.open(third) as shown:
        assert shown.size == (6, 4) and shown.getpixel((0, 0)) == (200, 10, 10)
    assert sorted(p.name for p in (root / "previews").iterdir()) == sorted(
        [Path(first).name, Path(third).name]
    )
    session.close()
    assert not root.exists()
    given = InspectorSession(fake_analyse, export_root=tmp_path / "kept")
    run(given, image)
    given.close()
    assert (tmp_path / "kept" / "previews").is_dir()  # a folder it was given is the caller's


def test_a_session_that_is_dropped_removes_its_folder(image):
    import gc

    session = InspectorSession(fake_analyse)
    root = session.export_root
    run(session, image)
    del session
    gc.collect()
    assert not root.exists()
