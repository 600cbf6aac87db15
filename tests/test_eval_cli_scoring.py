"""`uedpo-eval --responses`: every benchmark end to end on real data, bad input, and the baseline check."""

import json
import shutil
import subprocess
import sys

import pytest
from conftest import need_data, need_nltk

from evaluation.cli import main

THUNLP = "object_halbench/validation/thunlp_exercise/beam_search_objhal_bench_answer.jsonl"
BLIP2 = "mmhal/validation/sadmankiba/blip2_2.7b_responses.json"
BLIP2_REVIEWS = "mmhal/validation/sadmankiba/blip2_mmhal_eval.json"


def run(capsys, *args):
    code = main([*map(str, args), "--quiet"])
    out = capsys.readouterr()
    return code, out.out, out.err


def _amber_annotations(root):
    return json.loads((root / "amber/data/annotations.json").read_text())


def test_amber_d_all_no_prints_the_official_values(tmp_path, capsys):
    """All "No" answers: SCORERS.md §4.3 gives relation 41.4/41.4/100.0/58.6 and existence 100 throughout."""
    root = need_data("amber/data/annotations.json")
    answers = [{"id": a["id"], "response": "No"} for a in _amber_annotations(root) if a["id"] > 1004]
    (tmp_path / "a.json").write_text(json.dumps(answers))
    out_json = tmp_path / "out" / "results.json"
    code, out, _ = run(capsys, "--bench", "amber-d", "--responses", tmp_path / "a.json", "--data-dir", root,
                       "--output-json", out_json)
    assert code == 0 and "| relation" in out
    result = json.loads(out_json.read_text())
    assert set(result) == {"bench", "metrics", "n_items", "variant", "config", "versions", "data_sha256", "date",
                           "model"}
    assert result["model"] is None and result["date"].endswith("+00:00")
    assert {"uedpo", "python", "nltk", "torch", "transformers"} <= set(result["versions"])
    assert result["bench"] == "amber-d" and result["n_items"] == 14216 and result["variant"] == "official"
    assert result["metrics"]["relation"] == {"Accuracy": 41.4, "Precision": 41.4, "Recall": 100.0, "F1": 58.6}
    assert result["metrics"]["existence"] == {"Accuracy": 100.0, "Precision": 100.0, "Recall": 100.0, "F1": 100.0}
    assert "generative" not in result["metrics"]  # no generative items: the section is left out
    assert result["data_sha256"]["data/annotations.json"].startswith("db22a436")
    items = [json.loads(x) for x in (tmp_path / "out" / "results.items.jsonl").read_text().splitlines()]
    assert len(items) == 14216 and items[0]["record"]["bucket"]
    assert (tmp_path / "out" / "table.md").read_text().count("|") > 10


def test_amber_generative_matches_the_library_and_names_the_backend(tmp_path, capsys):
    root = need_data("amber/data/annotations.json")
    need_nltk()
    from benchmarks_data.amber import load_amber
    from evaluation.amber import AmberResponse, ExactSimilarity, score_amber

    rows = [{"id": a["id"], "response": f"A {a['truth'][0]} next to a {a['hallu'][0]}."}
            for a in _amber_annotations(root)[:40]]
    (tmp_path / "g.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out_json = tmp_path / "r.json"
    code, _, _ = run(capsys, "--bench", "amber-g", "--responses", tmp_path / "g.jsonl", "--data-dir", root,
                     "--similarity", "exact", "--output-json", out_json, "--allow-partial")
    assert code == 0
    result = json.loads(out_json.read_text())
    direct = score_amber([AmberResponse(r["id"], r["response"]) for r in rows], load_amber(root),
                         similarity=ExactSimilarity(), progress=False)
    assert result["metrics"] == direct.metrics
    assert result["variant"] == "official+similarity:exact+partial:40/1004"


def test_chair_reproduces_the_official_overall_numbers(tmp_path, capsys):
    root = need_data(THUNLP, "object_halbench/gt/coco2014_gt_objects_maxlinn.json.gz")
    need_nltk()
    out_json = tmp_path / "chair.json"
    code, _, _ = run(capsys, "--bench", "chair", "--responses", root / THUNLP, "--caption-key", "answer",
                     "--data-dir", root, "--output-json", out_json)
    assert code == 0
    m = json.loads(out_json.read_text())["metrics"]["chair"]
    assert (round(m["CHAIRs"], 2), round(m["CHAIRi"], 3), round(m["Recall"], 2), round(m["Len"], 1)) == (
        24.33, 6.760, 62.16, 127.2)


def test_objhal_text_extraction_is_a_named_variant(tmp_path, capsys):
    root = need_data(THUNLP, "object_halbench/questions/obj_halbench_300_questions.jsonl")
    need_nltk()
    out_json = tmp_path / "o.json"
    code, out, _ = run(capsys, "--bench", "objhal", "--responses", root / THUNLP, "--data-dir", root,
                       "--output-json", out_json)
    result = json.loads(out_json.read_text())
    assert code == 0 and result["n_items"] == 300 and result["variant"] != "official"
    assert set(result["metrics"]["objhal"]) == {"CHAIRs", "CHAIRi"}
    assert "Response Hall" in out


def test_mmhal_offline_reviews_give_the_published_row(tmp_path, capsys):
    root = need_data(BLIP2, BLIP2_REVIEWS)
    out_json = tmp_path / "m.json"
    code, out, _ = run(capsys, "--bench", "mmhal", "--responses", root / BLIP2, "--reviews", root / BLIP2_REVIEWS,
                       "--data-dir", root, "--output-json", out_json)
    assert code == 0
    assert "Average score: 1.31" in out and "Hallucination rate: 0.65" in out
    result = json.loads(out_json.read_text())
    assert result["config"]["judge"]["served_models"] == ["gpt-4o-2024-08-06"]
    assert result["config"]["n_unparseable"] == 1


@pytest.mark.parametrize(
    "content, fragment",
    [
        ('{"id": 1005, "response": "No"}\n{"id": 1006, "response": "No"\n', "line 2"),
        ('{"id": 1005, "response": "No"}\n{"id": 1005, "response": "Yes"}\n', "1005"),
        ('{"id": 99999, "response": "No"}\n', "99999"),
        ('{"id": 1005, "response": 3}\n', "string"),
        ("", "empty"),
    ],
)
def test_bad_responses_exit_2_with_one_line_and_no_results(tmp_path, capsys, content, fragment):
    root = need_data("amber/data/annotations.json")
    (tmp_path / "bad.jsonl").write_text(content)
    out_json = tmp_path / "out" / "results.json"
    code, _, err = run(capsys, "--bench", "amber-d", "--responses", tmp_path / "bad.jsonl", "--data-dir", root,
                       "--output-json", out_json)
    assert code == 2 and fragment in err and "bad.jsonl" in err
    assert len(err.strip().splitlines()) == 1
    assert not out_json.parent.exists()


def test_corrupt_data_dir_is_refused(tmp_path, capsys):
    root = need_data("amber/data/annotations.json")
    shutil.copytree(root / "amber", tmp_path / "amber")
    ann = tmp_path / "amber/data/annotations.json"
    ann.chmod(0o644)
    ann.write_text(ann.read_text().replace('"yes"', '"no"', 1))
    (tmp_path / "a.json").write_text('[{"id": 1005, "response": "No"}]')
    code, _, err = run(capsys, "--bench", "amber-d", "--responses", tmp_path / "a.json", "--data-dir", tmp_path)
    assert code == 2 and "annotations.json" in err and "sha256" in err.lower()


def test_unreachable_judge_exits_2(tmp_path, capsys):
    root = need_data(BLIP2)
    code, _, err = run(capsys, "--bench", "mmhal", "--responses", root / BLIP2, "--data-dir", root,
                       "--judge-model", "m", "--judge-base-url", "http://127.0.0.1:9/v1", "--judge-api-key-env", "",
                       "--judge-max-retries", "0", "--out", tmp_path)
    assert code == 2 and "127.0.0.1:9" in err
    assert not (tmp_path / "mmhal" / "results.json").exists()


def test_baseline_check_exit_codes(tmp_path, capsys):
    root = need_data("amber/data/annotations.json")
    disc = [a for a in _amber_annotations(root) if a["id"] > 1004]
    good = [{"id": a["id"], "response": "Yes" if a["truth"] == "yes" else "No"} for a in disc]
    bad = [{"id": a["id"], "response": "No"} for a in disc]
    for name, rows in (("good", good), ("bad", bad)):
        (tmp_path / f"{name}.json").write_text(json.dumps(rows))
    base = tmp_path / "base.json"
    assert run(capsys, "--bench", "amber-d", "--responses", tmp_path / "good.json", "--data-dir", root,
               "--output-json", base)[0] == 0
    code, out, _ = run(capsys, "--bench", "amber-d", "--responses", tmp_path / "bad.json", "--data-dir", root,
                       "--baseline", base)
    assert code == 1 and "REGRESSION discriminative/F1" in out
    assert run(capsys, "--bench", "amber-d", "--responses", tmp_path / "good.json", "--data-dir", root,
               "--baseline", base)[0] == 0


def test_console_script_entry_point_runs(tmp_path):
    root = need_data("amber/data/annotations.json")
    (tmp_path / "a.json").write_text('[{"id": 1005, "response": "Yes"}]')
    proc = subprocess.run([sys.executable, "-m", "evaluation.cli", "--bench", "amber-d", "--responses",
                           str(tmp_path / "a.json"), "--data-dir", str(root), "--quiet", "--allow-partial"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "state" in proc.stdout
