"""End to end: ``uedpo-inspect`` on a tiny checkpoint, driven in headless Chromium through Playwright.

The page's numbers (read from the overlay's data attributes) must equal the library's, computed here
directly through the adapter + ``uedpo.signals`` + ``uedpo.analysis``; a blind-spot file's numbers (written
here from those same library numbers, as ``uedpo-eval --blindspots`` would) must come back from the page.
Needs Debian's ``chromium`` and the ``playwright`` package (never ``playwright install``); skips without
them, and fails without them when ``CI`` is set.
"""

from __future__ import annotations

import json
import math
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
CAT_PROBE = EVAL_RESPONSE + " there is also a cat ."
# p(blurred) with many digits: the page must show the file's, not recompute or round it.
P_BLURRED = {"cat": 0.0198765432, "dog": 0.3987654321, "car": 0.2, "tree": 0.1}
READ_SPANS = """sel => [...document.querySelectorAll(sel + ' .ued-tok')].map(e => ({
    u: e.dataset.u, delta: e.dataset.delta, lambda: e.dataset.lambda, type: e.dataset.type,
    id: e.dataset.tokenId, index: e.dataset.index, token: e.dataset.token,
    hal: e.dataset.hallucinated || null}))"""
pytestmark = [
    pytest.mark.slow,
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


def direct(adapter, responses, *, sample_id, alpha=0.3, tau=0.4, noise_step=500):
    """What the library says, computed without the inspector: forward_batch → token_signals → analyse_rows.

    The noise is the trainer's for seed 0 (the CLI default), the samples row's id and no step (fixed).
    """
    out = adapter.forward_batch(
        [demo_image()] * len(responses),
        [QUESTION] * len(responses),
        responses,
        view=ViewSpec(noise_step=noise_step),
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


def token_of(analysis, token: str, *, last: bool = False):
    hits = [t for t in analysis.tokens if t.token == token]
    return hits[-1] if last else hits[0]


def blindspot_rows(adapter) -> list[dict]:
    """A blind-spot file for items b1 (a hallucinated dog, a grounded car, a missed cat that is a blind spot)
    and b2 (a grounded tree): u, Δ and type from the library, as the writer computes them; extra fields too."""
    (resp,) = direct(adapter, [EVAL_RESPONSE], sample_id="b1")
    (probe,) = direct(adapter, [CAT_PROBE], sample_id="b1")
    assert (
        token_of(probe, " cat", last=True).u > 0
    )  # the writer's rule: a missed object is a blind spot iff u > 0
    item = {
        "bench": "amber",
        "image": "street.png",
        "question": QUESTION,
        "response": EVAL_RESPONSE,
        "ckpt": "tiny",
        "adapter": None,
        "seed": 0,
        "step": None,
        "extra": {"ignored": True},
    }

    def row(item_id, status, word, verdict, analysis, probe_text, *, last=False):
        hits = [t for t in analysis.tokens if t.token == " " + word]
        tok = hits[-1] if last else hits[0]
        return {
            **item,
            "id": item_id,
            "status": status,
            "word": word,
            "tokens": [tok.token],
            "u": tok.u,
            "delta": tok.delta,
            "p_clear": math.exp(tok.logprob),
            "p_blurred": P_BLURRED[word],
            "type": tok.type,
            "verdict": verdict,
            "probe": probe_text,
            "object_class": word,
            "token_index": [tok.index],
        }

    return [
        row("b1", "hallucinated", "dog", "prior-driven", resp, EVAL_RESPONSE),
        row("b1", "grounded", "car", "seen", resp, EVAL_RESPONSE),
        row("b1", "missed", "cat", "blind-spot", probe, CAT_PROBE, last=True),
        row("b2", "grounded", "tree", "seen", resp, EVAL_RESPONSE),
    ]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    need_browser()
    from inspector import cli
    from uedpo.models import load_adapter
    from uedpo.models.tiny import build_tiny

    root = tmp_path_factory.mktemp("inspector_e2e")
    ckpt = build_tiny("llava", root / "ckpt", seed=0)
    adapter = load_adapter(ckpt)
    demo_image().save(root / "street.png")
    blind = blindspot_rows(adapter)
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
        *blind,
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
        yield demo.local_url, adapter, blind
    finally:
        demo.close()


@pytest.fixture(scope="module")
def page(served):
    from playwright.sync_api import sync_playwright

    url = served[0]
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
    adapter = served[1]
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
    adapter = served[1]
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
    adapter = served[1]
    tab, _ = page
    tab.click("#sample input")
    tab.get_by_role("option", name="7 · hallucinated: dog").click()  # id, status and the flagged words
    wait_status(tab, "analysed", "sample 7")
    spans = tab.evaluate(READ_SPANS, "#token-overlay")
    (want,) = direct(adapter, [EVAL_RESPONSE], sample_id="7")
    assert_page_matches(spans, want)
    assert [s["token"] for s in spans if s["hal"] == "true"] == [" dog"]
    # No dispreferred response: its panel and plot are hidden, not shown empty.
    assert tab.is_hidden("#token-overlay-dispreferred") and tab.is_hidden("#object-panel")
    # The model's own greedy output is said to be so (u <= 0 by construction), pointing to the probes.
    note = tab.inner_text("#response-note")
    assert "greedy output" in note and "uedpo-eval --blindspots" in note


def test_pinned_tooltip_on_the_dispreferred_response_is_not_cut(served, page):
    tab, _ = page
    tab.click("#sample input")
    tab.get_by_role("option", name="p1 · pair").click()
    wait_status(tab, "analysed", "sample p1")
    tab.wait_for_selector("#token-overlay-dispreferred .ued-tok")
    tab.focus("#token-overlay-dispreferred .ued-tok >> nth=1")
    # The pinned box (the focused span's ::after) runs 4+ lines below the token; every line must be on
    # screen, i.e. hit-testing there must land on the token itself, not on whatever a clip would reveal.
    hits = tab.evaluate("""() => {
        const tok = document.activeElement;
        tok.scrollIntoView({block: 'center'});
        const r = tok.getBoundingClientRect();
        const tip = getComputedStyle(tok, '::after');
        const top = r.top + 1.9 * parseFloat(getComputedStyle(tok).fontSize);
        const lines = Math.round(tok.dataset.tip.split('\\n').length);
        const step = parseFloat(tip.lineHeight) || 18;
        return [...Array(lines).keys()].map(i => {
            const e = document.elementFromPoint(r.left + 12, top + 8 + step * (i + 0.5));
            return !e ? null : (e === tok || tok.contains(e)) ? true : e.tagName + '.' + e.className;
        });
    }""")
    assert len(hits) >= 4 and all(h is True for h in hits), hits


def test_typing_a_noise_step_reruns_like_the_slider(served, page):
    adapter = served[1]
    tab, _ = page
    tab.fill("#noise-step input[type=number]", "300")
    tab.press("#noise-step input[type=number]", "Enter")
    wait_status(tab, "analysed", "sample p1", "at k = 300")
    want_pref, _ = direct(adapter, [PREFERRED, DISPREFERRED], sample_id="p1", noise_step=300)
    assert_page_matches(tab.evaluate(READ_SPANS, "#token-overlay"), want_pref)
    tab.fill("#noise-step input[type=number]", "")
    tab.press("#noise-step input[type=number]", "Enter")
    tab.wait_for_selector("#error-noise-step .ued-field-error", timeout=30_000)  # beside the slider
    assert "noise step k" in tab.inner_text("#error-noise-step")
    tab.fill("#noise-step input[type=number]", "500")
    tab.press("#noise-step input[type=number]", "Enter")
    wait_status(tab, "at k = 500")
    assert tab.is_hidden("#error-noise-step")


def test_blind_spot_filter_and_the_objects_numbers_from_the_file(served, page):
    adapter, blind = served[1], served[2]
    tab, _ = page
    tab.get_by_label("blind spots").check()
    tab.wait_for_function(
        "() => document.querySelector('#filter-count').innerText.includes('1 of 4 items shown (blind spots)')",
        timeout=60_000,
    )
    tab.click("#sample input")
    options = [o.inner_text().strip().lstrip("✓").strip() for o in tab.query_selector_all("[role=option]")]
    assert options == ["b1 · hallucinated: dog · missed: cat · blind spots: cat"]
    tab.keyboard.press("Escape")
    # The item shown before is hidden now: b1 comes up on its blind-spot object, whose probe is analysed.
    wait_status(tab, "analysed", "sample b1")
    tab.wait_for_selector("#object-panel[data-word='cat'][data-probe-analysed='true']", timeout=60_000)
    cat = next(r for r in blind if r["word"] == "cat")
    panel = tab.evaluate("() => ({...document.querySelector('#object-panel').dataset})")
    assert float(panel["pClear"]) == cat["p_clear"] and float(panel["pBlurred"]) == cat["p_blurred"]
    assert panel["verdict"] == "blind-spot" and float(panel["u"]) == cat["u"]
    assert tab.inner_text("#object-p-clear") == f"{cat['p_clear']:.4f}"
    assert tab.inner_text("#object-p-blurred") == f"{cat['p_blurred']:.4f}"
    assert tab.inner_text("#object-verdict") == "blind-spot" and tab.inner_text("#object-probe") == CAT_PROBE
    assert tab.input_value("#preferred textarea") == CAT_PROBE
    # The object's token of the probe, as the page computed it, carries the file's u.
    spans = tab.evaluate(READ_SPANS, "#token-overlay")
    marked = tab.evaluate(
        "() => [...document.querySelectorAll('#token-overlay [data-object]')].map(e => e.dataset)"
    )
    assert [m["token"] for m in marked] == [" cat"] and marked[0]["index"] == str(len(spans) - 3)
    assert float(marked[0]["u"]) == pytest.approx(cat["u"], rel=1e-6, abs=1e-6)
    assert math.exp(float(marked[0]["logprob"])) == pytest.approx(cat["p_clear"], rel=1e-6)
    assert marked[0]["type"] == cat["type"]
    (want,) = direct(adapter, [CAT_PROBE], sample_id="b1")
    assert_page_matches(spans, want)
    assert "Probe for the missed object 'cat'" in tab.inner_text("#response-note")
    # Another object of the item: the hallucinated dog, whose probe is the greedy response.
    tab.get_by_label("all items").check()
    tab.wait_for_function("() => document.querySelector('#filter-count').innerText.includes('4 of 4 items')")
    tab.click("#object input")
    tab.get_by_role("option", name="dog · hallucinated · prior-driven").click()
    tab.wait_for_selector("#object-panel[data-word='dog'][data-probe-analysed='true']", timeout=60_000)
    dog = next(r for r in blind if r["word"] == "dog")
    panel = tab.evaluate("() => ({...document.querySelector('#object-panel').dataset})")
    assert (float(panel["pClear"]), float(panel["pBlurred"]), panel["verdict"]) == (
        dog["p_clear"],
        dog["p_blurred"],
        "prior-driven",
    )
    marked = tab.evaluate(
        "() => [...document.querySelectorAll('#token-overlay [data-object]')].map(e => e.dataset)"
    )
    assert [m["token"] for m in marked] == [" dog"]
    assert float(marked[0]["u"]) == pytest.approx(dog["u"], rel=1e-6, abs=1e-6)
    assert "greedy output" in tab.inner_text("#response-note")
    # Search by word, within a filter.
    tab.get_by_label("missed objects").check()
    tab.wait_for_function("() => document.querySelector('#filter-count').innerText.includes('1 of 4 items')")
    tab.fill("#search textarea, #search input", "tree")
    tab.press("#search textarea, #search input", "Enter")
    tab.wait_for_function("() => document.querySelector('#filter-count').innerText.includes('1 of 4 items')")
    tab.fill("#search textarea, #search input", "zebra")
    tab.press("#search textarea, #search input", "Enter")
    tab.wait_for_function(
        "() => document.querySelector('#filter-count').innerText.includes('no item matches')"
    )
