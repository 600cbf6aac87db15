"""Read what the official AMBER script prints back into our sections, to compare a run with ours.

Source: ``junyangwang0410/AMBER`` @ 534babf6bbfcce2e735c26289dedfb21cef3c939, ``inference.py``, the print
blocks of ``main`` (``-a``): a header line per block ("Generative Task:", "Descriminative Task:",
"Exsitence:", ..., typos as printed) followed by ``Name:<tabs> value`` lines.
"""

from __future__ import annotations

from evaluation.amber.constants import (
    ACTION,
    ATTRIBUTE_SECTION,
    EXISTENCE,
    GENERATIVE_SECTION,
    NUMBER,
    POOLED_SECTION,
    RELATION,
    STATE,
)
from uedpo.errors import InputError

# The official block headers, spelled as printed, and our section names.
OFFICIAL_HEADERS = {
    "Generative Task": GENERATIVE_SECTION,
    "Descriminative Task": POOLED_SECTION,
    "Exsitence": EXISTENCE,
    "Attribute": ATTRIBUTE_SECTION,
    "State": STATE,
    "Number": NUMBER,
    "Action": ACTION,
    "Relation": RELATION,
}


def parse_official_stdout(text: str) -> dict[str, dict[str, float]]:
    """``{section: {metric: value}}`` in printed order; a line of another shape: a one-line ValueError."""
    sections: dict[str, dict[str, float]] = {}
    current: dict[str, float] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = (part.strip() for part in line.partition(":"))
        if not sep:
            raise InputError(
                f"official AMBER output line {number}: {line!r} is neither a header nor 'name: value'"
            )
        if not value:
            if name not in OFFICIAL_HEADERS:
                raise InputError(f"official AMBER output line {number}: unknown block {name!r}")
            current = sections.setdefault(OFFICIAL_HEADERS[name], {})
            continue
        if current is None:
            raise InputError(f"official AMBER output line {number}: {name!r} comes before any block header")
        try:
            current[name] = float(value)
        except ValueError:
            raise InputError(f"official AMBER output line {number}: {value!r} is not a number") from None
    return sections
