"""The vectors-only spaCy backend gives exactly ``nlp(w1).similarity(nlp(w2))`` of the real pipeline.

Reference: spaCy 3.8 with en_core_web_md 3.8.0 (``make install`` unpacks it; see ``conftest.need_spacy_md``),
the official call of ``junyangwang0410/AMBER`` @ 534babf ``inference.py`` ``check_synonyms_word``. Floats are
compared with ``==``, so every 0.8-threshold decision is the pipeline's too.
"""

from __future__ import annotations

import itertools
import json
import warnings

import numpy as np
import pytest
from conftest import need_data, need_spacy_md

from evaluation.amber import SimilarityBackendError, SpacyVectorsSimilarity
from evaluation.amber.spacy_model import SPACY_MODELS_ENV, not_found_message, resolve_model_dir
from evaluation.amber.spacy_vectors import direct_read_problem, murmurhash64a, spacy_symbols

# Words beyond the AMBER vocabulary: hyphens (several tokens, averaged), words without a vector, capitals,
# spaCy symbol strings (their key is a small symbol id, not a hash), special cases ("cannot" -> can + not),
# whitespace, punctuation and non-ASCII text.
EXTRA_WORDS = [
    "t-shirt",
    "e-mail",
    "x-ray",
    "co-op",
    "a-b-c",
    "twenty-one",
    "3-D",
    "well--known",
    "U.K.-based",
    "stopcock",
    "rpoe",
    "bedsheet",
    "qwzxv",
    "Dog",
    "DOG",
    "TV",
    "mark",
    "number",
    "root",
    "X",
    "ADJ",
    "PERSON",
    "cannot",
    "don't",
    "'s",
    "e.g.",
    "U.S.",
    "dog.",
    "(dog)",
    ":-)",
    "",
    " ",
    "dog ",
    " dog",
    "hot dog",
    "dog  cat",
    "\tdog",
    "New York",
    "caf\u00e9",
    "na\u00efve",
    "sofa\u2014a",
    "\u201cdog\u201d",
]
# Texts in which spaCy's special-case matcher re-splits tokens ("x''" -> "x", "''"; emoticons): the backend
# asks spaCy's own tokenizer for these.
MATCHER_TEXTS = ["x''", "x(*_*)", "(*_*)x"]
# Affixes put around every special case of the model to exercise prefixes, suffixes and infixes.
WRAPPERS = ("({})", "{}.", "x{}", "{}x", '"{}"', "{},", "-{}")


@pytest.fixture(scope="module")
def vocabulary():
    root = need_data("amber/data/relation.json", "amber/data/annotations.json")
    from benchmarks_data.amber import load_amber

    return sorted(load_amber(root).vocabulary)


@pytest.fixture(scope="module")
def backend():
    backend = SpacyVectorsSimilarity(str(need_spacy_md()))
    backend.prepare()
    return backend


def test_string_keys_are_spacys(spacy_md_nlp, vocabulary):
    from spacy.symbols import IDS

    assert spacy_symbols() == dict(IDS)
    strings = spacy_md_nlp.vocab.strings
    for text in [*vocabulary, *EXTRA_WORDS, "abcdefgh", "abcdefghi", "\u6f22\u5b57"]:
        expected = strings.add(text)
        assert (IDS[text] if text in IDS else murmurhash64a(text.encode())) == expected, text


def test_tokens_are_spacys(backend, spacy_md_nlp, vocabulary):
    for text in [*vocabulary, *EXTRA_WORDS]:
        assert backend._tokenizer(text) == tuple(t.text for t in spacy_md_nlp.make_doc(text)), text
    assert backend._tokenizer("air-conditioning") == ("air", "-", "conditioning")
    for text in MATCHER_TEXTS:
        assert backend._tokenizer(text) is None, text  # the backend must not guess these


def test_special_cases_with_affixes_tokenize_as_spacy_or_go_to_spacy(backend, spacy_md_nlp):
    """Every special case of the model (1,347 in en_core_web_md) inside seven affix patterns: our tokens are
    spaCy's, or None where spaCy's matcher re-splits (then spaCy's tokenizer is used); it does so for some."""
    handed_over = 0
    for key in backend._tokenizer.specials:
        for wrapper in WRAPPERS:
            text = wrapper.format(key)
            ours = backend._tokenizer(text)
            handed_over += ours is None
            assert ours is None or ours == tuple(t.text for t in spacy_md_nlp.make_doc(text)), text
    assert handed_over > 0


def test_every_pair_of_the_vocabulary_is_the_pipelines_float(backend, spacy_md_nlp, vocabulary):
    """All 87,153 pairs of the 418 AMBER words and every pair with the extra words; both orders of a few."""
    words = vocabulary + EXTRA_WORDS + MATCHER_TEXTS
    assert len(vocabulary) == 418
    docs = {w: spacy_md_nlp(w) for w in words}
    differ, similar = [], 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # W008: no vector (the official script ignores it)
        for w1, w2 in itertools.combinations(words, 2):
            ours, official = backend.similarity(w1, w2), docs[w1].similarity(docs[w2])
            if type(ours) is not float or ours != official:
                differ.append((w1, w2, ours, official))
            similar += official > 0.8
        for w1, w2 in [("e-book", "book"), ("book", "e-book"), ("stopcock", "dog"), ("dog", "dog")]:
            assert backend.similarity(w1, w2) == spacy_md_nlp(w1).similarity(spacy_md_nlp(w2))
    assert differ == []
    assert similar > 100  # pairs above the threshold exist, so the 0.8 decisions are exercised
    assert backend.spacy_tokenized == len(MATCHER_TEXTS)  # only those went to spaCy's tokenizer


def test_special_values(backend):
    assert backend.similarity("dog", "dog") == 1.0  # identical tokens: 1.0 before any vector is read
    assert backend.similarity("", "") == 1.0
    assert backend.similarity("qwzxv", "dog") == 0.0  # no vector
    assert backend.similarity("dog ", "dog") == 1.0  # same tokens
    assert backend.versions()["spacy_model"] == "en_core_web_md-3.8.0"
    assert backend.versions()["spacy_similarity"].startswith("vectors read from the model files")


def test_model_found_by_name_path_and_env(monkeypatch, tmp_path):
    md = need_spacy_md()
    assert resolve_model_dir(str(md)) == md
    monkeypatch.setenv(SPACY_MODELS_ENV, str(md.parent))
    assert resolve_model_dir(md.name) == md
    monkeypatch.setenv(SPACY_MODELS_ENV, str(tmp_path))
    assert resolve_model_dir(str(tmp_path / "nothing")) is None
    assert resolve_model_dir("en_core_web_nonexistent") is None
    with pytest.raises(SimilarityBackendError) as err:
        SpacyVectorsSimilarity("en_core_web_nonexistent").prepare()
    message = str(err.value)
    assert "\n" not in message and "spacy:PATH" in message and SPACY_MODELS_ENV in message
    assert message == not_found_message("en_core_web_nonexistent")


@pytest.mark.parametrize(
    "cfg, meta, config, reason",
    [
        ({"mode": "floret"}, {"lang": "en"}, "", "vectors mode 'floret'"),
        ({"attr": 66}, {"lang": "en"}, "", "not ORTH"),
        ({}, {"lang": "de"}, "", "language 'de'"),
        ({}, {"lang": "en"}, '[nlp.tokenizer]\n@tokenizers = "custom.v1"\n', "tokenizer 'custom.v1'"),
        (
            {},
            {"lang": "en"},
            '[nlp.tokenizer]\n@tokenizers = "spacy.Tokenizer.v1"\n'
            '[components.x]\nfactory = "merge_noun_chunks"\n',
            "merge_noun_chunks",
        ),
    ],
)
def test_models_that_cannot_be_read_directly_say_why(tmp_path, cfg, meta, config, reason):
    (tmp_path / "config.cfg").write_text(config)
    assert reason in direct_read_problem(tmp_path, cfg, meta)


def test_md_model_is_read_directly():
    md = need_spacy_md()
    meta = json.loads((md / "meta.json").read_text())
    assert direct_read_problem(md, json.loads((md / "vocab" / "vectors.cfg").read_text()), meta) is None


def test_decoded_copy_is_reused_and_rebuilt_when_corrupt(monkeypatch, tmp_path):
    from evaluation.amber import spacy_cache

    md = need_spacy_md()
    monkeypatch.setattr(spacy_cache, "cache_root", lambda: tmp_path)
    keys, rows, tokenizer = spacy_cache.load_model_index(md)
    (folder,) = tmp_path.iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["keys.npy", "rows.npy", "tokenizer.json"]
    assert np.all(keys[1:] > keys[:-1]) and len(keys) == len(rows) == 684_830
    (folder / "tokenizer.json").write_text("{broken")
    again = spacy_cache.load_model_index(md)  # decoded and written again
    assert np.array_equal(again[0], keys) and np.array_equal(again[1], rows) and again[2] == tokenizer
    assert json.loads((folder / "tokenizer.json").read_text()) == tokenizer
