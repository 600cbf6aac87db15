"""Cost of the token inspector against the forward passes it cannot avoid, and its time to first overlay.

1. ``analyse_pair`` on one preference pair (two rows: chosen and rejected) against the bare forwards: the
   two ``response_logits`` calls (clear and blurred pixel values) on the same, already collated batch.
   Everything else ``analyse_pair`` does (length checks, collation, noise, u/Δ, gates, records) is overhead.
   Target ≤ 1.3×. Also the α/τ path (``regate``: gates only, no forward). Median of repeats, baseline and
   pipeline interleaved in one process, on a small random LLaVA (8 layers, 512 wide; ``--model tiny`` for
   the 2-layer test model, where fixed costs dominate).
2. Time to first overlay, when Chromium + Playwright are installed: app start (``demo.launch``) until the
   first sample's overlay is visible in headless Chromium; ``--screenshot PATH`` also saves the page.
3. ``--load``: the inspector under load. ``uedpo-inspect`` on the tiny LLaVA and 8 samples (4 images) runs in a
   child process whose ``TMPDIR`` is private; one gradio_client user analyses every sample alone (the
   reference overlays), then ``--requests`` requests alone and ``--clients`` users at once, each ``--requests``
   requests (analyse, analyse, export, ...; every file a response names is downloaded: the preview, the
   exports). A request fails on an error, a file that does not download or decode whole, another sample's
   overlay or an export holding another user's rows. Then Ctrl-C (SIGINT), and the folders left in TMPDIR
   are listed. ``--src DIR`` serves the ``inspector`` package of DIR instead (an older version, to compare;
   e.g. ``git archive HEAD inspector | tar -x -C DIR``); ``--server-arg`` passes arguments through.

    python benchmarks/bench_inspector.py [--model small|tiny] [--repeats 7] [--words 60] [--threads 1]
                                           [--screenshot PATH]
    python benchmarks/bench_inspector.py --load [--clients 8] [--requests 30] [--src DIR]
                                           [--server-arg=--concurrency=4 ...]
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


# ---------------------------------------------------------------------------------------------------------
# 3. Under load: one `uedpo-inspect` process, CLIENTS concurrent gradio_client users.

LOAD_WORDS = SENTENCE.split()


def load_samples(folder: Path, n: int = 8) -> list[dict]:
    """``n`` samples over 4 images (two samples share each image, as items of one benchmark do)."""
    rows = []
    for i in range(n):
        name = f"img{i % 4}.png"
        if not (folder / name).exists():
            demo_image(64 + 16 * (i % 4)).save(folder / name)
        rows.append(
            {
                "bench": "amber",
                "id": i + 1,
                "image": name,
                "question": QUESTION,
                "response": response(8 + i, shift=i),
                "hallucinated": ["dog"],
            }
        )
    (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(ckpt: Path, folder: Path, tmp: Path, port: int, src: Path | None, extra=(), env_extra=None):
    """``uedpo-inspect`` in a child process whose TMPDIR is ``tmp`` (to count the folders it leaves)."""
    import subprocess
    import sys
    import urllib.request

    env = {**os.environ, "TMPDIR": str(tmp), "GRADIO_ANALYTICS_ENABLED": "False", **(env_extra or {})}
    env.pop("GRADIO_TEMP_DIR", None)  # gradio's cache goes where the server puts it
    cmd = [
        sys.executable,
        "-m",
        "inspector.cli",
        "--ckpt",
        str(ckpt),
        "--samples",
        str(folder / "samples.jsonl"),
    ]
    with open(folder / "server.log", "w") as log:
        proc = subprocess.Popen(
            [*cmd, "--port", str(port), *extra],
            cwd=str(src or Path(__file__).resolve().parents[1]),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {(folder / 'server.log').read_text()}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=2).read()
            return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("server did not answer within 120 s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux ``/proc``; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class LoadUser:
    """One browser-like user: analyses samples, exports its view, downloads every file the page would."""

    def __init__(self, url: str, rows: list[dict], index: int, out: Path) -> None:
        from gradio_client import Client

        self.client = Client(url, verbose=False, download_files=str(out / f"user{index}"))
        self.rows, self.index = rows, index
        self.last: str | None = None

    def analyse(self, row: dict) -> tuple[str, str]:
        self.last = str(row["id"])  # the server's view, even when a download below fails
        out = self.client.predict(
            None,
            str(row["id"]),
            row["question"],
            row["response"],
            "",
            "dog",
            0.3,
            0.4,
            500,
            "type",
            "u",
            None,
            api_name="/analyse",
        )
        status = out[0]
        if not status.startswith("✓ analysed") or f"of the sample {row['id']} (" not in status:
            raise AssertionError(f"analyse {row['id']}: {status[:120]}")
        overlay = next(o for o in out if isinstance(o, str) and 'id="token-overlay"' in o)
        preview = next(o for o in out if isinstance(o, str) and o.endswith((".webp", ".png")))
        from PIL import Image

        with Image.open(preview) as img:  # a truncated download fails here
            img.load()
        return "analyse", overlay

    def export(self) -> tuple[str, str]:
        out = self.client.predict(api_name="/export")
        status = next(o for o in out if isinstance(o, str) and o.startswith(("✓", "⚠", "✗")))
        if not status.startswith("✓ exported"):
            raise AssertionError(f"export: {status[:120]}")
        paths = next(o for o in out if isinstance(o, list))
        names = sorted(Path(p).name for p in paths)
        if names != ["report.html", "tokens.csv", "tokens.jsonl"]:
            raise AssertionError(f"export files: {names}")
        import csv

        with open(next(p for p in paths if p.endswith("tokens.csv")), newline="") as f:
            ids = {r["sample_id"] for r in csv.DictReader(f)}
        if ids != {self.last}:
            raise AssertionError(f"export of user {self.index}: rows of samples {ids}, analysed {self.last}")
        report = Path(next(p for p in paths if p.endswith("report.html"))).read_text(encoding="utf-8")
        if not report.rstrip().endswith("</html>"):
            raise AssertionError("export: report.html cut short")
        return "export", ""

    def run(self, n: int, expected: dict[str, str] | None, sink: list) -> None:
        """``n`` requests: analyse, analyse, export, ... (samples in a per-user order)."""
        for i in range(n):
            start = time.perf_counter()
            try:
                if i % 3 == 2 and self.last is not None:
                    kind, overlay = self.export()
                else:
                    row = self.rows[(self.index * 3 + i) % len(self.rows)]
                    kind, overlay = self.analyse(row)
                    if expected is not None and overlay != expected[str(row["id"])]:
                        raise AssertionError(
                            f"sample {row['id']}: overlay differs from the one computed alone"
                        )
                error = ""
            except Exception as err:  # noqa: BLE001 (counted and reported, not raised)
                kind, error = (
                    "failed",
                    f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}",
                )
            sink.append((self.index, kind, time.perf_counter() - start, error))


def bench_load(clients: int, requests: int, src: Path | None, extra=(), env_extra=None) -> dict:
    import signal
    import threading

    loadavg = " ".join(f"{x:.1f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp_s:
        base = Path(tmp_s)
        folder, tmp = base / "data", base / "tmp"
        folder.mkdir()
        tmp.mkdir()
        ckpt = build_tiny("llava", base / "ckpt")
        rows = load_samples(folder)
        port = free_port()
        start = time.perf_counter()
        server = start_server(ckpt, folder, tmp, port, src, extra, env_extra)
        started = time.perf_counter() - start
        url = f"http://127.0.0.1:{port}/"
        try:
            alone: list = []
            solo = LoadUser(url, rows, 0, base / "dl")
            for row in rows:  # warm-up, and the reference overlay of every sample
                solo.analyse(row)
            expected = {str(r["id"]): solo.analyse(r)[1] for r in rows}
            solo.run(requests, expected, alone)
            users = [LoadUser(url, rows, i, base / "dl") for i in range(clients)]
            loaded: list = []
            threads = [threading.Thread(target=u.run, args=(requests, expected, loaded)) for u in users]
            cpu0, own0 = cpu_seconds(server.pid), time.process_time()
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
            server_cpu, client_cpu = cpu_seconds(server.pid) - cpu0, time.process_time() - own0
        finally:
            server.send_signal(signal.SIGINT)  # Ctrl-C
            try:
                code = server.wait(timeout=30)
            except Exception:  # noqa: BLE001
                server.kill()
                code = server.wait()
        left = sorted(p.name for p in tmp.iterdir())
        log_text = (folder / "server.log").read_text()

    def med(items, kind):
        times = [t for _, k, t, _ in items if k == kind]
        return statistics.median(times) if times else float("nan")

    failed = [e for _, k, _, e in loaded if k == "failed"] + [e for _, k, _, e in alone if k == "failed"]
    return {
        "start": started,
        "loadavg": loadavg,
        "alone_all": statistics.median(t for _, _, t, _ in alone),
        "alone_analyse": med(alone, "analyse"),
        "alone_export": med(alone, "export"),
        "load_all": statistics.median(t for _, _, t, _ in loaded),
        "load_analyse": med(loaded, "analyse"),
        "load_export": med(loaded, "export"),
        "requests": len(loaded),
        "requests_alone": len(alone),
        "failed": len([1 for _, k, _, _ in loaded if k == "failed"]),
        "failed_alone": len([1 for _, k, _, _ in alone if k == "failed"]),
        "errors": sorted(set(failed))[:8],
        "wall": wall,
        "server_cpu": server_cpu,
        "client_cpu": client_cpu,
        "exit": code,
        "left": left,
        "log_tail": log_text[-600:],
    }


def print_load(res: dict, args: argparse.Namespace) -> None:
    n = res["requests"]
    print(
        f"uedpo-inspect {' '.join(args.server_arg)} ({args.src or 'this tree'}), tiny LLaVA, "
        f"{args.clients} users x {args.requests} requests at once = {n}; load average before: {res['loadavg']}"
    )
    print("| | alone | under load |")
    print("|---|---|---|")
    for kind in ("all", "analyse", "export"):
        print(f"| median {kind} (s) | {res[f'alone_{kind}']:.2f} | {res[f'load_{kind}']:.2f} |")
    print(f"| failed requests | {res['failed_alone']} / {res['requests_alone']} | {res['failed']} / {n} |")
    print(f"| wall time under load (s) | | {res['wall']:.1f} ({n / res['wall']:.1f} requests/s) |")
    print(
        f"| CPU per request under load (s): server / clients | | "
        f"{res['server_cpu'] / n:.3f} / {res['client_cpu'] / n:.3f} |"
    )
    print(f"| server start (s) / exit code after Ctrl-C | {res['start']:.1f} | {res['exit']} |")
    print(f"| left in TMPDIR after exit | | {', '.join(res['left']) or 'nothing'} |")
    for error in res["errors"]:
        print(f"failure: {error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["small", "tiny"], default="small")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--words", type=int, default=60, help="words per response")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: stable on a shared machine)"
    )
    parser.add_argument("--screenshot", type=Path, help="save the page (after the first overlay) to this PNG")
    parser.add_argument("--load", action="store_true", help="only the load benchmark (3.)")
    parser.add_argument("--clients", type=int, default=8, help="--load: users at once (default 8)")
    parser.add_argument("--requests", type=int, default=30, help="--load: requests per user (default 30)")
    parser.add_argument("--src", type=Path, help="--load: serve the inspector package of this directory")
    parser.add_argument(
        "--server-arg", action="append", default=[], help="--load: an argument for uedpo-inspect (repeatable)"
    )
    args = parser.parse_args(argv)
    if args.load:
        torch.set_num_threads(args.threads)  # this process only runs the clients
        print_load(bench_load(args.clients, args.requests, args.src, args.server_arg), args)
        return 0
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
