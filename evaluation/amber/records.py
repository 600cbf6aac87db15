"""Per-item AMBER records: what the scorer decided for each answer, and why.

The official ``inference.py`` (``junyangwang0410/AMBER`` @ 534babf) only keeps running counters; these
records expose the same decisions item by item so a user (or the inspector) can see which mentions were
hallucinated and which rule decided each one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Why a candidate mention was (not) hallucinated, in the order the official loop tests it.
GLOBAL_SAFE = "global-safe"  # in safe_words.txt: skipped, but still counted in CHAIR's denominator
EXACT_SAFE = "exact-safe"  # exactly a truth word or one of its association words
SIMILAR_SAFE = "similar-safe"  # similarity > threshold to a truth/association word
HALLUCINATED = "hallucinated"  # none of the above


@dataclass(frozen=True)
class MentionRecord:
    """One candidate mention (a lemmatised noun that is in the AMBER vocabulary).

    ``safe_match`` is the truth/association word it matched (exactly or by similarity) and
    ``covered_truth`` the truth object whose cover flag that set. ``exact_hallu`` / ``similar_hallu`` are
    the hallucination-target objects whose Cog flag the exact (step c) and similarity (step d) checks set;
    they are recorded even when the mention ends up safe, exactly as the official flags are.
    """

    word: str
    verdict: str
    safe_match: str | None = None
    covered_truth: str | None = None
    exact_hallu: str | None = None
    similar_hallu: str | None = None


@dataclass(frozen=True)
class GenerativeRecord:
    """One generative answer. ``covered`` / ``cog`` are the official per-object flags, aligned with
    ``truth`` / ``hallu`` (duplicates kept, so a repeated truth word has one flag per copy)."""

    id: int
    nouns: tuple[str, ...]
    mentions: tuple[MentionRecord, ...]
    truth: tuple[str, ...]
    hallu: tuple[str, ...]
    covered: tuple[bool, ...]
    cog: tuple[bool, ...]

    @property
    def hallucinated(self) -> tuple[str, ...]:
        """Hallucinated mentions, in order, duplicates kept (CHAIR's numerator for this answer)."""
        return tuple(m.word for m in self.mentions if m.verdict == HALLUCINATED)

    @property
    def is_hallucinated(self) -> bool:
        return any(m.verdict == HALLUCINATED for m in self.mentions)

    @property
    def covered_truth(self) -> tuple[str, ...]:
        return tuple(word for word, flag in zip(self.truth, self.covered, strict=True) if flag)

    @property
    def cog_hallu(self) -> tuple[str, ...]:
        return tuple(word for word, flag in zip(self.hallu, self.cog, strict=True) if flag)

    def to_dict(self) -> dict[str, Any]:
        # vars() of these flat frozen dataclasses equals dataclasses.asdict, at a fraction of the cost
        # (15,220 records per AMBER run).
        return {
            **vars(self),
            "mentions": tuple(dict(vars(m)) for m in self.mentions),
            "hallucinated": list(self.hallucinated),
            "is_hallucinated": self.is_hallucinated,
            "covered_truth": list(self.covered_truth),
            "cog_hallu": list(self.cog_hallu),
        }


@dataclass(frozen=True)
class DiscriminativeRecord:
    """One yes/no answer. ``answer`` is what was compared (``response`` itself unless answers were
    normalised); ``is_yes_no`` says whether it was exactly ``"Yes"`` or ``"No"``."""

    id: int
    type: str
    bucket: str
    truth: str
    response: str
    answer: str
    correct: bool
    is_yes_no: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))
