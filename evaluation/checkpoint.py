"""``uedpo-eval --ckpt``: generate each benchmark's responses with a checkpoint, then score them.

Per checkpoint and benchmark it writes ``OUT[/<run>]/<bench>/responses.jsonl`` as it goes (resumable, see
:mod:`evaluation.generation`), then ``results.json``, ``results.items.jsonl``, ``table.md`` and ``table.csv``
as one set (``results.manifest.json``). Images are checked before the model loads: an unreadable one stops the
run unless ``--skip-bad-images`` (then it is listed and the result labelled partial).
Several ``--ckpt`` give one comparison table (``OUT/comparison.md``/``.csv``). ``--blindspots`` then runs
:mod:`evaluation.blindspots` on each benchmark's per-item file with the same model (``blindspots.jsonl`` and
its summary beside the results); ``--blindspots-from ITEMS`` runs it on an existing file, no generation.

Data-parallel generation: under ``torchrun --nproc-per-node N -m evaluation.cli ...`` or
``accelerate launch --num_processes N -m evaluation.cli ...`` each rank (``RANK``/``WORLD_SIZE``) generates
every N-th item into ``responses.rank<r>.jsonl``; after a barrier, rank 0 merges the shards in item order into
``responses.jsonl`` and scores. A rerun resumes every shard.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PIL import Image

from evaluation.benches import Scored, UsageError, check_coverage, get_benchmark, label_partial
from evaluation.generation import GenItem, generate_jsonl, read_done
from evaluation.outputs import check_baseline, output_lock, say, write_outputs
from evaluation.provenance import stamp, toolkit_versions, utc_now, weights_record
from evaluation.tables import result_heading, results_frame, sections_markdown
from uedpo.io import atomic_write_jsonl, publish_set

# `--bench all` runs what the paper's table needs; AMBER covers both its generative and discriminative parts.
ALL_BENCHES = ("objhal", "mmhal", "amber")
# The paper's row (METHOD.md): (column, section, metric).
PAPER_ROW = (
    ("Obj-Hal CHAIRs↓", "objhal", "CHAIRs"),
    ("MMHal score↑", "mmhal", "score"),
    ("MMHal HalRate↓", "mmhal", "hallucination_rate"),
    ("AMBER-g CHAIR↓", "generative", "CHAIR"),
    ("AMBER-d F1↑", "discriminative", "F1"),
)
# The variant each column must have to be the paper's protocol. Object HalBench's published numbers extract
# objects with the LLM (`--objhal-extractor llm`); its NLTK path is the official script's non-GPT fallback.
PAPER_VARIANTS = {"objhal": ("llm-objects+spacy-trf",), "mmhal": ("official",), "generative": ("official",),
                  "discriminative": ("official",)}
NOT_PAPER = "not the paper's protocol"


@dataclass(frozen=True)
class Run:
    name: str
    ckpt: str
    adapter: str | None


def _runs(opts: argparse.Namespace) -> list[Run]:
    adapters = opts.adapter or []
    if adapters and len(adapters) != len(opts.ckpt):
        raise UsageError(f"--adapter given {len(adapters)} times for {len(opts.ckpt)} --ckpt; give one per "
                         "checkpoint ('-' for none)")
    runs = []
    for i, ckpt in enumerate(opts.ckpt):
        adapter = adapters[i] if adapters and adapters[i] != "-" else None
        name = Path(adapter or ckpt).name or f"run{i}"
        runs.append(Run(name=name if name not in {r.name for r in runs} else f"{name}-{i}", ckpt=ckpt,
                        adapter=adapter))
    return runs


def _rank() -> tuple[int, int]:
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def _barrier(world: int) -> None:
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("gloo")
        dist.barrier()


def _image_problem(path: Path) -> str | None:
    """Why the image at ``path`` cannot be used (None: it opens). Images over PIL's decompression-bomb limit
    (``Image.MAX_IMAGE_PIXELS``, about 89 Mpx) are refused: decoding one would take gigabytes."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                size = img.size
                img.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return f"too large to decode safely (over {Image.MAX_IMAGE_PIXELS} pixels)"
    except (OSError, SyntaxError, ValueError) as err:  # PIL raises these for truncated or foreign files
        return str(err).splitlines()[0] if str(err) else type(err).__name__
    limit = Image.MAX_IMAGE_PIXELS
    if limit and size[0] * size[1] > limit:
        return f"{size[0]}x{size[1]} pixels, too large to decode safely (over {limit})"
    return None


def check_images(items: Sequence[GenItem], image_dir: Path | None,
                 skip_bad: bool = False) -> tuple[list[GenItem], list[GenItem]]:
    """Items whose image opens, and the skipped ones. A missing image stops the run; so does an unreadable
    one, unless ``skip_bad`` (``--skip-bad-images``): then it is listed and the result labelled partial."""
    if image_dir is None:
        raise UsageError("--image-dir is required with --ckpt: the folder with the benchmark's images")
    if not image_dir.is_dir():
        raise UsageError(f"--image-dir {image_dir}: not a directory")
    ok, skipped, problems = [], [], []
    for it in items:
        path = image_dir / it.image
        if not path.is_file():
            raise UsageError(f"{image_dir}: image {it.image} (item {it.id}) is missing; download the benchmark's "
                             "images into this folder (uedpo-data where lists where to get them)")
        problem = _image_problem(path)
        if problem is None:
            ok.append(it)
            continue
        skipped.append(it)
        problems.append(f"{it.image} (item {it.id}): {problem}")
    if problems and not skip_bad:
        more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
        raise UsageError(f"{image_dir}: {len(problems)} unreadable image(s): {problems[0]}{more}; replace them, or "
                         "pass --skip-bad-images to score the other items (the result is then labelled partial)")
    return ok, skipped


def _open_rgb(path: Path):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                return img.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        why = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UsageError(f"{path}: cannot be decoded ({why}) although it opened in the check before generation; "
                         "replace the file and rerun (the responses so far are kept)") from None


def _generate_batch(adapter, image_dir: Path):
    def run(batch: Sequence[GenItem]) -> list[str]:
        texts: dict[int, str] = {}
        for budget in sorted({it.max_new_tokens for it in batch}):
            idx = [i for i, it in enumerate(batch) if it.max_new_tokens == budget]
            images = [_open_rgb(image_dir / batch[i].image) for i in idx]
            out = adapter.generate(images, [batch[i].question for i in idx], max_new_tokens=budget,
                                   batch_size=len(idx), progress=False)
            texts.update(zip(idx, out, strict=True))
        return [texts[i] for i in range(len(batch))]

    return run


def _settings(run: Run, bench: str, adapter, items: Sequence[GenItem], load=None) -> dict[str, Any]:
    """What decides the generated text; resuming with any of it changed is refused."""
    settings = {"ckpt": run.ckpt, "adapter": run.adapter, "bench": bench, "family": adapter.family,
                "max_new_tokens": sorted({it.max_new_tokens for it in items}), "do_sample": False, "num_beams": 1,
                "dtype": str(adapter.dtype).removeprefix("torch.")}
    chosen = load_record(load, dtype=False)  # the loaded dtype is above; absent when all default (older files)
    if chosen:
        settings["load"] = chosen
    return settings


def load_options(opts: argparse.Namespace):
    """``--dtype`` / ``--attn-implementation`` / ``--device-map`` / ``--quantization`` as checked
    :class:`~uedpo.models.load_options.LoadOptions`: one that cannot load here is refused (one line, exit 2)
    before anything is loaded or written."""
    from uedpo.models.load_options import LoadOptions

    options = LoadOptions.from_args(opts).check()
    if options.device_map is not None and opts.device != "auto":
        raise UsageError(f"--device {opts.device} with --device-map {options.device_map}: the device map places "
                         "the model itself; leave out one of them")
    return options


def load_record(load, *, dtype: bool = True) -> dict[str, str]:
    """The loading options that differ from the defaults (they change the numbers): ``model.load`` of
    results.json, so a bf16 / 4-bit / eager result says so."""
    from dataclasses import fields

    from uedpo.models.load_options import LoadOptions

    if load is None:
        return {}
    default = LoadOptions()
    return {f.name: getattr(load, f.name) for f in fields(LoadOptions)
            if getattr(load, f.name) != getattr(default, f.name) and (dtype or f.name != "dtype")}


def plan_bench(bench: str, opts: argparse.Namespace) -> tuple[list[GenItem], list[GenItem]]:
    """The items to generate and the skipped (unreadable) ones, checked before any model is loaded."""
    entry = get_benchmark(bench)
    if entry.items is None:
        raise UsageError(f"--bench {bench} --ckpt: this benchmark scores responses files only; pass --responses")
    if entry.prepare is not None:  # a built-in benchmark writes its data and sets --image-dir
        entry.prepare(bench, opts)
    items = entry.items(bench, opts)
    if opts.limit:
        items = items[: opts.limit]
    if opts.max_new_tokens:
        items = [replace(it, max_new_tokens=opts.max_new_tokens) for it in items]
    return check_images(items, opts.image_dir, getattr(opts, "skip_bad_images", False))


def generate_bench(run: Run, bench: str, items: list[GenItem], adapter, opts: argparse.Namespace,
                   bench_dir: Path, load=None) -> Path:
    rank, world = _rank()
    shard = items[rank::world]
    responses = bench_dir / ("responses.jsonl" if world == 1 else f"responses.rank{rank}.jsonl")
    shard = [replace(it, extra={**it.extra, "bench": bench}) for it in shard]  # rows say what they answer
    generate_jsonl(shard, responses, _generate_batch(adapter, opts.image_dir), settings=_settings(run, bench, adapter, items, load),
                   batch_size=opts.batch_size or 8, desc=f"{run.name}/{bench}", progress=not opts.quiet)
    _barrier(world)
    if world > 1 and rank == 0:
        done = {}
        for r in range(world):
            done.update(read_done(bench_dir / f"responses.rank{r}.jsonl"))
        responses = bench_dir / "responses.jsonl"
        atomic_write_jsonl(responses, [done[str(it.id)] for it in items])
    return responses


def model_record(run: Run, load=None) -> dict[str, Any]:
    """The checkpoint and adapter a result measured, with sha256 digests of their files, and how it was loaded
    (``load``: the options other than the defaults, when any)."""
    from uedpo.models.loading import resolve_checkpoint

    local = resolve_checkpoint(run.ckpt)[1]  # a hub id resolves to its cached snapshot (named by revision)
    adapter = Path(run.adapter) if run.adapter else None
    record = {"ckpt": weights_record(run.ckpt, local), "adapter": weights_record(run.adapter, adapter)}
    chosen = load_record(load)
    if chosen:
        record["load"] = chosen
    return record


def score_bench(bench: str, responses: Path, opts: argparse.Namespace, bench_dir: Path,
                skipped: Sequence[GenItem] = (), model: dict[str, Any] | None = None) -> Scored:
    # Our responses.jsonl: captions under "response"; --limit and skipped images give partial runs, which the
    # result then says (variant +partial:n/N).
    partial = bool(getattr(opts, "allow_partial", False) or opts.limit or skipped)
    opts = argparse.Namespace(**{**vars(opts), "caption_key": "response", "image_id_key": "image_id",
                                 "allow_partial": partial})
    scored = get_benchmark(bench).score_file(bench, str(responses), opts, out_dir=bench_dir)
    scored.result.config["skipped_images"] = [it.image for it in skipped]  # never silently left out
    asked = read_done(responses)
    if "coverage" not in scored.result.config:  # CHAIR has no fixed set when scoring files; here it does
        total = get_benchmark(bench).items(bench, opts)
        label_partial(scored.result, check_coverage(responses, bench, len(asked), len(total),
                                                    [it.id for it in total if str(it.id) not in asked], opts))
    stamp(scored.result, model)
    for item in scored.items:  # the inspector opens per-item rows on their image and question
        row = asked.get(str(item["id"]), {})
        item.setdefault("image", row.get("image"))
        item.setdefault("question", row.get("question"))
    write_outputs(scored, bench_dir / "results.json")
    return scored


def paper_row(metrics: dict[str, dict[str, float]], missing: dict[str, str],
              variants: dict[str, str] | None = None) -> dict[str, Any]:
    """Per column: the value (or why there is none), the variant it was scored with, and whether that is the
    paper's protocol (``protocol`` is ``"paper"`` or says what differs)."""
    variants = variants or {}
    row = {}
    for column, section, metric in PAPER_ROW:
        value = metrics.get(section, {}).get(metric)
        variant = variants.get(section)
        if value is None:
            row[column] = {"value": missing.get(section, "not run"), "variant": variant, "protocol": None}
            continue
        ok = variant in PAPER_VARIANTS.get(section, ("official",))
        protocol = "paper" if ok else f"{NOT_PAPER} (variant {variant})"
        if section == "objhal" and not ok and (variant or "").startswith("nltk"):
            protocol = f"{NOT_PAPER}: objects extracted by NLTK, not by the LLM (--objhal-extractor llm)"
        row[column] = {"value": value, "variant": variant, "protocol": protocol}
    return row


def paper_row_markdown(row: dict[str, Any]) -> str:
    """The row as a small table: values, then each column's variant, marked where it is not the paper's."""
    header = "| | " + " | ".join(row) + " |\n|---|" + "---|" * len(row)
    values = "| value | " + " | ".join(_fmt(c["value"]) for c in row.values()) + " |"
    variants = "| variant | " + " | ".join(
        "" if c["variant"] is None else c["variant"] + ("" if c["protocol"] in (None, "paper") else " ⚠")
        for c in row.values()) + " |"
    notes = [f"⚠ {col}: {c['protocol']}" for col, c in row.items() if c["protocol"] not in (None, "paper")]
    return "\n".join([header, values, variants, *([""] + notes if notes else [])])


DEVICE = re.compile(r"(cpu|cuda|mps)(:\d+)?")


def check_device(device: str, dtype: str) -> None:
    """``--device`` and ``--dtype`` checked before anything is loaded or written."""
    import torch

    from uedpo.models.loading import DTYPES

    if dtype != "auto" and dtype not in DTYPES:
        raise UsageError(f"--dtype {dtype}: expected auto or one of {', '.join(sorted(DTYPES))}")
    if device == "auto":
        return
    if not DEVICE.fullmatch(device):
        raise UsageError(f"--device {device}: not a device this toolkit generates on; use auto, cpu, cuda, cuda:N "
                         "or mps")
    kind, _, index = device.partition(":")
    if kind == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: no CUDA device is available here; use --device cpu (or auto)")
    if kind == "cuda" and index and int(index) >= torch.cuda.device_count():
        raise UsageError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                         f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UsageError(f"--device {device}: MPS is not available here; use --device cpu (or auto)")


def check_runs(runs: Sequence[Run]) -> None:
    """Each checkpoint and adapter exists and names a supported model (read from config files; no weights)."""
    from uedpo.models.loading import read_family, resolve_checkpoint

    for run in runs:
        read_family(resolve_checkpoint(run.ckpt)[1], run.ckpt)
        if run.adapter and not Path(run.adapter).is_dir():
            raise UsageError(f"--adapter {run.adapter}: directory not found; pass a peft LoRA adapter directory "
                             "('-' for none)")


def run_checkpoints(opts: argparse.Namespace, baseline: dict[str, Any] | None = None) -> int:
    if opts.out is None:
        raise UsageError("--out is required with --ckpt: responses and results are written there")
    check_device(opts.device, opts.dtype)
    load = load_options(opts)
    benches = ALL_BENCHES if opts.bench == "all" else (opts.bench,)
    runs = _runs(opts)
    spots = blindspot_settings(opts, benches) if getattr(opts, "blindspots", False) else None
    plans = {bench: plan_bench(bench, opts) for bench in benches}  # fail on data/images before loading models
    check_runs(runs)
    with output_lock(opts.out):  # one run per output directory: a second one stops with one line
        return _run_checkpoints(opts, baseline, benches, runs, spots, plans, load)


def _run_checkpoints(opts, baseline, benches, runs, spots, plans, load) -> int:
    if opts.quiet:
        from uedpo.models.loading import quiet_loading

        quiet_loading()
    rank, world = _rank()
    rows, status = [], 0
    for run in runs:
        run_dir = opts.out / run.name if len(runs) > 1 else opts.out
        adapter = load.load(run.ckpt, adapter_dir=run.adapter, device=opts.device)  # uedpo.models.load_adapter
        model = model_record(run, load) if rank == 0 else None
        merged: dict[str, dict[str, float]] = {}
        variants: dict[str, str] = {}
        missing: dict[str, str] = {}
        for bench in benches:
            bench_dir = run_dir / bench
            items, skipped = plans[bench]
            responses = generate_bench(run, bench, items, adapter, opts, bench_dir, load)
            if rank != 0:
                continue
            entry = get_benchmark(bench)
            if entry.model_scores is not None:  # scores only the model can give (ShapesWorld's yes/no margins)
                entry.model_scores(adapter, bench, items, opts, bench_dir)
            if skipped:
                say(f"{run.name}/{bench}: skipped {len(skipped)} unreadable images (--skip-bad-images; not scored, "
                    "the result is partial): " + ", ".join(f"{it.image} (item {it.id})" for it in skipped))
            if entry.needs_judge and not (opts.judge_model or opts.reviews):
                missing.update(dict.fromkeys(entry.sections, "needs judge"))
                say(f"{run.name}/{bench}: responses in {responses}; no judge configured (--judge-model), "
                    f"so {bench} is not scored")
                continue
            scored = score_bench(bench, responses, opts, bench_dir, skipped, model)  # written before printed
            result = scored.result.to_dict()
            merged.update(result["metrics"])
            variants.update(dict.fromkeys(result["metrics"], result["variant"]))
            say(f"\n## {run.name} / {result_heading(result)}\n")
            say(sections_markdown(result))
            for note in scored.notes:
                say(note)
            if spots is not None and entry.blindspot_cases is not None:
                _blindspots(adapter, bench_dir / "results.items.jsonl", bench, opts, bench_dir, spots, model,
                            f"{run.name}/{bench}")
            if baseline and len(benches) == 1:
                status = max(status, _check(result, baseline, opts))
        if rank != 0:
            continue
        rows.append((run.name, {"bench": opts.bench, "metrics": merged}))
        if opts.bench == "all":
            row = paper_row(merged, missing, variants)
            combined = {"bench": "all", "metrics": merged, "paper_row": row, "n_items": None, "variant": "mixed",
                        "variants": variants, "config": {}, "versions": toolkit_versions(), "data_sha256": {},
                        "date": utc_now(), "model": model}
            publish_set(run_dir, {"results.json": json.dumps(combined, indent=2, ensure_ascii=False) + "\n"},
                        "results.manifest.json")
            say(f"\n## {run.name}: the paper's row\n")
            say(paper_row_markdown(row))
            if baseline:
                status = max(status, _check({"metrics": merged}, baseline, opts))
    if rank == 0 and len(runs) > 1:
        frame = results_frame(rows)
        publish_set(opts.out, {"comparison.md": frame.to_markdown(floatfmt="g") + "\n",
                               "comparison.csv": frame.to_csv()}, "comparison.manifest.json")
        say("\n## comparison\n")
        say(frame.to_markdown(floatfmt="g"))
    return status


def blindspot_settings(opts: argparse.Namespace, benches: Sequence[str]):
    """The blind-spot analysis' settings from the CLI, checked before anything is loaded or written."""
    from evaluation.blindspots import BlindspotSettings, supported_benches
    from uedpo.views import ViewSpec

    unsupported = [b for b in benches if get_benchmark(b).blindspot_cases is None]
    if len(benches) == 1 and unsupported:
        raise UsageError(f"--blindspots: --bench {unsupported[0]} has no object annotations to probe; use one of "
                         f"{', '.join(supported_benches())}")
    if not 0.0 < opts.blindspots_tau < 1.0:
        raise UsageError(f"--blindspots-tau {opts.blindspots_tau}: expected a value in (0, 1)")
    view = ViewSpec(kind="noise", noise_step=opts.blindspots_noise_step, noise_space=opts.blindspots_noise_space)
    return BlindspotSettings(view=view, prior_view=opts.blindspots_prior_view, seed=opts.seed,
                             step=opts.blindspots_step, tau=opts.blindspots_tau, batch_size=opts.batch_size or 8)


def _blindspots(adapter, items: Path, bench: str, opts: argparse.Namespace, out_dir: Path, settings, model,
                name: str, plan=None) -> None:
    from evaluation.blindspots import find_blindspots, markdown_table, plan_blindspots

    plan = plan or plan_blindspots(items, bench, opts, opts.image_dir)
    rows, summary = find_blindspots(adapter, plan, out_dir, settings, ckpt=model, progress=not opts.quiet,
                                    desc=f"{name} blind spots")
    say(f"\n## {name}: blind spots ({len(plan.items)} items, {len(rows)} objects)\n")
    for key in ("status", "group"):
        if summary["tables"][key]:
            say(markdown_table(summary["tables"][key]) + "\n")
    if summary["unlocated"]:
        say(f"{len(summary['unlocated'])} flagged or mentioned words not found in their response (not rows)")
    say(f"\nblind spots: {out_dir / 'blindspots.jsonl'} (summary: blindspots.md, figure: blindspots.html)")


def run_blindspots_from(opts: argparse.Namespace) -> int:
    """``--blindspots-from ITEMS --ckpt C``: the analysis of an existing per-item file, no generation."""
    from evaluation.blindspots import check_model, plan_blindspots

    if not opts.ckpt or len(opts.ckpt) != 1:
        raise UsageError("--blindspots-from needs exactly one --ckpt: the checkpoint that wrote the responses")
    if opts.bench == "all":
        raise UsageError("--blindspots-from: name the file's benchmark with --bench (not all)")
    run = _runs(opts)[0]
    check_device(opts.device, opts.dtype)
    load = load_options(opts)
    settings = blindspot_settings(opts, (opts.bench,))
    items = Path(opts.blindspots_from)
    plan = plan_blindspots(items, opts.bench, opts, opts.image_dir)  # the file, its images, its objects
    model = model_record(run, load)
    check_model(items, plan.model, model)
    if plan.model is None:
        say(f"note: {items.with_name('results.json')} records no checkpoint (scored from a file); assuming the "
            f"responses are {run.ckpt}'s own")
    out_dir = opts.out / opts.bench if opts.out else items.parent
    if opts.quiet:
        from uedpo.models.loading import quiet_loading

        quiet_loading()
    with output_lock(opts.out or items.parent, "--out" if opts.out else "--blindspots-from"):
        adapter = load.load(run.ckpt, adapter_dir=run.adapter, device=opts.device)
        _blindspots(adapter, items, opts.bench, opts, out_dir, settings, model, f"{run.name}/{opts.bench}", plan)
    return 0


def _check(result: dict[str, Any], baseline: dict[str, Any], opts: argparse.Namespace) -> int:
    status, report = check_baseline(result, baseline, opts.tolerance)
    say(report)
    return status


def _fmt(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)
