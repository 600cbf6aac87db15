"""The inspector opens the blind-spot file ``uedpo-eval --blindspots-from`` really writes, and agrees with it.

A CHAIR per-item file for the tiny checkpoint goes through the writer (:mod:`evaluation.blindspots`); the
inspector, built by its CLI on that file, must load every row, and for every object its probe's first object
token must carry the file's u and Δ, and the page's p(clear) of the word's tokens the file's ``p_clear``.
"""

from __future__ import annotations

import json
import math

import pytest
from PIL import Image

from inspector import cli

QUESTION = "Please describe this image in detail."
ITEMS = [  # (response, hallucinated (word, class), words, mentioned, ground truth), as CHAIR scores them
    (
        "a dog is sitting on a bench near a car .",
        [["car", "car"]],
        ["dog", "bench", "car"],
        ["dog", "bench", "car"],
        ["dog", "bench", "person"],
    ),
    (
        "two cats and a bowl on the table .",
        [["bowl", "bowl"]],
        ["cat", "bowl"],
        ["cat", "bowl"],
        ["cat", "dining table", "cup"],
    ),
]


def write_chair_run(root, ckpt):
    """``OUT/chair/results.items.jsonl`` and ``results.json`` as ``uedpo-eval --ckpt`` writes them."""
    from evaluation.checkpoint import Run, model_record

    (root / "img").mkdir(parents=True)
    rows = []
    for i, (response, hal, words, mentioned, gt) in enumerate(ITEMS, start=1):
        image = f"COCO_val2014_{i:012d}.jpg"
        Image.new("RGB", (30 + 5 * i, 28), (40 * i, 100, 200 - 30 * i)).save(root / "img" / image)
        rows.append(
            {
                "bench": "chair",
                "id": i,
                "image": image,
                "question": QUESTION,
                "response": response,
                "hallucinated": [w for w, _ in hal],
                "record": {
                    "image_id": i,
                    "mentioned": mentioned,
                    "words": words,
                    "hallucinated": hal,
                    "gt_objects": sorted(gt),
                },
            }
        )
    out = root / "out" / "chair"
    out.mkdir(parents=True)
    (out / "results.items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    model = model_record(Run(name="tiny", ckpt=str(ckpt), adapter=None))
    (out / "results.json").write_text(json.dumps({"bench": "chair", "model": model}), encoding="utf-8")
    return out / "results.items.jsonl"


def test_the_writers_blindspot_file_opens_and_its_numbers_agree(tmp_path, capsys):
    pytest.importorskip("evaluation.blindspots")
    from evaluation.cli import main as eval_main
    from uedpo.models.tiny import build_tiny

    ckpt = build_tiny("llava", tmp_path / "ckpt", seed=0)
    items = write_chair_run(tmp_path, ckpt)
    code = eval_main(
        [
            "--bench",
            "chair",
            "--ckpt",
            str(ckpt),
            "--blindspots-from",
            str(items),
            "--image-dir",
            str(tmp_path / "img"),
            "--quiet",
        ]
    )
    assert code == 0, capsys.readouterr().err
    path = items.parent / "blindspots.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    args = cli.parser().parse_args(
        ["--ckpt", str(ckpt), "--samples", str(path), "--image-dir", str(tmp_path / "img")]
    )
    session = cli.build_session(args)
    assert session.samples.errors == ()
    samples = session.samples.samples
    assert [s.id for s in samples] == ["1", "2"] and all(s.kind == "blindspots" for s in samples)
    assert sum(len(s.objects) for s in samples) == len(rows)
    assert {o.status for s in samples for o in s.objects} == {"hallucinated", "missed", "grounded"}
    assert samples[0].hallucinated == ("car",) and samples[0].preferred == ITEMS[0][0]
    checked = 0
    for sample in samples:
        for obj in sample.objects:
            out = session.refresh(
                None, None, sample.id, sample.question, obj.probe, "", "", 0.3, 0.4, 500, "type", "u", obj.key
            )
            assert out["status"].startswith("✓ analysed"), out["status"]
            view = out["state"].view
            assert 'data-probe-analysed="true"' in out["object_panel"]
            marked = [t for t in view.preferred.tokens if t.index in (obj.token_index or ())]
            assert [t.token for t in marked] == list(obj.tokens), (sample.id, obj.word)
            assert out["overlay_preferred"].count(f'data-object="{obj.word}"') == len(obj.tokens)
            first = marked[0]
            assert first.u == pytest.approx(obj.u, abs=1e-4), (sample.id, obj.word)
            assert first.delta == pytest.approx(obj.delta, abs=1e-4), (sample.id, obj.word)
            p_page = math.exp(sum(t.logprob for t in marked))
            assert p_page == pytest.approx(obj.p_clear, rel=1e-3, abs=1e-7), (sample.id, obj.word)
            checked += 1
    assert checked == len(rows)
