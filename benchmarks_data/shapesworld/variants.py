"""Rendering variants for ShapesWorld experiments: appearances the demo model never saw in SFT.

``render_outlined(scene)`` draws the objects of the :data:`NOVEL_CLASS` class (or of ``classes``) as a thin
outline instead of a filled shape: the antialiased coverage minus its 3x3 erosion, about one pixel wide, in
the object's colour. Everything else is :func:`benchmarks_data.shapesworld.render.render` unchanged (same
background, blending and sensor noise). The SFT stream never draws outlines, so for the demo model an
outlined diamond is an object class it has never grounded: it names 23 % of them in the held-out scenes of
the "novel" regime of docs/shapesworld.md, against 99-100 % of filled shapes. Used by
``benchmarks/shapes_methods.py``; scenes and captions are the ordinary ones.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from benchmarks_data.shapesworld.render import render_coverage, shape_coverage
from benchmarks_data.shapesworld.scene import Scene, SceneObject

NOVEL_CLASS = "diamond"


def outline(coverage: np.ndarray) -> np.ndarray:
    """``coverage`` minus its 3x3 grey-level erosion (zero padding), clipped to [0, 1]."""
    padded = np.pad(coverage, 1)
    eroded = coverage.copy()
    height, width = coverage.shape
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            eroded = np.minimum(eroded, padded[dy:dy + height, dx:dx + width])
    return np.clip(coverage - eroded, 0.0, 1.0)


def render_outlined(scene: Scene, classes: Iterable[str] = (NOVEL_CLASS,), *, noise: bool = True) -> np.ndarray:
    """:func:`~benchmarks_data.shapesworld.render.render` with the objects of ``classes`` drawn as outlines."""
    outlined = set(classes)

    def coverage(obj: SceneObject) -> np.ndarray:
        mask = shape_coverage(obj.shape, obj.size)
        return outline(mask) if obj.shape in outlined else mask

    return render_coverage(scene, coverage, noise=noise)
