"""CHAIR quirks of the official Maxlinn ``chair.py`` (SCORERS.md "Addendum: edge-case behaviour").

Expected values are derived by hand from the official algorithm (tokenize lower-cased text, tag,
WordNet-lemmatise with the tag's POS, greedy two-token double-word merge, toilet/seat rule, keep synonyms).
The NLTK tags each derivation relies on are written next to it. The first group needs no NLTK data: it runs
the bookkeeping on a whitespace "pipeline" and a hand-made vocabulary.
"""

from __future__ import annotations

import pytest
from conftest import need_data, need_nltk

from evaluation.chair import (
    ORIGINAL,
    REFINED,
    build_vocabulary,
    caption_to_words,
    score_chair,
    score_chair_words,
)
from evaluation.chair.nlp import NltkPipeline
from evaluation.chair.words import LEMMA_NOUN, LEMMA_POS

# Hand-made synonym text in the official file format (first item = class).
TOY_SYNONYMS = "person, man, woman, child\ntoilet\nchair, seat\ndog, puppy\ntrain\ncell phone, phone\n"
TOY = build_vocabulary(TOY_SYNONYMS, REFINED)
# Whitespace tokens, every tag NN, lemmas = a tiny plural table: deterministic and data-free.
PLURALS = {"dogs": "dog", "men": "man", "trains": "train"}
STUB = NltkPipeline("stub", str.split, lambda toks: ["NN"] * len(toks), lambda w, pos: PLURALS.get(w, w))


def _toy_chair(captions, ids, gt):
    return score_chair(captions, ids, gt, TOY, pipeline=STUB)


def test_empty_captions_count_in_the_chairs_denominator():
    """Two captions, one empty: CHAIRs = 1 hallucinating caption / 2 captions (not / 1)."""
    result = _toy_chair(["", "a dog and a train"], [1, 2], {1: {"dog"}, 2: {"dog"}})
    assert result.chair_s == 1 / 2
    assert result.chair_i == 1 / 2  # train hallucinated, dog correct
    assert result.items[0].words == () and result.items[0].chair_i == 0.0


def test_empty_ground_truth_makes_every_mention_hallucinated():
    """GT {} -> both "dog" and "man" (person) are hallucinated; per-caption recall is 0 (no GT)."""
    result = _toy_chair(["two dogs and a man"], [7], {7: set()})
    item = result.items[0]
    assert item.hallucinated == (("dog", "dog"), ("man", "person"))
    assert (result.chair_s, result.chair_i, item.recall, result.recall) == (1.0, 1.0, 0.0, 0.0)


def test_per_caption_len_is_zero_and_overall_len_counts_merged_words():
    """Official: per-caption Len stays 0.; overall Len = 0.01 * mean merged words. "a cell phone ." merges to
    [a, cell phone, .] (3 words, punctuation counted), "dogs" to [dog] (1): 0.01 * 4 / 2."""
    result = _toy_chair(["a cell phone .", "dogs"], [1, 2], {1: {"cell phone"}, 2: {"dog"}})
    assert [i.to_official()["metrics"]["Len"] for i in result.items] == [0.0, 0.0]
    assert result.avg_len == 0.01 * 4 / 2
    assert result.metrics_percent()["Len"] == pytest.approx(2.0)


def test_recall_counts_unique_classes_per_caption():
    """ "a man and a woman and a dog": classes person, person, dog; GT {person, dog, train}: recall 2/3."""
    result = _toy_chair(["a man and a woman and a dog"], [1], {1: {"person", "dog", "train"}})
    assert result.items[0].recall == 2 / 3 and result.recall == 2 / 3


def test_seat_deleted_when_toilet_present_and_idxs_shift():
    """ "a seat near the toilet": merged [a, seat, near, the, toilet]; toilet & seat both occur, so "seat" is
    removed -> [a, near, the, toilet]; the official idxs comprehension enumerates this SHORTER list, so the
    toilet gets idxs[3] = 3 although its token position is 4."""
    found = caption_to_words("a seat near the toilet", TOY, pipeline=STUB)
    assert found.words == ("toilet",) and found.idxs == (3,)
    assert found.raw_words == ("a", "seat", "near", "the", "toilet")


def test_unknown_image_id_is_refused():
    with pytest.raises(ValueError, match="caption 1: image id 99 has no ground-truth objects"):
        _toy_chair(["a dog", "a dog"], [1, 99], {1: {"dog"}})


def test_mismatched_lengths_and_empty_input_are_refused():
    with pytest.raises(ValueError, match="no captions"):
        _toy_chair([], [], {})
    with pytest.raises(ValueError, match="one of each per caption"):
        score_chair_words([], ["a dog"], [1], {1: {"dog"}})
    with pytest.raises(ValueError, match="2 captions but 1 image ids"):
        _toy_chair(["a dog", "a cat"], [1], {1: {"dog"}})
    with pytest.raises(ValueError, match="caption 1 is NoneType, not text"):
        _toy_chair(["a dog", None], [1, 1], {1: {"dog"}})


# ----------------------------------------------------------------------------- real NLTK + real synonyms


@pytest.fixture(scope="module")
def vocabs():
    root = need_data("object_halbench/vocab/synonyms.txt", "object_halbench/vocab/synonyms_refine.txt")
    need_nltk()
    read = lambda rel: (root / "object_halbench/vocab" / rel).read_text(encoding="utf-8")  # noqa: E731
    return build_vocabulary(read("synonyms.txt"), ORIGINAL), build_vocabulary(
        read("synonyms_refine.txt"), REFINED
    )


def test_sports_ball_counts_as_ball(vocabs):
    """sports/NNS -> noun lemma "sport"; "sport ball" is no double word; "ball" -> sports ball."""
    found = caption_to_words("A sports ball lies on the grass.", vocabs[0])
    assert (found.words, found.node_words) == (("ball",), ("sports ball",))


def test_train_track_swallows_train(vocabs):
    """train/NN ... train/NN tracks/NNS -> "train track" (maps to itself, not a COCO word): one train only."""
    found = caption_to_words("A train is parked near the train tracks.", vocabs[0])
    assert found.node_words == ("train",)
    assert "train track" in found.raw_words


def test_motor_bike_dropped_with_original_kept_with_refined(vocabs):
    """motor/NN bike/NN merge to "motor bike"; the original list only has " motor bike" (leading space)."""
    original = caption_to_words("A man rides a motor bike.", vocabs[0])
    refined = caption_to_words("A man rides a motor bike.", vocabs[1])
    assert original.node_words == ("person",)
    assert refined.node_words == ("person", "motorcycle")


def test_stove_top_oven_is_two_ovens(vocabs):
    """The three-word double word never matches a two-token window: stove/JJ -> "stove" (oven), top, oven."""
    found = caption_to_words("There is a stove top oven.", vocabs[0])
    assert (found.words, found.node_words) == (("stove", "oven"), ("oven", "oven"))


def test_toilet_seat_is_toilet_and_every_seat_goes(vocabs):
    """ "toilet seat" -> toilet; the later "seat" (NN, would be chair) is deleted because toilet occurs."""
    found = caption_to_words("The toilet seat is up and a seat is nearby.", vocabs[0])
    assert found.node_words == ("toilet",)
    found = caption_to_words("The seat of the toilet is white.", vocabs[0])
    assert found.node_words == ("toilet",)


def test_dining_table_is_no_double_word_in_the_original_list(vocabs):
    """Original: "dining" stays, "table" -> dining table (one mention). Refined: merged "dining table"."""
    assert caption_to_words("A dining table with food.", vocabs[0]).words == ("table",)
    assert caption_to_words("A dining table with food.", vocabs[1]).words == ("dining table",)


@pytest.mark.parametrize(
    ("caption", "words", "classes"),
    [
        ("Two trains pass by.", ("train",), ("train",)),  # trains/NNS -> train
        ("A man phoning his friend.", ("man", "phone"), ("person", "cell phone")),  # phoning/VBG -> phone
        ("People seated at a table.", ("people", "seat", "table"), ("person", "chair", "dining table")),
        ("A woman skiing down a hill.", ("woman", "ski"), ("person", "skis")),  # skiing/VBG -> ski
        ("Kids kiting on the beach.", ("kid",), ("person",)),  # kiting/VBG -> "kit": not a COCO word
        ("Two children play with a baby.", ("child", "baby"), ("person", "person")),  # lemma "child" reported
        ("A baby elephant and a passenger train.", ("elephant", "train"), ("elephant", "train")),
        ("A wine glass and a bow tie.", ("wine glass", "tie"), ("wine glass", "tie")),
    ],
)
def test_verb_forms_lemmas_and_qualifier_rules(vocabs, caption, words, classes):
    found = caption_to_words(caption, vocabs[0])
    assert (found.words, found.node_words) == (words, classes)


def test_hallucination_idxs_point_at_tokens_before_merging(vocabs):
    """Tokens "a baby elephant and a passenger train ." (0..7) merge to
    [a, elephant(1), and(3), a(4), train(5), .]: with GT {} both are hallucinated at token positions 1 and 5;
    the word is reported as the lemma."""
    result = score_chair(["A baby elephant and a passenger train."], [1], {1: set()}, vocabs[0])
    item = result.items[0]
    assert item.hallucination_idxs == (1, 5)
    assert item.hallucinated == (("elephant", "elephant"), ("train", "train"))


def test_noun_mode_lemmatises_every_token_as_a_noun(vocabs):
    """RLHF-V non-GPT path: no tagger. "phoning" as a noun stays "phoning" (no cell phone); "seated" stays."""
    found = caption_to_words("A man phoning his friend, people seated.", vocabs[1], mode=LEMMA_NOUN)
    assert found.node_words == ("person", "person")
    pos_mode = caption_to_words("A man phoning his friend.", vocabs[1], mode=LEMMA_POS)  # phoning/VBG
    assert pos_mode.node_words == ("person", "cell phone")


def test_bench_result_section_is_in_percent_and_unrounded():
    """ "a dog and a train", GT {dog}: CHAIRs 1/1, CHAIRi 1/2, Recall 1/1, Len 0.01 * 5 words -> percent."""
    result = _toy_chair(["a dog and a train"], [1], {1: {"dog"}})
    bench = result.to_bench_result(config={"gt": "toy"}, versions={"nltk": "x"})
    assert (bench.bench, bench.n_items, bench.variant, bench.config) == (
        "chair",
        1,
        "refined-synonyms+pos-lemmas",
        {"gt": "toy"},
    )
    assert bench.metrics == {
        "chair": {"CHAIRs": 100.0, "CHAIRi": 50.0, "Recall": 100.0, "Len": 100 * 0.01 * 5}
    }
