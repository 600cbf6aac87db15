"""AMBER's default nouns follow nltk 3.9.1, which made the official outputs, whatever nltk is installed.

Where the expected values come from: nltk 3.9.1 itself, installed in a throwaway venv outside the repo
(``python3 -m venv /tmp/nltk391 && /tmp/nltk391/bin/pip install nltk==3.9.1``), run with
``NLTK_DATA=../shared/nltk_data`` on each text below with the official calls of ``junyangwang0410/AMBER`` @
534babf ``inference.py`` ``extract_nouns``: ``nltk.word_tokenize(text)``, ``nltk.pos_tag``, keep ``NN*``,
``WordNetLemmatizer().lemmatize(word)``. The comment after each case gives what nltk 3.10.4 (the release
that installs today) makes of it: it splits em/en dashes (from 3.9.4) and leading quotes (after 3.10.0) and
realigns curly quotes at sentence ends, so 9 of these 12 texts get other nouns there.
"""

import json

import pytest
from conftest import need_data, need_nltk

from evaluation.amber import AmberAnnotation, AmberData, AmberResponse, ExactSimilarity, score_amber
from evaluation.amber.nlp import nltk_noun_extractor, official_noun_extractor

OFFICIAL_MD = "amber/validation/official_md/"

# (text, nltk 3.9.1 word_tokenize, nltk 3.9.1 extract_nouns)
CASES = [
    (
        "A dog sits on the sofa\u2014a cat sleeps nearby.",
        ["A", "dog", "sits", "on", "the", "sofa\u2014a", "cat", "sleeps", "nearby", "."],
        ["dog", "cat", "sleep"],
    ),  # nltk 3.10.4: ["dog", "sofa", "sleep"]
    (
        "The bench\u2013a wooden one\u2013faces the lake.",
        ["The", "bench\u2013a", "wooden", "one\u2013faces", "the", "lake", "."],
        ["bench\u2013a", "wooden", "lake"],
    ),  # nltk 3.10.4: ["bench", "\u2013", "lake"]
    (
        "A man holds a 'surfboard' near the 'beach'.",
        ["A", "man", "holds", "a", "'surfboard", "'", "near", "the", "'beach", "'", "."],
        ["man", "'surfboard", "'beach"],
    ),  # nltk 3.10.4: ["man", "surfboard", "beach"]
    (
        'The sign reads "STOP" and a car waits at the \'light.',
        ["The", "sign", "reads", "``", "STOP", "''", "and", "a", "car", "waits", "at", "the", "'light", "."],
        ["sign", "STOP", "car", "'light"],
    ),  # nltk 3.10.4: ["sign", "STOP", "car", "light"]
    (
        "A \u201ccozy\u201d room with a \u2018vintage\u2019 lamp and a bed.",
        [
            "A",
            "\u201c",
            "cozy",
            "\u201d",
            "room",
            "with",
            "a",
            "\u2018",
            "vintage",
            "\u2019",
            "lamp",
            "and",
            "a",
            "bed",
            ".",
        ],
        ["cozy", "\u201d", "room", "vintage", "\u2019", "lamp", "bed"],
    ),  # nltk 3.10.4 tokenizes this one the same
    (
        "There is a table... and a chair\u2026 maybe a cup.",
        ["There", "is", "a", "table", "...", "and", "a", "chair\u2026", "maybe", "a", "cup", "."],
        ["table", "chair\u2026", "cup"],
    ),  # nltk 3.10.4 tokenizes this one the same
    (
        "Two horses\u2014brown and white\u2014graze; a fence\u2014old\u2014stands behind them.",
        [
            "Two",
            "horses\u2014brown",
            "and",
            "white\u2014graze",
            ";",
            "a",
            "fence\u2014old\u2014stands",
            "behind",
            "them",
            ".",
        ],
        ["horses\u2014brown", "white\u2014graze", "fence\u2014old\u2014stands"],
    ),  # nltk 3.10.4: ["horse", "\u2014", "graze", "fence", "\u2014", "\u2014"]
    (
        "'Trees line the road, and 'cars park beside the building.",
        ["'Trees", "line", "the", "road", ",", "and", "'cars", "park", "beside", "the", "building", "."],
        ["'Trees", "line", "road", "building"],
    ),  # nltk 3.10.4: ["Trees", "line", "road", "car", "building"]
    (
        "A boy\u2019s kite flies over the \u201cgreen\u201d field\u2014a dog runs after it...",
        [
            "A",
            "boy",
            "\u2019",
            "s",
            "kite",
            "flies",
            "over",
            "the",
            "\u201c",
            "green",
            "\u201d",
            "field\u2014a",
            "dog",
            "runs",
            "after",
            "it",
            "...",
        ],
        ["boy", "\u2019", "fly", "\u201c", "\u201d", "field\u2014a", "dog"],
    ),  # nltk 3.10.4: ["boy", "\u2019", "fly", "\u201c", "\u201d", "field", "dog"]
    (
        "\u201cA bird?\u201d \u2014 no, a plane above the mountain.",
        [
            "\u201c",
            "A",
            "bird",
            "?",
            "\u201d",
            "\u2014",
            "no",
            ",",
            "a",
            "plane",
            "above",
            "the",
            "mountain",
            ".",
        ],
        ["bird", "\u2014", "plane", "mountain"],
    ),  # nltk 3.10.4 tokenizes this one the same
    (
        "A poster says \u201cWelcome home.\u201d A dog sleeps on the rug.",
        [
            "A",
            "poster",
            "says",
            "\u201c",
            "Welcome",
            "home.",
            "\u201d",
            "A",
            "dog",
            "sleeps",
            "on",
            "the",
            "rug",
            ".",
        ],
        ["poster", "\u201c", "Welcome", "home.", "A", "dog", "sleep", "rug"],
    ),  # nltk 3.10.4: ["poster", "\u201c", "Welcome", "home", "sleep", "rug"]
    (
        "The man\u2019s \u2018hat\u2019\u2026 and \u2018umbrella.\u2019 A bag lies on the floor.",
        [
            "The",
            "man",
            "\u2019",
            "s",
            "\u2018",
            "hat",
            "\u2019",
            "\u2026",
            "and",
            "\u2018",
            "umbrella.",
            "\u2019",
            "A",
            "bag",
            "lies",
            "on",
            "the",
            "floor",
            ".",
        ],
        ["man", "\u2018", "\u2019", "\u2026", "\u2018", "umbrella.", "bag", "floor"],
    ),  # nltk 3.10.4: ["man", "\u2018", "\u2019", "\u2026", "\u2018", "umbrella", "bag", "floor"]
]


@pytest.mark.parametrize("backend", ["fast", "nltk"])
@pytest.mark.parametrize("text, tokens, nouns", CASES)
def test_tokens_and_nouns_are_nltk_391s(backend, text, tokens, nouns):
    need_nltk()
    extractor = official_noun_extractor(backend)
    assert extractor.tokenize(text) == tokens
    assert list(extractor(text)) == nouns


def test_score_amber_uses_the_nltk_391_nouns_by_default():
    """No ``nouns`` argument: the first case's "sofa\u2014a" stays one token (3.10.4 would find "sofa")."""
    need_nltk()
    data = AmberData(
        annotations={1: AmberAnnotation(1, "generative", ("dog",), ("sofa",))},
        association={"dog": (), "sofa": ()},
        vocabulary=frozenset({"dog", "sofa", "cat"}),
        safe_words=frozenset(),
    )
    text, _, nouns = CASES[0]
    result = score_amber([AmberResponse(1, text)], data, similarity=ExactSimilarity(), progress=False)
    record = result.generative_records[0]
    assert list(record.nouns) == nouns and [m.word for m in record.mentions] == ["dog", "cat"]
    assert record.cog == (False,) and result.config["nouns"].startswith("fast (word_tokenize as nltk 3.9.1")


def test_default_nouns_equal_the_official_run_on_all_1004_descriptions():
    """The official per-item ``nouns`` (candidates in the vocabulary) of the nltk 3.9.1 run, for every
    generative answer of responses_all.json; the installed nltk 3.10.4's own tokenizer differs on 97."""
    need_nltk()
    root = need_data(
        OFFICIAL_MD + "responses_all.json",
        OFFICIAL_MD + "official_per_item_generative.jsonl",
        "amber/data/relation.json",
    )
    from benchmarks_data.amber import load_amber

    vocabulary = load_amber(root).vocabulary
    texts = {
        r["id"]: r["response"] for r in json.loads((root / OFFICIAL_MD / "responses_all.json").read_text())
    }
    official = [
        json.loads(line) for line in (root / OFFICIAL_MD / "official_per_item_generative.jsonl").open()
    ]
    extractor = official_noun_extractor()
    differ = [
        o["id"] for o in official if [n for n in extractor(texts[o["id"]]) if n in vocabulary] != o["nouns"]
    ]
    assert len(official) == 1004 and differ == []


def test_nltk_backend_is_the_reference_for_the_fast_one():
    need_nltk()
    assert nltk_noun_extractor().name.startswith("nltk (word_tokenize as nltk 3.9.1")
