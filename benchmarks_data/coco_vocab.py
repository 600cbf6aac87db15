"""COCO object vocabulary for CHAIR: synonyms -> class ("node word"), and the double-word rules.

The record type the loader builds from the synonym files (:func:`benchmarks_data.chair_inputs.load_vocabulary`)
and the scorers read (:mod:`evaluation.chair`); it parses text, never reads files.

Sources (the synonym lists themselves are third-party data, read from the data directory, never embedded):

* ``"original"``: ``shikiw/OPERA`` @ 61426efe4e2e53207f32d9112a86ba5f8364d1d9 ``chair.py`` (the Maxlinn port
  of ``LisaAnne/Hallucination`` ``utils/chair.py``; identical in ``kchaosun/THUNLP_Multimodal_Excercise``
  ``eval/chair.py``) over ``synonyms.txt``. Each line is ``strip()``-ped and split on ``", "``, but the items
  are NOT stripped, so the two double-spaced items of the file become :data:`ORIGINAL_DEAD_ENTRIES` (with a
  leading space, they can never match a token: "motor bike" merges as a double word and is then dropped,
  "cheesecake" is not a COCO word). The port embeds the list as ``'''\\n...'''``, whose first line is empty,
  so ``""`` is an object too (:data:`MAXLINN_EMPTY_FIRST_ENTRY`; never a token, harmless). Double words: the
  fixed list :data:`ORIGINAL_DOUBLE_WORDS`.
* ``"refined"``: ``RLHF-V/RLAIF-V`` @ 83d917b2e8118ca8e7877a796d72af9bb3e6b356
  ``eval/eval_gpt_obj_halbench.py`` (``CHAIR.__init__``; same in ``RLHF-V/RLHF-V`` @ 8daac8a) over
  ``synonyms_refine.txt``: items stripped; double words = every multi-word synonym plus
  :data:`EXTRA_DOUBLE_WORDS`.

Both then add the same hard-coded rules: "baby X"/"adult X" -> X for :data:`ANIMAL_WORDS`, "passenger
jet/train" -> jet/train (:data:`VEHICLE_WORDS`), and :data:`DOUBLE_WORD_OVERRIDES`. Quirks kept on purpose:
"home plate" and "train track" map to themselves, which are not COCO words, so "train track" swallows "train";
"stove top oven" has three words and never matches the two-token window; in the original list "dining table"
is not a double word (only "table" counts).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field

from uedpo.errors import InputError

ORIGINAL = "original"
REFINED = "refined"
VARIANTS = (ORIGINAL, REFINED)

# Maxlinn chair.py: synonyms_txt = '''\nperson, ...''' -> splitlines() starts with "" -> "" is an object.
MAXLINN_EMPTY_FIRST_ENTRY = ""
# synonyms.txt has "scooter,  motor bike" and "cake,  cheesecake": unstripped items keep a leading space.
ORIGINAL_DEAD_ENTRIES = (" motor bike", " cheesecake")

# Maxlinn chair.py `coco_double_words` (LisaAnne's list; "hot dog" and "teddy bear" appear twice there too).
ORIGINAL_DOUBLE_WORDS = (
    "motor bike",
    "motor cycle",
    "air plane",
    "traffic light",
    "street light",
    "traffic signal",
    "stop light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "suit case",
    "sports ball",
    "baseball bat",
    "baseball glove",
    "tennis racket",
    "wine glass",
    "hot dog",
    "cell phone",
    "mobile phone",
    "teddy bear",
    "hair drier",
    "potted plant",
    "bow tie",
    "laptop computer",
    "stove top oven",
    "hot dog",
    "teddy bear",
    "home plate",
    "train track",
)
# RLHF-V: `coco_double_words += ['home plate', 'train track']` after the multi-word synonyms.
EXTRA_DOUBLE_WORDS = ("home plate", "train track")
# 'baby bird' -> 'bird': without it "baby"/"adult" would fire `person`.
ANIMAL_WORDS = (
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "animal",
    "cub",
)
# 'passenger jet' -> 'jet': without it "passenger" would fire `person`.
VEHICLE_WORDS = ("jet", "train")
# Applied last, in this order ("bow tie" -> "tie" overrides the identity entry; "wine glas" undoes
# pattern.singularize("glass") of the original LisaAnne code).
DOUBLE_WORD_OVERRIDES = (("bow tie", "tie"), ("toilet seat", "toilet"), ("wine glas", "wine glass"))


@dataclass(frozen=True)
class CocoVocabulary:
    """``objects`` (every synonym, duplicates kept: ``mscoco_objects``), ``synonym_to_class``
    (``inverse_synonym_dict``) and ``double_words`` (``double_word_dict``) of the official scripts."""

    variant: str
    objects: tuple[str, ...]
    synonym_to_class: Mapping[str, str]
    double_words: Mapping[str, str]
    object_set: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "object_set", frozenset(self.objects))

    @property
    def classes(self) -> tuple[str, ...]:
        """The COCO classes (node words), in file order, without duplicates."""
        return tuple(dict.fromkeys(self.synonym_to_class.values()))


def _synonym_lines(synonyms_text: str, variant: str) -> list[list[str]]:
    if variant == ORIGINAL:
        lines = [MAXLINN_EMPTY_FIRST_ENTRY, *synonyms_text.splitlines()]
        return [line.strip().split(", ") for line in lines]
    # RLHF-V: open(...).readlines(), then strip each line and each item.
    lines = io.StringIO(synonyms_text).readlines()
    return [[item.strip() for item in line.strip().split(", ")] for line in lines]


def build_vocabulary(synonyms_text: str, variant: str = ORIGINAL) -> CocoVocabulary:
    """The vocabulary of ``variant`` ("original" or "refined") from the text of its synonyms file."""
    if variant not in VARIANTS:
        raise InputError(f"unknown vocabulary variant {variant!r}; use one of {', '.join(VARIANTS)}")
    objects: list[str] = []
    synonym_to_class: dict[str, str] = {}
    for items in _synonym_lines(synonyms_text, variant):
        objects.extend(items)
        for item in items:
            synonym_to_class[item] = items[0]
    if variant == ORIGINAL:
        double_word_list = list(ORIGINAL_DOUBLE_WORDS)
    else:
        double_word_list = [w for w in synonym_to_class if len(w.strip().split(" ")) >= 2]
        double_word_list += EXTRA_DOUBLE_WORDS
    double_words = {w: w for w in double_word_list}
    for animal in ANIMAL_WORDS:
        double_words[f"baby {animal}"] = animal
        double_words[f"adult {animal}"] = animal
    for vehicle in VEHICLE_WORDS:
        double_words[f"passenger {vehicle}"] = vehicle
    double_words.update(DOUBLE_WORD_OVERRIDES)
    return CocoVocabulary(variant, tuple(objects), synonym_to_class, double_words)
