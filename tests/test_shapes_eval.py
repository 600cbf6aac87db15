"""``uedpo-eval --bench shapes`` scoring mode on hand-made responses files, and the ``shapes-demo`` alias.

Expected values are derived by hand from the definitions in ``benchmarks_data/shapesworld/metrics.py`` and AMBER's algorithm
(SCORERS.md §3), never from our own output: see each test's docstring.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import need_nltk

from benchmarks_data.shapesworld import CAPTION_PROMPT, DEMO_CHECKPOINT, load_benchmark, write_benchmark
from benchmarks_data.shapesworld.captions import caption_from_objects
from evaluation.cli import main as eval_main
from uedpo.models import loading
from uedpo.models.errors import ModelLoadError
from uedpo.models.loading import resolve_checkpoint


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes") / "bench"
    write_benchmark(root, seed=0, progress=False)
    return load_benchmark(root)


def _score(tmp_path: Path, bench, captions: dict[int, str], answers: dict[int, str],
           margins: dict[int, float] | None = None) -> dict:
    run = tmp_path / "run"
    run.mkdir()
    rows = [{"id": i, "image": "", "question": CAPTION_PROMPT, "response": c} for i, c in captions.items()]
    rows += [{"id": i, "image": "", "question": "", "response": a} for i, a in answers.items()]
    responses = run / "responses.jsonl"
    responses.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    if margins is not None:
        (run / "yes_no_margins.jsonl").write_text(
            "".join(json.dumps({"id": i, "margin": m}) + "\n" for i, m in margins.items()), encoding="utf-8")
    out = tmp_path / "results.json"
    code = eval_main(["--bench", "shapes", "--responses", str(responses), "--shapes-dir", str(bench.root),
                      "--output-json", str(out), "--quiet"])
    assert code == 0
    return json.loads(out.read_text(encoding="utf-8"))


def test_ground_truth_captions_and_always_yes(tmp_path, bench):
    """GT captions name exactly the drawn shapes: target and other rate 0, coverage 100, CHAIR/Hal 0, Cover 100.
    Always "Yes": every role's yes-rate is 100 (target_fp, absent_fp, present_tp). Each image has one "yes"
    and one "no" existence question and the colour questions are half "yes", so AMBER's accuracy is 50.
    Margins set from the truth (+1 yes, -1 no): margin accuracy and F1 are 100, the margin FP rates 0."""
    need_nltk()
    questions = {q.id: q for q in bench.questions}
    margins = {i: (1.0 if q.truth == "yes" else -1.0) for i, q in questions.items()}
    result = _score(tmp_path, bench, dict(bench.captions), {i: "Yes" for i in questions}, margins)
    shapes, gen = result["metrics"]["shapes"], result["metrics"]["generative"]
    assert (shapes["target_rate"], shapes["other_rate"], shapes["coverage"], shapes["CHAIRs_breaking"]) == (0, 0, 100, 0)
    assert (shapes["target_fp"], shapes["absent_fp"], shapes["present_tp"]) == (100, 100, 100)
    assert (shapes["target_fp_margin"], shapes["absent_fp_margin"], shapes["present_tp_margin"]) == (0, 0, 100)
    assert shapes["margin_Accuracy"] == 100 and shapes["margin_F1"] == 100
    assert gen["CHAIR"] == 0 and gen["Hal"] == 0 and gen["Cover"] == 100
    assert result["metrics"]["discriminative"]["Accuracy"] == 50
    assert result["variant"].endswith("+similarity:exact")


def test_every_bias_target_named(tmp_path, bench):
    """Adding the absent target to the caption of every bias case (trigger drawn, target absent) gives
    target_rate 100; no other absent class is named (other_rate 0); every drawn object stays (coverage 100);
    every breaking image is such a case, so CHAIRs_breaking is 100. Lower-case "yes" is not AMBER's "Yes":
    every yes-rate by string match is 0, and no margins file means no margin metrics."""
    need_nltk()
    extra: dict[int, list[str]] = {}
    for case in bench.bias_cases:
        extra.setdefault(case.id, []).append(case.target)
    captions = {}
    for i, scene in bench.scenes.items():
        objects = [(o.colour, o.shape) for o in scene.objects] + [("red", t) for t in extra.get(i, [])]
        captions[i] = caption_from_objects(objects)
    result = _score(tmp_path, bench, captions, {q.id: "yes" for q in bench.questions})
    shapes = result["metrics"]["shapes"]
    assert (shapes["target_rate"], shapes["other_rate"], shapes["coverage"], shapes["CHAIRs_breaking"]) == (100, 0, 100, 100)
    assert (shapes["target_fp"], shapes["present_tp"]) == (0, 0)
    assert not any(k.endswith("_margin") or k.startswith("margin_") for k in shapes)


def test_unknown_id_is_a_one_line_error(tmp_path, bench, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": 99999, "response": "a red circle ."}) + "\n", encoding="utf-8")
    assert eval_main(["--bench", "shapes", "--responses", str(bad), "--shapes-dir", str(bench.root)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("uedpo-eval: error:") and "99999" in err and "\n" not in err


def test_shapes_demo_alias_resolves_to_the_packaged_checkpoint(tmp_path, monkeypatch):
    name, config_dir = resolve_checkpoint("shapes-demo")
    assert Path(name) == DEMO_CHECKPOINT == config_dir  # found through the uedpo.checkpoints entry point
    assert (config_dir / "config.json").is_file()
    # A directory of that name in the working directory is a path, and paths win.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shapes-demo").mkdir()
    assert resolve_checkpoint("shapes-demo")[1] == Path("shapes-demo")


def test_missing_packaged_checkpoint_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(loading, "named_checkpoint", lambda name: tmp_path / "gone" if name == "shapes-demo" else None)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError, match="reinstall"):
        resolve_checkpoint("shapes-demo")
