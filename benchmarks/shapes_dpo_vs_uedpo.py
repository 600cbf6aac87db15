"""DPO against UE-DPO on ShapesWorld, from the demo checkpoint (docs/shapesworld.md).

Two regimes, each with pairs sampled from the demo model itself (4 captions at T = 1 + greedy per image):

1. ``cooccurrence``: every object clearly visible; chosen = the ground-truth caption, rejected = the sample
   naming the most absent objects (mostly the co-occurring target). SHAPESWORLD.md §5 found DPO and UE-DPO
   indistinguishable here.
2. ``blindspot``: some objects are faint and small (``SceneConfig(p_faint=...)``), and the chosen caption
   names them; rejected = the sample with the most errors, omissions of drawn objects included. Faint objects
   the model misses are what UE-DPO's Type-I tokens are meant to be (true, but not grounded in the image).

For every seed both methods get the same LoRA init and the same batches (the trainer seeds both from
``seed``); only ``loss`` differs. Every ``--eval-every`` steps the policy is evaluated on the 200-image
ShapesWorld benchmark (captions + yes/no by string and by the P(Yes) − P(No) margin, scored by
``uedpo-eval``'s shapes bench) and, in the blind-spot regime, on 200 faint scenes (faint-object recall).
A sweep of UE-DPO's noise step k and noise space runs in the blind-spot regime. Token statistics (u, Δ,
gate and Type-I share by token category) come from the demo model on each regime's pairs.

    python benchmarks/shapes_dpo_vs_uedpo.py --out runs/shapes-exp [--seeds 0 1 2] [--steps 60]

Writes ``<out>/results.json``, ``<out>/tables.md`` and PNG figures (``--fig-dir``, default docs/img).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from argparse import Namespace
from pathlib import Path

# Threads that sleep instead of spinning: with another busy process on the cores, spinning OpenMP threads
# make every step several times slower (measured on the 2-core machine).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks_data.shapesworld import (  # noqa: E402
    CAPTION_PROMPT,
    COLOURS,
    EVAL_CONFIG,
    SHAPES,
    SceneConfig,
    decode_jpeg,
    drawn_caption,
    encode_jpeg,
    hallucinated_objects,
    mentioned_shapes,
    render,
    sample_scene,
)
from evaluation.benches import shapes as shapes_bench  # noqa: E402
from evaluation.results import atomic_write_json, atomic_write_jsonl, atomic_write_text  # noqa: E402

FAINT_CONFIG = SceneConfig(bias_p=None, p_hidden=0.0, p_faint=0.4, faint_alpha=(0.3, 0.5), faint_size=(8, 11))
FUNCTION_WORDS = {"a", ",", "and", ".", "</s>"}
CURVE_METRICS = (("generative", "CHAIR"), ("generative", "Hal"), ("generative", "Cover"),
                 ("discriminative", "F1"), ("shapes", "margin_F1"), ("shapes", "target_rate"),
                 ("faint", "faint_recall"))


# -- pairs ------------------------------------------------------------------------------------------------
def make_pairs(adapter, out_dir: Path, config: SceneConfig, seed: int, n_images: int, omissions: bool) -> Path:
    """Self-sampled pairs; with ``omissions`` a sample that leaves out drawn objects also counts as wrong."""
    from uedpo.shapes_pairs import caption_sampler

    rng = np.random.default_rng(seed)
    sampler = caption_sampler(adapter, n_samples=4, seed=seed)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for start in range(0, n_images, 100):
        scenes = [sample_scene(rng, config) for _ in range(min(100, n_images - start))]
        pixels = []
        for i, scene in enumerate(scenes):
            data = encode_jpeg(render(scene))
            (out_dir / "images" / f"p{start + i:05d}.jpg").write_bytes(data)
            pixels.append(decode_jpeg(data))
        for i, (scene, samples) in enumerate(zip(scenes, sampler(pixels), strict=True)):
            chosen = drawn_caption(scene)
            drawn = set(scene.drawn)

            def errors(text: str, scene=scene, drawn=drawn) -> int:
                missed = len(drawn - set(mentioned_shapes(text))) if omissions else 0
                return len(hallucinated_objects(text, scene)) + missed

            scored = [(errors(s), s) for s in samples]
            worst = max(scored, key=lambda e: e[0])
            if chosen is None or worst[0] == 0:
                continue
            rows.append({"id": f"p{start + i:05d}", "image": f"images/p{start + i:05d}.jpg", "prompt": CAPTION_PROMPT,
                         "chosen": chosen, "rejected": worst[1], "drawn": sorted(drawn),
                         "faint": sorted(o.shape for o in scene.objects if o.faint)})
    atomic_write_jsonl(out_dir / "pairs.jsonl", rows)
    return out_dir / "pairs.jsonl"


# -- evaluation ---------------------------------------------------------------------------------------------
class Evaluator:
    """The 200-image benchmark (AMBER + shapes metrics) and, optionally, 200 faint scenes."""

    def __init__(self, bench_root: Path, faint: bool) -> None:
        from PIL import Image

        self.bench = shapes_bench.ensure_benchmark(bench_root)
        self.opts = Namespace(shapes_dir=str(bench_root), quiet=True)
        self.gen_ids = list(self.bench.generative_ids)
        self.images = {i: Image.open(self.bench.images[i]).convert("RGB") for i in self.gen_ids}
        self.faint_scenes, self.faint_images = [], []
        if faint:
            rng = np.random.default_rng(12345)
            self.faint_scenes = [sample_scene(rng, FAINT_CONFIG) for _ in range(200)]
            self.faint_images = [Image.fromarray(decode_jpeg(encode_jpeg(render(s)))) for s in self.faint_scenes]

    @torch.no_grad()
    def __call__(self, adapter) -> dict[str, dict[str, float]]:
        was_training = adapter.model.training
        adapter.model.eval()
        try:
            return self._evaluate(adapter)
        finally:
            adapter.model.train(was_training)

    def _evaluate(self, adapter) -> dict[str, dict[str, float]]:
        captions = adapter.generate([self.images[i] for i in self.gen_ids], [CAPTION_PROMPT] * len(self.gen_ids),
                                    max_new_tokens=32, batch_size=100, progress=False)
        qs = self.bench.questions
        q_images = [self.images[q.image_id] for q in qs]
        answers = adapter.generate(q_images, [q.query for q in qs], max_new_tokens=3, batch_size=200, progress=False)
        margins = shapes_bench.yes_no_margins(adapter, q_images, [q.query for q in qs], batch_size=200)
        with tempfile.TemporaryDirectory() as tmp:
            rows = [{"id": i, "response": c} for i, c in zip(self.gen_ids, captions, strict=True)]
            rows += [{"id": q.id, "response": a} for q, a in zip(qs, answers, strict=True)]
            atomic_write_jsonl(Path(tmp) / "responses.jsonl", rows)
            atomic_write_jsonl(Path(tmp) / shapes_bench.MARGINS_FILE,
                               [{"id": q.id, "margin": m} for q, m in zip(qs, margins, strict=True)])
            metrics = shapes_bench.score_file("shapes", str(Path(tmp) / "responses.jsonl"), self.opts).result.metrics
        if self.faint_scenes:
            texts = adapter.generate(self.faint_images, [CAPTION_PROMPT] * len(self.faint_images), max_new_tokens=32,
                                     batch_size=100, progress=False)
            faint_hit = faint_n = clear_hit = clear_n = 0
            for scene, text in zip(self.faint_scenes, texts, strict=True):
                named = set(mentioned_shapes(text))
                for o in scene.objects:
                    if o.faint:
                        faint_n, faint_hit = faint_n + 1, faint_hit + (o.shape in named)
                    else:
                        clear_n, clear_hit = clear_n + 1, clear_hit + (o.shape in named)
            metrics["faint"] = {"faint_recall": 100 * faint_hit / max(faint_n, 1),
                                "clear_recall": 100 * clear_hit / max(clear_n, 1)}
        return metrics


# -- training runs ------------------------------------------------------------------------------------------
def train_run(ckpt: str, pairs: Path, method: str, seed: int, args, evaluator: Evaluator, extra: list[str],
              step0: dict) -> dict:
    from transformers import TrainerCallback

    from uedpo.train.config import load_config
    from uedpo.trainer import build_trainer

    eval_steps = set(range(args.eval_every, args.steps + 1, args.eval_every))
    curve = {0: step0}

    class EvalCallback(TrainerCallback):
        def on_step_end(self, _args, state, control, **kwargs):
            if state.global_step in eval_steps:
                curve[state.global_step] = evaluator(trainer.adapter)

    with tempfile.TemporaryDirectory() as out:
        cfg = load_config(None, [
            f"model={ckpt}", f"data={pairs}", f"output_dir={out}", f"loss={method}", "lora_r=8", "lora_alpha=16",
            "dtype=float32", "gradient_checkpointing=false", f"learning_rate={args.lr}", "lr_scheduler=constant",
            "warmup_ratio=0", f"max_steps={args.steps}", f"batch_size={args.batch_size}", f"seed={seed}",
            "logging_steps=5", "save_steps=100000", "report_to=none", "max_length=128", *extra,
        ])
        trainer = build_trainer(cfg)
        trainer.args.disable_tqdm = True
        trainer.add_callback(EvalCallback())
        start = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - start
    return {"curve": {str(k): v for k, v in sorted(curve.items())}, "wall_s": wall}


# -- token statistics ---------------------------------------------------------------------------------------
def token_stats(adapter, pairs: Path, noise_step: int, noise_space: str, n: int = 192, tau: float = 0.4) -> dict:
    """u, Δ and gate shares by token category on up to ``n`` pairs (demo model, one ε per pair)."""
    from PIL import Image

    from uedpo.exploration import TokenType, explore, token_types
    from uedpo.signals import token_signals

    rows = [json.loads(line) for line in pairs.read_text(encoding="utf-8").splitlines()][:n]
    stats: dict[str, dict[str, list[float]]] = {}
    gen = torch.Generator().manual_seed(0)
    for start in range(0, len(rows), 64):
        part = rows[start:start + 64]
        images = [Image.open(pairs.parent / r["image"]).convert("RGB") for r in part] * 2
        texts = [r["chosen"] for r in part] + [r["rejected"] for r in part]
        out = adapter.forward_batch(images, [CAPTION_PROMPT] * len(texts), texts, noise_step=noise_step,
                                    noise_space=noise_space, generator=gen, add_eos=True, pair_shared=True)
        sig = token_signals(out.clear_logits, out.blurred_logits, out.labels, out.mask)
        k = len(part)
        types_w = token_types(sig.u[:k], sig.delta[:k], out.mask[:k], preferred=True, tau=tau)
        gate_l = explore(sig.u[k:], sig.delta[k:], out.mask[k:], preferred=False, alpha=0.3, tau=tau).gate
        for row_i, toks in enumerate(out.token_strings):
            chosen = row_i < k
            pair = part[row_i % k]
            for t, tok in enumerate(toks):
                word = tok.strip()
                if word in SHAPES:
                    if chosen:
                        cat = "chosen: faint object" if word in pair["faint"] else "chosen: clear object"
                    else:
                        cat = "rejected: true object" if word in pair["drawn"] else "rejected: hallucinated object"
                elif word in COLOURS:
                    cat = ("chosen" if chosen else "rejected") + ": colour"
                elif word in FUNCTION_WORDS:
                    cat = ("chosen" if chosen else "rejected") + ": function word"
                else:
                    continue
                bucket = stats.setdefault(cat, {"u": [], "delta": [], "flag": [], "type_i": []})
                u, d = float(sig.u[row_i, t]), float(sig.delta[row_i, t])
                bucket["u"].append(u)
                bucket["delta"].append(d)
                if chosen:
                    code = int(types_w[row_i, t])
                    bucket["flag"].append(code in (TokenType.TYPE_I, TokenType.TYPE_II))
                    bucket["type_i"].append(code == TokenType.TYPE_I)
                else:
                    bucket["flag"].append(bool(gate_l[row_i - k, t]))
    return {cat: {"n": len(b["u"]), "mean_u": statistics.fmean(b["u"]), "p_u_pos": statistics.fmean(x > 0 for x in b["u"]),
                  "mean_delta": statistics.fmean(b["delta"]), "gated": statistics.fmean(b["flag"]),
                  "type_i": statistics.fmean(b["type_i"]) if b["type_i"] else None}
            for cat, b in sorted(stats.items())}


# -- summaries and figures ------------------------------------------------------------------------------------
def summarise(runs: list[dict]) -> dict[str, dict[str, tuple[float, float]]]:
    """step -> "section/metric" -> (mean, std) over the runs."""
    steps = runs[0]["curve"].keys()
    out = {}
    for step in steps:
        out[step] = {}
        for section, metric in CURVE_METRICS:
            values = [r["curve"][step].get(section, {}).get(metric) for r in runs]
            values = [v for v in values if v is not None]
            if values:
                out[step][f"{section}/{metric}"] = (statistics.fmean(values),
                                                    statistics.pstdev(values) if len(values) > 1 else 0.0)
    return out


def curve_table(name: str, summaries: dict[str, dict]) -> str:
    keys = [f"{s}/{m}" for s, m in CURVE_METRICS if any(f"{s}/{m}" in v for v in next(iter(summaries.values())).values())]
    lines = [f"**{name}** (mean ± std over seeds)\n", "| method | step | " + " | ".join(keys) + " |",
             "|---|---|" + "---|" * len(keys)]
    for method, summary in summaries.items():
        for step, values in summary.items():
            cells = [f"{values[k][0]:.1f} ± {values[k][1]:.1f}" if k in values else "–" for k in keys]
            lines.append(f"| {method} | {step} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def stats_table(name: str, stats: dict) -> str:
    lines = [f"**{name}**\n", "| token category | n | mean u | P(u > 0) | mean Δ | gated | Type-I |", "|---|---|---|---|---|---|---|"]
    for cat, s in stats.items():
        type_i = f"{s['type_i']:.2f}" if s["type_i"] is not None else "–"
        lines.append(f"| {cat} | {s['n']} | {s['mean_u']:.2f} | {s['p_u_pos']:.2f} | {s['mean_delta']:.2f} | "
                     f"{s['gated']:.2f} | {type_i} |")
    return "\n".join(lines) + "\n"


def figure(title: str, summaries: dict[str, dict], path: Path) -> None:
    """Curves with ±std bands, written as PNG through the system Chromium (Playwright), else as HTML."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    panels = [("generative/CHAIR", "CHAIR ↓"), ("generative/Hal", "Hal ↓"), ("generative/Cover", "Cover ↑"),
              ("discriminative/F1", "F1 (string) ↑"), ("shapes/margin_F1", "F1 (margin) ↑"),
              ("shapes/target_rate", "target rate ↓")]
    if any("faint/faint_recall" in v for s in summaries.values() for v in s.values()):
        panels[-1] = ("faint/faint_recall", "faint-object recall ↑")
    fig = make_subplots(rows=2, cols=3, subplot_titles=[p[1] for p in panels])
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    for m_i, (method, summary) in enumerate(summaries.items()):
        steps = [int(s) for s in summary]
        for p_i, (key, _) in enumerate(panels):
            mean = [summary[s].get(key, (float("nan"), 0))[0] for s in summary]
            std = [summary[s].get(key, (0, 0))[1] for s in summary]
            row, col = p_i // 3 + 1, p_i % 3 + 1
            colour = colours[m_i % len(colours)]
            fig.add_trace(go.Scatter(x=steps + steps[::-1], y=[a + b for a, b in zip(mean, std, strict=True)]
                                     + [a - b for a, b in zip(mean, std, strict=True)][::-1], fill="toself",
                                     fillcolor=colour, opacity=0.15, line={"width": 0}, showlegend=False,
                                     hoverinfo="skip"), row=row, col=col)
            fig.add_trace(go.Scatter(x=steps, y=mean, mode="lines+markers", name=method, line={"color": colour},
                                     showlegend=p_i == 0), row=row, col=col)
    fig.update_layout(title=title, width=1100, height=620, template="plotly_white", margin={"t": 80})
    fig.update_xaxes(title_text="DPO step")
    html = path.with_suffix(".html")
    fig.write_html(html, include_plotlyjs=True, full_html=True)
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1120, "height": 640})
            page.goto(html.as_uri())
            page.wait_for_selector(".main-svg")
            page.screenshot(path=str(path), full_page=False)
            browser.close()
        html.unlink()
    except Exception as err:  # no browser: keep the self-contained HTML
        print(f"figure {path}: PNG export failed ({type(err).__name__}: {err}); kept {html}")


# -- main -------------------------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", default="shapes-demo")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--fig-dir", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sweep-seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--eval-every", type=int, default=15)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--n-images", type=int, default=600, help="images sampled per regime for pairs")
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    from uedpo.models import load_adapter
    from uedpo.models.loading import resolve_checkpoint

    t_start = time.perf_counter()
    ckpt = resolve_checkpoint(args.ckpt)[0]
    args.out.mkdir(parents=True, exist_ok=True)
    args.fig_dir.mkdir(parents=True, exist_ok=True)
    demo = load_adapter(ckpt, dtype="float32", device="cpu")
    bench_root = args.out / "bench"
    results: dict = {"args": {k: str(v) for k, v in vars(args).items()}, "regimes": {}, "token_stats": {}}
    regimes = {"cooccurrence": (EVAL_CONFIG, False), "blindspot": (FAINT_CONFIG, True)}
    methods = {"DPO": ("dpo", []), "UE-DPO": ("ue_dpo", [])}
    sweep = {"UE-DPO k=800": ("ue_dpo", ["noise_step=800"]), "UE-DPO pixel01": ("ue_dpo", ["noise_space=pixel01"])}
    tables = []
    for regime, (config, omissions) in regimes.items():
        t0 = time.perf_counter()
        pairs = make_pairs(demo, args.out / f"pairs-{regime}", config, seed=100, n_images=args.n_images,
                           omissions=omissions)
        n_pairs = sum(1 for _ in pairs.open(encoding="utf-8"))
        print(f"{regime}: {n_pairs} pairs in {time.perf_counter() - t0:.1f} s", flush=True)
        evaluator = Evaluator(bench_root, faint=omissions)
        step0 = evaluator(demo)
        runs: dict[str, list[dict]] = {}
        plan = [(name, spec, seed) for name, spec in methods.items() for seed in args.seeds]
        if regime == "blindspot":
            plan += [(name, spec, seed) for name, spec in sweep.items() for seed in args.sweep_seeds]
        for name, (loss, extra), seed in plan:
            run = train_run(ckpt, pairs, loss, seed, args, evaluator, extra, step0)
            runs.setdefault(name, []).append(run)
            last = run["curve"][str(args.steps)]
            print(f"  {regime} {name} seed {seed}: {run['wall_s']:.1f} s, CHAIR {last['generative']['CHAIR']:.1f}, "
                  f"Cover {last['generative']['Cover']:.1f}, target {last['shapes'].get('target_rate', float('nan')):.1f}"
                  + (f", faint {last['faint']['faint_recall']:.1f}" if "faint" in last else ""), flush=True)
        summaries = {name: summarise(r) for name, r in runs.items()}
        results["regimes"][regime] = {"n_pairs": n_pairs, "runs": runs, "summary": summaries}
        tables.append(curve_table(f"{regime} ({n_pairs} pairs)", summaries))
        figure(f"ShapesWorld, {regime}: DPO vs UE-DPO (mean ± std over seeds)", summaries,
               args.fig_dir / f"shapes-{regime}.png")
        for k, space in ((500, "normalized"), (800, "normalized"), (500, "pixel01")):
            key = f"{regime} k={k} {space}"
            results["token_stats"][key] = token_stats(demo, pairs, k, space)
            tables.append(stats_table(key, results["token_stats"][key]))
    results["wall_s"] = time.perf_counter() - t_start
    atomic_write_json(args.out / "results.json", results)
    atomic_write_text(args.out / "tables.md", "\n".join(tables) + f"\nTotal wall time: {results['wall_s']:.0f} s\n")
    print("\n".join(tables))
    print(f"total wall time {results['wall_s']:.0f} s; results in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
