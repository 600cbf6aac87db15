"""`uedpo-data build-gt` and `uedpo-data amber-similarity` wire the library builders and write their files."""

import gzip
import json
import sys
import types

from conftest import need_data, need_nltk
from test_amber_similarity import FakeNlp
from test_chair_loaders import _coco_dir

from benchmarks_data.cli import main
from benchmarks_data.coco import load_gt_objects


def test_build_gt_writes_the_maxlinn_ground_truth(tmp_path, capsys):
    root = need_data("object_halbench/vocab/synonyms.txt")
    need_nltk()
    (tmp_path / "coco").mkdir()
    coco = _coco_dir(tmp_path / "coco")
    out = tmp_path / "gt.json.gz"
    assert main(["build-gt", "--coco-annotations", str(coco), "--out", str(out), "--data-dir", str(root)]) == 0
    assert load_gt_objects(out) == {1: {"dog", "person", "cell phone"}, 2: {"person", "cat"}, 3: set()}
    assert json.loads(gzip.decompress(out.read_bytes()))  # plain gzip JSON
    assert "sha256" in capsys.readouterr().out


def test_build_gt_missing_folder_exits_2(tmp_path, capsys):
    root = need_data("object_halbench/vocab/synonyms.txt")
    code = main(["build-gt", "--coco-annotations", str(tmp_path / "none"), "--out", str(tmp_path / "g.json.gz"),
                 "--data-dir", str(root)])
    assert code == 2 and "instances_val2014.json" in capsys.readouterr().err
    assert not (tmp_path / "g.json.gz").exists()


def test_amber_similarity_writes_a_table_the_table_backend_reads(tmp_path, monkeypatch):
    root = need_data("amber/data/relation.json", "amber/data/annotations.json")
    from benchmarks_data.amber import load_amber
    from evaluation.benches.amber import parse_similarity_spec

    words = sorted(load_amber(root).vocabulary)
    first, second = words[0], words[1]
    fake = FakeNlp({f"{first}|{second}": 0.85})
    monkeypatch.setitem(sys.modules, "spacy", types.SimpleNamespace(load=lambda name: fake))
    out = tmp_path / "sim.json"
    assert main(["amber-similarity", "--spacy-model", "fake", "--out", str(out), "--data-dir", str(root)]) == 0
    table = json.loads(out.read_text())
    assert table[first][second] == 0.85 and table[first][words[2]] == 0.0
    assert len(table) == len(words) - 1  # every unordered pair once, under the alphabetically first word
    assert fake.runs == len(words)  # one pipeline run per word, not per pair
    assert parse_similarity_spec(f"table:{out}").similarity(second, first) == 0.85


def test_amber_similarity_without_spacy_exits_2(tmp_path, monkeypatch, capsys):
    root = need_data("amber/data/relation.json", "amber/data/annotations.json")
    monkeypatch.setitem(sys.modules, "spacy", None)
    assert main(["amber-similarity", "--out", str(tmp_path / "s.json"), "--data-dir", str(root)]) == 2
    assert "pip install spacy" in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()
