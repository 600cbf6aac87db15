"""MMHal-Bench: official judge prompt, rating parser and scorer (``llava-rlhf/LLaVA-RLHF`` @ 830a083).

Scoring is pure (``score_mmhal``); judging (``evaluation.benches.mmhal_judge``, through
``evaluation.judge.JudgeClient``) and reading saved judge replies (``evaluation.benches.mmhal_reviews``) are
wiring above it: the scorer knows no judge.
"""

from evaluation.mmhal.parse import ParsedRating, parse_rating
from evaluation.mmhal.prompt import JUDGE_TEMPLATE, build_judge_prompt
from evaluation.mmhal.score import (
    QUESTION_TYPES,
    MMHalItem,
    MMHalResult,
    aggregate,
    official_printout,
    official_type_of_position,
    rounded_metrics,
    score_item,
    score_mmhal,
)

__all__ = [
    "JUDGE_TEMPLATE", "QUESTION_TYPES", "MMHalItem", "MMHalResult", "ParsedRating", "aggregate",
    "build_judge_prompt", "official_printout", "official_type_of_position", "parse_rating", "rounded_metrics",
    "score_item", "score_mmhal",
]
