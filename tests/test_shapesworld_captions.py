"""ShapesWorld captions and questions, and their compatibility with AMBER's NLTK noun extraction."""

from __future__ import annotations

import itertools
import random

import pytest
from conftest import need_nltk

from benchmarks_data.shapesworld.captions import (
    CAPTION_PROMPT,
    caption,
    caption_from_objects,
    colour_question,
    drawn_caption,
    existence_question,
    iter_all_captions,
    mentioned_shapes,
    text_vocabulary,
)
from benchmarks_data.shapesworld.scene import SHAPES, Scene, SceneObject


def _obj(shape: str, colour: str, visible: bool = True) -> SceneObject:
    return SceneObject(shape=shape, colour=colour, rgb=(0, 0, 0), cell=0, x=0, y=0, size=12, visible=visible)


def test_caption_template():
    assert caption_from_objects([("purple", "circle"), ("green", "square"), ("red", "moon")]) == \
        "a purple circle , a green square and a red moon ."
    assert caption_from_objects([("red", "bar")]) == "a red bar ."
    assert caption_from_objects([("red", "bar"), ("blue", "arrow")]) == "a red bar and a blue arrow ."
    with pytest.raises(ValueError):
        caption_from_objects([])


def test_caption_names_hidden_objects_but_drawn_caption_does_not():
    scene = Scene(objects=(_obj("circle", "red"), _obj("square", "blue", visible=False)), background=230,
                  noise_seed=0)
    assert caption(scene) == "a red circle and a blue square ."
    assert drawn_caption(scene) == "a red circle ."
    assert drawn_caption(Scene(objects=(_obj("star", "red", visible=False),), background=230, noise_seed=0)) is None


def test_questions():
    assert existence_question("star") == "is there a star in the image ?"
    assert colour_question("circle", "red") == "is the circle red ?"
    assert CAPTION_PROMPT == "Describe this image."


def test_mentioned_shapes():
    assert mentioned_shapes("a red circle , a blue square and a red circle .") == ("circle", "square")
    assert mentioned_shapes("A Red MOON .") == ("moon",)
    assert mentioned_shapes("a red crossing and stars") == ()  # whole words only


def test_all_caption_count():
    """sum over n = 1..4 of C(10, n) * 5**n = 50 + 1125 + 15000 + 131250."""
    assert sum(1 for _ in iter_all_captions()) == 147_425


def test_text_vocabulary_covers_every_text():
    vocab = set(text_vocabulary())
    assert set(SHAPES) <= vocab and {"yes", "no", "Describe", "this", "image", ".", ",", "?", "and"} <= vocab
    for _, text in itertools.islice(iter_all_captions(), 0, None, 997):
        assert set(text.replace(",", " , ").split()) <= vocab


def _amber_nouns():
    """The AMBER noun extractor (evaluation.amber.nlp, the official NLTK calls)."""
    need_nltk()
    from evaluation.amber.nlp import nltk_noun_extractor

    return nltk_noun_extractor()


def _vocab_nouns(nouns, text: str) -> list[str]:
    return [n for n in nouns(text) if n in SHAPES]


def test_amber_extractor_recovers_exactly_the_named_objects_short_captions():
    """Every 1- and 2-object caption (1,175): AMBER's nouns, restricted to the shape vocabulary, are exactly
    the named shapes in order: each shape word is tagged NN* and lemmatises to itself."""
    nouns = _amber_nouns()
    for shapes, text in iter_all_captions(max_objects=2):
        assert _vocab_nouns(nouns, text) == list(shapes), text


def test_amber_extractor_recovers_exactly_the_named_objects_long_captions():
    """A seeded sample of 800 of the 146,250 captions with 3-4 objects (the full set was checked once,
    see the captions module docstring)."""
    nouns = _amber_nouns()
    long_captions = [item for item in iter_all_captions() if len(item[0]) >= 3]
    for shapes, text in random.Random(0).sample(long_captions, 800):
        assert _vocab_nouns(nouns, text) == list(shapes), text


def test_amber_extractor_sees_a_hallucinated_bias_target():
    nouns = _amber_nouns()
    assert _vocab_nouns(nouns, "a red circle and a blue square .") == ["circle", "square"]
