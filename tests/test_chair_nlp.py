"""The fast NLTK parts (``WordNetMorphy``, ``FastPerceptronTagger``) give exactly nltk's answers.

Unit cases use hand-made WordNet tables and follow nltk's ``_morphy`` by hand; the equivalence tests compare
with ``nltk.pos_tag`` and ``nltk.stem.WordNetLemmatizer`` on every token of real validation captions.
"""

from __future__ import annotations

import json

import pytest
from conftest import need_data, need_nltk

from evaluation.chair.morphy import ADJ, ADV, NOUN, VERB, WordNetMorphy

OPERA = "object_halbench/validation/opera_llava15/greedy.jsonl"
THUNLP = "object_halbench/validation/thunlp_exercise/beam_search_objhal_bench_answer.jsonl"

INDEX = {
    NOUN: [
        "  1 licence header line",
        "dog n 1 0 1 0 02084071",
        "goose n 1 0 1 0 01855672",
        "glass n 1 0 1 0 1",
        "gas n 1 0 1 0 1",
        "ga n 1 0 1 0 1",
        "bus n 1 0 1 0 1",
    ],
    VERB: ["ride v 1 0 1 0 1", "rid v 1 0 1 0 1", "phone v 1 0 1 0 1", "be v 1 0 1 0 1"],
    ADJ: ["good a 1 0 1 0 1"],
    ADV: [],
}
EXC = {NOUN: ["geese goose"], VERB: ["was be"], ADJ: ["better good well"], ADV: []}


def _morphy() -> WordNetMorphy:
    return WordNetMorphy.from_files(
        {p: "\n".join(v) for p, v in INDEX.items()}, {p: "\n".join(v) for p, v in EXC.items()}
    )


def test_morphy_rules_exceptions_and_shortest_lemma():
    """nltk _morphy + lemmatize, by hand on the tables above:
    dogs/n: not an exception; rules give "dog" (s->""); [dogs, dog] ∩ lemmas = [dog] -> dog.
    geese/n: exception -> [goose]; [geese, goose] ∩ lemmas -> goose.
    gases/n: rules s->"" "gase", ses->s "gas"; [gases, gase, gas] ∩ lemmas = [gas] -> gas.
    rides/v: rules "ride" (s->""), "ride" (es->e), "rid" (es->""); both lemmas; shortest -> "rid".
    phoning/v: ing->e "phone", ing->"" "phon" -> phone.  was/v: exception -> be.
    better/a: exception [good, well]; "well" is no adjective lemma here -> good.
    cats/n: nothing known -> unchanged.  glass/n: itself a lemma; rule s->"" gives "glas" (unknown) -> glass.
    """
    m = _morphy()
    assert m.lemmatize("dogs", NOUN) == "dog"
    assert m.lemmatize("geese", NOUN) == "goose"
    assert m.lemmatize("gases", NOUN) == "gas"
    assert m.lemmatize("rides", VERB) == "rid"
    assert m.lemmatize("phoning", VERB) == "phone"
    assert m.lemmatize("was", VERB) == "be"
    assert m.lemmatize("better", ADJ) == "good"
    assert m.lemmatize("cats", NOUN) == "cats"
    assert m.lemmatize("glass", NOUN) == "glass"
    assert m.lemmatize("quickly", ADV) == "quickly"


def test_morphy_keeps_candidate_order_and_ignores_header_lines():
    """ "gas" is a lemma and so is "ga": [gas, ga] both survive, in candidate order; the indented licence line
    ("  1 licence ...") never becomes a lemma."""
    m = _morphy()
    assert m.morphy("gas", NOUN) == ["gas", "ga"]
    assert m.lemmatize("gas", NOUN) == "ga"  # shortest wins, as nltk's min(lemmas, key=len)
    assert m.morphy("1", NOUN) == []


@pytest.fixture(scope="module")
def validation_tokens():
    root = need_data(OPERA, THUNLP)
    need_nltk()
    from evaluation.chair.nltk_compat import legacy_word_tokenize

    texts = [json.loads(line)["caption"] for line in (root / OPERA).read_text(encoding="utf-8").splitlines()]
    texts += [json.loads(line)["answer"] for line in (root / THUNLP).read_text(encoding="utf-8").splitlines()]
    return [legacy_word_tokenize(t.lower()) for t in texts]


def test_fast_tagger_equals_nltk_pos_tag_on_real_captions(validation_tokens):
    """Every tag of 800 real captions (500 OPERA + 300 THUNLP) equals ``nltk.pos_tag``'s."""
    token_lists = validation_tokens
    import nltk

    from evaluation.chair.tagger import FastPerceptronTagger

    fast = FastPerceptronTagger.from_nltk_data()
    mismatches = [
        tokens for tokens in token_lists if fast.tag(tokens) != [t for _, t in nltk.pos_tag(tokens)]
    ]
    assert mismatches == []
    assert sum(map(len, token_lists)) > 50_000  # the comparison really covered the captions


def test_fast_lemmatizer_equals_nltk_wordnet_lemmatizer_on_real_tokens(validation_tokens):
    """Every distinct token of the 800 captions, as noun, verb, adjective and adverb."""
    token_lists = validation_tokens
    from nltk.stem import WordNetLemmatizer

    reference = WordNetLemmatizer()
    fast = WordNetMorphy.from_nltk_data()
    words = sorted({w for tokens in token_lists for w in tokens})
    diffs = [
        (w, p)
        for w in words
        for p in (NOUN, VERB, ADJ, ADV)
        if fast.lemmatize(w, p) != reference.lemmatize(w, p)
    ]
    assert diffs == []
    assert len(words) > 3000


def test_feature_keys_equal_nltk_get_features_in_order(validation_tokens):
    """``tagger.features`` gives exactly the keys (and order) of nltk's ``_get_features`` (all values 1), for
    the first 3,000 tokens of the captions with varied previous tags, including the empty string."""
    from nltk.tag.perceptron import PerceptronTagger

    from evaluation.chair.tagger import features

    nltk_tagger = PerceptronTagger(load=False)
    tokens = [t for tokens in validation_tokens for t in tokens][:3000] + [""]
    context = nltk_tagger.START + [nltk_tagger.normalize(w) for w in tokens] + nltk_tagger.END
    for i, word in enumerate(tokens):
        prev, prev2 = ("NN", "-START-") if i % 2 else ("VBZ", "DT")
        reference = nltk_tagger._get_features(i, word, context, prev, prev2)
        assert list(reference.items()) == [(k, 1) for k in features(word, context, i + 2, prev, prev2)]


def test_missing_nltk_data_is_one_clear_error(monkeypatch, tmp_path):
    import nltk

    from evaluation.chair import nlp

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    with pytest.raises(
        nlp.NltkDataError, match=r"NLTK data missing: tokenizers/punkt_tab/english/.*NLTK_DATA"
    ) as e:
        nlp.load_pipeline.__wrapped__("fast")  # bypass the per-process cache
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="unknown NLTK backend"):
        nlp.load_pipeline.__wrapped__("spacy")


def test_versions_record_the_tokenizer_behaviour():
    import nltk

    from evaluation.chair.nlp import NltkPipeline, nlp_versions

    stub = NltkPipeline("stub", str.split, lambda t: ["NN"] * len(t), lambda w, p: w)
    versions = nlp_versions(stub)
    assert versions == {
        "nltk": nltk.__version__,
        "nltk_word_tokenize": "as nltk 3.9.1",
        "nltk_backend": "stub",
    }
