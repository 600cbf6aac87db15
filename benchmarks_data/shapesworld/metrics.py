"""ShapesWorld's own metrics, beside the AMBER numbers (SHAPESWORLD.md §1 "Metrics"; no external source).

Pure functions of (responses, yes/no margins, ground truth); they never open files. All values are percentages,
like AMBER's, so one ``--tolerance`` fits every metric of a ShapesWorld results file.

* ``target_rate``: over the bias cases (an image whose trigger is drawn and whose co-occurring target is not),
  the share of captions that name the target: the co-occurrence hallucination.
* ``other_rate``: over every (image, absent class) that is not such a target, the share named.
* ``coverage``: the share of drawn objects the caption names.
* ``CHAIRs_breaking``: the share of captions of the bias-breaking images that name any absent class.
* yes/no by question role, from the answer text (exactly "Yes", as AMBER's scorer): ``target_fp`` (says Yes
  to "is there a <target>" when the target is absent but its trigger drawn), ``absent_fp`` (Yes to another
  absent class), ``present_tp`` (Yes to a drawn class); and the same three from the sign of the
  teacher-forced margin log P(Yes) − log P(No) (``*_margin``), which does not flip on greedy near-ties.

Caption objects are found by whole-word match of the shape names (the captions' vocabulary has no other word
containing one; :func:`benchmarks_data.shapesworld.mentioned_shapes` follows the same rule).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

YES = "Yes"  # what AMBER's scorer counts as a yes (SCORERS.md §3)
ROLE_PRESENT, ROLE_BIAS_TARGET, ROLE_ABSENT = "present", "bias_target", "absent"
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class ImageTruth:
    """One generative item: the classes drawn, every class, and its subset (``breaking`` / ``uniform``)."""

    id: int
    drawn: tuple[str, ...]
    classes: tuple[str, ...]
    breaking: bool


@dataclass(frozen=True)
class QuestionTruth:
    id: int
    role: str


def named_classes(text: str, classes: Iterable[str]) -> set[str]:
    wanted = set(classes)
    return {w for w in _WORD.findall(text.lower()) if w in wanted}


def _percent(hits: int, total: int) -> float:
    return 100.0 * hits / total if total else float("nan")


def caption_metrics(captions: Mapping[int, str], images: Sequence[ImageTruth],
                    bias_cases: Sequence[tuple[int, str]]) -> dict[str, float]:
    """``bias_cases``: (image id, absent target) pairs. Items without a caption are left out."""
    scored = [im for im in images if im.id in captions]
    named = {im.id: named_classes(captions[im.id], im.classes) for im in scored}
    cases = [(i, target) for i, target in bias_cases if i in named]
    targets = set(cases)
    other_hits = other_total = cover_hits = cover_total = breaking_hal = n_breaking = 0
    for im in scored:
        absent = [c for c in im.classes if c not in im.drawn and (im.id, c) not in targets]
        other_total += len(absent)
        other_hits += sum(c in named[im.id] for c in absent)
        cover_total += len(im.drawn)
        cover_hits += sum(c in named[im.id] for c in im.drawn)
        if im.breaking:
            n_breaking += 1
            breaking_hal += bool(named[im.id] - set(im.drawn))
    return {
        "target_rate": _percent(sum(t in named[i] for i, t in cases), len(cases)),
        "other_rate": _percent(other_hits, other_total),
        "coverage": _percent(cover_hits, cover_total),
        "CHAIRs_breaking": _percent(breaking_hal, n_breaking),
    }


def yes_no_metrics(answers: Mapping[int, bool], questions: Sequence[QuestionTruth], suffix: str = "") -> dict[str, float]:
    """``answers``: question id -> said yes. Rates per role, named ``target_fp``/``absent_fp``/``present_tp``."""
    out = {}
    for name, role in (("target_fp", ROLE_BIAS_TARGET), ("absent_fp", ROLE_ABSENT), ("present_tp", ROLE_PRESENT)):
        asked = [q.id for q in questions if q.role == role and q.id in answers]
        out[name + suffix] = _percent(sum(answers[i] for i in asked), len(asked))
    return out


def shapes_metrics(captions: Mapping[int, str], answers: Mapping[int, str], images: Sequence[ImageTruth],
                   bias_cases: Sequence[tuple[int, str]], questions: Sequence[QuestionTruth],
                   margins: Mapping[int, float] | None = None) -> dict[str, float]:
    """The ``shapes`` section: caption metrics, yes/no rates by string match and, if given, by margin."""
    metrics = caption_metrics(captions, images, bias_cases)
    metrics |= yes_no_metrics({i: a.strip() == YES for i, a in answers.items()}, questions)
    if margins is not None:
        metrics |= yes_no_metrics({i: m > 0 for i, m in margins.items()}, questions, suffix="_margin")
    return {k: v for k, v in metrics.items() if v == v}  # drop NaN (no item of that kind was scored)


def margin_answers(margins: Mapping[int, float]) -> dict[int, str]:
    """The answer the margin gives: "Yes" when log P(Yes) > log P(No), else "No" (ties: No)."""
    return {i: YES if m > 0 else "No" for i, m in margins.items()}
