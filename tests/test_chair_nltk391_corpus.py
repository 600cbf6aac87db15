"""The code copied from nltk (``nltk_compat``, ``tagger``, ``morphy``) against nltk 3.9.1 itself, on ~570k tokens.

``tests/fixtures/nltk391/expected.json`` holds what the pinned nltk 3.9.1 made of every model caption and
answer in the shared benchmark data (OPERA and THUNLP CHAIR captions, AMBER responses, MMHal questions,
reference and model answers; 3,960 distinct texts): per text, digests of ``nltk.word_tokenize`` and of the
``nltk.pos_tag`` tags (also on ``text.lower()`` for the CHAIR captions, as CHAIR tokenizes), and per distinct
token ``WordNetLemmatizer().lemmatize(token, pos)`` for n, v, a and r. Provenance and the command that remakes
it: ``tests/fixtures/nltk391/README.md``. The texts are read from the shared data; only digests and the lemma
word list are committed.

Our pipeline (``load_pipeline("fast")``: ``legacy_word_tokenize``, ``FastPerceptronTagger``,
``WordNetMorphy``) must reproduce every item, whatever nltk is installed: a new nltk release that changes the
Punkt classes our tokenizer builds on, or a change to the copied regex tables, fails here with the text's key.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from conftest import _data_required, need_data, need_nltk

FIXTURE = Path(__file__).parent / "fixtures" / "nltk391"


def _corpus_module():
    spec = importlib.util.spec_from_file_location("nltk391_corpus", FIXTURE / "corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


corpus = _corpus_module()
EXPECTED = json.loads((FIXTURE / "expected.json").read_text(encoding="utf-8"))
LOWERED = set(corpus.OPERA + corpus.THUNLP)


def _skip_or_fail(reason: str) -> None:
    if _data_required():
        pytest.fail(f"UEDPO_REQUIRE_DATA=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def texts():
    root = need_data(*corpus.FILES)
    changed = [rel for rel in corpus.FILES
               if corpus.hashlib.sha256((root / rel).read_bytes()).hexdigest()[:16] != EXPECTED["benchdata"][rel]]
    if changed:
        _skip_or_fail(f"shared data differs from the files the fixture was made from: {', '.join(changed)}")
    return corpus.texts(root)


@pytest.fixture(scope="module")
def pipeline():
    need_nltk()
    import nltk

    roots = [Path(p) for p in nltk.data.path if (Path(p) / corpus.NLTK_FILES[0]).is_file()]
    if not roots or corpus.nltk_data_digests(roots[0]) != EXPECTED["nltk_data"]:
        _skip_or_fail("the NLTK data found is not the one the fixture was made with (tests/fixtures/nltk391/"
                      "README.md; NLTK_DATA=../shared/nltk_data)")
    from evaluation.chair.nlp import load_pipeline

    return load_pipeline("fast")


def test_fixture_is_large_and_self_consistent():
    assert EXPECTED["nltk"] == "3.9.1"
    assert EXPECTED["n_tokens"] >= 500_000 and EXPECTED["n_texts"] == 3960
    rows = [row for rows in EXPECTED["texts"].values() for row in rows]
    assert len(rows) == EXPECTED["n_texts"]
    assert sum(sum(row[2::3]) for row in rows) == EXPECTED["n_tokens"]
    assert set(EXPECTED["texts"]) == set(corpus.FILES)


@pytest.fixture(scope="module")
def tokenized(texts, pipeline):
    """(key, text, [tokens of text, tokens of text.lower() for the CHAIR captions]) per text."""
    return [
        (key, text, [pipeline.tokenize(v) for v in ([text, text.lower()] if key.split("#")[0] in LOWERED
                                                   else [text])])
        for key, text in texts
    ]


def test_tokens_and_tags_match_nltk_391_on_every_text(tokenized, pipeline):
    assert len(tokenized) == EXPECTED["n_texts"]
    by_key = {f"{rel}#{row[0]}": row for rel, rows in EXPECTED["texts"].items() for row in rows}
    assert [key for key, _, _ in tokenized] == list(by_key)
    mismatches, types, n_tokens = [], set(), 0
    for key, text, variants in tokenized:
        row = by_key[key]
        if corpus.digest(text) != row[1]:
            mismatches.append(f"{key}: the text differs from the one the fixture was made from")
            continue
        assert len(row) == 2 + 3 * len(variants), key
        for v, tokens in enumerate(variants):
            n, want_tokens, want_tags = row[2 + 3 * v : 5 + 3 * v]
            label = f"{key}{' (lower-cased)' if v else ''}"
            if corpus.digest(tokens) != want_tokens:
                mismatches.append(f"{label}: word_tokenize differs ({len(tokens)} tokens, nltk 3.9.1 {n}): {tokens}")
                continue
            tags = pipeline.tag(tokens)
            if corpus.digest(tags) != want_tags:
                mismatches.append(f"{label}: pos_tag differs: {list(zip(tokens, tags, strict=True))}")
            types.update(tokens)
            n_tokens += len(tokens)
    hint = ("; nltk 3.9.1's side of one text: tests/fixtures/nltk391/generate.py --show KEY (see its README)"
            if mismatches else "")
    assert not mismatches, f"{len(mismatches)} mismatches{hint}:\n" + "\n".join(mismatches[:10])
    assert n_tokens == EXPECTED["n_tokens"]
    assert len(types) == EXPECTED["n_types"] and corpus.digest(sorted(types)) == EXPECTED["types_digest"]


def test_lemmas_match_nltk_391_for_every_token_and_pos(tokenized, pipeline):
    """Every distinct token of the corpus (raw and lower-cased), all four WordNet parts of speech: 27,916
    lemmatisations, of which 2,772 change the word."""
    types = {token for _, _, variants in tokenized for tokens in variants for token in tokens}
    assert corpus.digest(sorted(types)) == EXPECTED["types_digest"]
    wrong = [
        (word, pos, pipeline.lemmatize(word, pos), EXPECTED["lemmas"][pos].get(word, word))
        for word in sorted(types)
        for pos in ("n", "v", "a", "r")
        if pipeline.lemmatize(word, pos) != EXPECTED["lemmas"][pos].get(word, word)
    ]
    assert not wrong, f"{len(wrong)} lemmas differ from nltk 3.9.1 (word, pos, ours, nltk): {wrong[:20]}"
    assert sum(map(len, EXPECTED["lemmas"].values())) >= 2700


def test_vendored_lemmas_spot_check():
    """A readable spot check of the vendored table (nltk 3.9.1 + WordNet 3.0): exception lists (geese, mice,
    children, was), suffix rules (benches, sitting), and nltk's shortest-lemma rule, which keeps "men" ("men"
    and "man" are both noun lemmas, same length, the form itself comes first) and lemmatises the verb "rides"
    to "rid"."""
    table = EXPECTED["lemmas"]
    cases = {"n": {"geese": "goose", "mice": "mouse", "children": "child", "benches": "bench", "men": "men",
                   "women": "woman", "people": "people"},
             "v": {"was": "be", "sitting": "sit", "rides": "rid", "lying": "lie"},
             "a": {"better": "good", "tallest": "tall"}, "r": {"better": "well"}}
    for pos, words in cases.items():
        for word, lemma in words.items():
            assert table[pos].get(word, word) == lemma, (word, pos)
