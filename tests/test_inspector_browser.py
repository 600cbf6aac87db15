"""End to end: ``uedpo-inspect`` on a tiny checkpoint, driven in headless Chromium through Playwright.

The page's numbers (read from the overlay's data attributes) must equal the library's, computed here
directly through the adapter + ``uedpo.signals`` + ``uedpo.analysis``. Needs Debian's ``chromium`` and the
``playwright`` package (never ``playwright install``); skips without them, and fails without them when ``CI``
is set.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import pytest

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from uedpo.analysis import analyse_rows  # noqa: E402
from uedpo.demo import DISPREFERRED, PREFERRED, QUESTION, demo_image  # noqa: E402
from uedpo.signals import token_signals  # noqa: E402
from uedpo.views import ViewSpec  # noqa: E402

CHROMIUM = os.environ.get("UEDPO_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# ENVIRONMENT.md §4: flags for headless Debian chromium with no network side-traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EVAL_RESPONSE = "a dog and a red car are next to a green tree ."
READ_SPANS = """sel => [...document.querySelectorAll(sel + ' .ued-tok')].map(e => ({
    u: e.dataset.u, delta: e.dataset.delta, lambda: e.dataset.lambda, type: e.dataset.type,
    id: e.dataset.tokenId, index: e.dataset.index, token: e.dataset.token,
    hal: e.dataset.hallucinated || null}))"""
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


def need_browser() -> None:
    missing = []
    if not Path(CHROMIUM).is_file():
        missing.append("chromium (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install playwright; do not run `playwright install`)")
    if missing:
        reason = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI", "") not in ("", "0", "false", "False"):
            pytest.fail(f"CI is set but {reason}")
        pytest.skip(reason)


def direct(adapter, responses, *, sample_id, alpha=0.3, tau=0.4):
    """What the library says, computed without the inspector: forward_batch → token_signals → analyse_rows.

    The noise is the trainer's for seed 0 (the CLI default), the samples row's id and no step (fixed).
    """
    out = adapter.forward_batch(
        [demo_image()] * len(responses),
        [QUESTION] * len(responses),
        responses,
        view=ViewSpec(noise_step=500),
        sample_ids=[sample_id],
        seed=0,
        step=None,
        add_eos=True,  # as the trainer and uedpo-inspect do
    )
    sig = token_signals(out.clear_logits, out.blurred_logits, out.labels, out.mask)
    return [
        analyse_rows(
            sig.u[r : r + 1],
            sig.delta[r : r + 1],
            out.mask[r : r + 1],
            preferred=r == 0,
            alpha=alpha,
            tau=tau,
            token_strings=out.token_strings[r : r + 1],
            token_ids=out.token_ids[r : r + 1],
            logprobs=out.logprobs[r : r + 1],
        )[0]
        for r in range(len(responses))
    ]


def assert_page_matches(spans, analysis, *, check_lambda=True):
    assert len(spans) == len(analysis.tokens)
    for span, tok in zip(spans, analysis.tokens, strict=True):
        assert (int(span["index"]), int(span["id"]), span["token"]) == (tok.index, tok.token_id, tok.token)
        assert float(span["u"]) == pytest.approx(tok.u, rel=1e-6, abs=1e-6)
        assert float(span["delta"]) == pytest.approx(tok.delta, rel=1e-6, abs=1e-6)
        assert span["type"] == tok.type
        if check_lambda:
            assert float(span["lambda"]) == pytest.approx(tok.lam, rel=1e-6, abs=1e-6)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    need_browser()
    from inspector import cli
    from uedpo.models import load_adapter
    from uedpo.models.tiny import build_tiny

    root = tmp_path_factory.mktemp("inspector_e2e")
    ckpt = build_tiny("llava", root / "ckpt", seed=0)
    demo_image().save(root / "street.png")
    rows = [
        {
            "id": "p1",
            "image": "street.png",
            "prompt": QUESTION,
            "chosen": PREFERRED,
            "rejected": DISPREFERRED,
        },
        {
            "bench": "amber",
            "id": 7,
            "image": "street.png",
            "question": QUESTION,
            "response": EVAL_RESPONSE,
            "hallucinated": ["dog"],
        },
    ]
    (root / "samples.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = cli.parser().parse_args(
        ["--ckpt", str(ckpt), "--samples", str(root / "samples.jsonl"), "--port", str(port)]
    )
    demo, kwargs = cli.build(args)
    demo.launch(**kwargs, prevent_thread_lock=True, quiet=True)
    try:
        yield demo.local_url, load_adapter(ckpt)
    finally:
        demo.close()


@pytest.fixture(scope="module")
def page(served):
    from playwright.sync_api import sync_playwright

    url, _ = served
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.on("request", lambda r: requests.append(r.url))
        tab.goto(url, wait_until="load")
        tab.wait_for_selector("#token-overlay .ued-tok", timeout=60_000)
        yield tab, requests
        browser.close()


def wait_status(tab, *texts: str) -> str:
    """Wait until the status line contains every one of ``texts``; return it."""
    tab.wait_for_function(
        "ts => ts.every(t => document.querySelector('#status').innerText.includes(t))",
        arg=list(texts),
        timeout=60_000,
    )
    return tab.inner_text("#status")


def test_first_sample_is_analysed_on_load_with_the_library_numbers(served, page):
    _, adapter = served
    tab, requests = page
    assert "sample p1" in wait_status(tab, "analysed")
    want_pref, want_disp = direct(adapter, [PREFERRED, DISPREFERRED], sample_id="p1")
    assert_page_matches(tab.evaluate(READ_SPANS, "#token-overlay"), want_pref)
    assert_page_matches(tab.evaluate(READ_SPANS, "#token-overlay-dispreferred"), want_disp)
    # Gate thresholds are on the page.
    summary = tab.inner_text("#gate-summary")
    assert f"{want_pref.threshold:.4f}" in summary and f"{want_pref.mu:.4f}" in summary
    assert all(r.startswith(served[0].rstrip("/")) or r.startswith(("data:", "blob:")) for r in requests), [
        r for r in requests if "127.0.0.1" not in r
    ]


def test_alpha_slider_regates_without_changing_u(served, page):
    _, adapter = served
    tab, _ = page
    tab.fill("#alpha input[type=number]", "0.9")
    tab.press("#alpha input[type=number]", "Enter")
    wait_status(tab, "α = 0.9")
    want_pref, _ = direct(adapter, [PREFERRED, DISPREFERRED], sample_id="p1", alpha=0.9)
    spans = tab.evaluate(READ_SPANS, "#token-overlay")
    assert_page_matches(spans, want_pref)
    assert any(float(s["lambda"]) > 1.3 for s in spans)  # λ up to 1 + α: only reachable with the new α
    tab.fill("#alpha input[type=number]", "0.3")
    tab.press("#alpha input[type=number]", "Enter")
    wait_status(tab, "α = 0.3")


def test_benchmark_row_marks_the_flagged_words(served, page):
    _, adapter = served
    tab, _ = page
    tab.click("#sample input")
    tab.get_by_role("option", name="7 [amber]").click()
    wait_status(tab, "analysed", "sample 7")
    spans = tab.evaluate(READ_SPANS, "#token-overlay")
    (want,) = direct(adapter, [EVAL_RESPONSE], sample_id="7")
    assert_page_matches(spans, want)
    assert [s["token"] for s in spans if s["hal"] == "true"] == [" dog"]
    assert tab.inner_text("#token-overlay-dispreferred").strip() == "no response given"
