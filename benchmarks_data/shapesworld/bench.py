"""ShapesWorld for ``uedpo-eval --bench shapes``: the built-in synthetic benchmark, scored by AMBER + its own metrics.

The benchmark (seed 0: 100 bias-breaking + 100 uniform images, 200 captions + 400 existence + 200 colour
questions) is written by :func:`benchmarks_data.shapesworld.write_benchmark` into ``--shapes-dir`` (default:
``$UEDPO_SHAPES_DIR`` or the user cache, ``<cache>/uedpo/shapesworld/seed0``), and reused while its manifest
verifies. Scoring: ``evaluation.amber.score_amber`` with ``ExactSimilarity`` (shape names have no synonyms;
the official spaCy backend is not needed) and the official NLTK noun pipeline, plus the ``shapes`` section of
:mod:`benchmarks_data.shapesworld.metrics`. Checkpoint mode also writes ``yes_no_margins.jsonl`` beside ``responses.jsonl``:
per yes/no question the teacher-forced log P("Yes") − log P("No") after the question, so the yes/no part is
scored by that margin as well as by AMBER's string match (``margin_*`` metrics). Scoring a responses file
reads that file when it sits beside the responses.

    uedpo-eval --bench shapes --ckpt shapes-demo --out runs/demo
    uedpo-eval --bench shapes --responses runs/demo/shapes/responses.jsonl

``--bench shapes-faint`` is the faint variant: the same generator, seed and formats, with 40 % of the objects
drawn small and at low contrast (:data:`benchmarks_data.shapesworld.FAINT_EVAL_CONFIG`), written to its own
directory (default ``<cache>/uedpo/shapesworld/faint-seed0``; ``--shapes-dir`` overrides, ``$UEDPO_SHAPES_DIR``
is for ``shapes`` only). Its objects are there but hard to see: the ground truth of the blind-spot analysis
(``--blindspots``, :mod:`evaluation.blindspots`). A directory holding the other variant is refused.
"""

from __future__ import annotations

import json
import os
from argparse import Namespace
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks_data.amber import load_amber_responses
from benchmarks_data.shapesworld import (
    CAPTION_PROMPT,
    EVAL_CONFIG,
    FAINT_EVAL_CONFIG,
    SHAPES,
    SceneConfig,
    load_benchmark,
    write_benchmark,
)
from benchmarks_data.shapesworld.benchmark import GENERATOR, MANIFEST, image_name
from benchmarks_data.shapesworld.metrics import ImageTruth, QuestionTruth, margin_answers, shapes_metrics
from benchmarks_data.store import DataError
from evaluation.amber import ExactSimilarity, NltkDataError, amber_versions, score_amber
from evaluation.amber.nlp import fast_noun_extractor
from evaluation.benches import Benchmark, Scored, UsageError, check_coverage, label_partial
from uedpo.io import atomic_write_jsonl

SEED = 0
MAX_NEW_TOKENS = {"generative": 32, "discriminative": 3}  # captions are <= 17 words; answers one token + EOS
MARGINS_FILE = "yes_no_margins.jsonl"
SECTION = "shapes"
DEFAULT_BATCH_SIZE = 100  # 64x64 images and short prompts: big batches are cheap
_nouns_future: Future | None = None  # NLTK's tagger and WordNet load (~3.5 s) while the model generates


# The benchmark variants: scene config and default directory (under <user cache>/uedpo/shapesworld/).
VARIANTS: dict[str, tuple[SceneConfig, str]] = {
    "shapes": (EVAL_CONFIG, f"seed{SEED}"),
    "shapes-faint": (FAINT_EVAL_CONFIG, f"faint-seed{SEED}"),
}


def benchmark_root(opts: Namespace, bench: str = "shapes") -> Path:
    explicit = getattr(opts, "shapes_dir", None) or (os.environ.get("UEDPO_SHAPES_DIR") if bench == "shapes" else None)
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("uedpo")) / "shapesworld" / VARIANTS[bench][1]


def _variant_of(root: Path) -> str | None:
    """The variant whose scene config the manifest at ``root`` records (None: another config)."""
    try:
        config = json.loads((root / MANIFEST).read_text(encoding="utf-8")).get("config") or {}
    except (OSError, ValueError, AttributeError):
        return None
    for name, (wanted, _) in VARIANTS.items():
        expected = json.loads(json.dumps(asdict(wanted)))  # tuples as the manifest's lists
        if all(config.get(k, v) == v for k, v in expected.items()):
            return name
    return None


def ensure_benchmark(root: Path, progress: bool = False, bench: str = "shapes"):
    """The ``bench`` variant at ``root``: loaded and verified if there, else (re)written first (seeded, so
    identical). A directory holding another variant is refused (it would score the wrong images)."""
    try:
        benchmark = load_benchmark(root)
    except DataError:
        ours = (root / MANIFEST).is_file() and GENERATOR in (root / MANIFEST).read_text(encoding="utf-8")
        if root.exists() and any(root.iterdir()) and not ours:
            raise UsageError(f"--shapes-dir {root}: not empty and not a ShapesWorld benchmark; choose another "
                             "directory") from None
        write_benchmark(root, seed=SEED, overwrite=True, progress=progress, config=VARIANTS[bench][0])
        benchmark = load_benchmark(root)
    found = _variant_of(root)
    if found != bench:
        held = f"the --bench {found} benchmark" if found else "a ShapesWorld benchmark of another scene config"
        raise UsageError(f"--shapes-dir {root}: holds {held}, not --bench {bench}; pass another --shapes-dir")
    return benchmark


def prepare(bench: str, opts: Namespace) -> None:
    """Checkpoint mode: make sure the benchmark exists; its images are the ``--image-dir``."""
    global _nouns_future
    root = benchmark_root(opts, bench)
    ensure_benchmark(root, progress=not opts.quiet, bench=bench)
    if _nouns_future is None:
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nltk-load")
        _nouns_future = pool.submit(fast_noun_extractor)
        pool.shutdown(wait=False)
    if opts.image_dir is None:
        opts.image_dir = root / "images"
    if not opts.batch_size:
        opts.batch_size = DEFAULT_BATCH_SIZE


def items(bench: str, opts: Namespace):
    from evaluation.generation import GenItem

    benchmark = ensure_benchmark(benchmark_root(opts, bench), bench=bench)
    rows = [GenItem(id=i, image=image_name(i), question=CAPTION_PROMPT, max_new_tokens=MAX_NEW_TOKENS["generative"])
            for i in benchmark.generative_ids]
    rows += [GenItem(id=q.id, image=image_name(q.image_id), question=q.query,
                     max_new_tokens=MAX_NEW_TOKENS["discriminative"]) for q in benchmark.questions]
    return rows


def answer_token_ids(tokenizer) -> tuple[int, int]:
    """Ids of the first token of "Yes" and of "No" as responses (no special tokens)."""
    yes, no = (tokenizer(word, add_special_tokens=False)["input_ids"][0] for word in ("Yes", "No"))
    if yes == no:
        raise UsageError('the tokenizer maps "Yes" and "No" to the same token; the yes/no margin is undefined')
    return yes, no


def yes_no_margins(adapter, images, questions, batch_size: int = DEFAULT_BATCH_SIZE) -> list[float]:
    """Teacher-forced log P(Yes) − log P(No) at the first answer position, per (image, question)."""
    import torch

    yes, no = answer_token_ids(adapter.tokenizer)
    margins: list[float] = []
    with torch.no_grad():
        for start in range(0, len(questions), batch_size):
            part = slice(start, start + batch_size)
            prompts = [adapter.build_prompt(q) for q in questions[part]]
            batch = adapter.encode(images[part], prompts, ["Yes"] * len(prompts))
            logp = adapter.response_logits(batch)[:, 0].float().log_softmax(-1)
            margins += (logp[:, yes] - logp[:, no]).tolist()
    return margins


def model_scores(adapter, bench: str, gen_items, opts: Namespace, bench_dir: Path) -> None:
    """Write ``yes_no_margins.jsonl`` for the yes/no items (one batched teacher-forced pass)."""
    from PIL import Image

    asked = [it for it in gen_items if it.question != CAPTION_PROMPT]
    if not asked:
        return
    images = [Image.open(opts.image_dir / it.image).convert("RGB") for it in asked]
    margins = yes_no_margins(adapter, images, [it.question for it in asked], opts.batch_size or DEFAULT_BATCH_SIZE)
    atomic_write_jsonl(bench_dir / MARGINS_FILE, [{"id": it.id, "margin": m} for it, m in zip(asked, margins, strict=True)])


def _read_margins(path: Path) -> dict[int, float] | None:
    if not path.is_file():
        return None
    margins = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            row = json.loads(line)
            margins[int(row["id"])] = float(row["margin"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise DataError(f"{path}: line {lineno} is not {{\"id\": int, \"margin\": float}}; delete the file "
                            "or rerun uedpo-eval --ckpt") from None
    return margins


def _nouns(notes: list[str]):
    """The official NLTK steps (on the fast, nltk-identical pipeline: ``fast_noun_extractor``); without NLTK
    data, whole-word shape names (identical on template captions:
    benchmarks_data/shapesworld/captions.py checked every caption), with a note and a variant tag."""
    try:
        return (_nouns_future.result() if _nouns_future is not None else fast_noun_extractor()), ""
    except NltkDataError as err:
        notes.append(f"note: {err}; objects found by whole-word shape names instead (variant +nouns:words)")
        return (lambda text: tuple(w for w in text.lower().replace(",", " ").replace(".", " ").split() if w in SHAPES)), \
            "+nouns:words"


def score_file(bench: str, path: str, opts: Namespace, out_dir=None) -> Scored:
    benchmark = ensure_benchmark(benchmark_root(opts, bench), bench=bench)
    responses = load_amber_responses(path, valid_ids=benchmark.amber.annotations.keys())
    if not responses:
        raise UsageError(f"{path}: no ShapesWorld ids in the file")
    answered = {r.id for r in responses}
    expected = sorted(benchmark.amber.annotations)
    coverage = check_coverage(path, bench, len(answered), len(expected),
                              [i for i in expected if i not in answered], opts)
    notes: list[str] = []
    nouns, tag = _nouns(notes)
    result = score_amber(responses, benchmark.amber, similarity=ExactSimilarity(), nouns=nouns, progress=False)
    margins = _read_margins(Path(path).parent / MARGINS_FILE)
    bench_result = result.to_bench_result(amber_versions(ExactSimilarity()), dict(benchmark_files(benchmark)))
    bench_result.bench, bench_result.variant = bench, f"{result.variant}+similarity:exact{tag}"
    label_partial(bench_result, coverage)
    text = {r.id: r.response for r in responses}
    gen_ids = set(benchmark.generative_ids)
    truths = [ImageTruth(i, s.drawn, SHAPES, i in set(benchmark.breaking)) for i, s in benchmark.scenes.items()]
    questions = [QuestionTruth(q.id, q.role) for q in benchmark.questions]
    cases = [(c.id, c.target) for c in benchmark.bias_cases]
    section = shapes_metrics({i: t for i, t in text.items() if i in gen_ids},
                             {i: t for i, t in text.items() if i not in gen_ids}, truths, cases, questions,
                             margins={i: m for i, m in margins.items() if i in text} if margins else None)
    if margins:
        scored_margins = {i: m for i, m in margins.items() if i in text}
        by_margin = score_amber([type(responses[0])(id=i, response=a) for i, a in margin_answers(scored_margins).items()],
                                benchmark.amber, progress=False)
        for metric, value in by_margin.metrics.get("discriminative", {}).items():
            section[f"margin_{metric}"] = value
    bench_result.metrics[SECTION] = section
    bench_result.config.update({"shapes_dir": str(benchmark.root), "seed": benchmark.seed,
                                "margins": str(Path(path).parent / MARGINS_FILE) if margins else None})
    # Absolute image paths and the questions, so `uedpo-inspect --samples results.items.jsonl` opens any row.
    asked = {i: CAPTION_PROMPT for i in gen_ids} | {q.id: q.query for q in benchmark.questions}
    items_out: list[dict[str, Any]] = []
    for rec in result.generative_records:
        row = rec.to_dict()
        items_out.append({"bench": bench, "id": rec.id, "image": str(benchmark.image_path(rec.id)),
                          "question": asked[rec.id], "response": text[rec.id],
                          "hallucinated": row.pop("hallucinated"), "record": row})
    for rec in result.discriminative_records:
        row = rec.to_dict() | ({"margin": margins[rec.id]} if margins and rec.id in margins else {})
        items_out.append({"bench": bench, "id": rec.id, "image": str(benchmark.image_path(rec.id)),
                          "question": asked[rec.id], "response": text[rec.id], "hallucinated": [], "record": row})
    notes += [f"answers not exactly 'Yes'/'No' in {sec}: {n} (scored as wrong, as the official script does)"
              for sec, n in result.non_yes_no_answers.items() if n]
    return Scored(bench_result, items_out, notes)


def benchmark_files(benchmark) -> dict[str, str]:
    manifest = json.loads((benchmark.root / MANIFEST).read_text(encoding="utf-8"))
    return {"shapesworld/manifest.json": _sha256(benchmark.root / MANIFEST), "shapesworld/seed": str(manifest["seed"])}


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def add_arguments(p) -> None:
    s = p.add_argument_group("ShapesWorld")
    s.add_argument("--shapes-dir", help="where the ShapesWorld benchmark is written and reused (default: "
                                        "$UEDPO_SHAPES_DIR or <user cache>/uedpo/shapesworld/seed0)")


# -- registry entries (pyproject.toml: uedpo.benchmarks) -------------------------------------------------------
def _blindspots(rows, bench: str, opts):
    from benchmarks_data.shapesworld.blindspots import shapes_blindspots  # it imports this module

    return shapes_blindspots(rows, bench, opts)


def _entry(name: str) -> Benchmark:
    from evaluation.amber.constants import SECTION_ORDER

    return Benchmark(name=name, score_file=score_file, items=items, loader=load_amber_responses,
                     scorer=shapes_metrics, prompt=CAPTION_PROMPT,
                     max_new_tokens=MAX_NEW_TOKENS, sections=(*SECTION_ORDER, SECTION),
                     variants=("official", "official+nouns:words"), prepare=prepare, model_scores=model_scores,
                     blindspot_cases=_blindspots, add_arguments=add_arguments)


SHAPES_BENCH, SHAPES_FAINT_BENCH = (_entry(name) for name in VARIANTS)
