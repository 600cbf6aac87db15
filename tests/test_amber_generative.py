"""AMBER generative scoring: every quirk of the official loop, on real annotation ids, derived by hand.

Official: junyangwang0410/AMBER @ 534babf, inference.py. Notation: N = number of generative answers; every
denominator starts at 0.001 (data/metrics.txt); printed values are round(x, 1). Unless a test says otherwise,
nouns come from a stub (whitespace split, every token a noun, lemma = token) so the bookkeeping is tested on
its own; the real NLTK pipeline is tested at the end.

Annotations used (from data/annotations.json and relation.json):
  id 1:   truth sky, forest[tree leave bush], grass[ground], person[people individual man woman boy girl],
          lake[water sea river], mountain[hill rock stone reef], road[path street ground]   (7 objects)
          hallu cloud, sun, bird[bill], dog, flower                                         (5 objects)
  id 18:  truth sky, cloud, man, mountain, tree, ground (6); hallu camera, dog, sun, tree, bird (5)
  id 68:  truth mountain, sky, cloud, ground[floor], horse, person, hat, mountain, grass[ground]
          (9 objects; mountain twice)
          hallu sun, flower, tree[forest leave bush], bird[bill], river[lake water] (5)
  id 463: truth bag, ground[floor], bag, car[...], road[path street ground] (5; bag x2)
"""

from __future__ import annotations

import random

import pytest
from conftest import need_data, need_nltk

from benchmarks_data.amber import load_amber
from evaluation.amber import (
    AmberResponse,
    ExactSimilarity,
    NounExtractor,
    TableSimilarity,
    nltk_noun_extractor,
    score_amber,
)
from evaluation.amber.records import EXACT_SAFE, GLOBAL_SAFE, HALLUCINATED, SIMILAR_SAFE
from evaluation.amber.reference import official_counters, official_printed

SPLIT_NOUNS = NounExtractor(
    tokenize=str.split, pos_tag=lambda tokens: [(t, "NN") for t in tokens], lemmatize=lambda word: word
)


@pytest.fixture(scope="module")
def amber():
    root = need_data("amber/data/annotations.json", "amber/data/relation.json", "amber/data/safe_words.txt")
    return load_amber(root)


def foreign_word(amber, item_id: int) -> str:
    """A vocabulary word that is neither global-safe nor safe for this image: with the exact backend it is
    always hallucinated."""
    annotation = amber.annotations[item_id]
    safe = {
        *annotation.truth,
        *(w for t in annotation.truth for w in amber.association[t]),
        *amber.safe_words,
    }
    return next(w for w in sorted(amber.vocabulary) if w not in safe)


def score(amber, answers: dict[int, str], similarity=None):
    responses = [AmberResponse(i, text) for i, text in answers.items()]
    return score_amber(
        responses, amber, similarity=similarity or ExactSimilarity(), nouns=SPLIT_NOUNS, progress=False
    )


def test_annotations_used_here_are_as_documented(amber):
    assert (
        amber.annotations[68].truth.count("mountain") == 2 and amber.annotations[463].truth.count("bag") == 2
    )
    assert amber.association["grass"] == ("ground",) and "tree" in amber.annotations[18].hallu
    assert amber.annotations[1].hallu == ("cloud", "sun", "bird", "dog", "flower")


def test_duplicate_truth_word_only_first_copy_is_covered(amber):
    """id 68, "mountain mountain hill ground": mountain -> first exact match is truth[0] (first copy);
    hill -> first match is mountain's FIRST association copy -> truth[0] again; ground -> the first exact
    match is grass's association word (association words precede truth words) -> covers grass, not ground.
    Flags: mountain#1 and grass = 2 of 9. Cover = 2/9.001*100 = 22.2197 -> 22.2. CHAIR = 0/4.001 = 0.0.
    Hal = 100 - 1/1.001*100 = 0.0999 -> 0.1. Cog = 0/5.001 = 0.0.
    id 463, "bag bag": only bag#1 -> Cover = 1/5.001*100 = 19.996 -> 20.0 (never 40)."""
    result = score(amber, {68: "mountain mountain hill ground"})
    assert result.metrics == {"generative": {"CHAIR": 0.0, "Cover": 22.2, "Hal": 0.1, "Cog": 0.0}}
    record = result.generative_records[0]
    assert record.covered == (True, False, False, False, False, False, False, False, True)
    assert [m.covered_truth for m in record.mentions] == ["mountain", "mountain", "mountain", "grass"]
    assert score(amber, {463: "bag bag"}).metrics["generative"]["Cover"] == 20.0
    assert score(amber, {463: "bag bag"}).generative_records[0].covered == (True, False, False, False, False)


def test_hallu_word_that_is_a_truth_word_is_safe_and_sets_no_cog(amber):
    """id 18: "tree" is both truth[4] and hallu[3]. Step (b) (exact safe) comes first and `continue`s, so
    it covers truth tree and never reaches the Cog steps. Cover = 1/6.001*100 = 16.664 -> 16.7,
    Cog = 0/5.001 = 0.0, CHAIR = 0.0, Hal = 100 - 1/1.001*100 -> 0.1."""
    result = score(amber, {18: "tree"})
    assert result.metrics["generative"] == {"CHAIR": 0.0, "Cover": 16.7, "Hal": 0.1, "Cog": 0.0}
    mention = result.generative_records[0].mentions[0]
    assert (mention.verdict, mention.exact_hallu, mention.similar_hallu) == (EXACT_SAFE, None, None)


def test_similar_to_safe_sets_cog_but_is_not_hallucinated(amber):
    """id 1, "dog", table sim(dog, man) = 0.9: (c) dog is exactly hallu[3] -> Cog; (d) the first similar
    ha_word is dog itself (identical = 1.0) -> same flag; (e) first similar safe word is "man", an association
    word of person (truth[3]) -> covered, NOT hallucinated. CHAIR = 0/1.001 = 0.0; Cover = 1/7.001*100 =
    14.284 -> 14.3; Cog = 1/5.001*100 = 19.996 -> 20.0; Hal = 100 - 1/1.001*100 -> 0.1."""
    result = score(amber, {1: "dog"}, TableSimilarity({"dog": {"man": 0.9}}))
    assert result.metrics["generative"] == {"CHAIR": 0.0, "Cover": 14.3, "Hal": 0.1, "Cog": 20.0}
    mention = result.generative_records[0].mentions[0]
    assert (mention.verdict, mention.safe_match, mention.covered_truth) == (SIMILAR_SAFE, "man", "person")
    assert (mention.exact_hallu, mention.similar_hallu) == ("dog", "dog")


def test_similarity_step_can_flag_a_different_hallu_object_than_the_exact_step(amber):
    """id 68, "river", table sim(river, bush) = 0.9. ha_words = forest leave bush (tree's) bill (bird's)
    lake water (river's) sun flower tree bird river. (c) exact: "river" -> river; (d) first similar: "bush"
    (owned by tree) comes before river itself -> tree. No safe word is similar -> hallucinated.
    Cog = 2/5.001*100 = 39.992 -> 40.0; CHAIR = 1/1.001*100 = 99.9; Hal = 100 - 0 = 100.0; Cover = 0.0."""
    result = score(amber, {68: "river"}, TableSimilarity({"bush": {"river": 0.9}}))
    assert result.metrics["generative"] == {"CHAIR": 99.9, "Cover": 0.0, "Hal": 100.0, "Cog": 40.0}
    mention = result.generative_records[0].mentions[0]
    assert (mention.verdict, mention.exact_hallu, mention.similar_hallu) == (HALLUCINATED, "river", "tree")
    assert result.generative_records[0].cog_hallu == ("tree", "river")


def test_similarity_exactly_threshold_is_not_similar(amber):
    """Strict `>`: sim(dog, man) = 0.8 -> not similar -> dog is hallucinated: CHAIR = 1/1.001 -> 99.9,
    Cover = 0.0. Just above (0.8000001) -> similar-safe as in the test above: CHAIR 0.0, Cover 14.3."""
    at = score(amber, {1: "dog"}, TableSimilarity({"dog": {"man": 0.8}}))
    above = score(amber, {1: "dog"}, TableSimilarity({"man": {"dog": 0.8000001}}))  # reverse order read too
    assert (at.metrics["generative"]["CHAIR"], at.metrics["generative"]["Cover"]) == (99.9, 0.0)
    assert (above.metrics["generative"]["CHAIR"], above.metrics["generative"]["Cover"]) == (0.0, 14.3)


def test_global_safe_words_count_in_chair_denominator(amber):
    """id 1, "camera dog dog": camera is a global safe word (skipped, never hallucinated) but a candidate;
    dog is hallucinated twice (mentions are counted with repetition). CHAIR = 2/3.001*100 = 66.644 -> 66.6
    (it would be 2/2.001 -> 100.0 if camera were not counted). Cog = 1/5.001 -> 20.0; Hal = 100.0."""
    result = score(amber, {1: "camera dog dog"})
    assert result.metrics["generative"] == {"CHAIR": 66.6, "Cover": 0.0, "Hal": 100.0, "Cog": 20.0}
    assert [m.verdict for m in result.generative_records[0].mentions] == [
        GLOBAL_SAFE,
        HALLUCINATED,
        HALLUCINATED,
    ]
    assert result.generative_records[0].hallucinated == ("dog", "dog")


def test_nouns_outside_the_vocabulary_and_wrong_case_are_not_candidates(amber):
    """id 1, "Dog DOG scene dog": only the exact lower-case vocabulary word "dog" is a candidate (the
    official code never lower-cases). CHAIR = 1/1.001 -> 99.9."""
    result = score(amber, {1: "Dog DOG scene dog"})
    assert [m.word for m in result.generative_records[0].mentions] == ["dog"]
    assert result.metrics["generative"]["CHAIR"] == 99.9


def test_empty_response_is_not_hallucinated(amber):
    """ids 1 ("") and 68 ("river", hallucinated): N = 2, one non-hallucinated answer.
    Hal = 100 - 1/2.001*100 = 50.025 -> 50.0 (100.0 without the empty answer); CHAIR = 1/1.001 -> 99.9;
    Cover = 0/16.001 = 0.0; Cog = 1/10.001*100 = 9.999 -> 10.0."""
    result = score(amber, {1: "", 68: "river"})
    assert result.metrics["generative"] == {"CHAIR": 99.9, "Cover": 0.0, "Hal": 50.0, "Cog": 10.0}
    assert score(amber, {68: "river"}).metrics["generative"]["Hal"] == 100.0


def test_generative_only_subset_uses_the_seeded_denominators(amber):
    """All 1004 answers empty: Hal = 100 - 1004/1004.001*100 = 9.96e-5 -> 0.0; Cover = 0/5599.001 = 0.0;
    the discriminative sections are left out (no items). One empty + four hallucinated answers (ids 1-5):
    Hal = 100 - 1/5.001*100 = 80.004 -> 80.0."""
    result = score(amber, {i: "" for i in range(1, 1005)})
    assert result.metrics == {"generative": {"CHAIR": 0.0, "Cover": 0.0, "Hal": 0.0, "Cog": 0.0}}
    assert result.raw["generative"]["Hal"] == 100 - 1004 / (0.001 + 1004) * 100
    few = score(amber, {1: "", **{i: foreign_word(amber, i) for i in range(2, 6)}})
    assert few.metrics["generative"]["Hal"] == 80.0
    assert few.raw["generative"]["Hal"] == pytest.approx(100 - 1 / 5.001 * 100, abs=1e-12)


def test_no_lmms_eval_style_per_item_denominator_drift(amber):
    """lmms-eval re-seeds every item with 0.001 and sums, so its Hal denominator is N*1.001. Two empty
    answers: official Hal = 100 - 2/2.001*100 = 0.04998 -> 0.0; the drifted one would be
    100 - 2/2.002*100 = 0.0999 -> 0.1. Over all 1004 with 101 empty answers: official
    100 - 101/1004.001*100 = 89.940 -> 89.9 (drifted: 89.950 -> 90.0)."""
    two = score(amber, {1: "", 2: ""})
    assert two.metrics["generative"]["Hal"] == 0.0
    assert two.raw["generative"]["Hal"] == 100 - 2 / 2.001 * 100
    answers = {i: ("" if i <= 101 else foreign_word(amber, i)) for i in range(1, 1005)}
    result = score(amber, answers)
    assert sum(not r.is_hallucinated for r in result.generative_records) == 101
    assert result.metrics["generative"]["Hal"] == 89.9


def test_matches_the_official_per_pair_loop_on_random_answers(amber):
    """Differential check against evaluation.amber.reference, a literal transcription of the official loop
    (list scans, safe_list/ha_list index tricks, one similarity call per pair, no caching): random answers
    over random id subsets, with a random similarity table that includes values of exactly 0.8. Every
    printed value and every raw counter ratio must be identical."""
    rng = random.Random(1234)
    vocabulary = sorted(amber.vocabulary)
    table: dict[str, dict[str, float]] = {}
    for i, first in enumerate(vocabulary):
        for second in vocabulary[i + 1 :]:
            x = rng.random()
            if x < 0.04:
                table.setdefault(first, {})[second] = rng.choice([0.8, 0.8000001, 0.95])
            elif x < 0.3:
                table.setdefault(first, {})[second] = rng.random() * 0.8
    backend = TableSimilarity(table)
    for _ in range(3):
        ids = rng.sample(range(1, 1005), 300)
        answers = {}
        for i in ids:
            a = amber.annotations[i]
            pool = [
                *a.truth,
                *a.hallu,
                *(w for t in a.truth for w in amber.association[t]),
                *rng.sample(vocabulary, 8),
                "Dog",
                "scene",
                "camera",
            ]
            answers[i] = " ".join(rng.choice(pool) for _ in range(rng.randint(0, 25)))
        ours = score(amber, answers, backend)
        responses = [AmberResponse(i, t) for i, t in answers.items()]
        counters = official_counters(responses, amber, SPLIT_NOUNS, backend.similarity)
        assert ours.metrics["generative"] == official_printed(counters)["generative"]
        assert (
            ours.raw["generative"]["Hal"]
            == 100 - counters["non_hallu_score"] / counters["non_hallu_num"] * 100
        )
        assert ours.raw["generative"]["CHAIR"] == counters["chair_score"] / counters["chair_num"] * 100


def test_real_nltk_pipeline_end_to_end(amber):
    """Real NLTK (tokenise, tag, WordNet lemma; no lower-casing). Observed tags for
    "A Dog and a dog sit near the TV. People walk; a man rides horses.":
    Dog/NNP dog/NN sit/NN TV/NN People/NNS man/NN horses/NNS -> nouns Dog dog sit TV People man horse.
    Candidates (in the vocabulary, case-sensitive): dog, TV, man, horse ("Dog", "People", "sit" are not).
    id 1, exact backend: dog -> hallucinated (Cog dog); TV -> hallucinated; man -> person's association
    -> covers person; horse -> hallucinated. CHAIR = 3/4.001*100 = 74.98 -> 75.0; Cover = 1/7.001 -> 14.3;
    Cog = 1/5.001 -> 20.0; Hal = 100.0."""
    need_nltk()
    extractor = nltk_noun_extractor()
    text = "A Dog and a dog sit near the TV. People walk; a man rides horses."
    assert extractor(text) == ("Dog", "dog", "sit", "TV", "People", "man", "horse")
    assert extractor("The leaves are green.") == (
        "leaf",
    )  # default noun lemma: never the vocabulary's "leave"
    assert {"dog", "TV", "man", "horse"} <= amber.vocabulary and not {
        "Dog",
        "People",
        "sit",
    } & amber.vocabulary
    result = score_amber(
        [AmberResponse(1, text)], amber, similarity=ExactSimilarity(), nouns=extractor, progress=False
    )
    assert result.metrics["generative"] == {"CHAIR": 75.0, "Cover": 14.3, "Hal": 100.0, "Cog": 20.0}
    assert [m.word for m in result.generative_records[0].mentions] == ["dog", "TV", "man", "horse"]


def test_noun_extractor_keeps_nn_tags_and_lemmatises_only_them():
    """Official: keep tags starting with "NN" (NN, NNS, NNP, NNPS), lemmatise those words only."""
    tags = {"Dogs": "NNP", "cats": "NNS", "run": "VB", "NN": "DT", "trees": "NNPS", "old": "JJ"}
    extractor = NounExtractor(
        tokenize=str.split,
        pos_tag=lambda tokens: [(t, tags[t]) for t in tokens],
        lemmatize=lambda word: word.rstrip("s"),
    )
    assert extractor("Dogs run cats NN trees old") == ("Dog", "cat", "tree")


def test_missing_nltk_data_is_one_clear_error(monkeypatch):
    import nltk

    from evaluation.amber import NltkDataError, installed_nltk_noun_extractor, official_noun_extractor
    from evaluation.chair.nlp import load_pipeline

    def missing(*args, **kwargs):
        raise LookupError("\n****\n  Resource punkt_tab not found.\n  Please use the NLTK Downloader\n****")

    monkeypatch.setattr(nltk, "word_tokenize", missing)
    with pytest.raises(NltkDataError) as err:
        installed_nltk_noun_extractor()
    message = str(err.value)
    assert "\n" not in message and "Resource punkt_tab not found." in message and "NLTK_DATA" in message

    load_pipeline.cache_clear()  # the default (official) extractor checks its data when it first loads
    monkeypatch.setattr(nltk.data, "find", missing)
    try:
        with pytest.raises(NltkDataError) as err:
            official_noun_extractor()
    finally:
        load_pipeline.cache_clear()
    message = str(err.value)
    assert "\n" not in message and "punkt_tab" in message and "NLTK_DATA" in message


def test_result_converts_to_the_results_schema(amber):
    """Sections and metric names match evaluation.results; the whole result and the records serialise."""
    import json

    from evaluation.amber import amber_versions
    from evaluation.results import HIGHER_IS_BETTER

    result = score_amber(
        [AmberResponse(1, "dog man"), AmberResponse(1005, "Yes")],
        amber,
        similarity=ExactSimilarity(),
        nouns=SPLIT_NOUNS,
        progress=False,
    )
    bench = result.to_bench_result(
        versions=amber_versions(ExactSimilarity()), data_sha256={"x": "y"}
    ).to_dict()
    assert bench["bench"] == "amber" and bench["variant"] == "official" and bench["n_items"] == 2
    assert list(bench["metrics"]) == ["generative", "discriminative", "attribute", "state"]
    assert all(name in HIGHER_IS_BETTER for section in bench["metrics"].values() for name in section)
    assert bench["config"]["similarity"] == "exact" and bench["config"]["similarity_threshold"] == 0.8
    assert bench["config"]["raw"]["generative"]["CHAIR"] == 1 / 2.001 * 100
    assert "nltk" in bench["versions"]
    json.dumps(bench)
    record = json.loads(json.dumps(result.generative_records[0].to_dict()))
    assert record["hallucinated"] == ["dog"] and record["covered_truth"] == ["person"]
    assert record["mentions"][1] == {
        "word": "man",
        "verdict": "exact-safe",
        "safe_match": "man",
        "covered_truth": "person",
        "exact_hallu": None,
        "similar_hallu": None,
    }
    assert json.loads(json.dumps(result.discriminative_records[0].to_dict()))["bucket"] == "state"


def test_counters_count_the_generative_items_and_a_discriminative_only_run_has_no_generative_section(amber):
    """(mutation testing, docs/testing.md) ``GenerativeCounters.items`` is the number of answers added; with
    none (ids 1005 and 1006 are discriminative) the generative block is left out."""
    from evaluation.amber.generative import GenerativeCounters

    counters = GenerativeCounters()
    assert counters.items == 0
    for record in score(amber, {1: "", 68: "river"}).generative_records:
        counters.add(record)
    assert counters.items == 2
    result = score(amber, {1005: "Yes", 1006: "No"})
    assert "generative" not in result.metrics and "generative" not in result.raw
    assert list(result.metrics) == ["discriminative", "attribute", "state"]
