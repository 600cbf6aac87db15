"""POPE end to end: the real LLaVA-1.5-13B answers reproduce the official numbers (library and `uedpo-eval`),
the partial 7B run is refused or labelled, and bad input exits 2 with one line and writes nothing.

Expected values: the unmodified LLaVA `llava/eval/eval_pope.py` (haotian-liu/LLaVA@ce1aa08) run on
real_answers/llava-v1.5-13b.jsonl with --annotation-dir official_e3e3926 and llava_pope_test.jsonl printed
TP/FP/TN/FN 1182/117/1383/318, 1182/31/1379/318, 1182/59/1441/318 and the F1s below (adversarial / random /
popular; also in pope/MANIFEST.md); their mean, 0.8594688, is the 85.9 of LLaVA-1.5-13B in
haotian-liu/LLaVA@c121f04:docs/MODEL_ZOO.md. The partial 7B numbers are Haoming2000/VLM-Benchmarks@6d394c9
playground/data/eval/POPE_results.txt (the same script on that file).
"""

import json
import shutil
import subprocess
import sys

import pytest
from conftest import need_data

from benchmarks_data.pope import load_pope_answers, load_pope_questions
from evaluation.cli import main
from evaluation.pope import PARSERS, score_pope

ANSWERS_13B = "pope/real_answers/llava-v1.5-13b.jsonl"
PARTIAL_7B = "pope/real_answers/vlmbench_llava-v1.5-7b_PARTIAL.jsonl"
OFFICIAL_13B = {  # split: (TP, FP, TN, FN, Accuracy, Precision, Recall, F1, yes ratio), as eval_pope.py printed
    "adversarial": (1182, 117, 1383, 318, 0.855, 0.9099307159353349, 0.788, 0.8445873526259379, 0.433),
    "random": (1182, 31, 1379, 318, 0.8800687285223368, 0.9744435284418796, 0.788, 0.8713601179506082,
               0.4168384879725086),
    "popular": (1182, 59, 1441, 318, 0.8743333333333333, 0.9524576954069299, 0.788, 0.8624589565851879,
                0.4136666666666667),
}
VLMBENCH_7B = {  # POPE_results.txt: adversarial 3000 answers, random the first 2712, popular none
    "adversarial": (1187, 133, 1367, 313, 0.8513333333333334, 0.8992424242424243, 0.7913333333333333,
                    0.8418439716312057, 0.44),
    "random": (1104, 29, 1285, 294, 0.8808997050147492, 0.9744042365401588, 0.7896995708154506,
               0.8723824575266693, 0.41777286135693215),
}


def _row(section):
    return tuple(section[k] for k in ("TP", "FP", "TN", "FN", "Accuracy", "Precision", "Recall", "F1", "yes_ratio"))


def run(capsys, *args):
    code = main([*map(str, args), "--quiet"])
    out = capsys.readouterr()
    return code, out.out, out.err


def _pairs(root, answers_rel, parser="official"):
    questions = load_pope_questions("llava", data_dir=root)
    labels = {(q.split, q.question_id): q.label for q in questions}
    pairs = {}
    for a in load_pope_answers(root / answers_rel, questions, version="llava"):
        pairs.setdefault(a.split, []).append((a.text, labels[(a.split, a.question_id)]))
    return score_pope(pairs, parser=parser, data_version="llava-e3e3926")


def test_library_reproduces_llava_13b_exactly():
    root = need_data(ANSWERS_13B)
    metrics = _pairs(root, ANSWERS_13B).to_bench_result().metrics
    for split, expected in OFFICIAL_13B.items():
        assert _row(metrics[f"pope_{split}"]) == expected, split
    mean = metrics["pope"]["F1_mean"]
    assert mean == pytest.approx((0.8445873526259379 + 0.8713601179506082 + 0.8624589565851879) / 3, abs=1e-16)
    assert round(mean, 7) == 0.8594688 and round(100 * mean, 1) == 85.9


@pytest.mark.parametrize("parser", PARSERS)
def test_every_parser_agrees_on_plain_yes_no_answers(parser):
    """The 13B answers are only 'Yes'/'No': all six parsers read them alike, so the counts are the official ones;
    lmms-eval adds its ground-truth share (1500 of 2910 on random)."""
    root = need_data(ANSWERS_13B)
    metrics = _pairs(root, ANSWERS_13B, parser).to_bench_result().metrics
    for split, expected in OFFICIAL_13B.items():
        assert _row(metrics[f"pope_{split}"])[:4] == expected[:4]
        assert metrics[f"pope_{split}"]["F1"] == expected[7], (parser, split)
    if parser == "lmms-eval":
        assert metrics["pope_random"]["gt_yes_ratio"] == 1500 / 2910


def test_cli_reproduces_llava_13b_exactly(tmp_path, capsys):
    root = need_data(ANSWERS_13B)
    out_json = tmp_path / "out" / "results.json"
    code, out, _ = run(capsys, "--bench", "pope", "--responses", root / ANSWERS_13B, "--pope-data", "llava",
                       "--data-dir", root, "--output-json", out_json)
    assert code == 0 and "| pope_random" in out
    result = json.loads(out_json.read_text())
    assert result["n_items"] == 8910 and result["variant"] == "official+data:llava-e3e3926"
    for split, expected in OFFICIAL_13B.items():
        assert _row(result["metrics"][f"pope_{split}"]) == expected, split
    assert round(result["metrics"]["pope"]["F1_mean"], 5) == 0.85947
    assert result["data_sha256"]["official_e3e3926/coco_pope_random.json"].startswith("c16b65d2")
    items = [json.loads(x) for x in (tmp_path / "out" / "results.items.jsonl").read_text().splitlines()]
    assert len(items) == 8910 and len({r["id"] for r in items}) == 8910
    first = items[0]
    assert {k: first[k] for k in ("id", "split", "question_id", "label", "response", "prediction")} == {
        "id": 10_000_001, "split": "random", "question_id": 1, "label": "yes", "response": "No", "prediction": "no"}
    assert first["question"] == "Is there a snowboard in the image?"


def test_partial_run_is_refused_without_allow_partial(tmp_path, capsys):
    root = need_data(PARTIAL_7B)
    code, out, err = run(capsys, "--bench", "pope", "--responses", root / PARTIAL_7B, "--pope-data", "llava",
                         "--data-dir", root, "--out", tmp_path / "out")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "5712 of the 8910" in err and "random 2713" in err and "--allow-partial" in err
    assert "vlmbench_llava-v1.5-7b_PARTIAL.jsonl" in err and not (tmp_path / "out").exists()


def test_partial_run_with_allow_partial_is_labelled(tmp_path, capsys):
    root = need_data(PARTIAL_7B)
    out_json = tmp_path / "r.json"
    code, out, _ = run(capsys, "--bench", "pope", "--responses", root / PARTIAL_7B, "--pope-data", "llava",
                       "--data-dir", root, "--output-json", out_json, "--allow-partial")
    assert code == 0 and "PARTIAL" in out
    result = json.loads(out_json.read_text())
    assert result["variant"] == "official+data:llava-e3e3926+partial:5712/8910"
    assert (result["config"]["coverage"]["n"], result["config"]["coverage"]["of"]) == (5712, 8910)
    assert set(result["metrics"]) == {"pope_random", "pope_adversarial", "pope"}
    for split, expected in VLMBENCH_7B.items():
        assert _row(result["metrics"][f"pope_{split}"]) == expected, split


def test_official_data_all_yes(tmp_path, capsys):
    """Every question answered "Yes" (category per row): TP 1500, FP 1500 in each HEAD split, so P = 1/2,
    R = 1, F1 = 2*0.5*1/1.5 = 2/3, yes ratio 1; the official parser's default decides nothing here."""
    root = need_data("pope/official_head/coco_pope_random.json")
    rows = [{"question_id": q.question_id, "category": q.split, "answer": "Yes"}
            for q in load_pope_questions("official", data_dir=root)]
    (tmp_path / "yes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, _, _ = run(capsys, "--bench", "pope", "--responses", tmp_path / "yes.jsonl", "--data-dir", root,
                     "--output-json", tmp_path / "r.json")
    result = json.loads((tmp_path / "r.json").read_text())
    assert code == 0 and result["variant"] == "official" and result["n_items"] == 9000
    for split in ("random", "popular", "adversarial"):
        m = result["metrics"][f"pope_{split}"]
        assert (m["TP"], m["FP"], m["TN"], m["FN"], m["Precision"], m["Recall"], m["yes_ratio"]) == (
            1500, 1500, 0, 0, 0.5, 1.0, 1.0)
        assert m["F1"] == 2 * 0.5 * 1.0 / 1.5
    assert result["metrics"]["pope"]["F1_mean"] == 2 * 0.5 * 1.0 / 1.5


def test_parser_option_and_non_plain_counts(tmp_path, capsys):
    """One split, answered "NO" everywhere: the official parser reads all 3000 as yes (3000 not a plain yes);
    lmms-eval reads them as "no" (TN 1500, FN 1500)."""
    root = need_data("pope/official_head/coco_pope_random.json")
    rows = [{"question_id": q.question_id, "answer": "NO"} for q in load_pope_questions("official", "popular", root)]
    (tmp_path / "no.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    common = ["--bench", "pope", "--responses", tmp_path / "no.jsonl", "--data-dir", root, "--pope-split", "popular"]
    assert run(capsys, *common, "--output-json", tmp_path / "a.json")[0] == 0
    official = json.loads((tmp_path / "a.json").read_text())["metrics"]
    assert official["pope_popular"]["yes_not_plain_yes"] == 3000 and official["pope"]["yes_not_plain_yes"] == 3000
    assert official["pope_popular"]["non_plain_answers"] == 0  # "NO" is a plain no, read as yes
    assert run(capsys, *common, "--pope-parser", "lmms-eval", "--output-json", tmp_path / "b.json")[0] == 0
    lmms = json.loads((tmp_path / "b.json").read_text())
    assert lmms["variant"] == "parser:lmms-eval" and lmms["config"]["parser"] == "lmms-eval"
    assert (lmms["metrics"]["pope_popular"]["TN"], lmms["metrics"]["pope_popular"]["FN"]) == (1500, 1500)
    assert lmms["metrics"]["pope_popular"]["gt_yes_ratio"] == 0.5


def _llava_row(qid, text="No"):
    return json.dumps({"question_id": qid, "text": text}) + "\n"


@pytest.mark.parametrize("content, extra, fragment", [
    ('{"text": "No"}\n', [], "line 1: no 'question_id'"),
    (_llava_row(1) + _llava_row(1, "Yes"), [], "line 2: question_id 1 (adversarial) is already answered at line 1"),
    (_llava_row(10_002_911), [], "question_id 10002911 (random question 2911) is not in the llava"),
    ('{"question_id": 1, "category": "popular", "text": "No"}\n', ["--pope-split", "random"],
     "answers the popular split, but --pope-split random"),
    (_llava_row(1) + '{"question_id": 2, "text": \n', [], "line 2 is not valid JSON"),
    ("", [], "empty file"),
    ('{"question_id": 1, "text": ["No"]}\n', [], "line 1 (question_id 1): 'text' must be a string"),
    (_llava_row(10_000_001), ["--pope-split", "random"], "answers 1 of the 2910 pope items"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, content, extra, fragment):
    root = need_data("pope/official_e3e3926/coco_pope_random.json")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content)
    code, out, err = run(capsys, "--bench", "pope", "--responses", bad, "--pope-data", "llava", "--data-dir", root,
                         "--out", tmp_path / "out", *extra)
    assert code == 2 and fragment in err and str(bad) in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_official_rows_without_a_split_are_refused(tmp_path, capsys):
    root = need_data("pope/official_head/coco_pope_random.json")
    (tmp_path / "a.jsonl").write_text('{"question_id": 1, "answer": "Yes"}\n')
    code, _, err = run(capsys, "--bench", "pope", "--responses", tmp_path / "a.jsonl", "--data-dir", root)
    assert code == 2 and "which split?" in err and len(err.strip().splitlines()) == 1


def test_a_broken_label_file_in_the_data_dir_is_refused(tmp_path, capsys):
    root = need_data("pope/official_head/coco_pope_random.json", ANSWERS_13B)
    shutil.copytree(root / "pope", tmp_path / "data" / "pope")
    label_file = tmp_path / "data/pope/official_e3e3926/coco_pope_adversarial.json"
    label_file.chmod(0o644)
    label_file.write_text(label_file.read_text().replace('"label": "no"', '"label": "No"'))  # POPEv2-style
    code, _, err = run(capsys, "--bench", "pope", "--responses", root / ANSWERS_13B, "--pope-data", "llava",
                       "--data-dir", tmp_path / "data", "--out", tmp_path / "out")
    assert code == 2 and "coco_pope_adversarial.json" in err and "sha256 mismatch" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_console_script_scores_pope(tmp_path):
    root = need_data(ANSWERS_13B)
    proc = subprocess.run([sys.executable, "-m", "evaluation.cli", "--bench", "pope", "--responses",
                           str(root / ANSWERS_13B), "--pope-data", "llava", "--data-dir", str(root), "--quiet"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "pope_adversarial" in proc.stdout and "0.844587" in proc.stdout
