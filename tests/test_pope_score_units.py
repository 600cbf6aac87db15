"""POPE parsers: every quirk constant of :mod:`evaluation.pope.parsers` on an answer that depends on it
(mutation testing, docs/testing.md). ``test_pope_parsers.py`` has the sources' documented cases."""

import pytest

from evaluation.pope.parsers import (
    VLMEVALKIT_PUNCTUATION,
    parse_answer,
    parse_opera,
    parse_vlmevalkit,
    process_punctuation,
)


@pytest.mark.parametrize("p", VLMEVALKIT_PUNCTUATION)
def test_vlmevalkit_turns_each_punctuation_mark_into_a_space(p):
    """"no<p>yes" with no space next to the mark: the mark becomes a space, two words, both answers -> Unknown;
    "no<p>" alone becomes the word "no"."""
    assert process_punctuation(f"no{p}yes") == "no yes"
    assert parse_vlmevalkit(f"no{p}") == "no"
    assert parse_vlmevalkit(f"no{p}yes") == "other"


def test_vlmevalkit_table_is_the_sources_list():
    assert VLMEVALKIT_PUNCTUATION == (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">",
                                      "<", "@", "`", ",", "?", "!")


def test_vlmevalkit_deletes_a_mark_that_has_a_space_on_either_side():
    """ "ye;s ;": " ;" occurs (a space before the mark), so every ";" is deleted: "yes " -> yes. "ye;s; ":
    "; " occurs, same. Without the space the mark becomes a space: "ye;s" -> "ye s" -> Unknown."""
    assert process_punctuation("ye;s ;") == "yes "
    assert parse_vlmevalkit("ye;s ;") == "yes"
    assert parse_vlmevalkit("ye;s; ") == "yes"
    assert parse_vlmevalkit("ye;s") == "other"


def test_opera_deletes_commas_and_reads_not_as_negative():
    assert parse_opera("No, it is") == "no"  # "No," -> "No"
    assert parse_opera("It is not") == "no"
    assert parse_opera("It is, yes") == "yes"
    assert parse_answer("opera", "no, there is a cat") == "no"
