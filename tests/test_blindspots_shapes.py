"""The blind-spot analysis where the truth is known: the ShapesWorld faint variant and the demo checkpoint.

``--bench shapes-faint`` draws 40 % of the objects small and at low contrast. On the demo checkpoint
(docs/shapesworld.md, "Blind spots", numbers measured with ``uedpo-eval --bench shapes[-faint] --ckpt
shapes-demo --blindspots``):

* missed faint objects are blind spots (u > 0 in the probe) for 63.1 % of 111, missed clear objects for
  4 of 15 (26.7 %: 4/14 on ``shapes``, 0/1 on ``shapes-faint``);
* with the null-image prior view, 61.8 % of the 76 co-occurrence hallucinations of ``shapes-faint`` are
  prior-driven against 1.9 % of its 54 other hallucinations (81.2 % of 80 on ``shapes``, which has no other
  hallucination).

The test asks for the direction with margins well inside those gaps (greedy near-ties that BLAS differences
flip move a rate by about 1 point per item).
"""

from __future__ import annotations

import json

import pytest
from conftest import need_nltk

from benchmarks_data.shapesworld import EVAL_CONFIG, FAINT_EVAL_CONFIG, load_benchmark, write_benchmark
from benchmarks_data.shapesworld.bench import ensure_benchmark
from evaluation.benches import UsageError
from evaluation.cli import main as eval_main

N_CAPTIONS = 200  # --limit 200: the generative items come first, so the yes/no part is skipped


@pytest.fixture(scope="module")
def benches(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    write_benchmark(root / "shapes", seed=0, progress=False, config=EVAL_CONFIG)
    write_benchmark(root / "faint", seed=0, progress=False, config=FAINT_EVAL_CONFIG)
    return {"shapes": root / "shapes", "shapes-faint": root / "faint"}


def test_faint_variant_draws_faint_objects_and_is_its_own_benchmark(benches):
    faint = load_benchmark(benches["shapes-faint"])
    objects = [o for s in faint.scenes.values() for o in s.objects]
    share = sum(o.faint for o in objects) / len(objects)
    assert 0.3 < share < 0.5 and all(o.visible for o in objects)
    assert all(8 <= o.size <= 11 and 0.3 <= o.alpha <= 0.5 for o in objects if o.faint)
    assert len(faint.scenes) == 200 and len(faint.bias_cases) >= 100  # same formats and sets as `shapes`
    with pytest.raises(UsageError, match="holds the --bench shapes benchmark, not --bench shapes-faint"):
        ensure_benchmark(benches["shapes"], bench="shapes-faint")
    with pytest.raises(UsageError, match="holds the --bench shapes-faint benchmark"):
        ensure_benchmark(benches["shapes"].parent / "faint", bench="shapes")


@pytest.fixture(scope="module")
def demo_rows(benches, tmp_path_factory):
    need_nltk()
    out = tmp_path_factory.mktemp("demo")
    rows = {}
    for bench, root in benches.items():
        code = eval_main(["--bench", bench, "--ckpt", "shapes-demo", "--out", str(out), "--shapes-dir", str(root),
                          "--limit", str(N_CAPTIONS), "--blindspots", "--quiet"])
        assert code == 0
        rows[bench] = [json.loads(x) for x in (out / bench / "blindspots.jsonl").read_text().splitlines()]
    return rows


def _rate(rows, key):
    return 100.0 * sum(r[key] for r in rows) / len(rows)


@pytest.mark.slow
def test_faint_missed_objects_are_blind_spots_more_often_than_clear_ones(demo_rows):
    missed = [r for rows in demo_rows.values() for r in rows if r["status"] == "missed"]
    faint = [r for r in missed if r["faint"]]
    clear = [r for r in missed if not r["faint"]]
    assert len(faint) >= 80 and len(clear) >= 8
    assert all(r["verdict"] == ("blind-spot" if r["u"] > 0 else "seen") for r in missed)
    assert _rate(faint, "blind_spot") >= 50.0 and _rate(clear, "blind_spot") <= 40.0
    assert _rate(faint, "blind_spot") - _rate(clear, "blind_spot") >= 20.0
    # the control: grounded objects are read in the greedy response itself, where u <= 0 by construction
    assert not any(r["blind_spot"] for rows in demo_rows.values() for r in rows if r["status"] == "grounded")


@pytest.mark.slow
def test_cooccurrence_hallucinations_are_prior_driven_more_often_than_other_ones(demo_rows):
    hallucinated = [r for r in demo_rows["shapes-faint"] if r["status"] == "hallucinated"]
    cooc = [r for r in hallucinated if r["group"] == "co-occurrence"]
    other = [r for r in hallucinated if r["group"] == "other"]
    assert len(cooc) >= 50 and len(other) >= 30
    assert all(r["verdict"] == ("prior-driven" if r["prior_driven"] else "image-driven") for r in hallucinated)
    assert _rate(cooc, "prior_driven") >= 45.0 and _rate(other, "prior_driven") <= 10.0
    standard = [r for r in demo_rows["shapes"] if r["status"] == "hallucinated"]
    assert {r["group"] for r in standard} == {"co-occurrence"} and _rate(standard, "prior_driven") >= 60.0
