"""`uedpo-eval --bench pope --ckpt`: a tiny random LLaVA answers the first POPE questions on fake COCO images;
the prompt carries LLaVA-1.5's suffix, the ids are LLaVA's offset ids, and the answers are scored."""

import json

import pytest
from conftest import need_data
from PIL import Image

from evaluation.benches import get_benchmark
from evaluation.cli import build_parser, main
from uedpo.models.tiny import build_tiny

LIMIT = 3
SUFFIX = "\nAnswer the question using a single word or phrase."


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory):
    return build_tiny("llava", tmp_path_factory.mktemp("ckpt") / "llava", seed=0)


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


@pytest.mark.parametrize("extra, first_ids", [
    ([], [10_000_001, 10_000_002, 10_000_003]),  # official data: random first, offset +10,000,000
    (["--pope-data", "llava", "--pope-split", "adversarial"], [1, 2, 3]),  # adversarial: offset 0
])
def test_pope_checkpoint_run(tiny_llava, tmp_path, capsys, extra, first_ids):
    root = need_data("pope/official_head/coco_pope_random.json", "pope/official_e3e3926/coco_pope_random.json")
    opts = build_parser().parse_args(["--bench", "pope", "--ckpt", "x", "--data-dir", str(root), *extra])
    items = get_benchmark("pope").items("pope", opts)[:LIMIT]
    (tmp_path / "img").mkdir()
    for k, it in enumerate(items):
        Image.new("RGB", (32 + k, 24), (40 * k, 90, 30)).save(tmp_path / "img" / it.image)
    code = main(["--bench", "pope", "--ckpt", str(tiny_llava), "--image-dir", str(tmp_path / "img"), "--limit",
                 str(LIMIT), "--out", str(tmp_path / "out"), "--data-dir", str(root), "--max-new-tokens", "4",
                 "--quiet", *extra])
    assert code == 0, capsys.readouterr().err
    rows = _lines(tmp_path / "out/pope/responses.jsonl")
    assert [r["id"] for r in rows] == [r["question_id"] for r in rows] == first_ids
    assert all(r["question"].endswith(SUFFIX) and r["question"].startswith("Is there a") for r in rows)
    assert all(r["image"].startswith("COCO_val2014_") for r in rows)
    result = json.loads((tmp_path / "out/pope/results.json").read_text())
    assert result["n_items"] == LIMIT and "+partial:3/" in result["variant"]
    split = "adversarial" if "adversarial" in extra else "random"
    assert list(result["metrics"]) == [f"pope_{split}", "pope"] and result["metrics"][f"pope_{split}"]["n"] == LIMIT
    per_item = _lines(tmp_path / "out/pope/results.items.jsonl")
    assert [r["id"] for r in per_item] == first_ids
    assert all(r["prediction"] in ("yes", "no") and r["response"] == row["response"]
               for r, row in zip(per_item, rows, strict=True))


def test_pope_items_cover_every_question_once():
    """Official data: 9,000 generation items with distinct ids; a 16-token budget (see benches/pope.py)."""
    root = need_data("pope/official_head/coco_pope_random.json")
    opts = build_parser().parse_args(["--bench", "pope", "--ckpt", "x", "--data-dir", str(root)])
    items = get_benchmark("pope").items("pope", opts)
    assert len(items) == 9000 and len({it.id for it in items}) == 9000
    assert {it.max_new_tokens for it in items} == {16}
    assert {it.extra["category"] for it in items} == {"random", "popular", "adversarial"}
