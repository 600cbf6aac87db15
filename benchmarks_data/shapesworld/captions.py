"""ShapesWorld text: captions, yes/no questions and their answers.

Templates (SHAPESWORLD.md §1): a caption lists every NAMED object (hidden ones included) in the fixed
:data:`~benchmarks_data.shapesworld.scene.SHAPES` order, with commas and "and" as separate tokens::

    a purple circle , a green square and a red moon .

Questions: ``is there a <shape> in the image ?`` and ``is the <shape> <colour> ?``; answers ``yes`` / ``no``.

AMBER compatibility: the AMBER generative scorer finds objects with ``nltk.word_tokenize`` ->
``nltk.pos_tag`` -> tags starting with "NN" -> ``WordNetLemmatizer().lemmatize`` (no lower-casing). Every
shape word is tagged NN* and lemmatises to itself in every caption this template can produce: all 147,425
captions (1-4 objects, any colours) were checked once with NLTK 3.10.4 and the data in
/work/shared/nltk_data (0 failures, about 64 s); ``tests/test_shapesworld_captions.py`` re-checks all 1- and
2-object captions and a seeded sample of the longer ones.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence

from benchmarks_data.shapesworld.scene import COLOURS, SHAPES, Scene, SceneObject
from uedpo.errors import InputError

# The generative prompt is AMBER's own (issue #11: captions come from "Describe this image.").
CAPTION_PROMPT = "Describe this image."
YES, NO = "yes", "no"
_WORD = re.compile(r"[a-z]+")


def object_phrase(colour: str, shape: str) -> str:
    return f"a {colour} {shape}"


def caption_from_objects(objects: Sequence[tuple[str, str]]) -> str:
    """``[(colour, shape), ...]`` (already in caption order) -> ``a red circle , a blue star and a green bar .``"""
    if not objects:
        raise InputError("a ShapesWorld caption needs at least one object")
    phrases = [object_phrase(colour, shape) for colour, shape in objects]
    body = phrases[0] if len(phrases) == 1 else " , ".join(phrases[:-1]) + " and " + phrases[-1]
    return body + " ."


def _in_caption_order(objects: Sequence[SceneObject]) -> list[SceneObject]:
    # The sampler already orders objects; sorting here keeps hand-built scenes right too.
    return sorted(objects, key=lambda o: SHAPES.index(o.shape))


def caption(scene: Scene) -> str:
    """The ground-truth caption: every named object (visible or hidden) in :data:`SHAPES` order."""
    return caption_from_objects([(o.colour, o.shape) for o in _in_caption_order(scene.objects)])


def drawn_caption(scene: Scene) -> str | None:
    """The caption of what the image shows (hidden objects left out); ``None`` if nothing is drawn. The
    "annotator" caption used as the chosen response of preference pairs."""
    drawn = [(o.colour, o.shape) for o in _in_caption_order(scene.objects) if o.visible]
    return caption_from_objects(drawn) if drawn else None


def existence_question(shape: str) -> str:
    return f"is there a {shape} in the image ?"


def colour_question(shape: str, colour: str) -> str:
    return f"is the {shape} {colour} ?"


def answer(value: bool) -> str:
    return YES if value else NO


def mentioned_shapes(text: str) -> tuple[str, ...]:
    """Shape classes a caption names, distinct, in order of first mention (lower-cased word match; the
    captions' vocabulary has no other word containing a shape name)."""
    words = _WORD.findall(text.lower())
    return tuple(dict.fromkeys(w for w in words if w in SHAPES))


def iter_all_captions(max_objects: int = 4) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every caption the template can produce with up to ``max_objects`` objects, as (shapes, caption)."""
    for n in range(1, max_objects + 1):
        for shapes in itertools.combinations(SHAPES, n):
            for colours in itertools.product(COLOURS, repeat=n):
                yield shapes, caption_from_objects(list(zip(colours, shapes, strict=True)))


def text_vocabulary() -> tuple[str, ...]:
    """Every token (words and punctuation, split like a whitespace + punctuation pre-tokenizer) that the
    prompts, captions, questions and answers use: a word-level tokenizer built from these covers all data."""
    texts = [CAPTION_PROMPT, YES, NO, "a , and ."]
    texts += [existence_question(s) for s in SHAPES]
    texts += [colour_question(s, c) for s in SHAPES for c in COLOURS]
    return tuple(sorted({tok for text in texts for tok in re.findall(r"\w+|[^\w\s]", text)}))
