"""Cost of the token inspector against the forward passes it cannot avoid, and its time to first overlay.

1. ``analyse_pair`` on one preference pair (two rows: chosen and rejected) against the bare forwards: the
   two ``response_logits`` calls (clear and blurred pixel values) on the same, already collated batch.
   Everything else ``analyse_pair`` does (length checks, collation, noise, u/Δ, gates, records) is overhead.
   Target ≤ 1.3×. Also the α/τ path (``regate``: gates only, no forward). Median of repeats, baseline and
   pipeline interleaved in one process, on a small random LLaVA (8 layers, 512 wide; ``--model tiny`` for
   the 2-layer test model, where fixed costs dominate).
2. Time to first overlay, when Chromium + Playwright are installed: app start (``demo.launch``) until the
   first sample's overlay is visible in headless Chromium; ``--screenshot PATH`` also saves the page.

    python benchmarks/bench_inspector.py [--model small|tiny] [--repeats 7] [--words 60] [--threads 1]
                                           [--screenshot PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import torch  # noqa: E402

from inspector.analysis import analyse_pair, regate  # noqa: E402
from uedpo.demo import QUESTION, demo_image  # noqa: E402
from uedpo.models import load_adapter  # noqa: E402
from uedpo.models.tiny import build_tiny, tiny_llava  # noqa: E402

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SENTENCE = "a red car is parked on the street next to a green tree and a man with a black dog ."


def build_small(out: Path, seed: int = 0) -> Path:
    """The tiny LLaVA's tokenizer and vision tower, a bigger Llama (8 layers, 512 wide): forwards dominate."""
    from transformers import LlavaForConditionalGeneration

    _, proc = tiny_llava(seed)
    model, _ = tiny_llava(seed)
    cfg = model.config
    text = cfg.text_config
    text.hidden_size, text.intermediate_size, text.num_hidden_layers = 512, 1408, 8
    text.num_attention_heads, text.num_key_value_heads, text.head_dim = 8, 8, 64
    torch.manual_seed(seed)
    small = LlavaForConditionalGeneration(cfg).eval()
    small.generation_config = model.generation_config
    small.save_pretrained(out)
    proc.save_pretrained(out)
    return out


def response(words: int, shift: int = 0) -> str:
    vocab = SENTENCE.split()
    return " ".join(vocab[(i + shift) % len(vocab)] for i in range(words))


def bench_analysis(adapter, words: int, repeats: int) -> dict[str, float]:
    image = demo_image()
    chosen, rejected = response(words), response(words, shift=3)
    # The same rows analyse_pair scores: EOS appended, as the trainer does.
    batch = adapter.encode(
        [image, image], [adapter.build_prompt(QUESTION)] * 2, [chosen, rejected], add_eos=True
    )
    blurred = adapter.noised_pixel_values(
        batch["pixel_values"], step=500, generator=torch.Generator().manual_seed(0), pair_shared=True
    )

    @torch.no_grad()
    def bare():
        adapter.response_logits(batch)
        adapter.response_logits(batch, pixel_values=blurred)

    def full():
        return analyse_pair(
            adapter, image, QUESTION, chosen, rejected, alpha=0.3, tau=0.4, noise_step=500, seed=0
        )

    view = full()
    bare()  # warm-up
    t_bare, t_full, t_regate = [], [], []
    for _ in range(repeats):
        for fn, sink in (
            (bare, t_bare),
            (full, t_full),
            (lambda: regate(view, alpha=0.5, tau=0.3), t_regate),
        ):
            start = time.perf_counter()
            fn()
            sink.append(time.perf_counter() - start)
    tokens = len(view.preferred.tokens) + len(view.dispreferred.tokens)
    return {
        "bare": statistics.median(t_bare),
        "full": statistics.median(t_full),
        "regate": statistics.median(t_regate),
        "tokens": tokens,
    }


def bench_first_overlay(ckpt: Path, screenshot: Path | None) -> dict[str, float] | None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not Path(chromium).is_file():
        return None
    from inspector import cli

    folder = Path(tempfile.mkdtemp(prefix="bench-inspector-"))
    demo_image(192).save(folder / "street.png")
    row = {
        "bench": "amber",
        "id": 1,
        "image": "street.png",
        "question": QUESTION,
        "response": "a red car is parked on the street next to a green tree and a black dog .",
        "hallucinated": ["dog"],
    }
    (folder / "samples.jsonl").write_text(json.dumps(row) + "\n")
    start = time.perf_counter()
    demo, kwargs = cli.build(
        cli.parser().parse_args(["--ckpt", str(ckpt), "--samples", str(folder / "samples.jsonl")])
    )
    built = time.perf_counter()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 980})
        launch_start = time.perf_counter()
        demo.launch(**kwargs, prevent_thread_lock=True, quiet=True)
        page.goto(demo.local_url, wait_until="load")
        page.wait_for_selector("#token-overlay .ued-tok", timeout=120_000)
        visible = time.perf_counter()
        if screenshot is not None:
            page.focus("#token-overlay .ued-tok[data-type='type-i']")  # pin one token's details
            page.wait_for_timeout(300)
            page.screenshot(path=str(screenshot), clip={"x": 0, "y": 0, "width": 1400, "height": 980})
        browser.close()
    demo.close()
    return {"build": built - start, "overlay": visible - launch_start}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["small", "tiny"], default="small")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--words", type=int, default=60, help="words per response")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: stable on a shared machine)"
    )
    parser.add_argument("--screenshot", type=Path, help="save the page (after the first overlay) to this PNG")
    args = parser.parse_args(argv)
    torch.set_flush_denormal(True)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = build_small(Path(tmp)) if args.model == "small" else build_tiny("llava", tmp)
        adapter = load_adapter(ckpt)
        n_params = sum(p.numel() for p in adapter.model.parameters()) / 1e6
        res = bench_analysis(adapter, args.words, args.repeats)
        first = bench_first_overlay(ckpt, args.screenshot)
    print(
        f"model: {args.model} random LLaVA ({n_params:.1f} M parameters), "
        f"one pair of {args.words}-word responses "
        f"({res['tokens']} tokens), {torch.get_num_threads()} threads, median of {args.repeats}"
    )
    print("| step | time (ms) | ratio to bare forwards |")
    print("|---|---|---|")
    print(f"| bare forwards (2 x response_logits, clear + blurred) | {res['bare'] * 1e3:.1f} | 1.00 |")
    print(f"| analyse_pair (target ≤ 1.3x) | {res['full'] * 1e3:.1f} | {res['full'] / res['bare']:.2f} |")
    print(
        f"| regate (α/τ slider: gates only) | {res['regate'] * 1e3:.2f} | {res['regate'] / res['bare']:.3f} |"
    )
    if first is None:
        print("time to first overlay: skipped (needs chromium and playwright)")
    else:
        print(f"| load model + build app | {first['build'] * 1e3:.0f} | |")
        print(f"| app start → first overlay visible in Chromium | {first['overlay'] * 1e3:.0f} | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
