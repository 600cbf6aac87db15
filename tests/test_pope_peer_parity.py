"""Parity with the six original POPE scorers RUN on the same answers (tests/fixtures/pope/peer_outputs.json):
every item's parse and every count and metric, on the hand-made edge cases, the real LLaVA-1.5-13B answers,
their deterministic verbose perturbation (tests/pope_perturb.py) and the failure cases.

The fixture records, per scorer, what the unmodified official code printed or returned (its provenance:
repo, commit, file, how it was run). Floats are compared exactly. VLMEvalKit prints x100: its fractions are
compared where it keeps them (the ``cal_f1_score_locals``), its accuracy as ``ours * 100``. Where a scorer
crashed (ZeroDivisionError), the counts it printed first are compared and our named zero is checked.
"""

import hashlib
import json

import pytest
from conftest import REPO, need_data
from pope_perturb import perturbed_answers, texts_sha256

from benchmarks_data.pope import load_pope_answers, load_pope_questions, read_question_file
from benchmarks_data.store import DataError
from evaluation.pope import PARSERS, ZERO_DIVISION_VALUE, score_pope, score_split

FIXTURES = REPO / "tests" / "fixtures" / "pope"
PEERS = json.loads((FIXTURES / "peer_outputs.json").read_text(encoding="utf-8"))
EDGE = json.loads((FIXTURES / "edge_cases.json").read_text(encoding="utf-8"))
SPLITS = ("adversarial", "random", "popular")
ANSWERS_13B = "pope/real_answers/llava-v1.5-13b.jsonl"
# per-item codes of each scorer (fixture "legend") -> our parse; VCD's codes are (label, parse) outcomes
CODES = {
    "official": {"1": "yes", "0": "no"}, "llava": {"1": "yes", "0": "no"}, "opera": {"1": "yes", "0": "no"},
    "lmms-eval": {"y": "yes", "n": "no", "o": "other"}, "vlmevalkit": {"Y": "yes", "N": "no", "U": "other"},
}
VCD_CODES = {("yes", "yes"): "T", ("no", "yes"): "F", ("yes", "no"): "M", ("no", "no"): "N"}


def _codes(parser, preds, labels):
    if parser == "vcd":
        return "".join(VCD_CODES[(g, p)] for p, g in zip(preds, labels, strict=True))
    back = {ours: code for code, ours in CODES[parser].items()}
    return "".join(back[p] for p in preds)


def _assert_same_metrics(parser, peer, score):
    """Every count and metric the peer reports, against ours (exactly)."""
    m = score.metrics
    if parser in ("official", "llava", "opera"):
        assert peer["counts"] == {"TP": m.TP, "FP": m.FP, "TN": m.TN, "FN": m.FN}
        assert peer["metrics"] == {"acc": m.accuracy, "precision": m.precision, "recall": m.recall, "f1": m.f1,
                                   "yes_ratio": m.yes_ratio}
    elif parser == "lmms-eval":
        counts = peer["counts"]
        assert (counts["true_positives"], counts["false_positives"], counts["false_negatives"], counts["n"]) == (
            m.TP, m.FP, m.FN, m.n)
        assert peer["metrics"] == {"pope_accuracy": m.accuracy, "pope_precision": m.precision,
                                   "pope_recall": m.recall, "pope_f1_score": m.f1, "pope_yes_ratio": m.gt_yes_ratio}
    elif parser == "vlmevalkit":
        local = peer["cal_f1_score_locals"][0]  # the Overall row of a one-split file
        assert local == {"tp": m.TP, "fp": m.FP, "fn": m.FN, "precision": m.precision, "recall": m.recall,
                         "f1_score": m.f1}
        assert peer["rows"]["Overall"]["acc"] == m.accuracy * 100
    else:
        c = peer["counts"]
        assert (c["true_pos"], c["false_pos"], c["true_neg"], c["false_neg"], c["unknown"]) == (
            m.TP, m.FP, m.TN, m.FN, 0)
        assert c["yes_answers"] == m.TP + m.FP and c["total_questions"] == m.n
        peer_metrics = {k: v for k, v in peer["metrics"].items() if k != "unknown_prop"}
        assert peer_metrics == {"precision": m.precision, "recall": m.recall, "f1": m.f1, "accuracy": m.accuracy,
                                "yes_proportion": m.yes_ratio}


# ------------------------------------------------------------------------------------- edge cases


def test_the_fixture_is_for_these_edge_cases():
    digest = hashlib.sha256((FIXTURES / "edge_cases.json").read_bytes()).hexdigest()
    assert PEERS["inputs"]["edge_cases"]["sha256"] == digest == PEERS["edge_cases"]["edge_cases_sha256"]
    assert len(EDGE["items"]) == PEERS["edge_cases"]["n_items"] == 178


@pytest.mark.parametrize("parser", PARSERS)
def test_edge_cases_item_by_item_and_every_metric(parser):
    texts = [it["text"] for it in EDGE["items"]]
    labels = [it["label"] for it in EDGE["items"]]
    peer = PEERS["edge_cases"]["scorers"][parser]
    assert peer.get("exception") is None and peer.get("exception_process_results") is None
    score = score_split(texts, labels, parser=parser)
    ours = _codes(parser, score.predictions, labels)
    wrong = [(i, texts[i], labels[i], ours[i], peer["per_item_str"][i]) for i in range(len(texts))
             if ours[i] != peer["per_item_str"][i]]
    assert not wrong
    if parser == "vlmevalkit":  # the parser on the raw text, before VLMEvalKit's file round trip
        assert [{"yes": "Yes", "no": "No", "other": "Unknown"}[p] for p in score.predictions] == peer["per_item_direct"]
    _assert_same_metrics(parser, peer, score)


# ------------------------------------------------------------------------------- real and perturbed


def _rows(root):
    return [json.loads(line) for line in (root / ANSWERS_13B).read_text().splitlines()]


def _score_rows(root, rows, tmp_path, parser):
    path = tmp_path / "answers.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    questions = load_pope_questions("llava", data_dir=root)
    labels = {(q.split, q.question_id): q.label for q in questions}
    pairs = {}
    for a in load_pope_answers(path, questions, version="llava"):
        pairs.setdefault(a.split, []).append((a.text, labels[(a.split, a.question_id)]))
    return score_pope(pairs, parser=parser, data_version="llava-e3e3926"), pairs


@pytest.mark.parametrize("which", ["real", "perturbed"])
@pytest.mark.parametrize("parser", PARSERS)
def test_real_and_perturbed_answers_item_by_item(tmp_path, which, parser):
    root = need_data(ANSWERS_13B)
    rows = _rows(root) if which == "real" else perturbed_answers(_rows(root), seed=0)
    result, pairs = _score_rows(root, rows, tmp_path, parser)
    for split in SPLITS:
        block = PEERS[which][split]
        texts = [t for t, _ in pairs[split]]
        labels = [g for _, g in pairs[split]]
        assert len(texts) == block["n_items"]
        if which == "perturbed":
            assert texts_sha256(texts) == block["texts_sha256"]  # the generator is the fixture's
        peer = block["scorers"][parser]
        score = result.splits[split]
        if "per_item_str" in peer:
            assert _codes(parser, score.predictions, labels) == peer["per_item_str"], split
        _assert_same_metrics(parser, peer, score)


@pytest.mark.parametrize("which", ["real", "perturbed"])
def test_mean_f1_is_llavas_reported_number(tmp_path, which):
    root = need_data(ANSWERS_13B)
    rows = _rows(root) if which == "real" else perturbed_answers(_rows(root), seed=0)
    result, _ = _score_rows(root, rows, tmp_path, "llava")
    assert result.means["F1_mean"] == PEERS[which]["llava_mean_f1"]


def test_vlmevalkit_per_split_rows_of_the_pooled_file(tmp_path):
    """One VLMEvalKit file with all three splits as categories: its per-split rows equal ours (x100)."""
    root = need_data(ANSWERS_13B)
    result, _ = _score_rows(root, perturbed_answers(_rows(root), seed=0), tmp_path, "vlmevalkit")
    rows = PEERS["perturbed"]["vlmevalkit_pooled"]["rows"]
    for split in SPLITS:
        m = result.splits[split].metrics
        assert rows[split] == {"Overall": m.f1 * 100, "acc": m.accuracy * 100, "precision": m.precision * 100,
                               "recall": m.recall * 100}


# ---------------------------------------------------------------------------------------- failures


def _adversarial(root):
    qs = [q for q in load_pope_questions("llava", "adversarial", root)]
    answers = {r["question_id"]: r["text"] for r in _rows(root) if r["question_id"] < 10_000_000}
    return qs, [answers[q.question_id] for q in qs]


@pytest.mark.parametrize("parser", PARSERS)
def test_all_no_answers_give_the_named_zero_where_scorers_crash(parser):
    root = need_data(ANSWERS_13B)
    qs, _ = _adversarial(root)
    score = score_split(["No"] * len(qs), [q.label for q in qs], parser=parser)
    peer = PEERS["failures"]["all_no"]["scorers"][parser]
    m = score.metrics
    assert (m.TP, m.FP, m.TN, m.FN) == (0, 0, 1500, 1500) and (m.precision, m.f1) == (ZERO_DIVISION_VALUE,) * 2
    assert "precision" in m.zero_divisions
    if peer.get("exception"):
        assert peer["exception"]["type"] == "ZeroDivisionError"
        assert "precision" in peer["exception"]["raised_at"]
    else:  # lmms-eval / VLMEvalKit guard to 0 themselves: every value equal
        _assert_same_metrics(parser, peer, score)


@pytest.mark.parametrize("parser", PARSERS)
def test_no_positive_labels(parser):
    root = need_data(ANSWERS_13B)
    qs, texts = _adversarial(root)
    neg = [(t, q.label) for t, q in zip(texts, qs, strict=True) if q.label == "no"]
    score = score_split([t for t, _ in neg], [g for _, g in neg], parser=parser)
    peer = PEERS["failures"]["no_positive_labels"]["scorers"][parser]
    m = score.metrics
    assert (m.TP, m.FP, m.FN, m.recall, m.f1) == (0, 117, 0, ZERO_DIVISION_VALUE, ZERO_DIVISION_VALUE)
    if peer.get("exception"):
        assert peer["exception"]["type"] == "ZeroDivisionError" and "recall" in peer["exception"]["raised_at"]
        assert peer["metrics"]["precision"] == m.precision == 0.0
    else:
        _assert_same_metrics(parser, peer, score)


def test_reordered_answers_are_matched_by_id(tmp_path):
    """Reversed answers: the positional scorers report F1 0.0836 (fixture); matched by id, nothing changes."""
    root = need_data(ANSWERS_13B)
    rows = [r for r in _rows(root) if r["question_id"] < 10_000_000]
    forward, _ = _score_rows(root, rows, tmp_path, "official")
    backward, _ = _score_rows(root, rows[::-1], tmp_path, "official")
    assert backward.splits["adversarial"].metrics == forward.splits["adversarial"].metrics
    peer = PEERS["failures"]["reordered_answers"]["scorers"]["official"]
    assert peer["metrics"]["f1"] != forward.splits["adversarial"].metrics.f1


def test_answers_shorter_than_labels_score_what_was_answered(tmp_path):
    """The first 2712 random answers: the official zip scores them against the first 2712 labels; matching by
    id scores the same pairs (when allowed: coverage is checked by the caller)."""
    root = need_data(ANSWERS_13B)
    rows = [r for r in _rows(root) if 10_000_000 <= r["question_id"] < 20_000_000][:2712]
    result, _ = _score_rows(root, rows, tmp_path, "official")
    _assert_same_metrics("official", PEERS["failures"]["answers_shorter_than_labels"]["scorers"]["official"],
                         result.splits["random"])


def test_capitalised_labels_and_popev2_are_refused(tmp_path):
    """The official scorer reads 'No' labels as positives (fixture: TN + FP = 0) or crashes on POPEv2's JSON
    array; the loader refuses both."""
    official = PEERS["failures"]["labels_capitalised"]["scorers"]["official"]["counts"]
    assert official["TN"] + official["FP"] == 0
    root = need_data("pope/official_e3e3926/coco_pope_adversarial.json", "pope/official_head/POPEv2_annotations.json")
    text = (root / "pope/official_e3e3926/coco_pope_adversarial.json").read_text()
    path = tmp_path / "capitalised.json"
    path.write_text(text.replace('"label": "no"', '"label": "No"').replace('"label": "yes"', '"label": "Yes"'))
    with pytest.raises(DataError, match="label 'Yes' is not exactly"):
        read_question_file(path, "adversarial")
    assert PEERS["failures"]["popev2_label_file"]["scorers"]["official"]["exception"]["type"] == "JSONDecodeError"
    with pytest.raises(DataError, match="JSON array"):
        read_question_file(root / "pope/official_head/POPEv2_annotations.json", "adversarial")


def test_llava_partial_7b_categories(tmp_path):
    """LLaVA's __main__ on the partial 7B file scores adversarial and random, then crashes on empty popular."""
    root = need_data("pope/real_answers/vlmbench_llava-v1.5-7b_PARTIAL.jsonl")
    rows = [json.loads(x) for x in (root / "pope/real_answers/vlmbench_llava-v1.5-7b_PARTIAL.jsonl").read_text()
            .splitlines()]
    result, _ = _score_rows(root, rows, tmp_path, "llava")
    peer = PEERS["failures"]["llava_partial_7b"]["scorers"]["llava"]["categories"]
    for split in ("adversarial", "random"):
        _assert_same_metrics("llava", peer[split], result.splits[split])
    assert "popular" not in result.splits and peer["popular"]["exception"]["type"] == "ZeroDivisionError"
