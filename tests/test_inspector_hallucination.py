"""Scorer-flagged words → response tokens (the matching rule in inspector/hallucination.py, case by case)."""

from __future__ import annotations

from inspector.hallucination import flagged_tokens, match_words, surface_forms


def spans(tokens, words):
    return [(m.word, m.tokens) for m in match_words(tokens, words)]


def test_single_token_case_insensitive_every_occurrence():
    tokens = ["A", " Dog", " and", " a", " dog", "."]
    assert spans(tokens, ["dog"]) == [("dog", (1,)), ("dog", (4,))]


def test_plural_mentions_of_a_lemma():
    # AMBER/CHAIR report the lemma ("dog", "bus", "knife", "puppy", "man") for a plural mention.
    assert spans([" two", " dogs"], ["dog"]) == [("dog", (1,))]
    assert spans([" buses"], ["bus"]) == [("bus", (0,))]
    assert spans([" knives"], ["knife"]) == [("knife", (0,))]
    assert spans([" puppies"], ["puppy"]) == [("puppy", (0,))]
    assert spans([" women"], ["woman"]) == [("woman", (0,))]


def test_multi_word_and_sub_word_spans_mark_every_token():
    assert spans([" a", " teddy", " bear", " sits"], ["teddy bear"]) == [("teddy bear", (1, 2))]
    assert spans([" a", " surf", "board", "."], ["surfboard"]) == [("surfboard", (1, 2))]
    assert spans([" two", " surf", "board", "s"], ["surfboard"]) == [("surfboard", (1, 2, 3))]


def test_no_match_inside_a_longer_word():
    assert spans([" con", "cat", "en", "ate"], ["cat"]) == []
    assert spans([" cats", "up"], ["cat"]) == []  # "catsup": the span does not end at a word boundary
    assert spans([" dog", "house"], ["dog"]) == []


def test_punctuation_and_unknown_words():
    assert spans(["(", "dog", ")"], ["dog"]) == [("dog", (1,))]
    assert spans([" a", " cat"], ["zebra"]) == []
    assert spans([" a", " cat"], [""]) == []


def test_repeated_word_in_the_list_is_matched_once_per_occurrence():
    assert spans([" dog", " dog"], ["dog", "dog"]) == [("dog", (0,)), ("dog", (1,))]


def test_flagged_tokens_index_map():
    matches = match_words([" a", " teddy", " bear", " and", " a", " dog"], ["dog", "teddy bear"])
    assert flagged_tokens(matches) == {1: "teddy bear", 2: "teddy bear", 5: "dog"}


def test_surface_forms():
    assert surface_forms("Teddy Bear") == {"teddybear", "teddybears", "teddybeares"}
    assert "men" in surface_forms("man") and "leaves" in surface_forms("leaf")
    assert surface_forms("  ") == set()
