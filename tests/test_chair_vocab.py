"""COCO vocabulary of CHAIR (original, Maxlinn) and Object HalBench (refined).

Expected values come from the official vocabulary tables pickled inside the Maxlinn evaluator
(``object_halbench/gt/maxlinn_vocab_from_cache.json``, extracted from THUNLP ``data/chair_300.pkl``), from the
counts in SCORERS.md §1.3/§1.4, or are read off the synonym files by hand.
"""

from __future__ import annotations

import json

import pytest
from conftest import need_data

from benchmarks_data.coco_vocab import (
    MAXLINN_EMPTY_FIRST_ENTRY,
    ORIGINAL,
    ORIGINAL_DEAD_ENTRIES,
    REFINED,
    build_vocabulary,
)

SYN = "object_halbench/vocab/synonyms.txt"
SYN_REFINE = "object_halbench/vocab/synonyms_refine.txt"
CACHE = "object_halbench/gt/maxlinn_vocab_from_cache.json"


def _vocab(relpath: str, variant: str):
    root = need_data(relpath)
    return build_vocabulary((root / relpath).read_text(encoding="utf-8"), variant)


def test_original_vocabulary_equals_the_pickled_maxlinn_tables():
    """The three tables of the official evaluator object, entry for entry (list order included)."""
    root = need_data(SYN, CACHE)
    cache = json.loads((root / CACHE).read_text(encoding="utf-8"))
    vocab = build_vocabulary((root / SYN).read_text(encoding="utf-8"), ORIGINAL)
    assert list(vocab.objects) == cache["mscoco_objects"]
    assert dict(vocab.synonym_to_class) == cache["inverse_synonym_dict"]
    assert dict(vocab.double_words) == cache["double_word_dict"]


def test_original_keeps_the_dead_leading_space_entries_and_the_empty_first_line():
    """SCORERS.md §1.3: 417 objects, 404 synonym keys; " motor bike" and " cheesecake" keep their space."""
    vocab = _vocab(SYN, ORIGINAL)
    assert len(vocab.objects) == 417
    assert len(vocab.synonym_to_class) == 404
    for dead in ORIGINAL_DEAD_ENTRIES:
        assert dead in vocab.object_set
        assert dead.strip() not in vocab.object_set  # so the stripped form never matches
    assert vocab.objects[0] == MAXLINN_EMPTY_FIRST_ENTRY
    assert vocab.synonym_to_class["motorcycle"] == "motorcycle"
    assert len(vocab.classes) == 81  # 80 COCO classes + the "" line


def test_original_double_words_follow_the_fixed_list():
    """ "dining table" is a synonym but not a double word there; the special rules override identities."""
    vocab = _vocab(SYN, ORIGINAL)
    assert "dining table" not in vocab.double_words
    assert vocab.double_words["bow tie"] == "tie"
    assert vocab.double_words["toilet seat"] == "toilet"
    assert vocab.double_words["wine glas"] == "wine glass"
    assert vocab.double_words["baby cub"] == "cub"
    assert vocab.double_words["passenger jet"] == "jet"
    assert vocab.double_words["train track"] == "train track"  # not a COCO word: swallows "train"


def test_refined_vocabulary():
    """SCORERS.md §1.4: 80 classes, 407 unique surface forms; items stripped; the six additions; every
    multi-word synonym is a double word, plus home plate / train track."""
    vocab = _vocab(SYN_REFINE, REFINED)
    assert len(vocab.classes) == 80
    assert len(vocab.synonym_to_class) == 407
    assert "" not in vocab.object_set
    for word, cls in [
        ("motor bike", "motorcycle"),
        ("cheesecake", "cake"),
        ("brother", "person"),
        ("pedestrian", "person"),
        ("coffee table", "dining table"),
        ("remote control", "remote"),
    ]:
        assert vocab.synonym_to_class[word] == cls
    multi = {w for w in vocab.synonym_to_class if " " in w}
    assert multi | {"home plate", "train track"} <= set(vocab.double_words)
    assert vocab.double_words["dining table"] == "dining table"
    assert vocab.double_words["bow tie"] == "tie"


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="unknown vocabulary variant"):
        build_vocabulary("dog, puppy\n", "clean")
