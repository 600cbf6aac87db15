"""Screenshot of the token inspector on the ShapesWorld demo (docs/img/shapes-inspector.png, README).

    python -m benchmarks_data.shapesworld.model_pairs --ckpt shapes-demo --out runs/shapes-pairs --n-images 200
    python docs/shapes_screenshot.py --pairs runs/shapes-pairs/pairs.jsonl

Opens ``uedpo-inspect --ckpt shapes-demo --samples <pairs>`` (images under ``<pairs dir>/images`` as ``write_preference_pairs`` writes them; first pair whose rejected caption names a bias
target moved to the top) in headless Chromium (Playwright + Debian's chromium) and saves the page.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import tempfile
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ("square", "star")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "shapes-inspector.png")
    args = parser.parse_args()
    import torch

    torch.set_flush_denormal(True)
    from playwright.sync_api import sync_playwright

    from inspector import cli

    rows = [json.loads(line) for line in args.pairs.read_text(encoding="utf-8").splitlines()]
    first = next(i for i, r in enumerate(rows) if any(t in r["rejected"] and t not in r["chosen"] for t in TARGETS))
    rows = [rows[first]] + rows[:first] + rows[first + 1:]
    with tempfile.TemporaryDirectory() as tmp:
        samples = Path(tmp) / "samples.jsonl"
        for r in rows:
            r["image"] = str((args.pairs.parent / "images" / r["image"]).resolve())
        samples.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        demo, kwargs = cli.build(cli.parser().parse_args(["--ckpt", "shapes-demo", "--samples", str(samples),
                                                          "--port", str(port)]))
        demo.launch(**kwargs, prevent_thread_lock=True, quiet=True)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                            args=["--no-sandbox", "--disable-gpu"])
                tab = browser.new_page(viewport={"width": 1280, "height": 1000})
                tab.goto(f"http://127.0.0.1:{port}/", wait_until="load")
                tab.wait_for_selector("#token-overlay .ued-tok", timeout=60_000)
                tab.wait_for_timeout(1500)
                tab.screenshot(path=str(args.out), full_page=False)
                browser.close()
        finally:
            demo.close()
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
