"""The blind-spot analysis (evaluation/blindspots.py, uedpo/probes.py): the span math against uedpo.signals,
the case extraction and probe templates, the whole `uedpo-eval --blindspots-from` run on the tiny checkpoints
against numbers recomputed here from uedpo.signals / uedpo.exploration, resuming, and bad input."""

from __future__ import annotations

import json
import math

import pytest
import torch
from PIL import Image

from benchmarks_data.shapesworld.blindspots import shapes_probe
from evaluation.blindspots import amber_cases, coco_cases, english_probe, locate
from evaluation.checkpoint import Run, model_record
from evaluation.cli import main
from uedpo.exploration import TOKEN_TYPE_NAMES, TokenType, classify, explore
from uedpo.models import load_adapter
from uedpo.models.tiny import build_tiny
from uedpo.probes import Span, is_blind_spot, is_prior_driven, span_logprobs, span_signals
from uedpo.signals import selective_log_softmax, token_signals
from uedpo.views import ViewSpec

QUESTION = "Please describe this image in detail."


# -- the span math --------------------------------------------------------------------------------------------
def test_span_signals_are_token_signals_at_the_first_token():
    g = torch.Generator().manual_seed(0)
    clear, blurred = torch.randn(3, 7, 11, generator=g), torch.randn(3, 7, 11, generator=g)
    labels = torch.randint(0, 11, (3, 7), generator=g)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[1, 5:] = False  # row 1 has 5 response tokens
    mask[2, :2] = False  # row 2's response tokens are columns 2..6
    spans = [Span(0, (2, 3), True), Span(1, (4,), False), Span(2, (0, 1, 2), True)]
    got = span_signals(clear, blurred, labels, mask, spans, tau=0.4)
    sig = token_signals(clear, blurred, labels, mask)
    lc = torch.log_softmax(clear, -1).gather(-1, labels[..., None])[..., 0]
    lb = torch.log_softmax(blurred, -1).gather(-1, labels[..., None])[..., 0]
    for span, s in zip(spans, got, strict=True):
        cols = [c for c in range(7) if mask[span.row, c]]
        cols = [cols[t] for t in span.tokens]
        ex = explore(sig.u, sig.delta, mask, preferred=span.preferred, alpha=0.0, tau=0.4)
        types = classify(ex, sig.u, mask, preferred=span.preferred)
        first = cols[0]
        assert s.u == pytest.approx(float(sig.u[span.row, first]), abs=1e-6)
        assert s.delta == pytest.approx(float(sig.delta[span.row, first]), abs=1e-6)
        assert s.blurred_argmax == int(blurred[span.row, first].argmax())
        assert s.logp_clear == pytest.approx(float(lc[span.row, cols].sum()), abs=1e-5)
        assert s.logp_blurred == pytest.approx(float(lb[span.row, cols].sum()), abs=1e-5)
        assert s.p_clear == pytest.approx(math.exp(s.logp_clear))
        assert s.gated == bool(ex.gate[span.row, first])
        assert s.type == TOKEN_TYPE_NAMES[TokenType(int(types[span.row, first]))]
        assert s.token_u == pytest.approx([float(sig.u[span.row, c]) for c in cols], abs=1e-6)
        assert s.blind_spot == (s.u > 0) and s.prior_driven == (s.logp_blurred >= s.logp_clear)
    assert span_logprobs(blurred, labels, mask, spans) == pytest.approx([s.logp_blurred for s in got], abs=1e-5)
    assert got[1].type in ("eased", "ungated") and got[0].type in ("type-i", "type-ii", "ungated")


def test_span_checks_and_the_verdict_rules():
    mask = torch.tensor([[True, True, False]])
    logits = torch.zeros(1, 3, 4)
    labels = torch.zeros(1, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="outside the row's 2 response tokens"):
        span_signals(logits, logits, labels, mask, [Span(0, (2,))])
    with pytest.raises(ValueError, match="row 1"):
        span_signals(logits, logits, labels, mask, [Span(1, (0,))])
    assert is_blind_spot(0.1) and not is_blind_spot(0.0)  # u > 0 strictly: â = a gives u = 0, "seen"
    assert is_prior_driven(-1.0, -1.0) and not is_prior_driven(-1.0, -1.5)  # "at least as strongly"


# -- cases and probes -----------------------------------------------------------------------------------------
def test_locate_finds_whole_words_and_plurals():
    assert locate("Two dogs and a cat.", "dog") == (4, 8)
    assert locate("A concatenated cat", "cat") == (15, 18)
    assert locate("three People", "person") == (6, 12)
    assert locate("a teddy  bears", "teddy bear") == (2, 14)
    assert locate("nothing here", "zebra") is None


def test_english_probe_template():
    text, start, end = english_probe("A dog on a bench.", "apple")
    assert text == "A dog on a bench. There is also an apple in the image." and text[start:end] == "apple"
    text, start, end = english_probe("", "person")
    assert text == "There is also a person in the image." and text[start:end] == "person"


def test_shapes_probe_inserts_in_class_order_keeping_the_models_prefix():
    text, start, end, kind = shapes_probe("a red circle and a blue moon .", "green", "square")
    assert (text, text[start:end], kind) == ("a red circle , a green square and a blue moon .", "square", "inserted")
    text, _, _, kind = shapes_probe("a red moon .", "green", "arrow")
    assert (text, kind) == ("a red moon and a green arrow .", "inserted")
    text, start, end, kind = shapes_probe("a red moon , .", "green", "arrow")  # not a template caption
    assert (text, text[start:end], kind) == ("a red moon , . a green arrow .", "arrow", "appended")


def test_amber_and_coco_records_give_the_three_statuses():
    row = {"response": "Dogs run past a car near the trees.", "record": {
        "mentions": [{"word": "dog", "verdict": "exact-safe", "covered_truth": "dog"},
                     {"word": "car", "verdict": "hallucinated", "covered_truth": None},
                     {"word": "tree", "verdict": "similar-safe", "covered_truth": "plant"}],
        "truth": ["dog", "plant", "sky", "dog"], "covered": [True, True, False, True]}}
    cases, unlocated = amber_cases(row)
    got = [(c.status, c.word, c.object_class, c.text[c.start:c.end], c.probe_kind) for c in cases]
    assert got == [("hallucinated", "car", "car", "car", "response"), ("grounded", "dog", "dog", "Dogs", "response"),
                   ("grounded", "tree", "plant", "trees", "response"), ("missed", "sky", "sky", "sky", "sentence")]
    assert unlocated == []
    row = {"response": "A man rides a motorbike.", "record": {
        "hallucinated": [["motorbike", "motorcycle"]], "words": ["man", "motorbike"],
        "mentioned": ["person", "motorcycle"], "gt_objects": ["person", "dog"]}}
    cases, _ = coco_cases(row)
    got = [(c.status, c.word, c.object_class, c.text[c.start:c.end]) for c in cases]
    assert got == [("hallucinated", "motorbike", "motorcycle", "motorbike"), ("grounded", "man", "person", "man"),
                   ("missed", "dog", "dog", "dog")]


# -- the whole run on the tiny checkpoints ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpts")
    return {f: build_tiny(f, root / f, seed=0) for f in ("llava", "qwen2_5_vl")} | {
        "other": build_tiny("llava", root / "other", seed=1)}


ITEMS = [  # (response, hallucinated (word, class), words, mentioned, ground truth)
    ("a dog is sitting on a bench near a car .", [["car", "car"]], ["dog", "bench", "car"],
     ["dog", "bench", "car"], ["dog", "bench", "person"]),
    ("two people and a bowl on the table .", [["bowl", "bowl"]], ["person", "bowl"], ["person", "bowl"],
     ["person", "dining table", "cup", "apple"]),
    ("a red bus .", [], ["bus"], ["bus"], ["bus"]),
]


def write_run(root, ckpt, *, bench="chair", n=len(ITEMS)):
    """A CHAIR per-item file as `uedpo-eval --ckpt` writes it, its results.json (naming ``ckpt``) and images."""
    (root / "img").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (response, hal, words, mentioned, gt) in enumerate(ITEMS[:n], start=1):
        image = f"COCO_val2014_{i:012d}.jpg"
        Image.new("RGB", (30 + 5 * i, 28), (40 * i, 100, 200 - 30 * i)).save(root / "img" / image)
        rows.append({"bench": bench, "id": i, "image": image, "question": QUESTION, "response": response,
                     "hallucinated": [w for w, _ in hal],
                     "record": {"image_id": i, "mentioned": mentioned, "words": words, "hallucinated": hal,
                                "gt_objects": sorted(gt)}})
    out = root / bench
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    model = model_record(Run(name="tiny", ckpt=str(ckpt), adapter=None))
    (out / "results.json").write_text(json.dumps({"bench": bench, "model": model}), encoding="utf-8")
    return out / "results.items.jsonl"


def lines(path):
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("family", ["llava", "qwen2_5_vl"])
def test_rows_match_signals_recomputed_here(tiny, tmp_path, capsys, family):
    items = write_run(tmp_path, tiny[family])
    code = main(["--bench", "chair", "--ckpt", str(tiny[family]), "--blindspots-from", str(items),
                 "--image-dir", str(tmp_path / "img"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    rows = lines(items.parent / "blindspots.jsonl")
    # per item the hallucinated words, then the ground-truth classes in the record's (sorted) order
    assert [(r["id"], r["status"], r["word"]) for r in rows] == [
        (1, "hallucinated", "car"), (1, "grounded", "bench"), (1, "grounded", "dog"), (1, "missed", "person"),
        (2, "hallucinated", "bowl"), (2, "missed", "apple"), (2, "missed", "cup"), (2, "missed", "dining table"),
        (2, "grounded", "person"), (3, "grounded", "bus")]
    assert rows[3]["probe"] == ITEMS[0][0] + " There is also a person in the image."
    assert rows[5]["probe"] == ITEMS[1][0] + " There is also an apple in the image."
    assert rows[8]["tokens"] == [" people"] and rows[8]["probe"] == ITEMS[1][0]  # a lemma found as its plural
    adapter = load_adapter(tiny[family])
    for r in rows:
        image = Image.open(tmp_path / "img" / r["image"]).convert("RGB")
        views = {}
        for name, view in (("blurred", ViewSpec()), ("prior", ViewSpec(kind="null_zeros"))):
            views[name] = adapter.forward_batch([image], [QUESTION], [r["probe"]], view=view, sample_ids=[str(r["id"])],
                                                seed=0)
        tf = views["blurred"]
        cols = tf.mask[0].nonzero().flatten()[r["token_index"]].tolist()
        first = cols[0]
        assert "".join(tf.token_strings[0][t] for t in r["token_index"]).strip() == r["probe"][slice(*r["span"])]
        assert r["tokens"] == [tf.token_strings[0][t] for t in r["token_index"]]
        sig = token_signals(tf.clear_logits, tf.blurred_logits, tf.labels, tf.mask)
        preferred = r["status"] != "hallucinated"
        ex = explore(sig.u, sig.delta, tf.mask, preferred=preferred, alpha=0.0, tau=0.4)
        kind = TOKEN_TYPE_NAMES[TokenType(int(classify(ex, sig.u, tf.mask, preferred=preferred)[0, first]))]
        logp = {name: float(selective_log_softmax(v.blurred_logits, v.labels)[0, cols].sum()) for name, v in views.items()}
        logp_clear = float(selective_log_softmax(tf.clear_logits, tf.labels)[0, cols].sum())
        assert r["u"] == pytest.approx(float(sig.u[0, first]), abs=1e-4)
        assert r["delta"] == pytest.approx(float(sig.delta[0, first]), abs=1e-4)
        assert r["p_clear"] == pytest.approx(math.exp(logp_clear), rel=1e-3, abs=1e-7)
        assert r["p_blurred"] == pytest.approx(math.exp(logp["blurred"]), rel=1e-3, abs=1e-7)
        if r["probe_kind"] == "response":
            assert r["p_prior"] == pytest.approx(math.exp(logp["prior"]), rel=1e-3, abs=1e-7)
            assert r["prior_driven"] == (r["logp_prior"] >= r["logp_clear"])
        else:  # a probe of a missed object has no prior-view reading
            assert r["p_prior"] is None and r["prior_driven"] is None
        assert r["type"] == kind and r["gated"] == bool(ex.gate[0, first])
        assert r["blurred_argmax_id"] == int(sig.blurred_argmax[0, first])
        expected = (("prior-driven" if r["logp_prior"] >= r["logp_clear"] else "image-driven") if not preferred
                    else ("blind-spot" if r["u"] > 0 else "seen"))
        assert r["verdict"] == expected
    summary = json.loads((items.parent / "blindspots.summary.json").read_text(encoding="utf-8"))
    by_status = {t["status"]: t for t in summary["tables"]["status"]}
    assert by_status["missed"]["n"] == 4 and by_status["grounded"]["n"] == 4 and by_status["hallucinated"]["n"] == 2
    assert by_status["missed"]["blind_spot_%"] == pytest.approx(
        100 * sum(r["u"] > 0 for r in rows if r["status"] == "missed") / 4)
    for name in ("blindspots.md", "blindspots.csv", "blindspots.html", "blindspots.settings.json"):
        assert (items.parent / name).stat().st_size > 0


def test_resume_measures_only_the_missing_items(tiny, tmp_path, capsys):
    items = write_run(tmp_path, tiny["llava"])
    args = ["--bench", "chair", "--ckpt", str(tiny["llava"]), "--blindspots-from", str(items), "--image-dir",
            str(tmp_path / "img"), "--quiet", "--out", str(tmp_path / "out")]
    assert main(args) == 0, capsys.readouterr().err
    path = tmp_path / "out" / "chair" / "blindspots.jsonl"
    full = lines(path)
    text = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(text[:6]) + text[6][:40], encoding="utf-8")  # item 2 half written, cut mid-line
    assert main(args) == 0, capsys.readouterr().err
    again = lines(path)
    assert [(r["id"], r["word"]) for r in again] == [(r["id"], r["word"]) for r in full]
    assert [r["u"] for r in again] == pytest.approx([r["u"] for r in full], abs=1e-4)
    # other settings on the same file are refused, not mixed
    code = main([*args, "--blindspots-noise-step", "800"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "other settings" in err


def test_bad_input_exits_2_with_one_line_and_writes_nothing(tiny, tmp_path, capsys):
    items = write_run(tmp_path, tiny["llava"])
    base = ["--ckpt", str(tiny["llava"]), "--image-dir", str(tmp_path / "img"), "--quiet"]

    def err(*args):
        code = main([*args, *base])
        e = capsys.readouterr().err
        assert code == 2 and len(e.strip().splitlines()) == 1, e
        assert not list(tmp_path.rglob("blindspots*")), "nothing may be written on bad input"
        return e

    assert "written by uedpo-eval for --bench chair" in err("--bench", "amber", "--blindspots-from", str(items))
    responses = tmp_path / "responses.jsonl"
    responses.write_text(json.dumps({"id": 1, "image": "x.jpg", "question": "q", "response": "a dog"}) + "\n")
    assert "not a uedpo-eval per-item row" in err("--bench", "chair", "--blindspots-from", str(responses))
    assert "has no object annotations" in err("--bench", "mmhal", "--blindspots-from", str(items))
    other = write_run(tmp_path / "o", tiny["other"])
    assert "not by this --ckpt" in err("--bench", "chair", "--blindspots-from", str(other))
    (tmp_path / "img" / "COCO_val2014_000000000002.jpg").unlink()
    assert "COCO_val2014_000000000002.jpg" in err("--bench", "chair", "--blindspots-from", str(items))
    code = main(["--bench", "chair", "--responses", str(items), "--blindspots", "--quiet"])
    e = capsys.readouterr().err
    assert code == 2 and "--blindspots needs --ckpt" in e and len(e.strip().splitlines()) == 1
    code = main(["--bench", "mmhal", "--ckpt", str(tiny["llava"]), "--out", str(tmp_path / "x"), "--blindspots"])
    e = capsys.readouterr().err
    assert code == 2 and "has no object annotations" in e and not (tmp_path / "x").exists()


def test_checkpoint_mode_analyses_the_scored_amber_items(tiny, tmp_path, capsys):
    """`--ckpt ... --blindspots` after AMBER scoring: per item, the missed objects are exactly the truth words
    no mention covered, the grounded ones those it did, the hallucinated ones the flagged mentions."""
    from conftest import need_data, need_nltk

    need_nltk()
    data = need_data("amber/data/query/query_all.json", "amber/data/annotations.json")
    from benchmarks_data.amber import load_amber_queries

    (tmp_path / "img").mkdir()
    for k, q in enumerate(load_amber_queries("all", data)[:3]):
        Image.new("RGB", (40 + k, 30), (30 * k, 120, 60)).save(tmp_path / "img" / q.image)
    out = tmp_path / "out"
    code = main(["--bench", "amber", "--ckpt", str(tiny["llava"]), "--image-dir", str(tmp_path / "img"), "--limit",
                 "3", "--out", str(out), "--data-dir", str(data), "--max-new-tokens", "8", "--quiet", "--similarity",
                 "exact", "--blindspots"])
    assert code == 0, capsys.readouterr().err
    assert "blind spots (3 items" in capsys.readouterr().out
    rows = lines(out / "amber" / "blindspots.jsonl")
    assert sum(r["status"] == "missed" for r in rows) >= 3  # a tiny random model covers few AMBER objects
    for item in lines(out / "amber" / "results.items.jsonl"):
        rec = item["record"]
        covered = {t for t, f in zip(rec["truth"], rec["covered"], strict=True) if f}
        mine = [r for r in rows if r["id"] == item["id"]]
        assert {r["object_class"] for r in mine if r["status"] == "missed"} == set(rec["truth"]) - covered
        assert {r["object_class"] for r in mine if r["status"] == "grounded"} <= covered
        assert {r["word"] for r in mine if r["status"] == "hallucinated"} <= set(item["hallucinated"])
        for r in mine:
            assert r["image"] == item["image"] and r["question"] == item["question"]
            if r["status"] == "missed":
                assert r["probe"].startswith(item["response"]) and r["probe"].endswith(" in the image.")
