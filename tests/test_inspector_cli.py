"""``uedpo-inspect``: argument checks, one-line errors with exit code 2, local-only offline launch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from inspector import cli
from uedpo.models.tiny import build_tiny

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return build_tiny("llava", tmp_path_factory.mktemp("cli_ckpt"), seed=0)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--tau", "1.5"], "need 0 < --tau < 1"),
        (["--noise-step", "1000"], "0 <= --noise-step < 1000"),
    ],
)
def test_bad_numbers_exit_2(extra, message, capsys, tmp_path):
    assert cli.main(["--ckpt", str(tmp_path), *extra]) == 2
    assert message in capsys.readouterr().err


def test_missing_checkpoint_exits_2_with_one_line(capsys, tmp_path):
    assert cli.main(["--ckpt", str(tmp_path / "absent")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("uedpo-inspect: checkpoint") and "directory not found" in err and "\n" not in err


def test_unusable_samples_file_exits_2(capsys, tmp_path, ckpt):
    (tmp_path / "s.jsonl").write_text(json.dumps({"id": "x"}) + "\n")
    assert cli.main(["--ckpt", str(ckpt), "--samples", str(tmp_path / "s.jsonl")]) == 2
    assert "no usable row" in capsys.readouterr().err


def test_build_binds_localhost_without_share_or_analytics(ckpt):
    args = cli.parser().parse_args(["--ckpt", str(ckpt), "--compare-ckpt", str(ckpt), "--alpha", "0.15"])
    demo, kwargs = cli.build(args)
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    assert kwargs["server_name"] == "127.0.0.1" and kwargs["share"] is False and kwargs["server_port"] is None
    assert kwargs["ssr_mode"] is False
    props = {c["props"].get("elem_id"): c["props"] for c in demo.get_config_file()["components"]}
    assert "analyze" in props and props["alpha"]["value"] == 0.15 and props["tau"]["value"] == 0.4


def test_gradio_is_not_imported_before_analytics_are_off():
    code = "import sys, inspector.cli; print('gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"


def test_blindspot_file_opens_alone_or_joined_to_the_per_item_file(tmp_path, ckpt):
    from inspector_fakes import blindspot_fixture
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "img.png")
    rows = blindspot_fixture()
    (tmp_path / "blindspots.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    session = cli.build_session(
        cli.parser().parse_args(["--ckpt", str(ckpt), "--samples", str(tmp_path / "blindspots.jsonl")])
    )
    assert [s.id for s in session.samples.samples] == ["1", "2", "3"] and session.samples.has_objects
    assert session.model_a.label == f"{ckpt} (no adapter)" and session.compare_fn is None
    bare = [{k: v for k, v in r.items() if k not in ("image", "question", "response")} for r in rows]
    (tmp_path / "bare.jsonl").write_text("".join(json.dumps(r) + "\n" for r in bare))
    items = [
        {"bench": "amber", "id": i, "image": "img.png", "question": "Q?", "response": "a dog ."}
        for i in (1, 2)
    ]
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    args = [
        "--ckpt",
        str(ckpt),
        "--samples",
        str(tmp_path / "items.jsonl"),
        "--blindspots",
        str(tmp_path / "bare.jsonl"),
    ]
    joined = cli.build_session(cli.parser().parse_args(args)).samples
    assert [(s.id, s.kind, s.question) for s in joined.samples] == [
        ("1", "blindspots", "Q?"),
        ("2", "blindspots", "Q?"),
    ]
    assert len(joined.errors) == 1 and "blind-spot item '3' has no image or question" in joined.errors[0]
