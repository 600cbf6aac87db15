"""Load a written ShapesWorld benchmark as typed, verified objects ready for the AMBER scorer.

``benchmarks_data.amber.load_amber`` cannot read it: it resolves files as ``<data_dir>/amber/data/...`` and
checks the official AMBER counts (15,220 records, 1,004 generative). This loader reads the same AMBER file
formats from any directory and checks them against the benchmark's own ``manifest.json`` instead. It never
scores.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks_data.amber_types import AmberAnnotation, AmberData
from benchmarks_data.shapesworld.benchmark import (
    ANNOTATIONS,
    ATTRIBUTE_TYPE,
    BREAKING,
    EXISTENCE_TYPE,
    GENERATIVE_TYPE,
    GENERATOR,
    IMAGE_DIR,
    MANIFEST,
    RELATION,
    SAFE_WORDS,
    SCENES,
    SUBSETS,
    UNIFORM,
    Question,
)
from benchmarks_data.shapesworld.scene import SHAPES, Scene, scene_from_dict
from benchmarks_data.store import DataError

REGENERATE = "regenerate it with `python -m benchmarks_data.shapesworld --out DIR --overwrite`"


@dataclass(frozen=True)
class BiasCase:
    """An image whose bias ``trigger`` is drawn and whose ``target`` is absent."""

    id: int
    trigger: str
    target: str


@dataclass(frozen=True)
class ShapesWorldBenchmark:
    """``amber``: what ``evaluation.amber.score_amber`` needs. ``captions``/``scenes``: ground truth per
    generative id. ``questions``: every discriminative item with its role (see ``benchmark.py``)."""

    root: Path
    seed: int
    amber: AmberData
    images: dict[int, Path]
    scenes: dict[int, Scene]
    captions: dict[int, str]
    breaking: tuple[int, ...]
    uniform: tuple[int, ...]
    bias_pairs: tuple[tuple[str, str], ...]
    bias_cases: tuple[BiasCase, ...]
    questions: tuple[Question, ...]

    @property
    def generative_ids(self) -> tuple[int, ...]:
        return tuple(sorted(self.scenes))

    def image_path(self, item_id: int) -> Path:
        """The image of any item id (discriminative items reuse their generative image)."""
        question = next((q for q in self.questions if q.id == item_id), None)
        return self.images[question.image_id if question else item_id]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; {REGENERATE}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not valid UTF-8 JSON ({exc}); {REGENERATE}") from None


def _verify_files(root: Path, manifest: dict[str, Any]) -> None:
    for relpath, expected in manifest["files"].items():
        path = root / relpath
        if not path.is_file():
            raise DataError(f"{path}: listed in {MANIFEST} but missing; {REGENERATE}")
        if hashlib.sha256(path.read_bytes()).hexdigest() != expected:
            raise DataError(f"{path}: sha256 differs from {MANIFEST}; the file was changed, {REGENERATE}")


def _annotation(path: Path, index: int, raw: Any) -> AmberAnnotation:
    where = f"{path}: item {index}"
    if not isinstance(raw, dict) or raw.get("id") != index + 1:
        raise DataError(f"{where}: expected an object with id {index + 1} (ids equal position + 1); {REGENERATE}")
    if raw.get("type") == GENERATIVE_TYPE:
        truth, hallu = raw.get("truth"), raw.get("hallu")
        if not (isinstance(truth, list) and isinstance(hallu, list) and truth
                and sorted(truth + hallu, key=str) == sorted(SHAPES)):
            raise DataError(f"{where}: generative truth + hallu must split the {len(SHAPES)} shapes; {REGENERATE}")
        return AmberAnnotation(id=raw["id"], type=GENERATIVE_TYPE, truth=tuple(truth), hallu=tuple(hallu))
    if raw.get("type") not in (ATTRIBUTE_TYPE, EXISTENCE_TYPE) or raw.get("truth") not in ("yes", "no"):
        raise DataError(f"{where}: expected a generative record or a yes/no {ATTRIBUTE_TYPE!r} / "
                        f"{EXISTENCE_TYPE!r} record; {REGENERATE}")
    return AmberAnnotation(id=raw["id"], type=raw["type"], truth=raw["truth"])


@contextmanager
def _malformed(path: Path) -> Iterator[None]:
    """A missing key or a wrong type in ``path`` becomes one DataError line naming the file."""
    try:
        yield
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise DataError(f"{path}: malformed ({type(exc).__name__}: {exc}); {REGENERATE}") from None


def _load_amber_data(root: Path, manifest: dict[str, Any]) -> AmberData:
    path = root / ANNOTATIONS
    raw_annotations = _read_json(path)
    if not isinstance(raw_annotations, list):
        raise DataError(f"{path}: expected a JSON list of records; {REGENERATE}")
    annotations = [_annotation(path, i, item) for i, item in enumerate(raw_annotations)]
    with _malformed(root / MANIFEST):
        expected = manifest["counts"]
        wanted = {GENERATIVE_TYPE: int(expected["generative"]), ATTRIBUTE_TYPE: int(expected[ATTRIBUTE_TYPE]),
                  EXISTENCE_TYPE: int(expected[EXISTENCE_TYPE])}
    counts = Counter(a.type for a in annotations)
    if {t: counts.get(t, 0) for t in wanted} != wanted:
        raise DataError(f"{path}: type counts {dict(counts)} differ from {MANIFEST} {wanted}; {REGENERATE}")
    n_gen = wanted[GENERATIVE_TYPE]
    if any(a.is_generative != (a.id <= n_gen) for a in annotations):
        raise DataError(f"{path}: generative records must be exactly ids 1-{n_gen}; {REGENERATE}")
    relation = _read_json(root / RELATION)
    if not isinstance(relation, dict) or sorted(relation) != sorted(SHAPES):
        raise DataError(f"{root / RELATION}: keys must be exactly the {len(SHAPES)} shapes; {REGENERATE}")
    association = {key: tuple(words) for key, words in relation.items()}
    try:
        safe_text = (root / SAFE_WORDS).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{root / SAFE_WORDS}: file not found; {REGENERATE}") from None
    return AmberData(annotations={a.id: a for a in annotations}, association=association,
                     vocabulary=frozenset(association) | {w for ws in association.values() for w in ws},
                     safe_words=frozenset(w for w in safe_text.split("\n") if w))


def load_benchmark(root: str | os.PathLike, *, verify: bool = True) -> ShapesWorldBenchmark:
    """Read and check a benchmark written by :func:`~benchmarks_data.shapesworld.benchmark.write_benchmark`.

    Checks: the manifest is ShapesWorld's; with ``verify``, every file's sha256; ids equal position + 1 with
    generative ids first; per-type counts equal the manifest's; generative truth + hallu split the shapes and
    match the scenes; every question names an existing image and agrees with ``annotations.json``.
    Any problem raises :class:`DataError` with one line naming the file.
    """
    root = Path(root)
    manifest = _read_json(root / MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("generator") != GENERATOR:
        raise DataError(f"{root / MANIFEST}: not a ShapesWorld manifest; {REGENERATE}")
    if verify:
        with _malformed(root / MANIFEST):
            _verify_files(root, manifest)
    amber = _load_amber_data(root, manifest)
    n_gen = sum(a.is_generative for a in amber.annotations.values())
    scenes, captions = _scenes(root, amber, n_gen)
    subsets = _read_json(root / SUBSETS)
    with _malformed(root / SUBSETS):
        questions = tuple(Question(**q) for q in subsets["questions"])
        breaking, uniform = tuple(subsets[BREAKING]), tuple(subsets[UNIFORM])
        bias_pairs = tuple((trigger, target) for trigger, target in subsets["bias_pairs"])
        bias_cases = tuple(BiasCase(**case) for case in subsets["bias_cases"])
        seed = int(manifest["seed"])
    for q in questions:
        annotation = amber.annotations.get(q.id)
        if annotation is None or annotation.type != q.type or annotation.truth != q.truth or q.image_id not in scenes:
            raise DataError(f"{root / SUBSETS}: question {q.id} disagrees with {ANNOTATIONS}; {REGENERATE}")
    return ShapesWorldBenchmark(
        root=root, seed=seed, amber=amber, images={i: root / IMAGE_DIR / f"AMBER_{i}.jpg" for i in scenes},
        scenes=scenes, captions=captions, breaking=breaking, uniform=uniform, bias_pairs=bias_pairs,
        bias_cases=bias_cases, questions=questions)


def _scenes(root: Path, amber: AmberData, n_gen: int) -> tuple[dict[int, Scene], dict[int, str]]:
    path = root / SCENES
    records = _read_json(path)
    if (not isinstance(records, list) or not all(isinstance(r, dict) for r in records)
            or [r.get("id") for r in records] != list(range(1, n_gen + 1))):
        raise DataError(f"{path}: expected one record per generative id 1-{n_gen}, in order; {REGENERATE}")
    scenes, captions = {}, {}
    for record in records:
        if not isinstance(record.get("caption"), str):
            raise DataError(f"{path}: item {record['id']}: no caption; {REGENERATE}")
        try:
            scene = scene_from_dict(record)
        except ValueError as exc:
            raise DataError(f"{path}: item {record['id']}: {exc}; {REGENERATE}") from None
        if tuple(amber.annotations[record["id"]].truth) != scene.drawn:
            raise DataError(f"{path}: item {record['id']}: drawn shapes differ from {ANNOTATIONS}; {REGENERATE}")
        scenes[record["id"]], captions[record["id"]] = scene, record["caption"]
    return scenes, captions
