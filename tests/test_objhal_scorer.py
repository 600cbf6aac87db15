"""Object HalBench scoring (RLHF-V / RLAIF-V ``eval_gpt_obj_halbench.py`` + summary), hand-derived.

Most tests use a hand-made vocabulary and a stub parser (lemma and Penn tag per token of ``"a " + object``),
so they check the official bookkeeping without NLTK or spaCy; the last ones run the WordNet stand-in parser.
"""

from __future__ import annotations

import pytest
from conftest import need_data, need_nltk

from evaluation.chair import REFINED, build_vocabulary, score_objhal_extracted, score_objhal_text
from evaluation.chair.nlp import NltkPipeline
from evaluation.chair.objhal import FAILED_EXTRACTION, VARIANT_LLM_SPACY, VARIANT_LLM_WORDNET, VARIANT_NLTK
from evaluation.chair.objhal_refine import CHUNKER_SPACY, ParsedPhrase, refine_objects, wordnet_chunker

TOY = build_vocabulary(
    "person, man, woman\ntoilet\nchair, seat\ndog, puppy\ncar\ncup\ncat\ndining table, table, coffee table\n",
    REFINED,
)
# "a " + object -> (lemmas, Penn tags), as spaCy would give them.
PARSES = {
    "a dog": (("a", "dog"), ("DT", "NN")),
    "a dogs": (("a", "dog"), ("DT", "NNS")),
    "a puppy": (("a", "puppy"), ("DT", "NN")),
    "a cat": (("a", "cat"), ("DT", "NN")),
    "a man": (("a", "man"), ("DT", "NN")),
    "a seat": (("a", "seat"), ("DT", "NN")),
    "a toilet seat": (("a", "toilet", "seat"), ("DT", "NN", "NN")),
    "a coffee cup": (("a", "coffee", "cup"), ("DT", "NN", "NN")),
    "a red car": (("a", "red", "car"), ("DT", "JJ", "NN")),
    "a coffee table": (("a", "coffee", "table"), ("DT", "NN", "NN")),
    "a man with a dog": (("a", "man", "with", "a", "dog"), ("DT", "NN", "IN", "DT", "NN")),
}


def stub_parse(text: str) -> ParsedPhrase:
    lemmas, tags = PARSES[text]
    return ParsedPhrase(lemmas, tags)


LONG = "This long answer describes the whole scene in detail."  # > 3 whitespace tokens


def _score(answers, ids, extracted, gt, name=None):
    return score_objhal_extracted(answers, ids, extracted, gt, TOY, chunker=stub_parse, chunker_name=name)


def test_resp_denominator_counts_only_responses_with_coco_objects():
    """A: dog (GT dog) correct. B: car, GT {} -> hallucinated. C: only "coffee cup" -> noun run "coffee cup",
    not a COCO word -> no objects -> not in the Resp. denominator. D: "A dog here." has 3 tokens -> objects
    forced to [] whatever was extracted. Resp = CHAIRs_refine = 1 / 2 (A, B); CHAIRs over all = 1 / 4;
    Ment. = CHAIRi = 1 hallucinated / 2 objects."""
    result = _score(
        [LONG, LONG, LONG, "A dog here."],
        [1, 2, 3, 4],
        [["dog"], ["red car"], ["coffee cup"], ["dog", "cat"]],
        {1: {"dog"}, 2: set(), 3: set(), 4: set()},
    )
    assert [i.mentions_coco for i in result.items] == [True, True, False, False]
    assert (result.chair_s_refine, result.chair_s, result.chair_i) == (1 / 2, 1 / 4, 1 / 2)
    assert result.coco_sentence_num == 2
    assert result.items[2].objects == ("coffee cup",) and result.items[2].dropped == ("coffee cup",)
    assert result.items[3].objects == ()
    assert result.metrics_percent() == {"CHAIRs": 50.0, "CHAIRi": 50.0}


def test_objects_deduplicated_per_response_before_mapping():
    """["dog", "dog", "dogs", "puppy"] -> refined [dog, dog, dog, puppy] -> first occurrences [dog, puppy];
    both map to class dog and count as two objects (de-dup is on names, not classes). GT {} -> CHAIRi 2/2."""
    result = _score([LONG], [1], [["dog", "dog", "dogs", "puppy"]], {1: set()})
    item = result.items[0]
    assert item.objects == ("dog", "puppy")
    assert item.hallucinated == (("dog", "dog"), ("puppy", "dog"))
    assert result.chair_i == 1.0


def test_toilet_seat_rule_on_extracted_objects():
    """["toilet seat", "seat", "man"] -> [toilet (double word), seat, man]; toilet present -> every "seat"
    removed -> [toilet, man]; idxs enumerate the shortened list: toilet 0, man 1 (its position was 2)."""
    result = _score([LONG], [1], [["toilet seat", "seat", "man"]], {1: {"toilet"}})
    item = result.items[0]
    assert item.objects == ("toilet", "seat", "man")
    assert item.words == ("toilet", "man")
    assert item.hallucinated == (("man", "person"),) and item.hallucination_idxs == (1,)


def test_noun_chunking_and_double_words():
    """ "coffee cup": NN NN run -> "coffee cup" (dropped); "red car": JJ breaks the run -> "car";
    "coffee table": a double word in the refined list -> only "coffee table" kept (dining table);
    "man with a dog": two runs -> "man", "dog"."""
    objects = refine_objects(
        ["coffee cup", "red car", "coffee table", "man with a dog"], TOY.double_words, stub_parse
    )
    assert objects == ["coffee cup", "car", "coffee table", "man", "dog"]


def test_summary_recall_and_average_length():
    """Answer "a  dog and a cat here" has 7 tokens under the official split(" ") (the double space gives an
    empty token). Objects dog (GT) and cat (not GT): obj_rec = 1 correct class / |GT {dog, person}| = 1/2;
    "COCO Word Number" is the number of correct classes (1)."""
    result = _score(["a  dog and a cat here"], [5], [["dog", "cat"]], {5: {"dog", "person"}})
    summary = result.summary()
    assert summary["Average Length"] == 7
    assert summary["Object Recall"] == 50.0
    assert (summary["COCO Word Number"], summary["GT Word Number"], summary["COCO Sent Number"]) == (1, 2, 1)
    assert summary["Response Hall"] == 100.0 and summary["Object Hall"] == 50.0
    assert summary["Response Correct"] == 0.0


def test_variant_names_say_which_parser_ran():
    assert _score([LONG], [1], [["dog"]], {1: {"dog"}}).variant == VARIANT_LLM_WORDNET
    official = _score([LONG], [1], [["dog"]], {1: {"dog"}}, name=CHUNKER_SPACY)
    assert official.variant == VARIANT_LLM_SPACY
    bench = official.to_bench_result(config={"gt": "test"})
    assert (bench.bench, bench.n_items, bench.config) == ("objhal", 1, {"gt": "test"})
    assert bench.metrics == {"objhal": {"CHAIRs": 0.0, "CHAIRi": 0.0}}


@pytest.mark.parametrize(
    ("extracted", "message"),
    [
        ([FAILED_EXTRACTION], "extraction failed"),
        (["dog"], "must be a list of strings"),  # a bare string, not a list
        ([[1]], "must be a list of strings"),
    ],
)
def test_bad_extractions_are_refused(extracted, message):
    with pytest.raises(ValueError, match=f"answer 0: .*{message}"):
        _score([LONG], [1], extracted, {1: set()})


def test_length_mismatches_and_unknown_ids_are_refused():
    with pytest.raises(ValueError, match="1 extracted-object lists but 2 answers"):
        _score([LONG, LONG], [1, 1], [["dog"]], {1: set()})
    with pytest.raises(ValueError, match="image id 2 has no ground-truth"):
        _score([LONG], [2], [["dog"]], {1: set()})


def test_text_path_counts_mentions_with_repetition():
    """Official non-GPT path: caption_to_words with noun lemmas; "two dogs and a dog and a puppy" ->
    dog, dog, puppy (3 mentions, no de-dup); GT {cat} -> CHAIRi 3/3, Resp 1/1."""
    stub = NltkPipeline("stub", str.split, lambda t: ["NN"] * len(t), lambda w, p: {"dogs": "dog"}.get(w, w))
    result = score_objhal_text(["two dogs and a dog and a puppy"], [1], {1: {"cat"}}, TOY, pipeline=stub)
    assert result.items[0].words == ("dog", "dog", "puppy")
    assert (result.chair_i, result.chair_s_refine, result.variant) == (1.0, 1.0, VARIANT_NLTK)
    assert result.items[0].extracted is None
    record = result.items[0].to_record()
    assert (record["image_id"], record["extracted"], record["counts_for_resp"]) == (1, None, True)
    assert record["why"] == result.items[0].why() and len(record["why"]) == 3


def test_wordnet_stand_in_parser_on_the_official_examples():
    """nltk tags "a coffee cup" DT NN NN -> "coffee cup" (dropped later), "a red car" DT JJ NN -> "car",
    "a toilet seat" -> double word -> "toilet", "a dogs" DT NNS -> noun lemma "dog"."""
    root = need_data("object_halbench/vocab/synonyms_refine.txt")
    need_nltk()
    vocab = build_vocabulary(
        (root / "object_halbench/vocab/synonyms_refine.txt").read_text(encoding="utf-8"), REFINED
    )
    objects = refine_objects(
        ["coffee cup", "red car", "toilet seat", "dogs", "dog"], vocab.double_words, wordnet_chunker()
    )
    assert objects == ["coffee cup", "car", "toilet", "dog"]
