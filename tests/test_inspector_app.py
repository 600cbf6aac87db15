"""The Gradio app with a fake analysis function, launched in-process on 127.0.0.1 and driven over HTTP.

Bad inputs must come back as a status message, and the app must keep serving afterwards.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from inspector_fakes import fake_analyse, free_port  # noqa: E402

from inspector.app import build_app, launch_kwargs  # noqa: E402
from inspector.samples import read_samples  # noqa: E402
from inspector.session import InspectorSession  # noqa: E402

# gradio's queue calls pandas APIs that pandas 3 deprecates; not ours to fix.
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("inspector_app")
    Image.new("RGB", (16, 16), (30, 160, 60)).save(root / "img.png")
    (root / "notes.txt").write_text("not an image")
    rows = [
        {
            "bench": "amber",
            "id": 1,
            "image": "img.png",
            "question": "Describe.",
            "response": "two dogs and a cat",
            "hallucinated": ["dog"],
        },
        "{broken",
    ]
    (root / "s.jsonl").write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return root


@pytest.fixture(scope="module")
def app(files):
    from gradio_client import Client

    session = InspectorSession(
        fake_analyse,
        compare_fn=lambda *a, **k: fake_analyse(*a, checkpoint="B", **k),
        samples=read_samples(files / "s.jsonl"),
        export_root=files / "exports",
    )
    demo = build_app(session)
    kwargs = launch_kwargs(session, port=free_port())
    assert kwargs["server_name"] == "127.0.0.1" and kwargs["share"] is False
    demo.launch(**kwargs, prevent_thread_lock=True, quiet=True)
    try:
        yield demo, Client(demo.local_url, verbose=False)
    finally:
        demo.close()


def analyse(
    client, *, upload=None, sample=None, preferred="a red dog .", dispreferred="a cat .", words="dog"
):
    from gradio_client import handle_file

    out = client.predict(
        handle_file(str(upload)) if upload else None,
        sample,
        "Describe.",
        preferred,
        dispreferred,
        words,
        0.3,
        0.4,
        500,
        "type",
        "u",
        None,  # the object of a blind-spot item
        api_name="/analyse",
    )
    status = out[0]
    overlay = next((o for o in out if isinstance(o, str) and 'id="token-overlay"' in o), None)
    return status, overlay, out


def test_analyse_renders_the_overlays_and_the_scorer_link(app, files):
    _, client = app
    status, overlay, out = analyse(client, upload=files / "img.png")
    assert status.startswith("✓ analysed 4 + 3 tokens of the uploaded image img.png")
    assert overlay.count('class="ued-tok') == 4 and 'data-hallucinated="true"' in overlay
    assert any(isinstance(o, str) and 'id="token-overlay-dispreferred"' in o for o in out)
    assert any(isinstance(o, str) and 'id="token-overlay-compare"' in o for o in out)
    table = next(o for o in out if isinstance(o, dict) and o.get("headers", [None])[0] == "word")
    assert table["data"][0][:2] == ["dog", " dog"]


def test_bad_inputs_give_a_status_message_and_the_app_keeps_serving(app, files):
    _, client = app
    cases = [
        (dict(upload=files / "notes.txt"), "⚠ image notes.txt: not a readable image"),
        (dict(upload=None, sample=None), "⚠ no image: upload one or pick a sample"),
        (dict(upload=files / "img.png", preferred="   "), "⚠ preferred response: empty"),
        (
            dict(upload=files / "img.png", preferred="TOO_LONG text"),
            "⚠ preferred response: 5000 tokens exceed",
        ),
        (
            dict(upload=files / "img.png", preferred="CRASH now"),
            "✗ internal error (RuntimeError: simulated crash",
        ),
    ]
    for kwargs, message in cases:
        status, overlay, out = analyse(client, **kwargs)
        assert status.startswith(message), status
        assert overlay is None  # the previous view stays; nothing half-rendered
        notes = [o for o in out if isinstance(o, dict) and 'role="alert"' in str(o.get("value"))]
        assert len(notes) == 1 and notes[0]["visible"] is True  # beside the control, too
    status, overlay, _ = analyse(client, upload=files / "img.png")
    assert status.startswith("✓") and overlay is not None


def test_samples_rows_and_broken_rows(app):
    demo, client = app
    status, overlay, out = analyse(client, sample="1", preferred="two dogs and a cat", dispreferred="")
    assert status.startswith("✓ analysed 5 tokens of the sample 1 (img.png)")
    assert overlay.count('data-hallucinated="true"') == 1  # "dogs" for the lemma "dog"
    assert any(isinstance(o, str) and o.startswith("**The model's own greedy output.**") for o in out)
    picked = client.predict("1", "all", api_name="/pick")
    assert "two dogs and a cat" in picked and "dog" in picked
    config = urllib.request.urlopen(demo.local_url + "config", timeout=10).read().decode()
    assert "s.jsonl line 2: not valid JSON" in config  # the skipped row is listed on the page


def test_export_writes_csv_jsonl_and_an_offline_report(app, files):
    _, client = app
    analyse(client, upload=files / "img.png")
    # The export endpoint reads the session state, which gradio_client keeps per Client session.
    out = client.predict(api_name="/export")
    status = next(o for o in out if isinstance(o, str) and o.startswith(("✓", "⚠")))
    assert status.startswith("✓ exported 14 tokens"), status  # 7 under A and 7 under B (compare mode)
    paths = next(o for o in out if isinstance(o, list))
    names = sorted(Path(p).name for p in paths)
    assert names == ["report.html", "tokens.csv", "tokens.jsonl"]
    report = Path(next(p for p in paths if p.endswith("report.html"))).read_text(encoding="utf-8")
    assert "<script src" not in report and "Plotly.newPlot" in report


def test_filter_and_batch_export_endpoints(app):
    _, client = app
    out = client.predict("flagged", "", "1", None, api_name="/filter")
    assert "1 of 1 items shown (flagged items only)" in out
    out = client.predict("all", "", 0.3, 0.4, 500, api_name="/export_all")
    status = next(o for o in out if isinstance(o, str) and o.startswith(("✓", "⚠")))
    assert status.startswith("✓ exported 1 analyses of 1 shown samples"), status
    assert sorted(Path(p).name for p in next(o for o in out if isinstance(o, list))) == [
        "report.html",
        "tokens.csv",
        "tokens.jsonl",
    ]
