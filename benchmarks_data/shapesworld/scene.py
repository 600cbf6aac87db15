"""ShapesWorld scenes: a seeded sampler of coloured shapes on a 4x4 grid (the description, not the pixels).

Recipe: /work/shared/docs/SHAPESWORLD.md §1 (the project's own feasibility study; no external source).

* 64x64 image, light grey background (level U(215, 250)); 1-4 objects (p = .25/.35/.25/.15) of distinct
  classes, each in its own cell of a 4x4 lattice of 16-px cells, 11-15 px, jittered inside the cell so every
  object lies inside exactly one 16-px ViT patch ("grid" layout: free placement was not learnable, §3).
* 10 shapes, 5 colours with N(0, 8) jitter per channel.
* Co-occurrence bias (training only): when a trigger is named, its target is present with p = 0.9 and
  removed otherwise (circle -> square, triangle -> star).
* ``p_hidden`` (training only): each object is, with p = 0.1, NAMED in the caption but NOT drawn. This label
  noise is what makes the bias hallucination persist (§1, §3.3).
* "Blind spot" option (off by default): with ``p_faint`` an object is drawn small and/or low-contrast
  (alpha 0.08-0.3) while still being named.

Scenes are plain frozen dataclasses; :mod:`.render` turns one into pixels, :mod:`.captions` into text.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from uedpo.errors import InputError

IMAGE_SIZE = 64
CELL_SIZE = 16
GRID = IMAGE_SIZE // CELL_SIZE  # 4x4 lattice: one object per cell, one cell per 16-px ViT patch

# Also the fixed order in which captions list objects (the trigger always precedes its target).
SHAPES: tuple[str, ...] = (
    "circle", "square", "triangle", "star", "cross", "heart", "diamond", "bar", "moon", "arrow",
)
# Base RGB of each colour name; every object gets N(0, COLOUR_JITTER) added per channel.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (210, 40, 40),
    "green": (40, 160, 60),
    "blue": (40, 70, 205),
    "yellow": (230, 195, 20),
    "purple": (140, 50, 170),
}
COLOUR_JITTER = 8.0
# (trigger, target): in training scenes that name the trigger, the target is named with p = BIAS_P.
BIAS_PAIRS: tuple[tuple[str, str], ...] = (("circle", "square"), ("triangle", "star"))
BIAS_P = 0.9
P_HIDDEN = 0.1
N_OBJECTS_PROBS: tuple[float, ...] = (0.25, 0.35, 0.25, 0.15)  # for 1, 2, 3, 4 objects
SIZE_RANGE = (11, 15)  # object side in px, inclusive
BACKGROUND_RANGE = (215, 250)  # grey level, uniform
PIXEL_NOISE_STD = 4.0
FAINT_ALPHA_RANGE = (0.08, 0.3)


@dataclass(frozen=True)
class SceneConfig:
    """How scenes are drawn. The defaults are the TRAINING distribution; see :data:`EVAL_CONFIG`.

    ``bias_p=None`` turns the co-occurrence correction off (classes uniformly random). ``p_faint`` > 0 turns
    on the blind-spot regime: such objects get alpha in ``faint_alpha`` and, if ``faint_size`` is set, a size
    from that range.
    """

    n_objects_probs: tuple[float, ...] = N_OBJECTS_PROBS
    bias_pairs: tuple[tuple[str, str], ...] = BIAS_PAIRS
    bias_p: float | None = BIAS_P
    p_hidden: float = P_HIDDEN
    p_faint: float = 0.0
    faint_alpha: tuple[float, float] = FAINT_ALPHA_RANGE
    faint_size: tuple[int, int] | None = None
    size_range: tuple[int, int] = SIZE_RANGE

    def __post_init__(self) -> None:
        if not np.isclose(sum(self.n_objects_probs), 1.0) or len(self.n_objects_probs) > GRID * GRID:
            raise InputError(f"SceneConfig: n_objects_probs {self.n_objects_probs} must sum to 1 (at most "
                             f"{GRID * GRID} objects); fix the probabilities")
        for trigger, target in self.bias_pairs:
            if trigger not in SHAPES or target not in SHAPES or trigger == target:
                raise InputError(f"SceneConfig: bias pair ({trigger!r}, {target!r}) must be two different "
                                 f"classes of {SHAPES}")
        for name in ("p_hidden", "p_faint"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f"SceneConfig: {name}={getattr(self, name)} is not a probability; use [0, 1]")
        for name in ("size_range", "faint_size"):
            bounds = getattr(self, name)
            if bounds is not None and not 1 <= bounds[0] <= bounds[1] <= CELL_SIZE:
                raise InputError(f"SceneConfig: {name}={bounds} must satisfy 1 <= low <= high <= {CELL_SIZE}")


TRAIN_CONFIG = SceneConfig()
# Evaluation sets: no bias correction, nothing hidden, nothing faint (SHAPESWORLD.md §1).
EVAL_CONFIG = SceneConfig(bias_p=None, p_hidden=0.0)
# The faint evaluation variant (`uedpo-eval --bench shapes-faint`): as EVAL_CONFIG, but 40 % of objects are drawn
# small (8-11 px) and at alpha 0.3-0.5: objects that are there but hard to see. The setting of the blind-spot
# regime of benchmarks/shapes_methods.py, where the demo checkpoint names about a third of them.
FAINT_EVAL_CONFIG = SceneConfig(bias_p=None, p_hidden=0.0, p_faint=0.4, faint_alpha=(0.3, 0.5), faint_size=(8, 11))


@dataclass(frozen=True)
class SceneObject:
    """One named object. ``x``/``y`` are the top-left pixel of its ``size``x``size`` box (inside ``cell``,
    numbered row-major 0-15). ``visible=False``: named in the caption but not drawn. ``alpha`` < 1: faint."""

    shape: str
    colour: str
    rgb: tuple[int, int, int]
    cell: int
    x: int
    y: int
    size: int
    visible: bool = True
    alpha: float = 1.0

    @property
    def faint(self) -> bool:
        return self.alpha < 1.0


@dataclass(frozen=True)
class Scene:
    """Objects in caption order (:data:`SHAPES` order), the background grey level and the seed of the
    per-pixel noise, so rendering is a pure function of the scene."""

    objects: tuple[SceneObject, ...]
    background: int
    noise_seed: int

    @property
    def named(self) -> tuple[str, ...]:
        """Classes the caption names (hidden objects included)."""
        return tuple(o.shape for o in self.objects)

    @property
    def drawn(self) -> tuple[str, ...]:
        """Classes actually drawn (faint ones included)."""
        return tuple(o.shape for o in self.objects if o.visible)


@dataclass
class _Draw:
    """The scene's random draws, in a fixed order so a seed always gives the same scene."""

    rng: np.random.Generator
    config: SceneConfig
    include: Sequence[str] = field(default_factory=tuple)
    exclude: Sequence[str] = field(default_factory=tuple)

    def classes(self) -> list[str]:
        n = int(self.rng.choice(len(self.config.n_objects_probs), p=self.config.n_objects_probs)) + 1
        chosen = list(dict.fromkeys(self.include))
        pool = [s for s in SHAPES if s not in chosen and s not in self.exclude]
        extra = max(0, n - len(chosen))
        chosen += [pool[i] for i in self.rng.choice(len(pool), size=min(extra, len(pool)), replace=False)]
        if self.config.bias_p is not None:
            chosen = self._apply_bias(chosen, n_max=len(self.config.n_objects_probs))
        return sorted(chosen, key=SHAPES.index)

    def _apply_bias(self, chosen: list[str], n_max: int) -> list[str]:
        protected = set(self.include)
        for trigger, target in self.config.bias_pairs:
            if trigger not in chosen:
                continue
            keep_target = self.rng.random() < self.config.bias_p
            protected |= {trigger, target} if keep_target else {trigger}
            if keep_target and target not in chosen and target not in self.exclude:
                if len(chosen) >= n_max:  # make room: drop an unprotected class so counts stay in 1..n_max
                    droppable = [c for c in chosen if c not in protected]
                    if not droppable:
                        continue
                    chosen.remove(droppable[int(self.rng.integers(len(droppable)))])
                chosen.append(target)
            elif not keep_target and target in chosen and target not in self.include:
                chosen.remove(target)
        return chosen

    def place(self, shape: str, cell: int) -> SceneObject:
        cfg = self.config
        colour = list(COLOURS)[int(self.rng.integers(len(COLOURS)))]
        jitter = self.rng.normal(0.0, COLOUR_JITTER, size=3)
        red, green, blue = (int(v) for v in np.clip(np.rint(np.array(COLOURS[colour]) + jitter), 0, 255))
        visible = not self.rng.random() < cfg.p_hidden
        faint = self.rng.random() < cfg.p_faint
        alpha = float(self.rng.uniform(*cfg.faint_alpha)) if faint else 1.0
        low, high = cfg.faint_size if faint and cfg.faint_size else cfg.size_range
        size = int(self.rng.integers(low, high + 1))
        row, col = divmod(cell, GRID)
        x = col * CELL_SIZE + int(self.rng.integers(0, CELL_SIZE - size + 1))
        y = row * CELL_SIZE + int(self.rng.integers(0, CELL_SIZE - size + 1))
        return SceneObject(shape=shape, colour=colour, rgb=(red, green, blue), cell=cell, x=x, y=y, size=size,
                           visible=visible, alpha=alpha)


def sample_scene(rng: np.random.Generator, config: SceneConfig = TRAIN_CONFIG, *,
                 include: Sequence[str] = (), exclude: Sequence[str] = ()) -> Scene:
    """One scene from ``config``. ``include`` classes are always named (the object count is raised to fit
    them), ``exclude`` classes never are; both override the bias correction (used for bias-breaking sets)."""
    unknown = [s for s in (*include, *exclude) if s not in SHAPES]
    if unknown or set(include) & set(exclude):
        raise InputError(f"sample_scene: include={tuple(include)} / exclude={tuple(exclude)} must be disjoint "
                         f"classes of {SHAPES}")
    draw = _Draw(rng, config, include, exclude)
    classes = draw.classes()
    cells = rng.choice(GRID * GRID, size=len(classes), replace=False)
    objects = tuple(draw.place(shape, int(cell)) for shape, cell in zip(classes, cells, strict=True))
    background = int(rng.integers(BACKGROUND_RANGE[0], BACKGROUND_RANGE[1] + 1))
    noise_seed = int(rng.integers(2**63))
    return Scene(objects=objects, background=background, noise_seed=noise_seed)


def iter_scenes(seed: int, config: SceneConfig = TRAIN_CONFIG) -> Iterator[Scene]:
    """An endless, reproducible stream of scenes (numpy PCG64 seeded with ``seed``)."""
    rng = np.random.default_rng(seed)
    while True:
        yield sample_scene(rng, config)



def scene_to_dict(scene: Scene) -> dict[str, Any]:
    """A JSON-ready description (the benchmark's ``scenes.json``); :func:`scene_from_dict` inverts it."""
    return {"background": scene.background, "noise_seed": scene.noise_seed,
            "objects": [{**asdict(o), "rgb": list(o.rgb)} for o in scene.objects]}


def scene_from_dict(raw: dict[str, Any]) -> Scene:
    """Raises ``ValueError`` naming the bad field (the caller adds the file and item)."""
    try:
        objects = tuple(SceneObject(**{**o, "rgb": tuple(o["rgb"])}) for o in raw["objects"])
        scene = Scene(objects=objects, background=int(raw["background"]), noise_seed=int(raw["noise_seed"]))
    except (KeyError, TypeError) as exc:
        raise InputError(f"not a ShapesWorld scene ({type(exc).__name__}: {exc})") from None
    bad = [o.shape for o in objects if o.shape not in SHAPES or o.colour not in COLOURS]
    if bad:
        raise InputError(f"unknown shape or colour in objects {bad}")
    return scene
