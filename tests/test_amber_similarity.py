"""AMBER similarity backends, the cached decision layer, spec parsing and the similarity-table builder.

Official step: `nlp(w1).similarity(nlp(w2)) > 0.8` (junyangwang0410/AMBER @ 534babf, inference.py
check_synonyms_word). Here the pipeline backend is exercised with fake pipelines and its error paths with a
hidden or fake `spacy` module; tests/test_amber_spacy_vectors.py and tests/test_amber_official_md.py use the
real spaCy with en_core_web_md.
"""

from __future__ import annotations

import json
import sys
import types

import pytest

from benchmarks_data.amber import load_similarity_table
from benchmarks_data.store import DataError
from evaluation.amber import (
    AmberAnnotation,
    AmberData,
    AmberResponse,
    ExactSimilarity,
    SimilarityBackendError,
    SimilarWords,
    SpacySimilarity,
    SpacyVectorsSimilarity,
    TableSimilarity,
    build_similarity_table,
    score_amber,
)
from evaluation.benches.amber import parse_similarity_spec


class FakeDoc:
    def __init__(self, text: str, vectors: dict[str, float]):
        self.text, self.vectors = text, vectors

    def similarity(self, other: FakeDoc) -> float:
        if self.text == other.text:
            return 1.0
        return self.vectors.get(
            f"{self.text}|{other.text}", self.vectors.get(f"{other.text}|{self.text}", 0.0)
        )


class FakeNlp:
    """Counts pipeline runs, like the official per-pair nlp(w1), nlp(w2)."""

    name = "fake_model"

    def __init__(self, pairs: dict[str, float]):
        self.pairs, self.runs = pairs, 0

    def __call__(self, text: str) -> FakeDoc:
        self.runs += 1
        return FakeDoc(text, self.pairs)


def test_exact_and_table_backends():
    assert (
        ExactSimilarity().similarity("dog", "dog") == 1.0
        and ExactSimilarity().similarity("dog", "Dog") == 0.0
    )
    table = TableSimilarity({"dog": {"puppy": 0.9}, "cat": {"dog": 0.3}}, source="t.json")
    assert table.name == "table:t.json"
    assert table.similarity("dog", "puppy") == 0.9 and table.similarity("puppy", "dog") == 0.9  # symmetric
    assert table.similarity("dog", "cat") == 0.3
    assert table.similarity("dog", "bird") == 0.0  # missing pair
    assert table.similarity("bird", "bird") == 1.0  # identical strings, as spaCy


def test_similar_words_strict_threshold_and_one_call_per_pair():
    calls = []

    class Recording:
        name = "recording"

        def prepare(self) -> None:
            pass

        def similarity(self, w1: str, w2: str) -> float:
            calls.append((w1, w2))
            return {"a|b": 0.8, "a|c": 0.8000001}.get(f"{min(w1, w2)}|{max(w1, w2)}", 0.0)

    similar = SimilarWords(Recording())
    assert not similar("a", "b")  # exactly 0.8 is NOT similar (strict >)
    assert similar("a", "c")
    assert similar("c", "a") and not similar("b", "a")  # symmetric, served from the cache
    assert similar.first_similar("a", ["x", "b", "c", "c"]) == 2
    assert similar.first_similar("a", ["x", "b"]) is None
    assert len(calls) == similar.calls == 3  # (a,b), (a,c), (a,x): each unordered pair once
    assert SimilarWords(Recording(), threshold=0.7)("a", "b")


def test_spacy_backend_runs_each_word_through_the_pipeline_once():
    nlp = FakeNlp({"dog|puppy": 0.85})
    backend = SpacySimilarity(model="fake", nlp=nlp)
    assert backend.name == "spacy:fake"
    assert backend.similarity("dog", "puppy") == 0.85 and backend.similarity("puppy", "dog") == 0.85
    assert backend.similarity("dog", "dog") == 1.0
    assert nlp.runs == 2


def test_spacy_missing_gives_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "spacy", None)  # makes `import spacy` raise ImportError
    with pytest.raises(SimilarityBackendError) as err:
        SpacySimilarity().prepare()
    message = str(err.value)
    assert "\n" not in message and "pip install spacy" in message and "en_core_web_lg" in message


def test_spacy_model_missing_gives_a_clear_error(monkeypatch):
    def load(name):
        raise OSError(f"[E050] Can't find model '{name}'")

    monkeypatch.setitem(sys.modules, "spacy", types.SimpleNamespace(load=load))
    with pytest.raises(
        SimilarityBackendError, match=r"model 'en_core_web_md' is not installed.*spacy download"
    ):
        SpacySimilarity("en_core_web_md").prepare()


def test_score_checks_the_backend_before_scoring_and_only_for_generative_answers(monkeypatch):
    monkeypatch.setitem(sys.modules, "spacy", None)
    data = AmberData(
        annotations={
            1: AmberAnnotation(1, "generative", ("dog",), ("cat",)),
            2: AmberAnnotation(2, "discriminative-hallucination", "no"),
        },
        association={"dog": (), "cat": ()},
        vocabulary=frozenset({"dog", "cat"}),
        safe_words=frozenset(),
    )
    no_nlp = lambda text: pytest.fail("noun extraction must not start when the backend is missing")  # noqa: E731
    with pytest.raises(SimilarityBackendError):
        score_amber([AmberResponse(1, "dog")], data, nouns=no_nlp, progress=False)
    assert (
        score_amber([AmberResponse(2, "No")], data, progress=False).metrics["existence"]["Accuracy"] == 99.9
    )


def test_parse_similarity_spec(tmp_path):
    default = parse_similarity_spec("spacy")
    assert isinstance(default, SpacyVectorsSimilarity) and default.name == "spacy:en_core_web_lg"
    assert parse_similarity_spec("spacy:en_core_web_md").name == "spacy:en_core_web_md"
    assert parse_similarity_spec("spacy:/models/md").model == "/models/md"  # a model folder
    pipeline = parse_similarity_spec("spacy-pipeline:en_core_web_md")
    assert isinstance(pipeline, SpacySimilarity) and pipeline.name == "spacy:en_core_web_md"  # same numbers
    assert isinstance(parse_similarity_spec("exact"), ExactSimilarity)
    path = tmp_path / "sim.json"
    path.write_text(json.dumps({"dog": {"puppy": 0.9}}))
    backend = parse_similarity_spec(f"table:{path}")
    assert backend.similarity("puppy", "dog") == 0.9 and backend.name == f"table:{path}"
    for bad in ("spcy", "exact:x", "table:", "", "vectors:x"):
        with pytest.raises(ValueError, match="spacy\\[:MODEL\\]"):
            parse_similarity_spec(bad)


def test_vectors_backend_errors_are_one_line(monkeypatch, tmp_path):
    with pytest.raises(SimilarityBackendError) as err:
        SpacyVectorsSimilarity(str(tmp_path / "missing")).prepare()
    assert "\n" not in str(err.value) and "not found" in str(err.value) and "spacy:PATH" in str(err.value)
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.cfg").write_text("")
    (model / "meta.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "spacy", None)  # spaCy not installed
    with pytest.raises(SimilarityBackendError, match="needs spaCy.*pip install spacy"):
        SpacyVectorsSimilarity(str(model)).prepare()


def test_build_similarity_table_round_trips_through_the_table_backend(tmp_path):
    """Fake nlp with sim(cat, dog) = 0.8 and sim(dog, puppy) = 0.85: every unordered pair once, under the
    alphabetically first word; the decisions from the saved table equal the pipeline's."""
    nlp = FakeNlp({"dog|puppy": 0.85, "cat|dog": 0.8})
    table = build_similarity_table(["puppy", "dog", "cat", "dog"], nlp, progress=False)
    assert table == {"cat": {"dog": 0.8, "puppy": 0.0}, "dog": {"puppy": 0.85}}
    assert nlp.runs == 3
    path = tmp_path / "table.json"
    path.write_text(json.dumps(table))
    loaded = TableSimilarity(load_similarity_table(path))
    spacy_like = SpacySimilarity(model="fake", nlp=FakeNlp({"dog|puppy": 0.85, "cat|dog": 0.8}))
    for w1 in ("cat", "dog", "puppy"):
        for w2 in ("cat", "dog", "puppy"):
            assert SimilarWords(loaded)(w1, w2) == SimilarWords(spacy_like)(w1, w2)


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("[1, 2]", "expected a JSON object"),
        ('{"dog": [0.9]}', "entry 'dog' is list"),
        ('{"dog": {"puppy": "high"}}', "('dog', 'puppy') is 'high'"),
        ('{"dog": {"puppy": true}}', "('dog', 'puppy') is True"),
        ('{"dog": {"puppy": NaN}}', "not a finite number"),
        ('{"dog": ', "invalid JSON at line 1"),
    ],
)
def test_similarity_table_errors(tmp_path, content, fragment):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DataError) as err:
        load_similarity_table(path)
    assert fragment in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(DataError, match="not found"):
        load_similarity_table(tmp_path / "missing.json")
