"""``uedpo-eval --ckpt OUT`` on a ``uedpo-export --merge`` checkpoint reproduces ``--ckpt BASE --adapter DIR``,
and the adapter export evaluates like the adapter it came from (tiny checkpoints, AMBER-d, 2 items)."""

from __future__ import annotations

import json

import pytest
from conftest import need_data, need_nltk
from PIL import Image
from test_trainer_support import make_data, small_config

from evaluation.benches import get_benchmark
from evaluation.cli import build_parser
from evaluation.cli import main as eval_main
from uedpo.export import main as export_main
from uedpo.models.tiny import build_tiny
from uedpo.trainer import train

FAST = ["--bench", "amber-d", "--limit", "2", "--max-new-tokens", "6", "--quiet", "--similarity", "exact"]


@pytest.fixture
def data_dir():
    need_nltk()
    return need_data("amber/data/query/query_all.json")


def _write_images(image_dir, data_dir) -> None:
    opts = build_parser().parse_args(["--bench", "amber-d", "--ckpt", "x", "--data-dir", str(data_dir)])
    image_dir.mkdir(parents=True, exist_ok=True)
    for k, item in enumerate(get_benchmark("amber-d").items("amber-d", opts)[:2]):
        Image.new("RGB", (40 + 7 * k, 30), (30 + 90 * k, 120, 60)).save(image_dir / item.image)


def _evaluate(tmp_path, data_dir, name: str, *ckpt_args: str) -> tuple[list[str], dict]:
    out = tmp_path / name
    code = eval_main([*ckpt_args, "--image-dir", str(tmp_path / "img"), "--out", str(out), "--data-dir",
                      str(data_dir), *FAST])
    assert code == 0
    rows = [json.loads(x) for x in (out / "amber-d" / "responses.jsonl").read_text().splitlines()]
    return [r["response"] for r in rows], json.loads((out / "amber-d" / "results.json").read_text())["metrics"]


@pytest.mark.parametrize("family", ["llava", "qwen2_5_vl"])
def test_eval_of_the_exports_reproduces_the_adapter(tmp_path, data_dir, family):
    base = build_tiny(family, tmp_path / "base", seed=0)
    run = train(small_config(base, make_data(tmp_path / "data", 4), tmp_path / "run", max_steps=2,
                             learning_rate=5e-2))
    _write_images(tmp_path / "img", data_dir)
    assert export_main(["--ckpt", str(base), "--adapter", str(run), "--out", str(tmp_path / "merged"), "--merge"]) == 0
    assert export_main(["--ckpt", str(base), "--adapter", str(run), "--out", str(tmp_path / "lora")]) == 0
    want, want_metrics = _evaluate(tmp_path, data_dir, "with-adapter", "--ckpt", str(base), "--adapter", str(run))
    merged, merged_metrics = _evaluate(tmp_path, data_dir, "merged", "--ckpt", str(tmp_path / "merged"))
    exported, _ = _evaluate(tmp_path, data_dir, "exported-adapter", "--ckpt", str(base), "--adapter",
                            str(tmp_path / "lora"))
    plain, _ = _evaluate(tmp_path, data_dir, "base", "--ckpt", str(base))
    assert merged == want == exported and merged_metrics == want_metrics
    assert plain != want, "the trained adapter must change what the model answers"
