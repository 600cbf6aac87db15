"""MMHal-Bench: official judge prompt, rating parser and scorer (``llava-rlhf/LLaVA-RLHF`` @ 830a083).

Scoring is pure (``score_mmhal``); judging goes through ``evaluation.judge.JudgeClient`` (``run.py``).
"""

from evaluation.mmhal.parse import ParsedRating, parse_rating
from evaluation.mmhal.prompt import JUDGE_TEMPLATE, build_judge_prompt
from evaluation.mmhal.reviews import (
    JudgeReview,
    review_from_object,
    reviews_from_objects,
    score_review_objects,
    served_models,
)
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
    "JUDGE_TEMPLATE", "QUESTION_TYPES", "JudgeReview", "MMHalItem", "MMHalResult", "ParsedRating", "aggregate",
    "build_judge_prompt", "official_printout", "official_type_of_position", "parse_rating", "review_from_object",
    "reviews_from_objects", "rounded_metrics", "score_item", "score_mmhal", "score_review_objects", "served_models",
]
