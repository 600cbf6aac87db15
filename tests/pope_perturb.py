"""Deterministic "verbose answer" perturbation of real POPE answers (test helper).

``perturbed_answers(real_rows, seed=0)`` rewrites each real LLaVA-1.5-13B POPE answer
(rows of ``pope/real_answers/llava-v1.5-13b.jsonl`` under ``UEDPO_DATA_DIR``, default
``../shared/benchdata``; their ``text`` is "Yes" or "No") into one of the realistic verbose
forms in :data:`FORMS`.

Import it from a test as ``from pope_perturb import perturbed_answers`` (pytest puts ``tests/``
on ``sys.path``). The reference outputs of the six public POPE scorers on these answers are
stored in ``tests/fixtures/pope/peer_outputs.json`` (key ``perturbed``), so this module must stay
byte-for-byte stable: changing a form, the pools, the thresholds or the order of random
draws changes the fixture (its ``perturbed.<split>.texts_sha256`` would no longer match).

Only ``random.Random(seed).random()`` is used: Python guarantees that ``random()`` gives the
same sequence for the same seed across versions (unlike ``choice``/``randrange``).
Exactly two draws are made per row, in row order.
"""

from __future__ import annotations

import hashlib
import json
import random
import re

__all__ = ["FORMS", "POOLS", "perturbed_answers", "question_object", "texts_sha256"]

# (polarity, template). ``{a_obj}`` is "a dog" / "an apple", ``{obj}`` the bare object name.
FORMS: tuple[tuple[str, str], ...] = (
    # yes-like (0-9)
    ("yes", "Yes, there is {a_obj} in the image."),
    ("yes", "Yes"),
    ("yes", "yes"),
    ("yes", "Yes."),
    ("yes", "YES"),
    ("yes", "Yes, no doubt."),
    ("yes", "There is {a_obj} in the image."),
    ("yes", "Yes, I can see {a_obj}."),
    ("yes", "  yes  "),
    ("yes", "Yes! There's {a_obj}."),
    # no-like (10-20)
    ("no", "No, there is no {obj}."),
    ("no", "No"),
    ("no", "NO"),
    ("no", "Nope."),
    ("no", "There isn't {a_obj}."),
    ("no", "I don't think so."),
    ("no", "No,there is none."),
    ("no", "No."),
    ("no", "no"),
    ("no", "There is no {obj} in the image."),
    ("no", "No, I cannot see any {obj}."),
    # unsure (21-24)
    ("unsure", "Not sure."),
    ("unsure", ""),
    ("unsure", "I cannot tell."),
    ("unsure", "I don't know."),
)

POOLS: dict[str, tuple[int, ...]] = {
    pol: tuple(i for i, (p, _) in enumerate(FORMS) if p == pol) for pol in ("yes", "no", "unsure")
}

UNSURE_SHARE = 0.12  # share of rows rewritten into an "unsure" form, whatever the original answer

_OBJ_RE = re.compile(r"Is there an? (.+?) in the im(?:a|an)ge\?")


def question_object(prompt: str) -> str:
    """The object name of a POPE question ("Is there a {obj} in the image?", typo 'imange' kept)."""
    m = _OBJ_RE.search(prompt)
    if m is None:
        raise ValueError(f"not a POPE question: {prompt!r}")
    return m.group(1)


def _with_article(obj: str) -> str:
    return ("an " if obj[:1].lower() in "aeiou" else "a ") + obj


def perturbed_answers(real_rows: list[dict], seed: int = 0) -> list[dict]:
    """Return copies of ``real_rows`` (same order) with ``text`` rewritten.

    Each output row keeps every input key, replaces ``text`` and adds ``orig_text`` and
    ``perturb_form`` (the index into :data:`FORMS`). The original polarity is read from
    ``text`` ("yes..." -> yes pool, anything else -> no pool); the object name from
    ``prompt`` (or ``text`` of a question row when ``prompt`` is absent).
    """
    rng = random.Random(seed)
    out = []
    for row in real_rows:
        r_pool = rng.random()
        r_form = rng.random()
        orig = row["text"]
        if r_pool < UNSURE_SHARE:
            pool = POOLS["unsure"]
        elif orig.strip().lower().startswith("yes"):
            pool = POOLS["yes"]
        else:
            pool = POOLS["no"]
        form = pool[int(r_form * len(pool))]
        obj = question_object(row.get("prompt", ""))
        text = FORMS[form][1].format(obj=obj, a_obj=_with_article(obj))
        new = dict(row)
        new["orig_text"] = orig
        new["text"] = text
        new["perturb_form"] = form
        out.append(new)
    return out


def texts_sha256(texts: list[str]) -> str:
    """sha256 of ``json.dumps(texts, ensure_ascii=True)`` (used by the fixture to pin the texts)."""
    return hashlib.sha256(json.dumps(list(texts), ensure_ascii=True).encode("ascii")).hexdigest()
