"""POPE answer parsers: every rule of every parser on hand-made answers (docs/POPE.md §1 and §2, and the sources
named in evaluation/pope/parsers.py). Each case says why the answer reads the way it does."""

import subprocess
import sys

import pytest

from evaluation.pope import NO, OTHER, PARSERS, YES, parse_answer, plain_form, process_punctuation

# (answer, expected, why) for the official rule: first sentence, ',' deleted, split(' '), No/not/no -> no.
OFFICIAL_CASES = [
    ("Yes", YES, "no negative word: the default"),
    ("No", NO, "'No' is a negative word"),
    ("no", NO, "'no' is a negative word"),
    ("It is not there", NO, "'not' is a negative word"),
    ("There is no dog.", NO, "'no' in the first sentence"),
    ("NO", YES, "case-sensitive: 'NO' is not in {No, not, no}"),
    ("Not sure", YES, "'Not' (capital N) is not 'not'"),
    ("Nope", YES, "not a negative word"),
    ("I cannot tell", YES, "'cannot' is one word"),
    ("There isn't a dog", YES, "'isn't' is not 'not'"),
    ("There is nothing", YES, "'nothing' is one word"),
    ("Yes. No.", YES, "only the first sentence 'Yes' is read"),
    ("No. Yes.", NO, "first sentence 'No'"),
    ("Yes, no doubt.", NO, "first sentence 'Yes no doubt' holds 'no'"),
    ("Yes, about 2.5 m, no", YES, "cut at the '.' inside 2.5: 'Yes about 2' has no negative word"),
    ("No,there is none.", YES, "deleting ',' glues 'Nothere'"),
    ("No, there is none", NO, "'No there is none' splits into 'No', ..."),
    ("No\n", YES, "split(' ') keeps 'No\\n' as one word"),
    ("No\tdog", YES, "a tab does not separate words"),
    (" No", NO, "a leading space gives ['', 'No']"),
    ("No!", YES, "'No!' is not 'No'"),
    ("(No)", YES, "'(No)' is not 'No'"),
    ("No。", YES, "the ideographic full stop is not '.'"),
    ("No…", YES, "'…' (U+2026) is not '.'"),
    ("", YES, "empty: the default"),
    (".No", YES, "the first sentence before '.' is empty"),
]


@pytest.mark.parametrize("text, expected, why", OFFICIAL_CASES)
def test_official_rule(text, expected, why):
    assert parse_answer("official", text) == expected, why


@pytest.mark.parametrize("text, expected, why", OFFICIAL_CASES)
def test_llava_is_the_official_rule(text, expected, why):
    """LLaVA eval_pope.py copies evaluate.py's rule (it reads the `text` field instead of `answer`)."""
    assert parse_answer("llava", text) == expected, why


@pytest.mark.parametrize("text, expected", [
    ("yes", YES), ("Yes", YES), (" YES \n", YES), ("No", NO), ("\u00a0no\u00a0", NO),  # str.strip() strips NBSP
    ("yes.", OTHER), ("Yes, there is a dog.", OTHER), ("", OTHER), ("nope", OTHER), ("y e s", OTHER),
])
def test_lmms_eval_exact_match_after_lower_strip(text, expected):
    assert parse_answer("lmms-eval", text) == expected


@pytest.mark.parametrize("text, expected, why", [
    ("Yes", YES, "the word 'yes' only"),
    ("No.", NO, "a lone '.' is removed"),
    ("NO", NO, "lower-cased first"),
    ("Yes, there is no dog", OTHER, "both 'yes' and 'no' are words"),
    ("I don't know", OTHER, "neither word"),
    ("", OTHER, "neither word"),
    ("eyes", OTHER, "'eyes' is not the word 'yes'"),
    ("yes/no", OTHER, "'/' touches no space: replaced by a space, giving both words"),
    ("Well,no, I think", OTHER, "', ' occurs, so every ',' is deleted: 'wellno'"),
    ("cats,no", NO, "no ', ': the ',' becomes a space"),
    ("1,000 cats,no", OTHER, "digit,digit: every ',' is deleted: 'catsno'"),
    ("2.5 no", NO, "a '.' between digits stays; 'no' is a word"),
    ("answer:yes", OTHER, "':' survives, 'answer:yes' is one word"),
    ("Yes!", YES, "'!' becomes a space"),
    ("." * 32 + "no", NO, "32 periods are removed"),
    ("." * 33 + "no", OTHER, "re.UNICODE passed as count: the 33rd period stays, '.no' is not 'no'"),
])
def test_vlmevalkit_yorn_extraction(text, expected, why):
    assert parse_answer("vlmevalkit", text) == expected, why


def test_vlmevalkit_punctuation_tests_look_at_the_input_text():
    """'(yes)' has no '( ' or ' (' so '(' becomes a space; ' )' in the input makes every ')' disappear."""
    assert process_punctuation("(yes)") == " yes "
    assert process_punctuation("(yes) )") == " yes "
    assert process_punctuation("a.b. c") == "ab c"


@pytest.mark.parametrize("text, label, expected, why", [
    ("Yes", YES, YES, "'yes' in the answer"),
    ("eyes", YES, YES, "substring: 'eyes' holds 'yes'"),
    ("No", YES, NO, "no 'yes': a false negative"),
    ("", YES, NO, "empty on a positive: FN"),
    ("No", NO, NO, "'no' in the answer"),
    ("I don't know", NO, NO, "'know' holds 'no'"),
    ("snow", NO, NO, "'snow' holds 'no'"),
    ("none", NO, NO, "'none' holds 'no'"),
    ("cannot", NO, NO, "'cannot' holds 'no'"),
    ("Not at all", NO, NO, "lower-cased: 'not' holds 'no'"),
    ("Yes", NO, YES, "no 'no': a false positive"),
    ("", NO, YES, "empty on a negative: FP"),
    ("Yes, no", YES, YES, "label yes: only 'yes' is looked for"),
    ("Yes, no", NO, NO, "label no: only 'no' is looked for"),
])
def test_vcd_substring_rule_depends_on_the_label(text, label, expected, why):
    assert parse_answer("vcd", text, label) == expected, why


def test_vcd_needs_the_label():
    with pytest.raises(ValueError, match="label"):
        parse_answer("vcd", "Yes")


@pytest.mark.parametrize("text, expected, why", [
    ("Yes.", YES, "'.' deleted, 'Yes'"),
    ("No.", NO, "'.' deleted, 'No'"),
    ("NO", NO, "'NO' is one of OPERA's negative words"),
    ("I don't know", NO, "'don't' ends with n't"),
    ("There isn't a dog", NO, "'isn't' ends with n't"),
    ("I don’t know", YES, "U+2019 is not the ASCII apostrophe"),
    ("Not sure", YES, "'Not' is not in {No, not, no, NO}"),
    ("Yes. No.", NO, "no first-sentence cut: 'Yes No'"),
    ("No,there is none", YES, "deleting ',' glues 'Nothere'"),
    ("2.5 no", NO, "'.' deleted ('25'), 'no' is a word"),
    ("", YES, "empty: the default"),
    ("No\n", YES, "split(' ') keeps 'No\\n' as one word"),
])
def test_opera_rule(text, expected, why):
    assert parse_answer("opera", text) == expected, why


def test_the_parsers_disagree_where_docs_pope_md_says():
    """POPE.md §2: 'NO' and "I don't know" split the parsers; 'yes.' fails only lmms-eval's exact match."""
    row = {p: parse_answer(p, "NO", "no") for p in PARSERS}
    assert row == {"official": YES, "llava": YES, "lmms-eval": NO, "vlmevalkit": NO, "vcd": NO, "opera": NO}
    row = {p: parse_answer(p, "I don't know", "yes") for p in PARSERS}
    assert row == {"official": YES, "llava": YES, "lmms-eval": OTHER, "vlmevalkit": OTHER, "vcd": NO, "opera": NO}
    row = {p: parse_answer(p, "yes.", "yes") for p in PARSERS}
    assert row == {"official": YES, "llava": YES, "lmms-eval": OTHER, "vlmevalkit": YES, "vcd": YES, "opera": YES}


def test_unknown_parser_is_refused():
    with pytest.raises(ValueError, match="official, llava, lmms-eval, vlmevalkit, vcd, opera"):
        parse_answer("gpt", "Yes")


@pytest.mark.parametrize("text, form", [
    ("Yes", YES), ("no.", NO), (" NO ", NO), ("yes.\n", YES),
    ("Yes, there is", None), ("Nope", None), ("No!", None), ("yes..", None), ("", None),
])
def test_plain_form(text, form):
    assert plain_form(text) == form


def test_the_scorer_imports_neither_torch_nor_the_loaders():
    code = ("import sys, evaluation.pope, evaluation.pope.score; "
            "bad = [m for m in ('torch', 'transformers', 'benchmarks_data') if m in sys.modules]; "
            "assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
