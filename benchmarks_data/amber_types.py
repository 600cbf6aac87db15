"""AMBER's record types, built by the loader :mod:`benchmarks_data.amber` (which reads the files) and read by
the scorer :mod:`evaluation.amber` (which imports only this module from the data layer).

Mirrors ``junyangwang0410/AMBER`` @ 534babf6bbfcce2e735c26289dedfb21cef3c939 ``data/``: ``annotations.json``
(one record per query id), ``relation.json`` (object -> associated words) and ``safe_words.txt``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from uedpo.errors import InputError

# Values of annotations.json: the generative records' ``type``, and the discriminative ``truth`` labels (lower
# case; the official scorer compares answers "Yes"/"No" with them, evaluation.amber.constants).
GENERATIVE_TYPE = "generative"
TRUTH_YES = "yes"
TRUTH_NO = "no"


@dataclass(frozen=True)
class AmberAnnotation:
    """One ``annotations.json`` record.

    Generative records (ids 1-1004) have ``truth`` and ``hallu`` object lists, kept in file order with
    duplicates (the official cover bookkeeping depends on both). Discriminative records have a ``'yes'`` /
    ``'no'`` ``truth`` string and an empty ``hallu``.
    """

    id: int
    type: str
    truth: tuple[str, ...] | str
    hallu: tuple[str, ...] = ()

    @property
    def is_generative(self) -> bool:
        return self.type == GENERATIVE_TYPE


@dataclass(frozen=True)
class AmberData:
    """Everything the scorer needs besides the responses.

    ``association`` maps each object word to its associated words (``relation.json``, order kept).
    ``vocabulary`` is every key and value of it: the official ``hallucination_words`` list, as a set (only
    membership is ever tested). ``safe_words`` are the global safe words of ``safe_words.txt``.
    """

    annotations: Mapping[int, AmberAnnotation]
    association: Mapping[str, tuple[str, ...]]
    vocabulary: frozenset[str]
    safe_words: frozenset[str]

    def annotation(self, item_id: int) -> AmberAnnotation:
        try:
            return self.annotations[item_id]
        except KeyError:
            raise InputError(
                f"AMBER id {item_id} is not in the annotations ({len(self.annotations)} ids loaded); "
                "fix the response's id or load the full benchmark"
            ) from None


@dataclass(frozen=True)
class AmberResponse:
    """One model answer: the official input format is a JSON list of ``{"id": int, "response": str}``."""

    id: int
    response: str
