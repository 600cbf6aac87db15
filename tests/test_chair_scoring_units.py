"""CHAIR and Object HalBench records, official dumps, results and variant names, by hand, without NLTK data
(mutation testing, docs/testing.md). ``test_chair_edge_cases.py`` and ``test_objhal_scorer.py`` have the
official quirks; these pin every field the scorers write out."""

from __future__ import annotations

import pytest

from evaluation.chair import ORIGINAL, REFINED, build_vocabulary, score_chair, score_objhal_extracted
from evaluation.chair.chair import chair_variant
from evaluation.chair.nlp import NltkPipeline
from evaluation.chair.objhal_refine import ParsedPhrase
from evaluation.chair.words import LEMMA_NOUN, LEMMA_POS

SYNONYMS = "person, man, woman\ndog, puppy\ntrain\ncar\ncat\n"
TOY = build_vocabulary(SYNONYMS, REFINED)
STUB = NltkPipeline("stub", str.split, lambda toks: ["NN"] * len(toks),
                    lambda w, pos: {"dogs": "dog"}.get(w, w))


def _chair(captions, ids, gt):
    return score_chair(captions, ids, gt, TOY, pipeline=STUB)


def test_chair_item_record_and_why():
    """ "a dog and a train and two dogs", GT {dog, person}: mentions dog, train, dog; train hallucinated
    (token 4); recall 1 of 2 GT classes."""
    item = _chair(["a dog and a train and two dogs"], [3], {3: {"dog", "person"}}).items[0]
    assert item.why() == [
        "'train' means 'train', which is not among the image's ground-truth objects (dog, person)"]
    assert item.to_record() == {
        "image_id": 3, "mentioned": ["dog", "train", "dog"], "words": ["dog", "train", "dog"],
        "hallucinated": [["train", "train"]], "why": item.why(), "gt_objects": ["dog", "person"],
        "CHAIRs": 1, "CHAIRi": 1 / 3, "Recall": 1 / 2,
    }
    assert item.to_official() == {
        "image_id": 3, "caption": "a dog and a train and two dogs",
        "mscoco_hallucinated_words": [["train", "train"]], "mscoco_gt_words": ["dog", "person"],
        "mscoco_generated_words": ["dog", "train", "dog"], "hallucination_idxs": [4],
        "words": ["a", "dog", "and", "a", "train", "and", "two", "dog"],
        "metrics": {"CHAIRs": 1, "CHAIRi": 1 / 3, "Recall": 1 / 2, "Len": 0.0},
    }


def test_why_says_nothing_for_an_empty_ground_truth():
    item = _chair(["a cat"], [1], {1: set()}).items[0]
    assert item.why() == ["'cat' means 'cat', which is not among the image's ground-truth objects (nothing)"]
    assert item.to_record()["gt_objects"] == [] and item.recall == 0.0


def test_chair_result_official_dump_and_bench_fields():
    """Two captions: "a dog" (GT dog) and "a man and a cat" (GT {}): CHAIRs 1/2, CHAIRi 2/3, Recall 1/1,
    Len 0.01 * (2 + 5) / 2."""
    result = _chair(["a dog", "a man and a cat"], [1, 2], {1: {"dog"}, 2: set()})
    overall = {"CHAIRs": 1 / 2, "CHAIRi": 2 / 3, "Recall": 1.0, "Len": 0.01 * 7 / 2}
    assert result.to_official() == {"sentences": [i.to_official() for i in result.items],
                                    "overall_metrics": overall}
    assert result.metrics_percent() == pytest.approx({k: 100 * v for k, v in overall.items()})
    bench = result.to_bench_result(config={"gt": "toy"}, versions={"nltk": "3.9.1"}, data_sha256={"gt": "ab"})
    assert (bench.variant, bench.versions, bench.data_sha256) == (
        "refined-synonyms+pos-lemmas", {"nltk": "3.9.1"}, {"gt": "ab"})
    plain = result.to_bench_result()
    assert (plain.config, plain.versions, plain.data_sha256) == ({}, {}, {})


def test_chair_variant_is_maxlinn_only_for_original_synonyms_and_pos_lemmas():
    original = build_vocabulary(SYNONYMS, ORIGINAL)
    assert chair_variant(original, LEMMA_POS) == "maxlinn"
    assert chair_variant(original, LEMMA_NOUN) == "original-synonyms+noun-lemmas"
    assert chair_variant(TOY, LEMMA_POS) == "refined-synonyms+pos-lemmas"
    assert score_chair(["a dog"], [1], {1: {"dog"}}, original, pipeline=STUB).variant == "maxlinn"


# -- Object HalBench ----------------------------------------------------------------------------------------
LONG = "This long answer describes the whole scene in detail."


def _parse(text: str) -> ParsedPhrase:
    words = tuple(text.split())
    return ParsedPhrase(words, ("DT",) + ("NN",) * (len(words) - 1))


def _objhal(answers, ids, extracted, gt, **kwargs):
    return score_objhal_extracted(answers, ids, extracted, gt, TOY, chunker=_parse, **kwargs)


def test_objhal_item_record_and_why():
    """Objects dog, car (not in GT {dog}), "coffee" (no COCO word: dropped)."""
    result = _objhal([LONG], [4], [["dog", "car", "coffee"]], {4: {"dog"}}, questions=["Describe it."])
    item = result.items[0]
    assert (item.question, item.answer, item.extracted) == ("Describe it.", LONG, ("dog", "car", "coffee"))
    assert item.why() == ["'car' means 'car', which is not among the image's ground-truth objects (dog)"]
    assert item.to_record() == {
        "image_id": 4, "extracted": ["dog", "car", "coffee"], "objects": ["dog", "car", "coffee"],
        "mentioned": ["dog", "car"], "hallucinated": [["car", "car"]], "why": item.why(),
        "not_coco": ["coffee"], "gt_objects": ["dog"], "counts_for_resp": True,
        "CHAIRs": 1, "CHAIRi": 1 / 2,
    }
    assert item.hallucination_idxs == (1,)
    empty = _objhal([LONG], [4], [["cat"]], {4: set()}).items[0]
    assert empty.why() == ["'cat' means 'cat', which is not among the image's ground-truth objects (nothing)"]


def test_objhal_without_questions_records_empty_ones_and_bench_fields():
    result = _objhal([LONG, LONG], [1, 2], [["dog"], []], {1: {"dog"}, 2: {"cat"}})
    assert [i.question for i in result.items] == ["", ""]
    assert result.items[1].chair_i == 0.0 and not result.items[1].mentions_coco
    assert (result.chair_s, result.chair_s_refine, result.chair_i, result.obj_rec) == (0.0, 0.0, 0.0, 1 / 2)
    bench = result.to_bench_result(config={"gt": "toy"}, versions={"v": "1"}, data_sha256={"f": "ab"})
    assert (bench.variant, bench.versions, bench.data_sha256, bench.config) == (
        "llm-objects+wordnet-fallback", {"v": "1"}, {"f": "ab"}, {"gt": "toy"})
    plain = result.to_bench_result()
    assert (plain.config, plain.versions, plain.data_sha256) == ({}, {}, {})
    assert result.summary()["Object Correct"] == 100.0 and result.summary()["Response Correct"] == 100.0


def test_inconsistent_caption_words_are_refused_and_the_progress_flag_reaches_the_bar(capsys):
    from evaluation.chair import score_chair_words
    from evaluation.chair.words import CaptionWords

    broken = CaptionWords(words=("dog", "cat"), node_words=("dog",), idxs=(1, 3), raw_words=("a", "dog"))
    with pytest.raises(ValueError):
        score_chair_words([broken], ["a dog"], [1], {1: {"dog"}})
    _chair(["a dog"], [1], {1: {"dog"}})
    assert "CHAIR words" not in capsys.readouterr().err  # not a terminal: no bar by default
    score_chair(["a dog"], [1], {1: {"dog"}}, TOY, pipeline=STUB, progress=True)
    assert "CHAIR words" in capsys.readouterr().err


def test_objhal_why_lists_every_ground_truth_class_and_the_text_path_passes_progress(capsys):
    from evaluation.chair import score_objhal_text

    item = _objhal([LONG], [4], [["car"]], {4: {"dog", "person"}}).items[0]
    assert item.why() == [
        "'car' means 'car', which is not among the image's ground-truth objects (dog, person)"]
    result = score_objhal_text(["a dog and a car"], [4], {4: {"dog"}}, TOY, pipeline=STUB)
    assert [i.mentioned for i in result.items] == [("dog", "car")]
    assert "CHAIR words" not in capsys.readouterr().err  # not a terminal: no bar by default
    score_objhal_text(["a dog"], [4], {4: {"dog"}}, TOY, pipeline=STUB, progress=True)
    assert "CHAIR words" in capsys.readouterr().err


def test_objhal_variant_names_are_the_ones_results_files_carry():
    """The literal names (the results schema's ``variant``), not the module constants: a changed constant
    value would silently split the results of one protocol under two names."""
    from evaluation.chair import score_objhal_text

    assert _objhal([LONG], [1], [["dog"]], {1: {"dog"}}).variant == "llm-objects+wordnet-fallback"
    official = _objhal([LONG], [1], [["dog"]], {1: {"dog"}}, chunker_name="spacy-trf")
    assert official.variant == "llm-objects+spacy-trf"
    assert score_objhal_text(["a dog"], [1], {1: {"dog"}}, TOY, pipeline=STUB).variant == "nltk-noun-lemmas"
