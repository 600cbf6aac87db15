"""The inspector under load: eight users at once on 127.0.0.1, a model that is not thread-safe.

Every request must succeed (the handler, and the download of every file it returns: the preview, the
exports), each user must get the numbers of its own sample, and the requests must overlap (gradio's default
runs one event at a time). The 240-request figures are ``benchmarks/bench_inspector.py --load``
(``docs/reliability.md``, "Inspector under load").
"""

from __future__ import annotations

import csv
import json
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from inspector_fakes import StatefulModel, fake_analyse, free_port  # noqa: E402

from inspector.samples import read_samples  # noqa: E402
from inspector.session import InspectorSession  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]
USERS = 8
COLOURS = [(200, 30, 30), (30, 160, 60), (40, 60, 200), (220, 200, 40)]
WORDS = "a red car and a black dog are next to a green tree on the street".split()


@pytest.fixture(scope="module")
def samples_file(tmp_path_factory) -> Path:
    """Eight items over four images: users viewing different items still share images (and previews)."""
    root = tmp_path_factory.mktemp("inspector_load")
    rows = []
    for i in range(8):
        image = f"img{i % 4}.png"
        Image.new("RGB", (16 + 4 * (i % 4), 16), COLOURS[i % 4]).save(root / image)
        text = " ".join(WORDS[(i + j) % len(WORDS)] for j in range(4 + i)) + " ."
        rows.append({"bench": "amber", "id": i + 1, "image": image, "question": "Q?", "response": text})
    (root / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root / "s.jsonl"


def analyse_args(row: dict) -> tuple:
    return (None, str(row["id"]), "Q?", row["response"], "", "dog", 0.3, 0.4, 500, "type", "u", None)


class CountingSession(InspectorSession):
    """Counts the renders in progress at once: above 1 only when requests are handled concurrently."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.in_flight = self.max_in_flight = 0
        self._count = threading.Lock()

    def render_state(self, *args, **kwargs):
        with self._count:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(0.05)  # a render that takes a while, as a long response's does
            return super().render_state(*args, **kwargs)
        finally:
            with self._count:
                self.in_flight -= 1


def expected_overlays(samples_file: Path, rows: list[dict]) -> dict[str, str]:
    """Each sample's overlay, analysed alone, outside the app."""
    alone = InspectorSession(fake_analyse, samples=read_samples(samples_file))
    return {str(r["id"]): alone.analyse(*analyse_args(r))["overlay_preferred"] for r in rows}


@pytest.mark.slow
def test_eight_users_at_once_get_their_own_numbers_and_every_file(samples_file, tmp_path):
    from gradio_client import Client

    from inspector.app import build_app, launch_kwargs

    rows = [json.loads(line) for line in samples_file.read_text().splitlines()]
    expected = expected_overlays(samples_file, rows)
    model = StatefulModel(delay=0.03)
    session = CountingSession(model, samples=read_samples(samples_file), export_root=tmp_path / "exports")
    demo = build_app(session, concurrency=4)
    demo.launch(**launch_kwargs(session, port=free_port()), prevent_thread_lock=True, quiet=True)
    start = threading.Barrier(USERS)

    def user(index: int) -> list[str]:
        """analyse, export, analyse another item; returns the problems seen."""
        client = Client(demo.local_url, verbose=False, download_files=str(tmp_path / f"user{index}"))
        problems = []
        start.wait(timeout=60)
        for step, row in enumerate((rows[index], None, rows[(index + 3) % len(rows)])):
            try:
                if row is None:
                    out = client.predict(api_name="/export")
                    paths = next(o for o in out if isinstance(o, list))
                    assert sorted(Path(p).name for p in paths) == [
                        "report.html",
                        "tokens.csv",
                        "tokens.jsonl",
                    ]
                    with open(next(p for p in paths if p.endswith(".csv")), newline="") as f:
                        ids = {r["sample_id"] for r in csv.DictReader(f)}
                    assert ids == {str(rows[index]["id"])}, f"export holds samples {ids}"
                    report = Path(next(p for p in paths if p.endswith(".html"))).read_text(encoding="utf-8")
                    assert report.rstrip().endswith("</html>"), "report.html cut short"
                    continue
                out = client.predict(*analyse_args(row), api_name="/analyse")
                assert out[0].startswith(
                    f"✓ analysed {len(row['response'].split())} tokens of the sample "
                ), out[0]
                overlay = next(o for o in out if isinstance(o, str) and 'id="token-overlay"' in o)
                assert overlay == expected[str(row["id"])], f"sample {row['id']}: another sample's numbers"
                preview = next(o for o in out if isinstance(o, str) and o.endswith(".png"))
                with Image.open(preview) as shown:  # a download cut short does not decode
                    shown.load()
                    assert shown.getpixel((0, 0)) == COLOURS[(row["id"] - 1) % 4]
            except Exception as err:  # noqa: BLE001 (collected: the test reports every failed request)
                problems.append(f"user {index} request {step}: {type(err).__name__}: {err}")
        return problems

    try:
        began = time.perf_counter()
        with ThreadPoolExecutor(USERS) as pool:
            problems = [p for found in pool.map(user, range(USERS)) for p in found]
        took = time.perf_counter() - began
    finally:
        demo.close()
    assert problems == []
    assert model.calls == 2 * USERS and model.max_active == 1  # the forwards took turns
    assert session.max_in_flight > 1  # ... while other requests were handled
    assert took < 90


def test_forwards_take_turns_so_concurrent_analyses_never_mix(samples_file):
    """Session level, no gradio: eight threads analyse eight samples at once on a model that mixes up
    concurrent calls; with the session's lock each gets its own sample, without it they mix."""
    rows = [json.loads(line) for line in samples_file.read_text().splitlines()]
    expected = expected_overlays(samples_file, rows)

    statuses: list[str] = []

    def at_once(session: InspectorSession) -> dict[str, str]:
        gate = threading.Barrier(len(rows))

        def one(row):
            gate.wait(timeout=30)
            out = session.analyse(*analyse_args(row))
            statuses.append(out["status"])
            return str(row["id"]), out["overlay_preferred"]

        with ThreadPoolExecutor(len(rows)) as pool:
            return dict(pool.map(one, rows))

    model = StatefulModel(delay=0.06)
    assert at_once(InspectorSession(model, samples=read_samples(samples_file))) == expected
    assert model.max_active == 1
    # The wait for the others' forwards is reported apart from the analysis' own time.
    own = [float(re.search(r" in ([0-9.]+) s ", s).group(1)) for s in statuses]
    waits = [
        float(m.group(1)) for s in statuses if (m := re.search(r"after ([0-9.]+) s waiting for other", s))
    ]
    assert len(waits) >= len(rows) // 2 and max(waits) >= 0.25, statuses  # the last waited for 7 others
    assert max(own) < 0.3, statuses  # its own forward only, not the others' (8 x 0.06 s)
    unlocked = StatefulModel(delay=0.06)
    mixed = at_once(InspectorSession(unlocked, samples=read_samples(samples_file), serialise_forwards=False))
    assert unlocked.max_active > 1 and mixed != expected  # what the lock prevents


def test_the_page_is_queued_with_a_shared_limit_for_the_forwards(samples_file):
    from inspector.app import FORWARD_GROUP, build_app

    demo = build_app(
        InspectorSession(fake_analyse, samples=read_samples(samples_file)), concurrency=3, max_queue=9
    )
    assert demo._queue.max_size == 9 and demo._queue.default_concurrency_limit == 3
    fns = list(demo.fns.values())
    # analyse, the k slider, the four refreshes after a pick / object / filter / search, export_all, load
    assert len([d for d in fns if d.concurrency_id == FORWARD_GROUP]) == 8
    assert all(d.concurrency_limit in (3, "default") for d in fns)  # "default": the queue's 3, not gradio's 1
    assert next(d for d in fns if d.api_name == "analyse").concurrency_id == FORWARD_GROUP
    assert next(d for d in fns if d.api_name == "export_all").concurrency_id == FORWARD_GROUP
    assert next(d for d in fns if d.api_name == "export").concurrency_id != FORWARD_GROUP
