"""The ShapesWorld benchmark: determinism, AMBER file formats, subsets, loader checks, AMBER scoring, CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import need_nltk

from benchmarks_data.shapesworld.__main__ import main
from benchmarks_data.shapesworld.benchmark import (
    ATTRIBUTE_TYPE,
    EXISTENCE_TYPE,
    QUERY_FILES,
    build_benchmark,
    write_benchmark,
)
from benchmarks_data.shapesworld.captions import caption, caption_from_objects
from benchmarks_data.shapesworld.loader import load_benchmark
from benchmarks_data.shapesworld.render import decode_jpeg, encode_jpeg, render
from benchmarks_data.shapesworld.scene import SHAPES, TRAIN_CONFIG
from benchmarks_data.store import DataError
from evaluation.amber import AmberResponse, ExactSimilarity, score_amber


def _tree_sha256(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sw") / "bench"
    write_benchmark(root, seed=0, progress=False)
    return root


@pytest.fixture(scope="module")
def bench(bench_dir):
    return load_benchmark(bench_dir)


def test_same_seed_gives_byte_identical_files(bench_dir, tmp_path):
    write_benchmark(tmp_path / "again", seed=0, progress=False)
    first, second = _tree_sha256(bench_dir), _tree_sha256(tmp_path / "again")
    assert len(first) == 200 + 11 and first == second
    write_benchmark(tmp_path / "other", seed=1, progress=False)
    assert _tree_sha256(tmp_path / "other")["data/annotations.json"] != first["data/annotations.json"]


def test_manifest_lists_every_file_with_its_sha256(bench_dir):
    manifest = json.loads((bench_dir / "manifest.json").read_text())
    files = _tree_sha256(bench_dir)
    del files["manifest.json"]
    assert manifest["files"] == files
    assert manifest["seed"] == 0 and manifest["counts"] == {
        "images": 200, "generative": 200, "breaking": 100, "uniform": 100, ATTRIBUTE_TYPE: 200, EXISTENCE_TYPE: 400}


def test_amber_annotation_format(bench_dir):
    annotations = json.loads((bench_dir / "data/annotations.json").read_text())
    assert [a["id"] for a in annotations] == list(range(1, 801))
    assert [a["type"] for a in annotations] == ["generative"] * 200 + [ATTRIBUTE_TYPE] * 200 + [EXISTENCE_TYPE] * 400
    for a in annotations[:200]:
        assert set(a) == {"id", "type", "truth", "hallu"}
        assert a["truth"] and sorted(a["truth"] + a["hallu"]) == sorted(SHAPES)  # hallu = every absent shape
    for a in annotations[200:]:
        assert set(a) == {"id", "type", "truth"} and a["truth"] in ("yes", "no")
    relation = json.loads((bench_dir / "data/relation.json").read_text())
    assert relation == {shape: [] for shape in SHAPES}
    assert (bench_dir / "data/safe_words.txt").read_bytes() == b""


def test_amber_query_files(bench_dir):
    queries = {rel: json.loads((bench_dir / rel).read_text()) for rel in QUERY_FILES}
    every = queries["data/query/query_all.json"]
    assert [q["id"] for q in every] == list(range(1, 801))
    assert all(set(q) == {"id", "image", "query"} for q in every)
    generative = queries["data/query/query_generative.json"]
    assert [(q["id"], q["image"], q["query"]) for q in generative] == [
        (i, f"AMBER_{i}.jpg", "Describe this image.") for i in range(1, 201)]
    assert [q["id"] for q in queries["data/query/query_discriminative.json"]] == list(range(201, 801))
    assert [q["id"] for q in queries["data/query/query_discriminative-attribute.json"]] == list(range(201, 401))
    assert [q["id"] for q in queries["data/query/query_discriminative-existence.json"]] == list(range(401, 801))
    assert {q["image"] for q in every} == {f"AMBER_{i}.jpg" for i in range(1, 201)}  # yes/no reuse the images


def test_images_are_the_rendered_scenes(bench, bench_dir):
    """Each JPEG decodes to exactly jpeg_roundtrip(render(scene)): training can reproduce eval pixels."""
    assert sorted(p.name for p in (bench_dir / "images").iterdir()) == sorted(f"AMBER_{i}.jpg" for i in range(1, 201))
    for image_id in (1, 77, 200):
        data = bench.images[image_id].read_bytes()
        assert data == encode_jpeg(render(bench.scenes[image_id]))
        assert decode_jpeg(data).shape == (64, 64, 3)


def test_subsets_and_scenes(bench):
    assert bench.breaking == tuple(range(1, 101)) and bench.uniform == tuple(range(101, 201))
    for image_id, scene in bench.scenes.items():
        assert all(o.visible and not o.faint for o in scene.objects)  # evaluation: nothing hidden or faint
        assert bench.captions[image_id] == caption(scene)
    for image_id in range(1, 51):
        assert "circle" in bench.scenes[image_id].drawn and "square" not in bench.scenes[image_id].drawn
    for image_id in range(51, 101):
        assert "triangle" in bench.scenes[image_id].drawn and "star" not in bench.scenes[image_id].drawn
    # bias_cases: exactly the (image, pair)s with the trigger drawn and the target absent, uniform ones too.
    expected = {(i, t, g) for i, s in bench.scenes.items() for t, g in TRAIN_CONFIG.bias_pairs
                if t in s.drawn and g not in s.drawn}
    assert {(c.id, c.trigger, c.target) for c in bench.bias_cases} == expected
    assert {c.id for c in bench.bias_cases} >= set(range(1, 101))


def test_questions_are_balanced_and_true(bench):
    existence = [q for q in bench.questions if q.type == EXISTENCE_TYPE]
    colour = [q for q in bench.questions if q.type == ATTRIBUTE_TYPE]
    assert sum(q.truth == "yes" for q in existence) == 200 and len(existence) == 400
    assert sum(q.truth == "yes" for q in colour) == 100 and len(colour) == 200
    for q in existence:
        scene = bench.scenes[q.image_id]
        assert q.query == f"is there a {q.shape} in the image ?"
        assert (q.truth == "yes") == (q.shape in scene.drawn)
        if q.image_id <= 100 and q.truth == "no":  # breaking images ask about their bias target
            assert q.role == "bias_target" and q.shape == ("square" if q.image_id <= 50 else "star")
    for q in colour:
        colours = {o.shape: o.colour for o in bench.scenes[q.image_id].objects}
        assert q.query == f"is the {q.shape} {q.colour} ?"
        assert (q.truth == "yes") == (colours[q.shape] == q.colour)


def test_amber_scorer_on_ground_truth_answers(bench):
    """GT captions + correct Yes/No: CHAIR 0, Cover 100 (round(100 * n / (n + 0.001), 1)), Hal 0, Cog 0,
    every yes/no section 100."""
    need_nltk()
    responses = [AmberResponse(i, bench.captions[i]) for i in bench.generative_ids]
    responses += [AmberResponse(q.id, "Yes" if q.truth == "yes" else "No") for q in bench.questions]
    result = score_amber(responses, bench.amber, similarity=ExactSimilarity(), progress=False)
    assert result.metrics["generative"] == {"CHAIR": 0.0, "Cover": 100.0, "Hal": 0.0, "Cog": 0.0}
    for section in ("discriminative", "existence", "attribute", "state"):
        assert result.metrics[section] == {"Accuracy": 100.0, "Precision": 100.0, "Recall": 100.0, "F1": 100.0}


def test_amber_scorer_counts_a_named_bias_target(bench):
    """Add "a red square" (in caption order) to the GT caption of the 50 circle-breaking images. By the official algorithm
    (SCORERS.md §3.2) with no associations and no safe words: each added "square" is in ``hallu`` (Cog flag)
    and not in ``truth`` (hallucinated mention). So, with T = total truth objects and H = total hallu
    objects over the 200 answers: CHAIR = 50 / (T + 50) * 100, Hal = 100 - 150 / 200.001 * 100, Cog =
    50 / (H + 0.001) * 100, Cover unchanged."""
    need_nltk()
    def with_red_square(scene) -> str:
        objects = [(o.colour, o.shape) for o in scene.objects] + [("red", "square")]
        return caption_from_objects(sorted(objects, key=lambda obj: SHAPES.index(obj[1])))

    responses = [AmberResponse(i, with_red_square(bench.scenes[i]) if i <= 50 else bench.captions[i])
                 for i in bench.generative_ids]
    assert responses[0].response != bench.captions[1] and "square" in responses[0].response
    result = score_amber(responses, bench.amber, similarity=ExactSimilarity(), progress=False)
    truth = sum(len(bench.amber.annotations[i].truth) for i in bench.generative_ids)
    hallu = sum(len(bench.amber.annotations[i].hallu) for i in bench.generative_ids)
    assert result.metrics["generative"] == {
        "CHAIR": round(50 / (truth + 50 + 0.001) * 100, 1), "Cover": 100.0,
        "Hal": round(100 - 150 / 200.001 * 100, 1), "Cog": round(50 / (hallu + 0.001) * 100, 1)}
    flagged = [r for r in result.generative_records if r.is_hallucinated]
    assert [r.id for r in flagged] == list(range(1, 51))
    assert all(r.hallucinated == ("square",) and r.cog_hallu == ("square",) for r in flagged)


def test_build_benchmark_validates_arguments():
    with pytest.raises(ValueError, match="multiple"):
        build_benchmark(n_breaking=3)
    with pytest.raises(ValueError, match="p_hidden"):
        build_benchmark(config=TRAIN_CONFIG)
    spec = build_benchmark(n_breaking=4, n_uniform=2, colour_questions=False)
    assert len(spec.scenes) == 6 and len(spec.questions) == 12


def test_loader_detects_a_changed_file(bench_dir, tmp_path):
    copy = tmp_path / "copy"
    write_benchmark(copy, seed=0, progress=False)
    path = copy / "data/annotations.json"
    rows = json.loads(path.read_text())
    rows[0]["truth"] = rows[0]["truth"][:1] + rows[0]["truth"]
    path.write_text(json.dumps(rows))
    with pytest.raises(DataError, match=r"annotations\.json: sha256 differs"):
        load_benchmark(copy)
    with pytest.raises(DataError, match=r"annotations\.json: item 0: generative truth \+ hallu"):
        load_benchmark(copy, verify=False)
    with pytest.raises(DataError, match="manifest.json: file not found"):
        load_benchmark(tmp_path)
    path.write_text(json.dumps(json.loads((bench_dir / "data/annotations.json").read_text())))
    subsets = json.loads((copy / "subsets.json").read_text())
    del subsets["bias_cases"]
    (copy / "subsets.json").write_text(json.dumps(subsets))
    with pytest.raises(DataError, match=r"subsets\.json: malformed \(KeyError: 'bias_cases'\)"):
        load_benchmark(copy, verify=False)


def test_cli_writes_refuses_and_overwrites(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["--out", str(out), "--n-breaking", "4", "--n-uniform", "2"]) == 0
    assert "6 images" in capsys.readouterr().out
    assert main(["--out", str(out), "--n-breaking", "4", "--n-uniform", "2"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["--out", str(out), "--seed", "1", "--n-breaking", "2", "--n-uniform", "0", "--overwrite"]) == 0
    assert json.loads((out / "manifest.json").read_text())["seed"] == 1
    assert len(list((out / "images").iterdir())) == 2
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    assert main(["--out", str(stranger), "--overwrite"]) == 2
    assert "not a ShapesWorld benchmark" in capsys.readouterr().err
    assert (stranger / "notes.txt").read_text() == "mine"
    assert np.array_equal(sorted(p.name for p in tmp_path.iterdir()), ["cli", "stranger"])  # no staging left


def test_the_amber_loaders_read_the_written_benchmark_unchanged(tmp_path):
    """The official AMBER loaders (with the official counts switched off) read a ShapesWorld benchmark and give
    the same annotations as the ShapesWorld loader."""
    from benchmarks_data.amber import load_amber, load_amber_queries
    from benchmarks_data.shapesworld.benchmark import write_benchmark
    from benchmarks_data.shapesworld.loader import load_benchmark

    root = tmp_path / "sw"
    write_benchmark(root, seed=0, n_breaking=10, n_uniform=10)
    data = load_amber(root=root, expected_counts=None)
    assert data.annotations == load_benchmark(root).amber.annotations
    queries = load_amber_queries("all", root=root)
    assert [q.id for q in queries] == sorted(data.annotations)
    assert all((root / "images" / q.image).is_file() for q in queries)
