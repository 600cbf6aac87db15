"""The ShapesWorld evaluation benchmark, written in AMBER's file formats.

Layout (the AMBER repo's, ``junyangwang0410/AMBER`` @ 534babf ``data/``; see SCORERS.md §3.1)::

    out_dir/data/annotations.json        [{id, type, truth, hallu}]: generative ids 1..N first, then
                                          "discriminative-attribute-state" ("is the circle red ?"), then
                                          "discriminative-hallucination" ("is there a circle in the image ?")
    out_dir/data/relation.json           every shape a key, no associations (shapes have no synonyms)
    out_dir/data/safe_words.txt          empty (no global safe words)
    out_dir/data/query/query_all.json    [{id, image: "AMBER_{n}.jpg", query}], also query_generative.json,
                                          query_discriminative.json, query_discriminative-{attribute,existence}.json
    out_dir/images/AMBER_{n}.jpg         64x64 JPEG (quality 95, 4:4:4); discriminative ids reuse these
    out_dir/scenes.json                  per image: subset, ground-truth caption, every object
    out_dir/subsets.json                 breaking / uniform ids, bias cases, the role of every question
    out_dir/manifest.json                seed, counts, config, library versions, sha256 of every file

``data/metrics.txt`` (the official script's counter seeds) is not written: our scorer keeps those seeds as
constants (``evaluation.amber.constants``).

Evaluation sets (SHAPESWORLD.md §1; every object visible, nothing hidden, no bias correction):
``breaking`` (``n_breaking`` images, split evenly over the bias pairs: trigger drawn, target absent, other
objects random) and ``uniform`` (``n_uniform`` images). Generative ``truth`` = the drawn shapes,
``hallu`` = every other shape, so Cog and Hal count a named absent bias target. Existence questions: per image
one "yes" (a drawn shape) and one "no" (the bias target on breaking images, a random absent shape on uniform
ones): 50/50 overall (AMBER's own existence set is all "no"). Colour questions: per image one, about a drawn
shape, exactly half "yes" over the set.

Scoring with ``evaluation.amber.score_amber``: pass ``similarity=ExactSimilarity()`` (shape names are
distinct, and the official spaCy ``en_core_web_lg`` backend is not needed) and, because the model answers in
lower case, ``normalize_answers=True`` for the yes/no part.

Determinism: a seed gives byte-identical files for a given numpy, Pillow and libjpeg (their versions are in
the manifest).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import PIL
from tqdm import tqdm

from benchmarks_data.shapesworld.captions import (
    CAPTION_PROMPT,
    NO,
    YES,
    caption,
    colour_question,
    existence_question,
)
from benchmarks_data.shapesworld.render import encode_jpeg, render
from benchmarks_data.shapesworld.scene import (
    COLOURS,
    EVAL_CONFIG,
    SHAPES,
    Scene,
    SceneConfig,
    sample_scene,
    scene_to_dict,
)
from uedpo.errors import InputError

GENERATOR = "shapesworld"
FORMAT_VERSION = 1
GENERATIVE_TYPE = "generative"
EXISTENCE_TYPE = "discriminative-hallucination"
ATTRIBUTE_TYPE = "discriminative-attribute-state"
BREAKING, UNIFORM = "breaking", "uniform"
# Roles of a question, for yes/no metrics beyond AMBER's (target FP rate, other FP rate, present TP rate).
ROLE_PRESENT, ROLE_BIAS_TARGET, ROLE_ABSENT = "present", "bias_target", "absent"
ROLE_COLOUR_TRUE, ROLE_COLOUR_FALSE = "colour_true", "colour_false"

ANNOTATIONS = "data/annotations.json"
RELATION = "data/relation.json"
SAFE_WORDS = "data/safe_words.txt"
QUERY_FILES = {  # file -> annotation types it holds, as in the AMBER repo (no relation questions here)
    "data/query/query_all.json": None,
    "data/query/query_generative.json": (GENERATIVE_TYPE,),
    "data/query/query_discriminative.json": (ATTRIBUTE_TYPE, EXISTENCE_TYPE),
    "data/query/query_discriminative-attribute.json": (ATTRIBUTE_TYPE,),
    "data/query/query_discriminative-existence.json": (EXISTENCE_TYPE,),
}
SCENES, SUBSETS, MANIFEST = "scenes.json", "subsets.json", "manifest.json"
IMAGE_DIR = "images"


def image_name(image_id: int) -> str:
    return f"AMBER_{image_id}.jpg"


@dataclass(frozen=True)
class Question:
    """One discriminative item: which image, what shape (and colour), the truth and its role."""

    id: int
    image_id: int
    type: str
    query: str
    truth: str
    role: str
    shape: str
    colour: str | None = None


@dataclass(frozen=True)
class BenchmarkSpec:
    """Everything :func:`write_benchmark` writes, before rendering: scenes (index i is generative id i + 1)."""

    seed: int
    bias_pairs: tuple[tuple[str, str], ...]
    scenes: tuple[Scene, ...]
    subset: tuple[str, ...]
    breaking_pair: dict[int, tuple[str, str]]
    questions: tuple[Question, ...]

    def annotations(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for image_id, scene in enumerate(self.scenes, start=1):
            drawn = set(scene.drawn)
            rows.append({"id": image_id, "type": GENERATIVE_TYPE, "truth": list(scene.drawn),
                         "hallu": [s for s in SHAPES if s not in drawn]})
        rows += [{"id": q.id, "type": q.type, "truth": q.truth} for q in self.questions]
        return rows

    def queries(self) -> list[dict[str, Any]]:
        rows = [{"id": i, "image": image_name(i), "query": CAPTION_PROMPT} for i in range(1, len(self.scenes) + 1)]
        return rows + [{"id": q.id, "image": image_name(q.image_id), "query": q.query} for q in self.questions]

    def bias_cases(self) -> list[dict[str, Any]]:
        """Every (image, pair) whose trigger is drawn and target absent: the target-rate denominator."""
        cases = []
        for image_id, scene in enumerate(self.scenes, start=1):
            drawn = set(scene.drawn)
            cases += [{"id": image_id, "trigger": trigger, "target": target}
                      for trigger, target in self.bias_pairs if trigger in drawn and target not in drawn]
        return cases

    def subsets(self) -> dict[str, Any]:
        return {
            "bias_pairs": [list(pair) for pair in self.bias_pairs],
            BREAKING: [i for i, name in enumerate(self.subset, start=1) if name == BREAKING],
            UNIFORM: [i for i, name in enumerate(self.subset, start=1) if name == UNIFORM],
            "breaking_pair": [{"id": i, "trigger": t, "target": g} for i, (t, g) in self.breaking_pair.items()],
            "bias_cases": self.bias_cases(),
            "questions": [asdict(q) for q in self.questions],
        }

    def scene_records(self) -> list[dict[str, Any]]:
        return [{"id": i, "image": image_name(i), "subset": name, "caption": caption(scene), **scene_to_dict(scene)}
                for i, (scene, name) in enumerate(zip(self.scenes, self.subset, strict=True), start=1)]


def _sample_scenes(rng: np.random.Generator, n_breaking: int, n_uniform: int, config: SceneConfig,
                   ) -> tuple[list[Scene], list[str], dict[int, tuple[str, str]]]:
    if n_breaking < 0 or n_uniform < 0 or n_breaking % len(config.bias_pairs):
        raise InputError(f"ShapesWorld benchmark: n_breaking={n_breaking} must be a non-negative multiple of "
                         f"the {len(config.bias_pairs)} bias pairs and n_uniform={n_uniform} non-negative")
    scenes, subset, breaking_pair = [], [], {}
    per_pair = n_breaking // len(config.bias_pairs)
    for trigger, target in config.bias_pairs:
        for _ in range(per_pair):
            scenes.append(sample_scene(rng, config, include=(trigger,), exclude=(target,)))
            subset.append(BREAKING)
            breaking_pair[len(scenes)] = (trigger, target)
    for _ in range(n_uniform):
        scenes.append(sample_scene(rng, config))
        subset.append(UNIFORM)
    return scenes, subset, breaking_pair


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _existence_questions(rng: np.random.Generator, scenes: Sequence[Scene], breaking_pair: dict[int, tuple[str, str]],
                         bias_pairs: Sequence[tuple[str, str]], first_id: int) -> list[Question]:
    questions: list[Question] = []
    for image_id, scene in enumerate(scenes, start=1):
        drawn = list(scene.drawn)
        present = _pick(rng, drawn)
        if image_id in breaking_pair:
            absent = breaking_pair[image_id][1]
        else:
            absent = _pick(rng, [s for s in SHAPES if s not in drawn])
        # An absent target whose trigger is drawn is a bias probe, also when a uniform image happens to be one.
        is_probe = any(target == absent and trigger in drawn for trigger, target in bias_pairs)
        for shape, truth, role in ((present, YES, ROLE_PRESENT),
                                   (absent, NO, ROLE_BIAS_TARGET if is_probe else ROLE_ABSENT)):
            questions.append(Question(id=first_id + len(questions), image_id=image_id, type=EXISTENCE_TYPE,
                                      query=existence_question(shape), truth=truth, role=role, shape=shape))
    return questions


def _colour_questions(rng: np.random.Generator, scenes: Sequence[Scene], first_id: int) -> list[Question]:
    truths = rng.permutation([YES] * ((len(scenes) + 1) // 2) + [NO] * (len(scenes) // 2))
    questions = []
    for image_id, (scene, truth) in enumerate(zip(scenes, truths, strict=True), start=1):
        obj = scene.objects[int(rng.integers(len(scene.objects)))]
        colour = obj.colour if truth == YES else _pick(rng, [c for c in COLOURS if c != obj.colour])
        questions.append(Question(
            id=first_id + len(questions), image_id=image_id, type=ATTRIBUTE_TYPE,
            query=colour_question(obj.shape, colour), truth=str(truth),
            role=ROLE_COLOUR_TRUE if truth == YES else ROLE_COLOUR_FALSE, shape=obj.shape, colour=colour))
    return questions


def build_benchmark(seed: int = 0, *, n_breaking: int = 100, n_uniform: int = 100,
                    colour_questions: bool = True, config: SceneConfig = EVAL_CONFIG) -> BenchmarkSpec:
    """The benchmark's scenes and questions for ``seed`` (pure; nothing rendered or written).

    ``config`` must keep every object visible (an evaluation image shows what its annotation says).
    """
    if config.p_hidden:
        raise InputError(f"ShapesWorld benchmark: config.p_hidden={config.p_hidden}; evaluation scenes must "
                         "draw every object, use p_hidden=0")
    rng = np.random.default_rng(seed)
    scenes, subset, breaking_pair = _sample_scenes(rng, n_breaking, n_uniform, config)
    next_id = len(scenes) + 1
    questions = _colour_questions(rng, scenes, next_id) if colour_questions else []
    questions += _existence_questions(rng, scenes, breaking_pair, config.bias_pairs, next_id + len(questions))
    return BenchmarkSpec(seed=seed, bias_pairs=config.bias_pairs, scenes=tuple(scenes), subset=tuple(subset), breaking_pair=breaking_pair,
                         questions=tuple(questions))


@dataclass(frozen=True)
class WrittenBenchmark:
    root: Path
    n_images: int
    n_generative: int
    n_discriminative: int
    files: dict[str, str]  # relpath -> sha256


def _json_text(obj: Any) -> str:
    return json.dumps(obj, indent=4, ensure_ascii=False) + "\n"  # AMBER's files use indent 4


def _json_lines_text(obj: Any) -> str:
    """Our own files' layout: a list of records (or each list of records in a top-level object) has one
    record per line. Readable, and far faster than ``indent=`` (which uses the pure-Python encoder)."""
    def records(value: Any) -> str:
        if isinstance(value, list) and value and all(isinstance(v, dict | list) for v in value):
            return "[\n" + ",\n".join(json.dumps(v, ensure_ascii=False) for v in value) + "\n]"
        return json.dumps(value, ensure_ascii=False)
    if isinstance(obj, dict):
        return "{\n" + ",\n".join(f"{json.dumps(k)}: {records(v)}" for k, v in obj.items()) + "\n}\n"
    return records(obj) + "\n"


def _write(root: Path, relpath: str, data: bytes, files: dict[str, str]) -> None:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    files[relpath] = hashlib.sha256(data).hexdigest()


def _check_target(out_dir: Path, overwrite: bool) -> None:
    if not out_dir.exists() or (out_dir.is_dir() and not any(out_dir.iterdir())):
        return
    if not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a directory; choose another --out")
    ours = False
    try:
        ours = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8")).get("generator") == GENERATOR
    except (OSError, ValueError, AttributeError):
        pass
    if not overwrite or not ours:
        fix = ("pass --overwrite (overwrite=True) to replace it" if ours
               else "it is not a ShapesWorld benchmark, so choose another --out")
        raise InputError(f"{out_dir}: directory is not empty; {fix}")


def write_benchmark(out_dir: str | os.PathLike, *, seed: int = 0, n_breaking: int = 100, n_uniform: int = 100,
                    colour_questions: bool = True, config: SceneConfig = EVAL_CONFIG, overwrite: bool = False,
                    progress: bool | None = None) -> WrittenBenchmark:
    """Generate and write the benchmark (see the module docstring). The whole directory is built beside
    ``out_dir`` and renamed into place, so a reader never sees a half-written benchmark.

    ``overwrite`` replaces an existing ShapesWorld benchmark; any other non-empty directory is refused.
    ``progress``: ``None`` shows a bar on a terminal only.
    """
    out_dir = Path(out_dir)
    _check_target(out_dir, overwrite)
    spec = build_benchmark(seed, n_breaking=n_breaking, n_uniform=n_uniform, colour_questions=colour_questions,
                           config=config)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the benchmark is ordinary shared data
    try:
        files = _write_all(staging, spec, config, progress)
        _replace_dir(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return WrittenBenchmark(root=out_dir, n_images=len(spec.scenes), n_generative=len(spec.scenes),
                            n_discriminative=len(spec.questions), files=files)


def _write_all(root: Path, spec: BenchmarkSpec, config: SceneConfig, progress: bool | None) -> dict[str, str]:
    files: dict[str, str] = {}
    bar = tqdm(spec.scenes, desc="ShapesWorld images", unit="image", disable=None if progress is None else not progress)
    for image_id, scene in enumerate(bar, start=1):
        _write(root, f"{IMAGE_DIR}/{image_name(image_id)}", encode_jpeg(render(scene)), files)
    annotations, queries = spec.annotations(), spec.queries()
    type_of = {row["id"]: row["type"] for row in annotations}
    _write(root, ANNOTATIONS, _json_text(annotations).encode(), files)
    _write(root, RELATION, _json_text({shape: [] for shape in SHAPES}).encode(), files)
    _write(root, SAFE_WORDS, b"", files)
    for relpath, types in QUERY_FILES.items():
        rows = [q for q in queries if types is None or type_of[q["id"]] in types]
        _write(root, relpath, _json_text(rows).encode(), files)
    _write(root, SCENES, _json_lines_text(spec.scene_records()).encode(), files)
    _write(root, SUBSETS, _json_lines_text(spec.subsets()).encode(), files)
    manifest = {
        "generator": GENERATOR, "format_version": FORMAT_VERSION, "seed": spec.seed,
        "counts": {"images": len(spec.scenes), "generative": len(spec.scenes),
                   BREAKING: spec.subset.count(BREAKING), UNIFORM: spec.subset.count(UNIFORM),
                   ATTRIBUTE_TYPE: sum(q.type == ATTRIBUTE_TYPE for q in spec.questions),
                   EXISTENCE_TYPE: sum(q.type == EXISTENCE_TYPE for q in spec.questions)},
        "config": asdict(config),
        "versions": {"numpy": np.__version__, "Pillow": PIL.__version__},
        "files": dict(sorted(files.items())),
    }
    path = root / MANIFEST
    path.write_text(_json_text(manifest), encoding="utf-8")
    return files


def _replace_dir(staging: Path, out_dir: Path) -> None:
    if out_dir.exists() and any(out_dir.iterdir()):
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old.", dir=out_dir.parent))
        os.replace(out_dir, old / "previous")
        os.replace(staging, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(staging, out_dir)
