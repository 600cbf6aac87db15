"""The nltk 3.9.1 word tokenizer (``evaluation.chair.nltk_compat``), whatever nltk is installed.

Expected tokens are derived by hand from the nltk 3.9.1 rules copied in ``LegacyWordTokenizer`` (the official
CHAIR outputs were made with nltk 3.8.1, which tokenizes like 3.9.1). nltk >= 3.9.4 splits U+2012..U+2015
dashes and nltk > 3.10.0 splits a leading quote, so these cases fail with a plain ``nltk.word_tokenize``
there.
"""

from __future__ import annotations

import pytest
from conftest import need_nltk

from evaluation.chair.nltk_compat import LegacyWordTokenizer, legacy_word_tokenize

TOKENIZER = LegacyWordTokenizer()


@pytest.mark.parametrize(
    ("sentence", "tokens"),
    [
        # No 3.9.1 rule touches U+2014: "dog—a" stays one token; only the final period is split off.
        ("a dog—a cat.", ["a", "dog—a", "cat", "."]),
        # Same for the en dash U+2013 between digits.
        ("pages 2–3 show dogs.", ["pages", "2–3", "show", "dogs", "."]),
        # Figure dash U+2012 and horizontal bar U+2015 stay inside the word too.
        ("a cat‒a dog―a bird", ["a", "cat‒a", "dog―a", "bird"]),
        # Leading quote: the 3.9.1 rule (\')(?!re|ve|ll|m|t|s|d|n)(\w)\b needs a ONE-letter word, so
        # "'vintage" stays whole; the closing quote is split by ([^' ])(') followed by a space.
        ("the 'vintage' car is red.", ["the", "'vintage", "'", "car", "is", "red", "."]),
        # "'a" is a one-letter word: split by that rule into "'", "a".
        ("'a dog' sits.", ["'", "a", "dog", "'", "sits", "."]),
        # "'n" is protected by the negative lookahead (n), so it stays whole.
        ("rock 'n roll", ["rock", "'n", "roll"]),
        # Clitics (ENDING_QUOTES rules 5 and 6) are unchanged between versions.
        (
            "it's the dog's bone, isn't it?",
            ["it", "'s", "the", "dog", "'s", "bone", ",", "is", "n't", "it", "?"],
        ),
    ],
)
def test_sentence_tokens_match_nltk_391(sentence, tokens):
    assert TOKENIZER.tokenize(sentence) == tokens


def test_word_tokenize_splits_sentences_with_punkt_then_words():
    """Punkt splits "a cat sits." from "a dog—a puppy runs."; each sentence's final period is split."""
    need_nltk()
    assert legacy_word_tokenize("a cat sits. a dog—a puppy runs.") == [
        "a",
        "cat",
        "sits",
        ".",
        "a",
        "dog—a",
        "puppy",
        "runs",
        ".",
    ]


def test_curly_quotes_keep_their_391_sentence_boundaries():
    """3.9.1 Punkt: a period followed directly by ” is no sentence-break candidate (” is not in its non-word
    class; 3.10 added it), so "“hello.” next" is ONE sentence. The word rules then pad “ and ” with spaces,
    and the final-period rule only fires at the end of a sentence, so "hello." keeps its period."""
    need_nltk()
    assert legacy_word_tokenize("“hello.” next") == ["“", "hello.", "”", "next"]
