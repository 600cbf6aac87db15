"""Pixels of a ShapesWorld scene, and the JPEG encoding shared by the benchmark and training.

Recipe: /work/shared/docs/SHAPESWORLD.md §1. Shapes are polygons/ellipses drawn with PIL at 4x size and
box-downsampled (antialiased). Objects sit at integer pixel positions, so a shape's antialiased coverage
depends only on (shape, size): it is drawn once, cached, and every image is alpha-blended in numpy
(thousands of images per second). :func:`render_reference` computes the same image without the cache,
on full-size canvases; tests check the two agree exactly.

JPEG: the benchmark stores ``AMBER_{n}.jpg`` (quality 95, 4:4:4 chroma so 64-px colours are not smeared).
Training images should go through :func:`jpeg_roundtrip` so the model sees the same pixels at train and
evaluation time; a model reading the benchmark files gets exactly ``jpeg_roundtrip(render(scene))``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from functools import cache

import numpy as np
from PIL import Image, ImageDraw

from benchmarks_data.shapesworld.scene import IMAGE_SIZE, PIXEL_NOISE_STD, SHAPES, Scene, SceneObject
from uedpo.errors import InputError

SUPERSAMPLE = 4
JPEG_QUALITY = 95
JPEG_SUBSAMPLING = 0  # PIL's code for 4:4:4 (no chroma subsampling)

Point = tuple[float, float]


def _star(points: int = 5, outer: float = 0.5, inner: float = 0.2) -> list[Point]:
    corners = []
    for i in range(2 * points):
        radius = outer if i % 2 == 0 else inner
        angle = -math.pi / 2 + i * math.pi / points
        corners.append((0.5 + radius * math.cos(angle), 0.54 + radius * math.sin(angle)))
    return corners


def _heart(n: int = 48) -> list[Point]:
    # The classic parametric heart, scaled into the unit box.
    raw = [(16 * math.sin(t) ** 3, -(13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)))
           for t in (2 * math.pi * i / n for i in range(n))]
    xs, ys = [p[0] for p in raw], [p[1] for p in raw]
    return [((x - min(xs)) / (max(xs) - min(xs)), (y - min(ys)) / (max(ys) - min(ys))) for x, y in raw]


# Unit-box polygons (x, y in [0, 1], y down); circle and moon are ellipses, drawn separately.
_POLYGONS: dict[str, list[list[Point]]] = {
    "square": [[(0.06, 0.06), (0.94, 0.06), (0.94, 0.94), (0.06, 0.94)]],
    "triangle": [[(0.5, 0.03), (0.98, 0.93), (0.02, 0.93)]],
    "star": [_star()],
    "cross": [[(0.33, 0.0), (0.67, 0.0), (0.67, 1.0), (0.33, 1.0)], [(0.0, 0.33), (1.0, 0.33), (1.0, 0.67), (0.0, 0.67)]],
    "heart": [_heart()],
    "diamond": [[(0.5, 0.0), (0.84, 0.5), (0.5, 1.0), (0.16, 0.5)]],
    "bar": [[(0.0, 0.34), (1.0, 0.34), (1.0, 0.66), (0.0, 0.66)]],
    "arrow": [[(0.0, 0.38), (0.55, 0.38), (0.55, 0.1), (1.0, 0.5), (0.55, 0.9), (0.55, 0.62), (0.0, 0.62)]],
}


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, left: int, top: int, width: int) -> None:
    """Fill ``shape`` (255) into the ``width``-px box at (left, top) of an "L" canvas.

    Vertices are snapped to whole canvas pixels (quarter pixels of the final image) so a shape's outline does
    not depend on float rounding.
    """
    def point(x: float, y: float) -> tuple[int, int]:
        return left + round(x * width), top + round(y * width)

    def box(x0: float, y0: float, x1: float, y1: float) -> list[int]:
        (a, b), (c, d) = point(x0, y0), point(x1, y1)
        return [a, b, c - 1, d - 1]

    if shape == "circle":
        draw.ellipse(box(0, 0, 1, 1), fill=255)
    elif shape == "moon":  # a disc minus a shifted disc: a crescent opening to the upper right
        draw.ellipse(box(0, 0, 1, 1), fill=255)
        draw.ellipse(box(0.32, -0.14, 1.32, 0.86), fill=0)
    elif shape in _POLYGONS:
        for polygon in _POLYGONS[shape]:
            draw.polygon([point(x, y) for x, y in polygon], fill=255)
    else:
        raise InputError(f"unknown ShapesWorld shape {shape!r}; use one of {SHAPES}")


@cache
def shape_coverage(shape: str, size: int) -> np.ndarray:
    """Antialiased coverage in [0, 1] of ``shape`` in a ``size``x``size`` box (read-only, cached)."""
    canvas = Image.new("L", (size * SUPERSAMPLE, size * SUPERSAMPLE), 0)
    _draw_shape(ImageDraw.Draw(canvas), shape, 0, 0, size * SUPERSAMPLE)
    coverage = np.asarray(canvas.reduce(SUPERSAMPLE), dtype=np.float32) / 255.0
    coverage.setflags(write=False)
    return coverage


def _noise(scene: Scene) -> np.ndarray:
    rng = np.random.default_rng(scene.noise_seed)
    return rng.standard_normal((IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.float32) * np.float32(PIXEL_NOISE_STD)


def _finish(canvas: np.ndarray, scene: Scene, noise: bool) -> np.ndarray:
    if noise:
        canvas = canvas + _noise(scene)
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


def render(scene: Scene, *, noise: bool = True) -> np.ndarray:
    """The scene as a (64, 64, 3) uint8 RGB array: grey background, visible objects alpha-blended (faint
    objects with their alpha), then N(0, 4) sensor noise over the whole image (seeded by the scene)."""
    return render_coverage(scene, lambda obj: shape_coverage(obj.shape, obj.size), noise=noise)


def render_coverage(scene: Scene, coverage: Callable[[SceneObject], np.ndarray], *, noise: bool = True) -> np.ndarray:
    """:func:`render` with each visible object's (size, size) coverage mask given by ``coverage(obj)``
    (rendering variants, :mod:`benchmarks_data.shapesworld.variants`)."""
    canvas = np.full((IMAGE_SIZE, IMAGE_SIZE, 3), np.float32(scene.background), dtype=np.float32)
    for obj in scene.objects:
        if not obj.visible:
            continue
        alpha = coverage(obj)[..., None] * np.float32(obj.alpha)
        region = canvas[obj.y:obj.y + obj.size, obj.x:obj.x + obj.size]
        region += alpha * (np.asarray(obj.rgb, dtype=np.float32) - region)
    return _finish(canvas, scene, noise)


def render_reference(scene: Scene, *, noise: bool = True) -> np.ndarray:
    """Same image, computed the direct way: every object is drawn afresh, pasted into a full 256x256 mask at
    4x its position, the whole mask box-downsampled and blended over the whole image. Slow; the test oracle
    for :func:`render`'s cache, slicing and blending, and the baseline of ``benchmarks/bench_shapesworld.py``.

    Each shape is drawn on its own small canvas before pasting because PIL's polygon rasteriser is not
    exactly translation-invariant (a shape drawn at another canvas offset can differ by a few sub-pixels).
    """
    canvas = np.full((IMAGE_SIZE, IMAGE_SIZE, 3), np.float32(scene.background), dtype=np.float32)
    big = IMAGE_SIZE * SUPERSAMPLE
    for obj in scene.objects:
        if not obj.visible:
            continue
        width = obj.size * SUPERSAMPLE
        local = Image.new("L", (width, width), 0)
        _draw_shape(ImageDraw.Draw(local), obj.shape, 0, 0, width)
        mask = Image.new("L", (big, big), 0)
        mask.paste(local, (obj.x * SUPERSAMPLE, obj.y * SUPERSAMPLE))
        alpha = (np.asarray(mask.reduce(SUPERSAMPLE), dtype=np.float32) / 255.0)[..., None] * np.float32(obj.alpha)
        canvas += alpha * (np.asarray(obj.rgb, dtype=np.float32) - canvas)
    return _finish(canvas, scene, noise)


def render_batch(scenes: Sequence[Scene], renderer: Callable[[Scene], np.ndarray] = render) -> np.ndarray:
    """(n, 64, 64, 3) uint8."""
    return np.stack([renderer(scene) for scene in scenes]) if scenes else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE, 3),
                                                                                   dtype=np.uint8)


def encode_jpeg(pixels: np.ndarray) -> bytes:
    """The benchmark's JPEG bytes for a (H, W, 3) uint8 image (quality 95, 4:4:4, deterministic)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY,
                                              subsampling=JPEG_SUBSAMPLING)
    return buffer.getvalue()


def decode_jpeg(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def jpeg_roundtrip(pixels: np.ndarray) -> np.ndarray:
    """The pixels a reader of the benchmark's JPEG file gets back; use it on training images so train and
    evaluation pixels come from the same encoder."""
    return decode_jpeg(encode_jpeg(pixels))
