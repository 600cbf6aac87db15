"""Every result says exactly what it is: partial coverage, the served judge, the benchmark a file was written for,
the paper row's per-column protocol, and the provenance fields of results.json."""

import json

import pytest
from conftest import need_data, need_nltk

from evaluation.checkpoint import paper_row, paper_row_markdown
from evaluation.cli import main
from evaluation.mmhal.score import OFFICIAL_JUDGE, judge_variant
from uedpo.source import git_commit

THUNLP = "object_halbench/validation/thunlp_exercise/beam_search_objhal_bench_answer.jsonl"
BLIP2 = "mmhal/validation/sadmankiba/blip2_2.7b_responses.json"
BLIP2_REVIEWS = "mmhal/validation/sadmankiba/blip2_mmhal_eval.json"


def run(capsys, *args):
    code = main([*map(str, args), "--quiet"])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_error_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _amber_d(root, n):
    annotations = json.loads((root / "amber/data/annotations.json").read_text())
    return [{"id": a["id"], "response": "No"} for a in annotations if a["id"] > 1004][:n]


def test_partial_amber_file_is_refused_without_the_flag_and_labelled_with_it(tmp_path, capsys):
    root = need_data("amber/data/annotations.json")
    (tmp_path / "a.json").write_text(json.dumps(_amber_d(root, 10)))
    out = tmp_path / "out"
    code, _, err = run(capsys, "--bench", "amber-d", "--responses", tmp_path / "a.json", "--data-dir", root,
                       "--out", out)
    line = one_error_line(err)
    assert code == 2 and "a.json" in line and "10 of the 14216" in line and "--allow-partial" in line
    assert not out.exists()

    code, stdout, _ = run(capsys, "--bench", "amber-d", "--responses", tmp_path / "a.json", "--data-dir", root,
                          "--out", out, "--allow-partial")
    result = json.loads((out / "amber-d" / "results.json").read_text())
    assert code == 0 and result["variant"] == "official+partial:10/14216"
    assert result["config"]["coverage"] == {"n": 10, "of": 14216, "n_missing": 14206,
                                            "missing": list(range(1015, 1065))}
    assert "PARTIAL: 10 of 14216" in stdout and "PARTIAL: 10 of 14216" in (out / "amber-d" / "table.md").read_text()
    assert "official+partial:10/14216" in (out / "amber-d" / "table.csv").read_text()


def test_a_complete_file_is_not_labelled_partial(tmp_path, capsys):
    root = need_data("amber/data/annotations.json")
    (tmp_path / "a.json").write_text(json.dumps(_amber_d(root, 10**6)))
    code, stdout, _ = run(capsys, "--bench", "amber-d", "--responses", tmp_path / "a.json", "--data-dir", root,
                          "--output-json", tmp_path / "r.json")
    result = json.loads((tmp_path / "r.json").read_text())
    assert code == 0 and result["variant"] == "official" and "coverage" not in result["config"]
    assert "PARTIAL" not in stdout


def test_partial_mmhal_and_objhal_files(tmp_path, capsys):
    root = need_data(BLIP2, BLIP2_REVIEWS, THUNLP)
    need_nltk()
    (tmp_path / "m.json").write_text(json.dumps(json.loads((root / BLIP2).read_text())[:8]))
    code, _, err = run(capsys, "--bench", "mmhal", "--responses", tmp_path / "m.json", "--data-dir", root,
                       "--reviews", root / BLIP2_REVIEWS)
    assert code == 2 and "--allow-partial" in one_error_line(err) and "m.json" in err

    rows = (root / THUNLP).read_text().splitlines()[:12]
    (tmp_path / "o.jsonl").write_text("\n".join(rows) + "\n")
    args = ("--bench", "objhal", "--responses", tmp_path / "o.jsonl", "--data-dir", root)
    code, _, err = run(capsys, *args)
    assert code == 2 and "12 of the 300 objhal items" in one_error_line(err)
    code, _, _ = run(capsys, *args, "--allow-partial", "--output-json", tmp_path / "o.json")
    result = json.loads((tmp_path / "o.json").read_text())
    assert code == 0 and result["variant"] == "nltk-noun-lemmas+partial:12/300" and result["n_items"] == 12


def _write_run(tmp_path, bench, rows, settings=True):
    run_dir = tmp_path / bench
    run_dir.mkdir()
    (run_dir / "responses.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if settings:
        (run_dir / "responses.settings.json").write_text(json.dumps({"bench": bench, "ckpt": "x"}))
    return run_dir / "responses.jsonl"


def test_a_file_written_for_another_benchmark_is_refused(tmp_path, capsys):
    root = need_data("amber/data/annotations.json")
    rows = [{"id": r["id"], "image": f"AMBER_{r['id']}.jpg", "question": "q", "response": r["response"]}
            for r in _amber_d(root, 10**6)]
    # ShapesWorld writes AMBER-format ids and image names: only the settings file tells them apart
    shapes = _write_run(tmp_path, "shapes", rows)
    code, _, err = run(capsys, "--bench", "amber-d", "--responses", shapes, "--data-dir", root,
                       "--output-json", tmp_path / "r.json")
    line = one_error_line(err)
    assert code == 2 and "--bench shapes" in line and "responses.settings.json" in line
    assert not (tmp_path / "r.json").exists()
    # rows that carry their bench (new responses.jsonl rows, results.items.jsonl) say it without a settings file
    chair = _write_run(tmp_path, "chair", [{**r, "bench": "chair"} for r in rows], settings=False)
    code, _, err = run(capsys, "--bench", "amber-d", "--responses", chair, "--data-dir", root)
    assert code == 2 and "--bench chair (row 1)" in one_error_line(err)
    # AMBER's parts score each other's files
    amber = _write_run(tmp_path, "amber", [{**r, "bench": "amber"} for r in rows])
    assert run(capsys, "--bench", "amber-d", "--responses", amber, "--data-dir", root)[0] == 0


@pytest.mark.parametrize(("requested", "served", "variant"), [
    (OFFICIAL_JUDGE, [OFFICIAL_JUDGE], "official"),
    (OFFICIAL_JUDGE, ["gpt-4-0613"], "judge:gpt-4-0613"),  # what answered, not what was asked for
    ("gpt-4o", ["gpt-4o-2024-08-06", OFFICIAL_JUDGE], "judge:gpt-4-0314+gpt-4o-2024-08-06"),
    (OFFICIAL_JUDGE, [], "judge:gpt-4-0314(served unknown)"),
    (None, [], "judge:unknown"),
])
def test_mmhal_variant_names_the_served_judge(requested, served, variant):
    assert judge_variant(requested, served) == variant


def test_mmhal_saved_reviews_are_labelled_with_their_judge(tmp_path, capsys):
    root = need_data(BLIP2, BLIP2_REVIEWS)
    reviews = json.loads((root / BLIP2_REVIEWS).read_text())
    assert {r["model"] for r in reviews} == {"gpt-4o-2024-08-06"}
    args = ("--bench", "mmhal", "--responses", root / BLIP2, "--data-dir", root, "--output-json")
    code, _, _ = run(capsys, *args, tmp_path / "a.json", "--reviews", root / BLIP2_REVIEWS)
    assert code == 0 and json.loads((tmp_path / "a.json").read_text())["variant"] == "judge:gpt-4o-2024-08-06"
    (tmp_path / "official.json").write_text(json.dumps([{**r, "model": OFFICIAL_JUDGE} for r in reviews]))
    code, _, _ = run(capsys, *args, tmp_path / "b.json", "--reviews", tmp_path / "official.json")
    assert json.loads((tmp_path / "b.json").read_text())["variant"] == "official"
    (tmp_path / "texts.json").write_text(json.dumps([r["choices"][0]["message"]["content"] for r in reviews]))
    code, _, _ = run(capsys, *args, tmp_path / "c.json", "--reviews", tmp_path / "texts.json")
    assert json.loads((tmp_path / "c.json").read_text())["variant"] == "judge:unknown"


def test_paper_row_marks_every_column_that_is_not_the_paper_protocol():
    metrics = {"objhal": {"CHAIRs": 50.0}, "mmhal": {"score": 2.0, "hallucination_rate": 0.5},
               "generative": {"CHAIR": 7.0}, "discriminative": {"F1": 80.0}}
    variants = {"objhal": "nltk-noun-lemmas", "mmhal": "official", "generative": "official+similarity:exact",
                "discriminative": "official"}
    row = paper_row(metrics, {}, variants)
    assert row["Obj-Hal CHAIRs↓"] == {"value": 50.0, "variant": "nltk-noun-lemmas", "protocol":
                                      "not the paper's protocol: objects extracted by NLTK, not by the LLM "
                                      "(--objhal-extractor llm)"}
    assert row["MMHal score↑"]["protocol"] == "paper" and row["AMBER-d F1↑"]["protocol"] == "paper"
    assert row["AMBER-g CHAIR↓"]["protocol"] == "not the paper's protocol (variant official+similarity:exact)"
    text = paper_row_markdown(row)
    assert "nltk-noun-lemmas ⚠" in text and "official ⚠" not in text.replace("official+similarity:exact ⚠", "")
    assert "⚠ Obj-Hal CHAIRs↓: not the paper's protocol: objects extracted by NLTK" in text
    llm = paper_row(metrics, {}, {**variants, "objhal": "llm-objects+spacy-trf"})
    assert llm["Obj-Hal CHAIRs↓"]["protocol"] == "paper"
    missing = paper_row({}, {"mmhal": "needs judge"}, {})
    assert missing["MMHal score↑"] == {"value": "needs judge", "variant": None, "protocol": None}


def test_results_record_date_versions_and_commit(tmp_path, capsys):
    root = need_data("amber/data/annotations.json")
    (tmp_path / "a.json").write_text(json.dumps(_amber_d(root, 10**6)))
    assert run(capsys, "--bench", "amber-d", "--responses", tmp_path / "a.json", "--data-dir", root,
               "--output-json", tmp_path / "r.json")[0] == 0
    result = json.loads((tmp_path / "r.json").read_text())
    versions = result["versions"]
    assert {"uedpo", "python", "nltk", "torch", "transformers"} <= set(versions)
    commit = git_commit()
    assert commit is None or versions["uedpo_git"] == commit
    assert len(result["data_sha256"]) >= 3 and all(len(v) == 64 for v in result["data_sha256"].values())
    assert result["date"][:2] == "20" and result["model"] is None
