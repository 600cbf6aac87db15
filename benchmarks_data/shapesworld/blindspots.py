"""ShapesWorld's blind-spot hook (``uedpo-eval --bench shapes[-faint] --blindspots``, :mod:`evaluation.blindspots`).

AMBER's statuses per object, with the scene's colours in the probes and groups from the scene: ``faint`` /
``clear`` for present objects, ``co-occurrence`` (the absent target of a drawn trigger) / ``other`` for
hallucinations. A missed object is probed by inserting ``a <colour> <shape>`` into the caption's own object
list at its class-order place (the demo model always lists in class order, so an appended sentence would be
flagged whatever the image shows).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks_data.shapesworld.bench import benchmark_root, ensure_benchmark
from benchmarks_data.shapesworld.captions import caption_from_objects
from benchmarks_data.shapesworld.scene import SHAPES
from evaluation.benches import UsageError
from evaluation.blindspots import ObjectCase, amber_cases, row_source


def shapes_probe(response: str, colour: str, shape: str) -> tuple[str, int, int, str]:
    """The response's object list with ``a <colour> <shape>`` inserted at its class-order place (module
    docstring); a response that is not a template caption gets the phrase appended. (text, start, end, kind)."""
    phrases = [(m.group(1), m.group(2)) for m in re.finditer(r"\ba (\w+) (\w+)\b", response)]
    order = SHAPES.index(shape)
    if phrases and all(s in SHAPES for _, s in phrases) and caption_from_objects(phrases) == response.strip():
        at = next((i for i, (_, s) in enumerate(phrases) if SHAPES.index(s) > order), len(phrases))
        text = caption_from_objects([*phrases[:at], (colour, shape), *phrases[at:]])
        kind = "inserted"
    else:
        text = (response.rstrip() + " " if response.strip() else "") + f"a {colour} {shape} ."
        kind = "appended"
    start = text.index(f"a {colour} {shape}") + len(f"a {colour} ")
    return text, start, start + len(shape), kind




def shapes_cases(row: dict[str, Any], benchmark) -> tuple[list[ObjectCase], list[str]]:
    """ShapesWorld: AMBER's statuses, the scene's colours for the probes, and groups: ``faint`` / ``clear``
    for present objects, ``co-occurrence`` (the absent target of a drawn trigger) / ``other`` for
    hallucinations."""
    item_id = int(row["id"])
    scene = benchmark.scenes.get(item_id)
    if scene is None:
        raise UsageError(f"item {item_id}: not a generative item of the ShapesWorld benchmark at {benchmark.root}")
    objects = {o.shape: o for o in scene.objects if o.visible}
    triggers = {c.target: c.trigger for c in benchmark.bias_cases if c.id == item_id}
    cases, unlocated = amber_cases(row)
    out = []
    for case in cases:
        obj = objects.get(case.object_class)
        if case.status == "hallucinated":
            trigger = triggers.get(case.object_class)
            group = "co-occurrence" if trigger else "other"
            out.append(ObjectCase(**{**asdict(case), "group": group, "extra": {"trigger": trigger}}))
            continue
        if obj is None:  # the annotation and the scene disagree: the benchmark loader forbids this
            raise UsageError(f"item {item_id}: {case.object_class} is in the record but not drawn in the scene")
        fields = asdict(case)
        if case.status == "missed":
            text, start, end, kind = shapes_probe(row["response"], obj.colour, obj.shape)
            fields.update(text=text, start=start, end=end, probe_kind=kind)
        fields.update(group="faint" if obj.faint else "clear",
                      extra={"faint": obj.faint, "alpha": obj.alpha, "size": obj.size, "colour": obj.colour})
        out.append(ObjectCase(**fields))
    return out, unlocated




def _benchmark(rows: Sequence[dict[str, Any]], bench: str, opts):
    image = Path(str(rows[0].get("image") or ""))
    root = image.parents[1] if image.is_absolute() and len(image.parents) > 1 else None
    if root is None or not (root / "manifest.json").is_file():
        root = benchmark_root(opts, bench)
    return ensure_benchmark(root, bench=bench)


def shapes_blindspots(rows: Sequence[dict[str, Any]], bench: str, opts) -> Callable:
    """The registry hook: the benchmark the rows' images come from (or ``--shapes-dir``), then per row
    :func:`shapes_cases`."""
    benchmark = _benchmark(rows, bench, opts)
    return lambda row: (*row_source(row), *shapes_cases(row, benchmark))
