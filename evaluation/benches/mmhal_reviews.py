"""Turn saved judge replies into texts, for offline scoring (``--reviews FILE``).

The official ``eval_gpt_mmhal.py`` (``llava-rlhf/LLaVA-RLHF`` @ 830a083, ``--evaluation``) saves a JSON list
of full chat-completion objects, aligned with the response records; ``summarize_gpt_mmhal.py`` reads the
text as ``response['choices'][0]['message']['content']``. A real dump
(``sadmankiba/Multimodal-Alignment`` ``results/blip2_mmhal_eval.json``) has exactly that shape, with
``id, object, created, model, choices, usage, system_fingerprint`` per entry. Plain strings (the reply
text itself) are accepted too. Reading the file is the loader's job (``benchmarks_data.mmhal``); this
module only interprets already-loaded objects.

As with live judging (``evaluation.judge``), an empty reply or one cut off at the length limit
(``finish_reason: "length"``) is a judge failure, not a rating: ``JudgeReview.failure`` says which, and the
benchmark refuses to score it as 0 (the official script would).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from evaluation.judge.types import EMPTY_REPLY, LENGTH_CUT
from evaluation.mmhal.score import MMHalResult, ScoredRecord, score_mmhal
from uedpo.errors import InputError


@dataclass(frozen=True)
class JudgeReview:
    """The reply text the parser reads, and the model that served it (``None`` for plain strings).

    ``failure``: why the reply cannot be rated (empty, or cut off at the length limit), else None."""

    text: str
    served_model: str | None = None
    failure: str | None = None


def _failure(text: str, finish_reason: object = None) -> str | None:
    if not text.strip():
        return EMPTY_REPLY
    return LENGTH_CUT if finish_reason == "length" else None


def review_from_object(obj: Any, index: int, source: str = "reviews") -> JudgeReview:
    """One saved reply: a chat-completion object (as the official script saves it) or a plain string."""
    if isinstance(obj, str):
        return JudgeReview(text=obj, failure=_failure(obj))
    where = f"{source}: item {index}"
    if not isinstance(obj, dict):
        raise InputError(
            f"{where}: expected a chat-completion object or a string, got {type(obj).__name__}; "
            "save the judge replies as the official eval_gpt_mmhal.py does"
        )
    try:
        choice = obj["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise InputError(
            f"{where}: no choices[0].message.content in the chat-completion object; "
            "re-run the judge for this item or replace it with the reply text"
        ) from None
    if content is None:
        content = ""  # null content: a reply with no text
    if not isinstance(content, str):
        raise InputError(
            f"{where}: choices[0].message.content is {type(content).__name__}, not text; "
            "re-run the judge for this item"
        )
    model = obj.get("model")
    finish = choice.get("finish_reason") if isinstance(choice, dict) else None
    return JudgeReview(text=content, served_model=model if isinstance(model, str) else None,
                       failure=_failure(content, finish))


def reviews_from_objects(objs: Sequence[Any], source: str = "reviews") -> list[JudgeReview]:
    """Every saved reply in ``objs``, in order (the order must match the responses)."""
    return [review_from_object(obj, i, source) for i, obj in enumerate(objs)]


def served_models(reviews: Sequence[JudgeReview]) -> tuple[str, ...]:
    """The distinct judge models that served ``reviews`` (to record with the results)."""
    return tuple(sorted({r.served_model for r in reviews if r.served_model}))


def score_review_objects(records: Sequence[ScoredRecord], objs: Sequence[Any],
                         source: str = "reviews") -> MMHalResult:
    """Offline scoring: saved replies ``objs`` (aligned with ``records``) -> the MMHal result."""
    return score_mmhal(records, [r.text for r in reviews_from_objects(objs, source)])
