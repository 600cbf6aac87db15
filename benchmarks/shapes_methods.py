"""Seven preference methods on ShapesWorld from the demo checkpoint: DPO, UE-DPO and its two branch ablations,
TPO, V-DPO and mDPO, plus a τ and an α sweep of UE-DPO and a uniform-λ control (docs/shapesworld.md,
"Experiment: seven preference methods").

Regimes (pairs self-sampled from the demo model: 4 captions at T = 1 + greedy per image; chosen = what the
image shows, rejected = the sample with the most errors):

1. ``cooccurrence``: every object clearly visible; errors = absent objects named (mostly the co-occurring
   target).
2. ``blindspot``: 40 % of objects faint and small; errors also count drawn objects left out.
3. ``novel``: one class (``diamond``) is drawn as a thin outline, an appearance the demo never saw in SFT
   (``benchmarks_data.shapesworld.variants``), in half the scenes; the demo names 23 % of such diamonds (and
   never a diamond that is absent), so the word is not grounded in what the image shows; errors as in
   ``blindspot``.

For every seed all methods get the same LoRA init and the same batches (the trainer seeds both from ``seed``;
this script checks it: a hash of the initial LoRA weights and of every step's sample ids is stored per run);
only ``loss`` and its options differ. Evaluation every ``--eval-every`` steps and at the end: the 200-image
ShapesWorld benchmark (AMBER captions + yes/no, scored by ``uedpo-eval``'s shapes bench) and, in the
blind-spot and novel regimes, 200 held-out scenes of the regime (recall of the hard objects). Each run is
cached as ``<out>/runs/<regime>/<method>/seed<N>.json``, so an interrupted experiment resumes where it
stopped, and ``--report-only`` rebuilds the tables and figures from the cache.

The token statistics are an offline pass over each regime's pairs with the demo model (= the policy and the
reference at step 0), each method's counterfactual drawn exactly as its training step 0 draws it (seed 0):
UE-DPO's λ_w / λ_l (uedpo.exploration), TPO's weights σ(s) + 0.5 / 1.5 − σ(s) (uedpo.baselines.tpo_score),
V-DPO's image contribution log π(a|v) − log π(a|v_null) and mDPO's conditional term log π(a|v) − log π(a|crop)
(uedpo.views), per token category.

The experiment in docs/shapesworld.md, exactly this command (2 cores shared with other jobs)::

    python benchmarks/shapes_methods.py --out runs/shapes-methods

Defaults: regimes cooccurrence, blindspot and novel. The seven methods get seeds 0-4 in ``novel`` and 0-2
elsewhere. DPO, UE-DPO and the uniform-λ control get seeds 5-9 more in ``novel``, and the control seeds
0-4 too. The τ/α sweep runs in ``novel`` with seeds 0-2. Every run is 60 steps of 16 pairs at a constant lr
(2e-4; 5e-4 in ``novel``), evaluated every 20 steps. A timing pass follows.

Total: 112 runs, whose wall times (evaluations included) sum to 8,218 s. The main invocation took 6,711 s
(1 h 52 min). A second invocation of the same command, made after the control and the extra seeds were
added, ran the last 20 runs in 1,826 s alongside it. The machine's load was 5-7 on 2 cores.

Writes ``<out>/results.json``, ``<out>/tables.md`` and PNG figures ``docs/img/shapes-methods-*.png``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import json
import math
import os
import re
import statistics
import sys
import tempfile
import time
from argparse import Namespace
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Threads that sleep instead of spinning: with another busy process on the cores, spinning OpenMP threads
# make every step several times slower (measured on the 2-core machine).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks_data.shapesworld import (  # noqa: E402
    BIAS_PAIRS,
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
from benchmarks_data.shapesworld import bench as shapes_bench  # noqa: E402
from benchmarks_data.shapesworld.variants import NOVEL_CLASS, render_outlined  # noqa: E402
from uedpo.io import atomic_write_json, atomic_write_jsonl, atomic_write_text  # noqa: E402

FAINT_CONFIG = SceneConfig(bias_p=None, p_hidden=0.0, p_faint=0.4, faint_alpha=(0.3, 0.5), faint_size=(8, 11))
FUNCTION_WORDS = {"a", ",", "and", ".", "</s>"}
BIAS_TARGET = dict(BIAS_PAIRS)  # trigger -> target


# -- regimes ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Regime:
    """How a regime's scenes are drawn and rendered, which objects are "hard", and what counts as an error."""

    name: str
    config: SceneConfig
    omissions: bool  # a sample that leaves out a drawn object also counts as wrong
    render: Callable = render
    hard: Callable | None = None  # SceneObject -> bool; None: no held-out set
    include_hard: tuple[str, float] | None = None  # (class, p): that class is drawn in a share p of the scenes
    primary: str = "shapes/target_rate"  # the metric of the significance statements
    primary_better: str = "lower"
    lr: float = 2e-4  # constant LoRA learning rate of every method in this regime


def _novel_hard(obj) -> bool:
    return obj.shape == NOVEL_CLASS


def sample_regime_scene(rng: np.random.Generator, regime: Regime):
    """One scene of ``regime``: its config, with the ``include_hard`` class forced into a share of scenes
    and kept out of the others."""
    if regime.include_hard is None:
        return sample_scene(rng, regime.config)
    cls, p = regime.include_hard
    if rng.random() < p:
        return sample_scene(rng, regime.config, include=(cls,))
    return sample_scene(rng, regime.config, exclude=(cls,))


NOVEL_CONFIG = SceneConfig(bias_p=None, p_hidden=0.0)
REGIMES = {
    "cooccurrence": Regime("cooccurrence", EVAL_CONFIG, omissions=False),
    "blindspot": Regime("blindspot", FAINT_CONFIG, omissions=True, hard=lambda o: o.faint,
                        primary="heldout/hard_recall", primary_better="higher"),
    "novel": Regime("novel", NOVEL_CONFIG, omissions=True, render=render_outlined, hard=_novel_hard,
                    include_hard=(NOVEL_CLASS, 0.5), primary="heldout/hard_recall", primary_better="higher",
                    lr=5e-4),
}

# -- methods ------------------------------------------------------------------------------------------------
METHODS: dict[str, tuple[str, list[str]]] = {
    "DPO": ("dpo", []),
    "UE-DPO": ("ue_dpo", []),
    "UE-DPO w/o pref.": ("ue_dpo", ["branches=dispreferred"]),
    "UE-DPO w/o dispref.": ("ue_dpo", ["branches=preferred"]),
    "TPO": ("tpo", []),
    "V-DPO": ("vdpo", []),
    "mDPO": ("mdpo", []),
}
# τ = 1 is outside the config's (0, 1): τ = 0.999 gates every token but the one at the extreme of Δ in each
# response (the preferred gate is Δ < q_τ, strict; the dispreferred one Δ ≥ q_{1−τ}), i.e. "no Δ gate".
SWEEP: dict[str, tuple[str, list[str]]] = {
    "UE-DPO τ=0.2": ("ue_dpo", ["tau=0.2"]),
    "UE-DPO τ=0.6": ("ue_dpo", ["tau=0.6"]),
    "UE-DPO τ=0.999": ("ue_dpo", ["tau=0.999"]),
    "UE-DPO α=0.15": ("ue_dpo", ["alpha=0.15"]),
    "UE-DPO α=0.5": ("ue_dpo", ["alpha=0.5"]),
}
# Control: UE-DPO's average asymmetry without its targeting. τ = 0.999 gates every token but one per response,
# and a floor std_eps = 1e9 above any spread of u makes z = 0 (σ = 0.5), so λ_w = 1 + α/2 = 1.06 and
# λ_l = 1 − α/2 = 0.94 on (nearly) every token: the mean λ UE-DPO puts on chosen / rejected tokens at step 0
# (docs/shapesworld.md, token statistics), spread uniformly. Run in the main regime with the main seeds.
CONTROLS: dict[str, tuple[str, list[str]]] = {
    "uniform λ 1.06/0.94": ("ue_dpo", ["tau=0.999", "alpha=0.12", "std_eps=1e9"]),
}
ALL_METHODS = {**METHODS, **SWEEP, **CONTROLS}
CURVE_METRICS = ("generative/CHAIR", "generative/Hal", "generative/Cover", "discriminative/F1", "shapes/margin_F1",
                 "shapes/target_rate", "heldout/hard_recall", "heldout/hallucinated_per_image", "heldout/hard_class_fp",
                 "heldout/hard_j")


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9.=]+", "-", name.lower().replace("τ", "tau").replace("α", "alpha")).strip("-")


# -- pairs ------------------------------------------------------------------------------------------------
def make_pairs(adapter, out_dir: Path, regime: Regime, seed: int, n_images: int) -> Path:
    """Self-sampled pairs of ``regime`` (cached: an existing ``pairs.jsonl`` is reused)."""
    from benchmarks_data.shapesworld.model_pairs import caption_sampler

    if (out_dir / "pairs.jsonl").is_file():
        return out_dir / "pairs.jsonl"
    rng = np.random.default_rng(seed)
    sampler = caption_sampler(adapter, n_samples=4, seed=seed)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for start in range(0, n_images, 100):
        scenes = [sample_regime_scene(rng, regime) for _ in range(min(100, n_images - start))]
        pixels = []
        for i, scene in enumerate(scenes):
            data = encode_jpeg(regime.render(scene))
            (out_dir / "images" / f"p{start + i:05d}.jpg").write_bytes(data)
            pixels.append(decode_jpeg(data))
        for i, (scene, samples) in enumerate(zip(scenes, sampler(pixels), strict=True)):
            chosen = drawn_caption(scene)
            drawn = set(scene.drawn)

            def errors(text: str, scene=scene, drawn=drawn) -> int:
                missed = len(drawn - set(mentioned_shapes(text))) if regime.omissions else 0
                return len(hallucinated_objects(text, scene)) + missed

            worst = max(((errors(s), s) for s in samples), key=lambda e: e[0])
            if chosen is None or worst[0] == 0:
                continue
            hard = sorted(o.shape for o in scene.objects if regime.hard and regime.hard(o))
            rows.append({"id": f"p{start + i:05d}", "image": f"images/p{start + i:05d}.jpg", "prompt": CAPTION_PROMPT,
                         "chosen": chosen, "rejected": worst[1], "drawn": sorted(drawn), "hard": hard})
    atomic_write_jsonl(out_dir / "pairs.jsonl", rows)
    return out_dir / "pairs.jsonl"


# -- evaluation ---------------------------------------------------------------------------------------------
class Evaluator:
    """The 200-image benchmark (AMBER + shapes metrics) and, for a regime with hard objects, 200 held-out
    scenes of that regime (seed 12345): recall of hard and clear objects, absent objects named per image."""

    def __init__(self, bench_root: Path, regime: Regime) -> None:
        from PIL import Image

        self.bench = shapes_bench.ensure_benchmark(bench_root)
        self.opts = Namespace(shapes_dir=str(bench_root), quiet=True)
        self.gen_ids = list(self.bench.generative_ids)
        self.images = {i: Image.open(self.bench.images[i]).convert("RGB") for i in self.gen_ids}
        self.regime = regime
        self.scenes, self.scene_images = [], []
        if regime.hard is not None:
            rng = np.random.default_rng(12345)
            self.scenes = [sample_regime_scene(rng, regime) for _ in range(200)]
            self.scene_images = [Image.fromarray(decode_jpeg(encode_jpeg(regime.render(s)))) for s in self.scenes]

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
        if self.scenes:
            texts = adapter.generate(self.scene_images, [CAPTION_PROMPT] * len(self.scene_images), max_new_tokens=32,
                                     batch_size=100, progress=False)
            hard_hit = hard_n = clear_hit = clear_n = absent = 0
            cls_fp = cls_absent = 0
            cls = self.regime.include_hard[0] if self.regime.include_hard else None
            for scene, text in zip(self.scenes, texts, strict=True):
                named = set(mentioned_shapes(text))
                absent += len(named - set(scene.drawn))
                if cls is not None and cls not in scene.drawn:
                    cls_absent, cls_fp = cls_absent + 1, cls_fp + (cls in named)
                for o in scene.objects:
                    if self.regime.hard(o):
                        hard_n, hard_hit = hard_n + 1, hard_hit + (o.shape in named)
                    else:
                        clear_n, clear_hit = clear_n + 1, clear_hit + (o.shape in named)
            metrics["heldout"] = {"hard_recall": 100 * hard_hit / max(hard_n, 1),
                                  "clear_recall": 100 * clear_hit / max(clear_n, 1),
                                  "hallucinated_per_image": absent / len(self.scenes)}
            if cls is not None:
                metrics["heldout"]["hard_class_fp"] = 100 * cls_fp / max(cls_absent, 1)
        return metrics


def metric(curve_point: dict, key: str) -> float | None:
    if key == "heldout/hard_j":  # Youden's J of naming the hard class: recall − false-positive rate
        recall, fp = metric(curve_point, "heldout/hard_recall"), metric(curve_point, "heldout/hard_class_fp")
        return None if recall is None or fp is None else recall - fp
    section, name = key.split("/")
    value = curve_point.get(section, {}).get(name)
    return None if value is None else float(value)


# -- training runs ------------------------------------------------------------------------------------------
def lora_hash(model) -> str:
    digest = hashlib.sha256()
    for name, p in sorted(model.named_parameters()):
        if "lora_" in name:
            digest.update(name.encode())
            digest.update(p.detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def train_run(ckpt: str, pairs: Path, loss: str, extra: list[str], seed: int, args, evaluator: Evaluator | None,
              step0: dict, lr: float, steps: int | None = None) -> dict:
    from transformers import TrainerCallback

    from uedpo.train.config import load_config
    from uedpo.trainer import build_trainer

    steps = steps or args.steps
    eval_steps = set(range(args.eval_every, steps + 1, args.eval_every)) | {steps} if evaluator else set()
    curve = {0: step0}
    eval_time = [0.0]

    class EvalCallback(TrainerCallback):
        def on_step_end(self, _args, state, control, **kwargs):
            if state.global_step in eval_steps:
                t0 = time.perf_counter()
                curve[state.global_step] = evaluator(trainer.adapter)
                eval_time[0] += time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as out:
        cfg = load_config(None, [
            f"model={ckpt}", f"data={pairs}", f"output_dir={out}", f"loss={loss}", "lora_r=8", "lora_alpha=16",
            "dtype=float32", "gradient_checkpointing=false", f"learning_rate={lr}", "lr_scheduler=constant",
            "warmup_ratio=0", f"max_steps={steps}", f"batch_size={args.batch_size}", f"seed={seed}",
            "logging_steps=5", "save_steps=100000", "report_to=none", "max_length=128", *extra,
        ])
        trainer = build_trainer(cfg)
        trainer.args.disable_tqdm = True
        trainer.add_callback(EvalCallback())
        init_hash = lora_hash(trainer.model)
        batches: list[str] = []
        compute_loss = trainer.compute_loss

        def recording_compute_loss(model, inputs, *a, **kw):  # the sample ids of every step, to check pairing
            if model.training:
                batches.append(",".join(inputs["sample_ids"]))
            return compute_loss(model, inputs, *a, **kw)

        trainer.compute_loss = recording_compute_loss
        start = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - start
        with open(Path(out) / "metrics.csv", encoding="utf-8") as f:
            log_rows = [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]
    return {"curve": {str(k): v for k, v in sorted(curve.items())}, "wall_s": wall, "eval_s": eval_time[0],
            "train_s": wall - eval_time[0], "lora_init": init_hash,
            "batches": hashlib.sha256("|".join(batches).encode()).hexdigest()[:16], "log": log_rows}


# -- token statistics ---------------------------------------------------------------------------------------
def token_categories(tokens: list[str], pair: dict, chosen: bool) -> list[str | None]:
    """One category per response token (None: not counted)."""
    words = [t.strip() for t in tokens]
    drawn, hard = set(pair["drawn"]), set(pair["hard"])
    shapes_here = {w for w in words if w in SHAPES}
    targets = {BIAS_TARGET[t] for t in drawn if t in BIAS_TARGET}
    out: list[str | None] = []
    for i, w in enumerate(words):
        nxt = next((x for x in words[i + 1:] if x in SHAPES), None)
        if w in SHAPES or w in COLOURS:
            obj = w if w in SHAPES else nxt
            kind = "object" if w in SHAPES else "colour"
            if chosen:
                out.append(f"chosen: {'hard ' if obj in hard else ''}{kind}")
            elif obj in drawn:
                out.append(f"rejected: true {kind}")
            elif obj in targets and kind == "object":
                out.append("rejected: hallucinated co-occurring target")
            else:
                out.append(f"rejected: hallucinated {kind}")
        elif w in FUNCTION_WORDS:
            out.append(("chosen" if chosen else "rejected") + ": function word")
        else:
            out.append(None)
    del shapes_here
    return out


def first_divergence(a: list[str], b: list[str]) -> int:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


@torch.no_grad()
def token_stats(adapter, pairs: Path, n: int, seed: int = 0) -> dict:
    """Per token category and method: what each method's step-0 weighting does to the demo model's tokens.

    UE-DPO (τ 0.4, α 0.3; and the sweep's τ / α): gate share, Type-I share (gated, u > μ) and mean λ; TPO: mean
    weight and share with weight > 1; V-DPO: mean log π(a|v) − log π(a|v_null); mDPO (chosen only): mean
    log π(a|v) − log π(a|crop). Views as the trainer draws them at step 0 for ``seed``.
    """
    from PIL import Image

    from uedpo.baselines import tpo_score
    from uedpo.exploration import explore
    from uedpo.signals import selective_log_softmax, token_signals
    from uedpo.views import MDPO_CROP_SCALE, ViewSpec

    rows = [json.loads(line) for line in pairs.read_text(encoding="utf-8").splitlines()][:n]
    sums: dict[str, dict[str, list[float]]] = {}
    boost_mass: dict[str, dict[str, float]] = {}
    noise = ViewSpec(kind="noise")
    for start in range(0, len(rows), 64):
        part = rows[start:start + 64]
        k, ids = len(part), [r["id"] for r in part]
        images = [Image.open(pairs.parent / r["image"]).convert("RGB") for r in part] * 2
        texts = [r["chosen"] for r in part] + [r["rejected"] for r in part]
        prompts = [CAPTION_PROMPT] * len(texts)
        out = adapter.forward_batch(images, prompts, texts, view=noise, sample_ids=ids, seed=seed, step=0,
                                    add_eos=True)
        sig = token_signals(out.clear_logits, out.blurred_logits, out.labels, out.mask)
        targets = out.labels.masked_fill(~out.mask, 0)
        lp = selective_log_softmax(out.clear_logits, targets)
        score = tpo_score(out.clear_logits, out.blurred_logits, out.labels, out.mask)
        null = adapter.forward_batch(images, prompts, texts, view=ViewSpec(kind="null_zeros"), sample_ids=ids,
                                     seed=seed, step=0, add_eos=True)
        lp_null = selective_log_softmax(null.blurred_logits, targets)
        crop = adapter.forward_batch(images[:k], prompts[:k], texts[:k], sample_ids=ids, seed=seed, step=0,
                                     add_eos=True, view=ViewSpec(kind="crop", crop_scale=MDPO_CROP_SCALE, salt="policy"))
        crop_targets = crop.labels.masked_fill(~crop.mask, 0)  # chosen rows alone: their own padding length
        crop_cond = (selective_log_softmax(crop.clear_logits, crop_targets)
                     - selective_log_softmax(crop.blurred_logits, crop_targets))
        variants = {"": (0.4, 0.3), " τ=0.2": (0.2, 0.3), " τ=0.6": (0.6, 0.3), " τ=0.999": (0.999, 0.3),
                    " α=0.5": (0.4, 0.5)}
        lam = {}
        for tag, (tau, alpha) in variants.items():
            ew = explore(sig.u[:k], sig.delta[:k], out.mask[:k], preferred=True, alpha=alpha, tau=tau)
            el = explore(sig.u[k:], sig.delta[k:], out.mask[k:], preferred=False, alpha=alpha, tau=tau)
            type_i = torch.cat([ew.gate & (sig.u[:k] > ew.mu[:, None]), torch.zeros_like(el.gate)])
            lam[tag] = (torch.cat([ew.lam, el.lam]), torch.cat([ew.gate, el.gate]), type_i)
        for r in range(2 * k):
            chosen, pair = r < k, part[r % k]
            toks = out.token_strings[r]
            other = out.token_strings[(r + k) % (2 * k)]
            cats = token_categories(toks, pair, chosen)
            div = first_divergence([t.strip() for t in toks], [t.strip() for t in other])
            for t, cat in enumerate(cats):
                if cat is None:
                    continue
                names = [cat] + ([("chosen" if chosen else "rejected") + ": first divergent token"] if t == div else [])
                for name in names:
                    b = sums.setdefault(name, {})
                    vals = {"u": float(sig.u[r, t]), "delta": float(sig.delta[r, t]),
                            "tpo_w": float(torch.sigmoid(score[r, t] if chosen else -score[r, t]) + 0.5),
                            "tpo_up": float((score[r, t] > 0) if chosen else (score[r, t] < 0)),
                            "vdpo_img": float(lp[r, t] - lp_null[r, t])}
                    if chosen:
                        vals["mdpo_cond"] = float(crop_cond[r, t])
                    for tag, (lam_all, gate_all, type_i_all) in lam.items():
                        vals[f"lam{tag}"] = float(lam_all[r, t])
                        vals[f"gated{tag}"] = float(gate_all[r, t])
                        if chosen:
                            vals[f"type_i{tag}"] = float(type_i_all[r, t])
                    for key, v in vals.items():
                        b.setdefault(key, []).append(v)
                    if name == cat:  # shares of the total |λ − 1| / |w − 1| per side, by category
                        side = boost_mass.setdefault("chosen" if chosen else "rejected", {})
                        side.setdefault(f"ue|{cat}", 0.0)
                        side[f"ue|{cat}"] += abs(float(lam[""][0][r, t]) - 1)
                        side.setdefault(f"tpo|{cat}", 0.0)
                        side[f"tpo|{cat}"] += max(vals["tpo_w"] - 1, 0.0)
    stats = {cat: {"n": len(b["u"]), **{k: statistics.fmean(v) for k, v in b.items()}}
             for cat, b in sorted(sums.items())}
    for masses in boost_mass.values():
        for method in ("ue", "tpo"):
            total = sum(v for k, v in masses.items() if k.startswith(method + "|")) or 1.0
            for key, v in masses.items():
                if key.startswith(method + "|"):
                    stats[key.split("|", 1)[1]][f"{method}_mass_share"] = v / total
    return stats


# -- statistics over seeds ------------------------------------------------------------------------------------
def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta (Numerical Recipes, betacf)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > 1e-300 else 1e-300)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > 1e-300 else 1e-300)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > 1e-300 else 1e-300
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > 1e-300 else 1e-300)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > 1e-300 else 1e-300
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-12:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_test_p(t: float, df: int) -> float:
    """Two-sided p of Student's t with ``df`` degrees of freedom."""
    if math.isinf(t):
        return 0.0
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def paired_test(a: list[float], b: list[float]) -> dict:
    """Paired over seeds: mean and std of a − b, paired t-test, exact sign-flip permutation test."""
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    n = len(diffs)
    mean = statistics.fmean(diffs)
    sd = statistics.stdev(diffs) if n > 1 else 0.0
    if n < 2:
        t, p_t = float("nan"), float("nan")
    elif sd == 0:
        t, p_t = (0.0, 1.0) if mean == 0 else (math.copysign(math.inf, mean), 0.0)
    else:
        t = mean / (sd / math.sqrt(n))
        p_t = t_test_p(t, n - 1)
    observed = abs(sum(diffs))
    flips = [abs(sum(s * d for s, d in zip(signs, diffs, strict=True)))
             for signs in itertools.product((1, -1), repeat=n)]
    p_perm = sum(f >= observed - 1e-12 for f in flips) / len(flips)
    return {"n": n, "mean_diff": mean, "sd_diff": sd, "t": t, "p_t": p_t, "p_perm": p_perm,
            "p_perm_min": 2 / 2**n, "a_better": sum(d > 0 for d in diffs), "b_better": sum(d < 0 for d in diffs)}


# -- summaries, tables and figures ----------------------------------------------------------------------------
def summarise(runs: list[dict]) -> dict[str, dict[str, tuple[float, float]]]:
    """step -> metric -> (mean, std over seeds, sample std)."""
    out = {}
    for step in runs[0]["curve"]:
        out[step] = {}
        for key in CURVE_METRICS:
            values = [metric(r["curve"][step], key) for r in runs if step in r["curve"]]
            values = [v for v in values if v is not None]
            if values:
                out[step][key] = (statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0)
    return out


def fmt(values: tuple[float, float] | None, digits: int = 1) -> str:
    return "–" if values is None else f"{values[0]:.{digits}f} ± {values[1]:.{digits}f}"


FINAL_KEYS = ("shapes/target_rate", "generative/CHAIR", "generative/Hal", "generative/Cover", "discriminative/F1",
              "shapes/margin_F1", "heldout/hard_recall", "heldout/hard_class_fp", "heldout/hard_j",
              "heldout/hallucinated_per_image")
LABELS = {"shapes/target_rate": "target rate ↓", "generative/CHAIR": "CHAIR ↓", "generative/Hal": "Hal ↓",
          "generative/Cover": "Cover ↑", "discriminative/F1": "F1 string ↑", "shapes/margin_F1": "F1 margin ↑",
          "heldout/hard_recall": "hard recall ↑", "heldout/hallucinated_per_image": "absent named / img ↓",
          "heldout/hard_class_fp": "hard class named when absent ↓", "heldout/hard_j": "recall − FP ↑"}


def final_table(regime: str, n_pairs: int, runs: dict[str, list[dict]], step: str, walls: dict) -> str:
    keys = [k for k in FINAL_KEYS if any(metric(r[0]["curve"][step], k) is not None for r in runs.values())]
    head = "| method (seeds) | " + " | ".join(LABELS[k] for k in keys) + " | train s/run | ×DPO |"
    lines = [f"#### {regime} ({n_pairs} pairs; step {step}; mean ± std over seeds)\n", head,
             "|---" * (len(keys) + 3) + "|"]
    first = next(iter(runs.values()))[0]["curve"]["0"]
    lines.append("| start (demo) | " + " | ".join(
        f"{metric(first, k):.{2 if 'per_image' in k else 1}f}" if metric(first, k) is not None else "–" for k in keys)
        + " | – | – |")
    dpo_train = walls.get("DPO")
    for name, rs in runs.items():
        summary = summarise(rs)[step]
        train = statistics.fmean(r["train_s"] for r in rs)
        rel = f"{walls[name] / dpo_train:.2f}" if dpo_train and name in walls else "–"
        lines.append(f"| {name} ({len(rs)}) | " + " | ".join(
            fmt(summary.get(k), 2 if "per_image" in k else 1) for k in keys) + f" | {train:.0f} | {rel} |")
    return "\n".join(lines) + "\n"


def significance_table(regime: Regime, runs: dict[str, list[dict]], step: str, key: str) -> tuple[str, list]:
    names = list(runs)
    lines = [f"#### {regime.name}: {LABELS[key]} at step {step}, paired over seeds (A − B)\n",
             "| A | B | seeds | mean A − B ± sd | A better / B better | t | p (t) | p (sign-flip) |",
             "|---|---|---|---|---|---|---|---|"]
    tests = []
    higher = regime.primary_better == "higher" if key == regime.primary else key in (
        "heldout/hard_recall", "heldout/hard_j", "generative/Cover")
    for a, b in itertools.combinations(names, 2):
        seeds_a = {r["seed"]: metric(r["curve"][step], key) for r in runs[a]}
        seeds_b = {r["seed"]: metric(r["curve"][step], key) for r in runs[b]}
        common = sorted(set(seeds_a) & set(seeds_b))
        if len(common) < 2:
            continue
        test = paired_test([seeds_a[s] for s in common], [seeds_b[s] for s in common])
        better_a, better_b = (test["a_better"], test["b_better"]) if higher else (test["b_better"], test["a_better"])
        tests.append({"a": a, "b": b, **test})
        lines.append(f"| {a} | {b} | {test['n']} | {test['mean_diff']:+.1f} ± {test['sd_diff']:.1f} | "
                     f"{better_a} / {better_b} | {test['t']:.2f} | {test['p_t']:.3f} | {test['p_perm']:.3f} |")
    return "\n".join(lines) + "\n", tests


def significance_matrix(title: str, tests: list[dict], names: list[str], higher: bool) -> str:
    """Compact form of :func:`significance_table`: cell (A row, B column) = mean A − B, seeds where A is better /
    worse, exact sign-flip p (two-sided); the t-test p in brackets."""
    short = {n: n.replace("UE-DPO w/o ", "w/o ") for n in names}
    lines = [f"#### {title}\n", "| A \\ B | " + " | ".join(short[n] for n in names[1:]) + " |",
             "|---" * len(names) + "|"]
    by_pair = {(t["a"], t["b"]): t for t in tests}
    for i, a in enumerate(names[:-1]):
        cells = []
        for j, b in enumerate(names[1:], start=1):
            t = by_pair.get((a, b))
            if j <= i or t is None:
                cells.append("")
                continue
            better, worse = (t["a_better"], t["b_better"]) if higher else (t["b_better"], t["a_better"])
            cells.append(f"{t['mean_diff']:+.1f} ({better}/{worse}) p {t['p_perm']:.3f} [{t['p_t']:.3f}]")
        lines.append(f"| {short[a]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def stats_table(name: str, stats: dict) -> str:
    lines = [f"#### {name}\n",
             "| token category | n | mean u | mean Δ | UE-DPO gated | Type-I | mean λ | share of Σ|λ−1| | "
             "TPO mean w | TPO w > 1 | share of Σ(w−1)+ | V-DPO lp − lp_null | mDPO lp − lp_crop |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for cat, s in stats.items():
        def g(key, digits=2, s=s):
            return f"{s[key]:.{digits}f}" if key in s else "–"
        lines.append(f"| {cat} | {s['n']} | {g('u')} | {g('delta')} | {g('gated')} | {g('type_i')} | {g('lam', 3)} | "
                     f"{g('ue_mass_share')} | {g('tpo_w', 3)} | {g('tpo_up')} | {g('tpo_mass_share')} | {g('vdpo_img')} | "
                     f"{g('mdpo_cond')} |")
    return "\n".join(lines) + "\n"


def sweep_stats_table(name: str, stats: dict) -> str:
    tags = ["", " τ=0.2", " τ=0.6", " τ=0.999", " α=0.5"]
    lines = [f"#### {name}: UE-DPO λ by variant (gated share / mean λ)\n",
             "| token category | " + " | ".join(t.strip() or "τ 0.4, α 0.3" for t in tags) + " |",
             "|---" * (len(tags) + 1) + "|"]
    for cat, s in stats.items():
        cells = [f"{s[f'gated{t}']:.2f} / {s[f'lam{t}']:.3f}" for t in tags]
        lines.append(f"| {cat} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


COLOURS_PLOT = ["#1f77b4", "#d62728", "#ff7f0e", "#bcbd22", "#2ca02c", "#9467bd", "#8c564b", "#17becf",
                "#e377c2", "#7f7f7f", "#000000", "#aec7e8"]


def figure(title: str, summaries: dict[str, dict], path: Path, panels: list[tuple[str, str]]) -> None:
    """Curves with ±std bands (plotly), screenshot to PNG by the system Chromium (Playwright), else HTML."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=3, subplot_titles=[p[1] for p in panels])
    for m_i, (method, summary) in enumerate(summaries.items()):
        steps = [int(s) for s in summary]
        colour = COLOURS_PLOT[m_i % len(COLOURS_PLOT)]
        for p_i, (key, _) in enumerate(panels):
            mean = [summary[s].get(key, (float("nan"), 0))[0] for s in summary]
            std = [summary[s].get(key, (0, 0))[1] for s in summary]
            row, col = p_i // 3 + 1, p_i % 3 + 1
            fig.add_trace(go.Scatter(x=steps + steps[::-1], y=[a + b for a, b in zip(mean, std, strict=True)]
                                     + [a - b for a, b in zip(mean, std, strict=True)][::-1], fill="toself",
                                     fillcolor=colour, opacity=0.10, line={"width": 0}, showlegend=False,
                                     hoverinfo="skip"), row=row, col=col)
            fig.add_trace(go.Scatter(x=steps, y=mean, mode="lines+markers", name=method,
                                     line={"color": colour, "width": 1.5}, marker={"size": 4},
                                     showlegend=p_i == 0), row=row, col=col)
    fig.update_layout(title=title, width=1200, height=680, template="plotly_white", margin={"t": 80},
                      legend={"font": {"size": 11}})
    fig.update_xaxes(title_text="DPO step")
    _png(fig, path, 1220, 700)


def _png(fig, path: Path, width: int, height: int) -> None:
    html = path.with_suffix(".html")
    fig.write_html(html, include_plotlyjs=True, full_html=True)
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(html.as_uri())
            page.wait_for_selector(".main-svg")
            page.screenshot(path=str(path), full_page=False)
            browser.close()
        html.unlink()
    except Exception as err:  # no browser: keep the self-contained HTML
        print(f"figure {path}: PNG export failed ({type(err).__name__}: {err}); kept {html}")


def log_figure(title: str, runs: dict[str, list[dict]], path: Path) -> None:
    """Sequence log-probs of the chosen and rejected responses during training (metrics.csv, mean ± std)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    keys = [("logps/chosen", "log π(chosen), summed over tokens"), ("logps/rejected", "log π(rejected)")]
    fig = make_subplots(rows=1, cols=2, subplot_titles=[k[1] for k in keys])
    for m_i, (method, rs) in enumerate(runs.items()):
        colour = COLOURS_PLOT[m_i % len(COLOURS_PLOT)]
        for p_i, (key, _) in enumerate(keys):
            by_step: dict[int, list[float]] = {}
            for r in rs:
                for row in r["log"]:
                    if key in row:
                        by_step.setdefault(int(row["step"]), []).append(row[key])
            steps = sorted(by_step)
            mean = [statistics.fmean(by_step[s]) for s in steps]
            std = [statistics.stdev(by_step[s]) if len(by_step[s]) > 1 else 0.0 for s in steps]
            fig.add_trace(go.Scatter(x=steps + steps[::-1], y=[a + b for a, b in zip(mean, std, strict=True)]
                                     + [a - b for a, b in zip(mean, std, strict=True)][::-1], fill="toself",
                                     fillcolor=colour, opacity=0.10, line={"width": 0}, showlegend=False,
                                     hoverinfo="skip"), row=1, col=p_i + 1)
            fig.add_trace(go.Scatter(x=steps, y=mean, mode="lines", name=f"{method} ({len(rs)})",
                                     line={"color": colour, "width": 1.5}, showlegend=p_i == 0), row=1, col=p_i + 1)
    fig.update_layout(title=title, width=1200, height=430, template="plotly_white", margin={"t": 80})
    fig.update_xaxes(title_text="DPO step (mean of 5-step logging windows)")
    _png(fig, path, 1220, 450)


def seeds_figure(title: str, runs: dict[str, list[dict]], step: str, key: str, path: Path) -> None:
    """The final ``key`` of every seed, one line per seed across the methods (paired view)."""
    import plotly.graph_objects as go

    methods = list(runs)
    seeds = sorted({r["seed"] for rs in runs.values() for r in rs})
    fig = go.Figure()
    for seed in seeds:
        ys = [next((metric(r["curve"][step], key) for r in runs[m] if r["seed"] == seed), None) for m in methods]
        fig.add_trace(go.Scatter(x=methods, y=ys, mode="lines+markers", name=f"seed {seed}", connectgaps=False,
                                 line={"width": 1}, marker={"size": 7}))
    fig.update_layout(title=title, width=1200, height=460, template="plotly_white", margin={"t": 70},
                      yaxis_title=f"{LABELS[key]} at step {step}")
    _png(fig, path, 1220, 480)


def panels_for(regime: Regime) -> list[tuple[str, str]]:
    bench = [("shapes/target_rate", "benchmark: target rate ↓"), ("generative/CHAIR", "benchmark: CHAIR ↓"),
             ("generative/Cover", "benchmark: Cover ↑"), ("shapes/margin_F1", "benchmark: yes/no F1 (margin) ↑")]
    if regime.include_hard is not None:
        return [("heldout/hard_recall", f"held-out: outlined {regime.include_hard[0]} recall ↑"),
                ("heldout/hard_class_fp", f"held-out: {regime.include_hard[0]} named when absent ↓"), *bench]
    if regime.hard is not None:
        return [("heldout/hard_recall", "held-out: faint-object recall ↑"),
                ("heldout/hallucinated_per_image", "held-out: absent objects named / image ↓"), *bench]
    return [*bench, ("generative/Hal", "benchmark: Hal ↓"), ("discriminative/F1", "benchmark: yes/no F1 (string) ↑")]


# -- main -------------------------------------------------------------------------------------------------------
def run_plan(args) -> list[tuple[str, str, int]]:
    plan = []
    for regime in args.regimes:
        seeds = args.main_seeds if regime == args.main_regime else args.seeds
        plan += [(regime, name, seed) for seed in seeds for name in args.methods]
        if regime in args.sweep_regimes:
            plan += [(regime, name, seed) for seed in args.sweep_seeds for name in SWEEP]
        if regime == args.main_regime and args.controls:
            plan += [(regime, name, seed) for seed in args.main_seeds for name in CONTROLS]
        if regime == args.main_regime:  # more seeds for the headline comparison
            plan += [(regime, name, seed) for seed in args.extra_seeds for name in args.extra_methods
                     if name in ALL_METHODS and (name not in CONTROLS or args.controls)]
    return plan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", default="shapes-demo")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--fig-dir", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=list(REGIMES))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--main-regime", default="novel", help="the regime that gets --main-seeds")
    parser.add_argument("--main-seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--sweep-regimes", nargs="*", default=["novel"])
    parser.add_argument("--sweep-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--no-controls", dest="controls", action="store_false", help="skip the uniform-λ control")
    parser.add_argument("--extra-seeds", type=int, nargs="*", default=[5, 6, 7, 8, 9],
                        help="further seeds, in the main regime, for --extra-methods")
    parser.add_argument("--extra-methods", nargs="*", default=["DPO", "UE-DPO", *CONTROLS],
                        choices=list(ALL_METHODS))
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--eval-every", type=int, default=20)
    parser.add_argument("--mid-step", type=int, default=40, help="a second step for the significance tests")
    parser.add_argument("--lr", type=float, default=None, help="override every regime's learning rate")
    parser.add_argument("--timing-steps", type=int, default=20, help="steps per run of the timing pass (0: none)")
    parser.add_argument("--timing-reps", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--n-images", type=int, default=600, help="images sampled per regime for pairs")
    parser.add_argument("--stats-pairs", type=int, default=256, help="pairs per regime for the token statistics")
    parser.add_argument("--report-only", action="store_true", help="tables and figures from the cached runs")
    parser.add_argument("--no-figures", action="store_true")
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    from uedpo.models import load_adapter
    from uedpo.models.loading import resolve_checkpoint

    t_start = time.perf_counter()
    ckpt = str(resolve_checkpoint(args.ckpt)[0])
    args.out.mkdir(parents=True, exist_ok=True)
    args.fig_dir.mkdir(parents=True, exist_ok=True)
    demo = load_adapter(ckpt, dtype="float32", device="cpu")
    plan = run_plan(args)
    results: dict = {"args": {k: str(v) for k, v in vars(args).items()}, "regimes": {}}
    tables = []
    run_wall = 0.0
    for regime_name in args.regimes:
        regime = REGIMES[regime_name]
        pairs = make_pairs(demo, args.out / f"pairs-{regime_name}", regime, seed=100, n_images=args.n_images)
        n_pairs = sum(1 for _ in pairs.open(encoding="utf-8"))
        evaluator = step0 = None
        runs: dict[str, list[dict]] = {}
        for _, name, seed in [p for p in plan if p[0] == regime_name]:
            path = args.out / "runs" / regime_name / slug(name) / f"seed{seed}.json"
            if path.is_file():
                run = json.loads(path.read_text(encoding="utf-8"))
            elif args.report_only:
                continue
            else:
                if evaluator is None:
                    evaluator = Evaluator(args.out / "bench", regime)
                    step0_path = args.out / "runs" / regime_name / "step0.json"
                    if step0_path.is_file():
                        step0 = json.loads(step0_path.read_text(encoding="utf-8"))
                    else:
                        step0 = evaluator(demo)
                        step0_path.parent.mkdir(parents=True, exist_ok=True)
                        atomic_write_json(step0_path, step0)
                loss, extra = ALL_METHODS[name]
                run = {"regime": regime_name, "method": name, "seed": seed, "lr": args.lr or regime.lr,
                       **train_run(ckpt, pairs, loss, extra, seed, args, evaluator, step0, args.lr or regime.lr)}
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_json(path, run)
                last = run["curve"][str(args.steps)]
                extra_txt = "".join(f", {LABELS[k]} {metric(last, k):.1f}" for k in (regime.primary, "generative/CHAIR")
                                    if metric(last, k) is not None)
                print(f"{regime_name} | {name} | seed {seed}: {run['wall_s']:.1f} s (train {run['train_s']:.1f} s)"
                      f"{extra_txt}", flush=True)
            run_wall += run["wall_s"]
            runs.setdefault(name, []).append(run)
        if not runs:
            continue
        # pairing check: per seed, every method saw the same LoRA init and batches
        pairing = {}
        for seed in sorted({r["seed"] for rs in runs.values() for r in rs}):
            inits = {r["lora_init"] for rs in runs.values() for r in rs if r["seed"] == seed}
            batches = {r["batches"] for rs in runs.values() for r in rs if r["seed"] == seed}
            pairing[seed] = {"same_init": len(inits) == 1, "same_batches": len(batches) == 1}
        step = str(args.steps)
        main_runs = {m: runs[m] for m in METHODS if m in runs}
        walls = {m: statistics.fmean(r["train_s"] for r in rs) for m, rs in runs.items()}
        summaries = {m: summarise(rs) for m, rs in runs.items()}
        entry = {"n_pairs": n_pairs, "pairing": pairing, "summary": summaries, "train_s": walls,
                 "runs": {m: [{k: v for k, v in r.items() if k != "log"} for r in rs] for m, rs in runs.items()},
                 "train_logs": {m: training_log_summary(rs) for m, rs in runs.items()}}
        tables.append(final_table(regime_name, n_pairs, main_runs, step, walls))
        sweep_runs = {m: rs for m, rs in runs.items() if m in SWEEP or m in CONTROLS}
        if sweep_runs:
            tables.append(final_table(regime_name + " sweep", n_pairs,
                                      {"UE-DPO": runs["UE-DPO"], **sweep_runs, "DPO": runs["DPO"]}, step, walls))
        sig_keys = [regime.primary] + [k for k in ("heldout/hard_class_fp", "heldout/hard_j", "shapes/target_rate",
                                                   "generative/CHAIR", "generative/Cover")
                                       if k != regime.primary and any(metric(rs[0]["curve"][step], k) is not None
                                                                      for rs in main_runs.values())]
        entry["significance"] = {}
        for sig_step in dict.fromkeys([step, str(args.mid_step)]):
            if any(sig_step not in r["curve"] for rs in main_runs.values() for r in rs):
                continue
            for key in sig_keys if sig_step == step else [regime.primary]:
                table, tests = significance_table(regime, main_runs, sig_step, key)
                entry["significance"][f"{key}@{sig_step}"] = tests
                tables.append(table)
                higher = key in ("heldout/hard_recall", "heldout/hard_j", "generative/Cover")
                tables.append(significance_matrix(f"{regime_name}: {LABELS[key]} at step {sig_step} (matrix)",
                                                  tests, list(main_runs), higher))
        if sweep_runs:
            entry["significance_sweep"] = {}
            for key in [regime.primary] + (["heldout/hard_j"] if regime.include_hard else []):
                table, tests = significance_table(regime, {"DPO": runs["DPO"], "UE-DPO": runs["UE-DPO"],
                                                           **sweep_runs}, step, key)
                entry["significance_sweep"][key] = tests
                tables.append(table)
                tables.append(significance_matrix(f"{regime_name} sweep: {LABELS[key]} at step {step} (matrix)",
                                                  tests, ["DPO", "UE-DPO", *sweep_runs], key != "shapes/target_rate"))
        stats_path = args.out / f"token-stats-{regime_name}.json"
        if stats_path.is_file():
            entry["token_stats"] = json.loads(stats_path.read_text(encoding="utf-8"))
        else:
            entry["token_stats"] = token_stats(demo, pairs, args.stats_pairs)
            atomic_write_json(stats_path, entry["token_stats"])
        tables.append(stats_table(f"{regime_name}: token statistics (demo model, {args.stats_pairs} pairs)",
                                  entry["token_stats"]))
        tables.append(sweep_stats_table(regime_name, entry["token_stats"]))
        tables.append(train_log_table(regime_name, entry["train_logs"]))
        results["regimes"][regime_name] = entry
        if not args.no_figures:
            figure(f"ShapesWorld, {regime_name}: seven methods (mean ± std over seeds)",
                   {m: summaries[m] for m in METHODS if m in summaries}, args.fig_dir / f"shapes-methods-{regime_name}.png",
                   panels_for(regime))
            log_figure(f"ShapesWorld, {regime_name}: sequence log-probs during training (mean ± std over seeds)",
                       {m: rs for m, rs in runs.items() if m in METHODS or m in CONTROLS},
                       args.fig_dir / f"shapes-methods-{regime_name}-logps.png")
            if regime_name == args.main_regime:
                order = ["DPO", "UE-DPO", *CONTROLS, *[m for m in METHODS if m not in ("DPO", "UE-DPO")]]
                seeds_figure(f"ShapesWorld, {regime_name}: {LABELS[regime.primary]} at step {step}, every seed",
                             {m: runs[m] for m in order if m in runs}, step,
                             regime.primary, args.fig_dir / f"shapes-methods-{regime_name}-seeds.png")
            if sweep_runs:
                figure(f"ShapesWorld, {regime_name}: UE-DPO τ and α sweep (mean ± std over seeds)",
                       {m: summaries[m] for m in ["DPO", "UE-DPO", *sweep_runs]},
                       args.fig_dir / f"shapes-methods-{regime_name}-sweep.png", panels_for(regime))
    if args.timing_steps and not args.report_only:
        results["timing"] = timing_pass(ckpt, args)
        tables.append(timing_table(results["timing"]))
    elif (args.out / "timing.json").is_file():
        results["timing"] = json.loads((args.out / "timing.json").read_text(encoding="utf-8"))
        tables.append(timing_table(results["timing"]))
    results["run_wall_s"] = run_wall
    results["wall_s"] = time.perf_counter() - t_start
    atomic_write_json(args.out / "results.json", results)
    atomic_write_text(args.out / "tables.md", "\n".join(tables) + f"\nSum of run wall times: {run_wall:.0f} s\n")
    print("\n".join(tables))
    print(f"sum of run wall times {run_wall:.0f} s; this invocation {results['wall_s']:.0f} s; results in {args.out}")
    return 0


def timing_pass(ckpt: str, args) -> dict:
    """Training-only wall time of each method, ``--timing-steps`` steps, no evaluation, methods interleaved
    ``--timing-reps`` times (co-occurrence pairs, seed 0); cached in ``<out>/timing.json``."""
    path = args.out / "timing.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    pairs = args.out / "pairs-cooccurrence" / "pairs.jsonl"
    times: dict[str, list[float]] = {}
    for _ in range(args.timing_reps):
        for name, (loss, extra) in METHODS.items():
            run = train_run(ckpt, pairs, loss, extra, 0, args, None, {}, 2e-4, steps=args.timing_steps)
            times.setdefault(name, []).append(run["train_s"] / args.timing_steps)
    out = {"steps": args.timing_steps, "reps": args.timing_reps, "batch_pairs": args.batch_size,
           "s_per_step": {m: min(v) for m, v in times.items()}, "all": times}
    atomic_write_json(path, out)
    return out


def timing_table(timing: dict) -> str:
    dpo = timing["s_per_step"]["DPO"]
    lines = [f"#### Step time ({timing['steps']} steps × {timing['reps']} interleaved repetitions, best; "
             f"{timing['batch_pairs']} pairs a step, 2 shared cores)\n", "| method | s / step | × DPO |", "|---|---|---|"]
    for m, v in timing["s_per_step"].items():
        lines.append(f"| {m} | {v:.3f} | {v / dpo:.2f} |")
    return "\n".join(lines) + "\n"


LOG_KEYS = ("uedpo/gated_frac/chosen", "uedpo/gated_frac/rejected", "uedpo/lambda_mean/chosen",
            "uedpo/lambda_mean/rejected", "uedpo/type_i_per_pair", "uedpo/argmax_match_frac",
            "tpo/weight_mean/chosen", "tpo/weight_mean/rejected", "tpo/score_mean/chosen", "tpo/score_mean/rejected",
            "vdpo/image_contribution/chosen", "vdpo/image_contribution/rejected", "mdpo/loss_dpo",
            "mdpo/loss_conditional", "mdpo/loss_anchor", "rewards/margins", "uedpo/vanilla_rewards/margins",
            "logps/chosen", "logps/rejected")


def training_log_summary(runs: list[dict]) -> dict:
    """Mean over seeds of each logged metric: over the whole run (metrics.csv rows), in its first and last row."""
    out = {}
    for key in LOG_KEYS:
        rows = [[row[key] for row in r["log"] if key in row] for r in runs]
        rows = [v for v in rows if v]
        if rows:
            out[key] = {"run_mean": statistics.fmean(statistics.fmean(v) for v in rows),
                        "first_log": statistics.fmean(v[0] for v in rows),
                        "last_log": statistics.fmean(v[-1] for v in rows)}
    return out


def train_log_table(regime: str, logs: dict) -> str:
    lines = [f"#### {regime}: training metrics (metrics.csv rows of 5 steps; mean over seeds)\n",
             "| method | metric | steps 1–5 | whole run | last 5 steps |", "|---|---|---|---|---|"]
    for method, keys in logs.items():
        for key, v in keys.items():
            lines.append(f"| {method} | {key} | {v['first_log']:.3f} | {v['run_mean']:.3f} | {v['last_log']:.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
