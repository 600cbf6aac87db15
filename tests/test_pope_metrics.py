"""POPE metrics per parser on hand-sized splits (the arithmetic is in each docstring), the named zero for a
division the official script crashes on, the parser-decides counts, the mean over splits and the sections."""

import pytest

from evaluation.pope import ZERO_DIVISION_VALUE, score_pope, score_split, split_metrics
from evaluation.results import HIGHER_IS_BETTER


def test_official_counts_and_ratios():
    """labels yes yes yes no no, answers Yes No Yes Yes No: TP 2 (1st, 3rd), FN 1, FP 1, TN 1.
    P = 2/3, R = 2/3, F1 = 2*P*R/(P+R) = 2/3, Acc = 3/5, yes ratio = 3 yes of 5 answers."""
    s = score_split(["Yes", "No", "Yes", "Yes", "No"], ["yes", "yes", "yes", "no", "no"])
    m = s.metrics
    assert (m.TP, m.FP, m.TN, m.FN, m.unparsed, m.n) == (2, 1, 1, 1, 0, 5)
    assert m.precision == 2 / 3 and m.recall == 2 / 3
    assert m.f1 == 2 * (2 / 3) * (2 / 3) / (2 / 3 + 2 / 3)
    assert (m.accuracy, m.yes_ratio) == (3 / 5, 3 / 5)
    assert s.predictions == ("yes", "no", "yes", "yes", "no") and m.zero_divisions == ()


def test_official_yes_ratio_counts_predictions_not_labels():
    """4 positives and 1 negative, the model says Yes once: yes ratio 1/5 (lmms-eval would print 4/5)."""
    m = score_split(["Yes", "No", "No", "No", "No"], ["yes", "yes", "yes", "yes", "no"]).metrics
    assert m.yes_ratio == 1 / 5 and m.gt_yes_ratio is None


def test_no_predicted_positives_is_a_named_zero_not_a_crash():
    """All answers "No": TP + FP = 0 (the official script raises ZeroDivisionError); recall 0/2 = 0, so P + R = 0
    too. Both are ZERO_DIVISION_VALUE, named in zero_divisions and in the result's notes."""
    s = score_split(["No", "No", "No"], ["yes", "yes", "no"])
    m = s.metrics
    assert (m.precision, m.recall, m.f1) == (ZERO_DIVISION_VALUE, 0.0, ZERO_DIVISION_VALUE)
    assert m.zero_divisions == ("precision", "f1") and m.accuracy == 1 / 3
    result = score_pope({"random": [("No", "yes"), ("No", "no")]})
    assert any("ZeroDivisionError" in note and "precision" in note for note in result.notes)


def test_no_positive_labels_zeroes_recall():
    """Only negative labels, the model says Yes: TP + FN = 0, recall and F1 are the named zero; P = 0/1 = 0."""
    m = score_split(["Yes"], ["no"]).metrics
    assert (m.precision, m.recall, m.f1) == (0.0, ZERO_DIVISION_VALUE, ZERO_DIVISION_VALUE)
    assert m.zero_divisions == ("recall", "f1")


def test_lmms_eval_semantics():
    """answers yes / "Yes." / no / maybe on labels yes yes no yes: preds yes, other, no, other.
    Acc = 2 exact matches / 4; P = 1/(1+0); R = 1/(1+0): FN needs pred "no", so the two unparsed positives leave
    recall's denominator; F1 = 1. gt_yes_ratio = 3/4 (its pope_yes_ratio), the model's yes share 1/4."""
    s = score_split(["yes", "Yes.", "no", "maybe"], ["yes", "yes", "no", "yes"], parser="lmms-eval")
    m = s.metrics
    assert s.predictions == ("yes", "other", "no", "other")
    assert (m.accuracy, m.precision, m.recall, m.f1) == (0.5, 1.0, 1.0, 1.0)
    assert (m.gt_yes_ratio, m.yes_ratio, m.unparsed) == (3 / 4, 1 / 4, 2)
    official = score_split(["yes", "Yes.", "no", "maybe"], ["yes", "yes", "no", "yes"]).metrics
    assert official.accuracy == 1.0  # the official parser reads "Yes." and "maybe" as yes


def test_vlmevalkit_unknown_is_wrong_in_accuracy_and_no_in_f1():
    """answers Yes / "I don't know" / No / "I don't know" on labels yes yes no no: Yes, Unknown, No, Unknown.
    Acc = 2/4 (Unknown is never the answer); y_pred = 1 iff Yes: TP 1, FN 1 (the Unknown positive), FP 0,
    so P = 1, R = 1/2, F1 = 2*(1*0.5)/(1.5) = 2/3."""
    s = score_split(["Yes", "I don't know", "No", "I don't know"], ["yes", "yes", "no", "no"], parser="vlmevalkit")
    m = s.metrics
    assert (m.TP, m.FP, m.FN, m.TN, m.unparsed) == (1, 0, 1, 2, 2)
    assert (m.accuracy, m.precision, m.recall) == (0.5, 1.0, 0.5)
    assert m.f1 == 2 * (1.0 * 0.5) / 1.5


def test_vcd_counts_by_label_dependent_substrings():
    """answers "eyes" / "" / "I don't know" / "" on labels yes yes no no: TP ('yes' in 'eyes'), FN (empty), TN
    ('no' in 'know'), FP (empty). Acc = 2/4, yes = (TP + FP)/4 = 1/2, P = R = F1 = 1/2."""
    m = score_split(["eyes", "", "I don't know", ""], ["yes", "yes", "no", "no"], parser="vcd").metrics
    assert (m.TP, m.FN, m.TN, m.FP) == (1, 1, 1, 1)
    assert (m.accuracy, m.yes_ratio, m.precision, m.recall, m.f1) == (0.5, 0.5, 0.5, 0.5, 0.5)


def test_opera_reads_without_the_first_sentence_cut():
    """'Yes. No.' is yes for the official parser, no for OPERA (no cut): on a negative, FP vs TN."""
    assert score_split(["Yes. No."], ["no"]).metrics.FP == 1
    assert score_split(["Yes. No."], ["no"], parser="opera").metrics.TN == 1


def test_parser_decides_counts():
    """Official parser: plain forms Yes / no / no / - / - / - / yes -> 3 non-plain answers. Read as yes but not a
    plain yes: 'NO', 'Nope', 'Not sure', 'Yes, there is a dog' -> 4 ('no.' is read as no)."""
    texts = ["Yes", "no.", "NO", "Nope", "Not sure", "Yes, there is a dog", " yes "]
    s = score_split(texts, ["yes", "no", "no", "no", "no", "yes", "yes"])
    assert (s.non_plain_answers, s.yes_not_plain_yes) == (3, 4)
    opera = score_split(texts, ["yes", "no", "no", "no", "no", "yes", "yes"], parser="opera")
    assert (opera.non_plain_answers, opera.yes_not_plain_yes) == (3, 3)  # OPERA reads "NO" as no


def test_mean_over_the_splits_present_and_the_sections():
    """random: F1 1 (one TP); adversarial: F1 2/3 (as in test_official_counts_and_ratios). F1_mean = 5/6."""
    result = score_pope({
        "random": [("Yes", "yes"), ("No", "no")],
        "adversarial": list(zip(["Yes", "No", "Yes", "Yes", "No"], ["yes", "yes", "yes", "no", "no"], strict=True)),
    })
    assert list(result.splits) == ["random", "adversarial"] and result.n_items == 7
    assert result.means["F1_mean"] == (1.0 + 2 / 3) / 2
    assert result.means["Accuracy_mean"] == (1.0 + 3 / 5) / 2
    bench = result.to_bench_result()
    assert list(bench.metrics) == ["pope_random", "pope_adversarial", "pope"]
    assert bench.metrics["pope_random"]["F1"] == 1.0 and "gt_yes_ratio" not in bench.metrics["pope_random"]
    assert set(bench.metrics["pope_random"]) >= {"Accuracy", "Precision", "Recall", "F1", "yes_ratio", "TP", "FP",
                                                 "TN", "FN", "non_plain_answers", "yes_not_plain_yes"}
    assert bench.variant == "official" and bench.config["parser"] == "official"


def test_variant_names_the_parser_and_the_data():
    result = score_pope({"popular": [("yes", "yes")]}, parser="lmms-eval", data_version="llava-e3e3926")
    assert result.variant == "parser:lmms-eval+data:llava-e3e3926"
    assert "gt_yes_ratio" in result.to_bench_result().metrics["pope_popular"]


def test_metric_directions():
    for name in ("Accuracy", "Precision", "Recall", "F1", "F1_mean", "Accuracy_mean", "Precision_mean",
                 "Recall_mean"):
        assert HIGHER_IS_BETTER[name] is True
    for name in ("yes_ratio", "gt_yes_ratio", "TP", "FP", "TN", "FN", "unparsed", "n", "non_plain_answers",
                 "yes_not_plain_yes"):
        assert name not in HIGHER_IS_BETTER


@pytest.mark.parametrize("call, fragment", [
    (lambda: score_pope({}), "no POPE answers"),
    (lambda: score_pope({"rnd": [("Yes", "yes")]}), "unknown POPE split"),
    (lambda: score_split(["Yes"], ["yes"], parser="gpt"), "unknown POPE parser"),
    (lambda: split_metrics([], []), "no answers"),
])
def test_bad_calls_raise_value_error(call, fragment):
    with pytest.raises(ValueError, match=fragment):
        call()


# -- each scorer's arithmetic on a split where TP, FP, TN, FN all differ (mutation testing, docs/testing.md) ----
# labels y y y y y n n n n n (5 positives, 5 negatives); predictions (already parsed) per label:
#   positives: yes yes yes no other        negatives: yes no no no other
PREDS = ["yes", "yes", "yes", "no", "other", "yes", "no", "no", "no", "other"]
LABELS = ["yes"] * 5 + ["no"] * 5


def test_lmms_eval_arithmetic_by_hand():
    """TP 3, FP 1, TN 3, FN 1 (FN needs pred "no"), unparsed 10 − 8 = 2. Acc = 6 exact matches / 10;
    P = 3/4, R = 3/4, F1 = 2(P·R)/(P + R) = 3/4; yes_ratio 4/10; gt_yes_ratio 5/10."""
    m = split_metrics(PREDS, LABELS, "lmms-eval")
    assert (m.n, m.TP, m.FP, m.TN, m.FN, m.unparsed) == (10, 3, 1, 3, 1, 2)
    assert (m.accuracy, m.precision, m.recall) == (0.6, 3 / 4, 3 / 4)
    assert m.f1 == 2 * (0.75 * 0.75) / 1.5
    assert (m.yes_ratio, m.gt_yes_ratio, m.zero_divisions) == (0.4, 0.5, ())


def test_lmms_eval_recall_and_f1_with_unequal_precision_and_recall():
    """labels y y y n; preds yes no no yes: TP 1, FN 2, FP 1, TN 0. P = 1/2, R = 1/3, F1 = 2(1/6)/(5/6) = 0.4;
    accuracy 1/4; the unparsed count is 0."""
    m = split_metrics(["yes", "no", "no", "yes"], ["yes", "yes", "yes", "no"], "lmms-eval")
    assert (m.TP, m.FN, m.FP, m.TN, m.unparsed) == (1, 2, 1, 0, 0)
    assert (m.precision, m.recall, m.accuracy) == (1 / 2, 1 / 3, 1 / 4)
    assert m.f1 == 2 * ((1 / 2) * (1 / 3)) / (1 / 2 + 1 / 3)


def test_vlmevalkit_arithmetic_by_hand():
    """y_pred = 1 iff yes: TP 3, FP 1, FN 2 (the "no" and the Unknown positive), TN 4 (the Unknown negative
    counts as No). Acc = exact matches 6/10 (Unknown is wrong); P = 3/4, R = 3/5, F1 = 2(P·R)/(P + R);
    unparsed 2; yes_ratio 4/10; no gt_yes_ratio."""
    m = split_metrics(PREDS, LABELS, "vlmevalkit")
    assert (m.n, m.TP, m.FP, m.TN, m.FN, m.unparsed) == (10, 3, 1, 4, 2, 2)
    assert (m.accuracy, m.precision, m.recall) == (0.6, 3 / 4, 3 / 5)
    assert m.f1 == 2 * (0.75 * 0.6) / (0.75 + 0.6)
    assert (m.yes_ratio, m.gt_yes_ratio, m.zero_divisions) == (0.4, None, ())


def test_guarded_parsers_name_their_zero_divisions():
    for parser in ("lmms-eval", "vlmevalkit"):
        m = split_metrics(["no", "no"], ["no", "no"], parser)
        assert (m.precision, m.recall, m.f1) == (0.0, 0.0, 0.0)
        assert m.zero_divisions == ("precision", "recall", "f1"), parser


def test_vcd_divides_by_the_number_of_labels_and_official_by_the_counted_answers():
    """Out of contract (the official-style parsers never return "other"), but it pins each source's formula:
    VCD's Acc = (TP + TN)/len(gt) = 1/2 and yes = (TP + FP)/len(gt) = 1/2; the official Acc =
    (TP + TN)/(TP + TN + FP + FN) = 1/1 and yes_ratio = #yes/#answers = 1/2."""
    vcd = split_metrics(["yes", "other"], ["yes", "yes"], "vcd")
    official = split_metrics(["yes", "other"], ["yes", "yes"], "official")
    assert (vcd.accuracy, vcd.yes_ratio) == (0.5, 0.5)
    assert (official.accuracy, official.yes_ratio) == (1.0, 0.5)
    for parser in ("official", "llava", "opera"):
        m = split_metrics(PREDS[:4] + PREDS[5:9], LABELS[:4] + LABELS[5:9], parser)
        assert (m.TP, m.FP, m.TN, m.FN, m.accuracy, m.yes_ratio) == (3, 1, 3, 1, 6 / 8, 4 / 8)


def test_to_bench_result_carries_every_field():
    result = score_pope({"random": [("Yes", "yes"), ("No", "no")]}, parser="vlmevalkit", data_version="v2")
    bench = result.to_bench_result(data_sha256={"f.json": "ab"}, versions={"uedpo": "0.1"})
    assert bench.bench == "pope" and bench.n_items == 2 and bench.variant == "parser:vlmevalkit+data:v2"
    assert bench.versions == {"uedpo": "0.1"} and bench.data_sha256 == {"f.json": "ab"}
    assert bench.config == {"parser": "vlmevalkit", "data": "v2", "splits": ["random"], "notes": list(result.notes)}
    assert bench.metrics["pope"] == {"F1_mean": 1.0, "Accuracy_mean": 1.0, "Precision_mean": 1.0,
                                     "Recall_mean": 1.0, "non_plain_answers": 0, "yes_not_plain_yes": 0}
    row = bench.metrics["pope_random"]
    assert (row["TP"], row["FP"], row["TN"], row["FN"], row["unparsed"], row["n"]) == (1, 0, 1, 0, 0, 2)
    plain = score_pope({"random": [("Yes", "yes")]}).to_bench_result()
    assert plain.versions == {} and plain.data_sha256 == {}


def test_notes_say_where_each_zero_comes_from():
    """Official: the script would raise; VLMEvalKit / lmms-eval: their source guards the division too."""
    answers = {"random": [("No", "yes"), ("No", "no")], "popular": [("No", "no")]}
    official = score_pope(answers).notes
    assert official == (
        "all ratios are fractions in 0..1 (VLMEvalKit prints them x100)",
        "random: precision, f1 divided by zero; reported as 0.0 (where the official script raises ZeroDivisionError)",
        "popular: precision, recall, f1 divided by zero; reported as 0.0 (where the official script raises "
        "ZeroDivisionError)",
    )
    vlm = score_pope(answers, parser="vlmevalkit").notes
    assert vlm[1] == "random: precision, f1 divided by zero; reported as 0.0 (as its source does)"
    assert not any("gt_yes_ratio" in note for note in vlm)
    lmms = score_pope(answers, parser="lmms-eval").notes
    assert lmms[-1] == ("lmms-eval's pope_yes_ratio is the ground-truth yes share: reported as gt_yes_ratio; "
                        "yes_ratio is the model's predicted-yes share")
    assert lmms[1].endswith("(as its source does)")
