"""``uedpo-eval``: benchmark tables for response files or checkpoints.

Scoring mode (existing responses)::

    uedpo-eval --bench amber --responses answers.json [--similarity exact] [--output-json out/results.json]
    uedpo-eval --bench chair --responses captions.jsonl --coco-gt gt_objects.json.gz
    uedpo-eval --bench mmhal --responses mmhal.json --reviews judge_replies.json
    uedpo-eval --bench shapes --responses runs/demo/shapes/responses.jsonl
    uedpo-eval --bench pope --responses llava-v1.5-13b.jsonl --pope-data llava [--pope-parser lmms-eval]

Checkpoint mode (generate, then score)::

    uedpo-eval --bench amber --ckpt llava-hf/llava-1.5-7b-hf --image-dir AMBER/images --out runs/base
    uedpo-eval --bench shapes --ckpt shapes-demo --out runs/demo      # built-in synthetic benchmark + model
    uedpo-eval --bench all --ckpt BASE --ckpt BASE --adapter - --adapter runs/uedpo --image-dir ... --out runs/cmp
    uedpo-eval --bench amber --ckpt CKPT --image-dir ... --out runs/q --quantization 4bit --attn-implementation sdpa

Loading options (:class:`uedpo.models.load_options.LoadOptions`, as ``uedpo-train`` / ``uedpo-inspect``):
``--dtype``, ``--attn-implementation eager|sdpa|flash_attention_2``, ``--device-map auto``, ``--quantization
4bit|8bit`` (bitsandbytes, CUDA); one that cannot load here is refused with one line before any model loads.
Those other than the defaults are recorded in each results.json's ``model.load``.

Blind spots (:mod:`evaluation.blindspots`): ``--blindspots`` analyses each benchmark's per-item file after
scoring, in the same run; ``--blindspots-from`` analyses an existing one with the checkpoint that wrote it::

    uedpo-eval --bench shapes-faint --ckpt shapes-demo --out runs/demo --blindspots
    uedpo-eval --bench shapes --ckpt shapes-demo --blindspots-from runs/demo/shapes/results.items.jsonl

``--baseline results.json [--tolerance X]`` compares every metric in its better direction and exits 1 on a
regression (0 otherwise), so a nightly job can gate on it.

Every input is checked before anything is written; bad input (a file, a folder, an option, a full disk) exits 2
with a one-line message naming it. The output folder is locked for the run (a second run on it stops with one
line); each benchmark's results are published as one set (``results.manifest.json`` last, see
:func:`uedpo.io.publish_set`), then printed: a closed stdout (``| head``) is not an error. Ctrl-C
exits 130 with one line; the responses generated so far are kept and a rerun resumes.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from evaluation.benches import UsageError, benchmark_names, check_input_file, check_written_for, get_benchmark
from evaluation.benches.judging import add_judge_options
from evaluation.judge import JudgeError
from evaluation.outputs import (
    check_baseline,
    check_output_dir,
    check_output_file,
    load_baseline,
    output_lock,
    say,
    write_outputs,
)
from evaluation.provenance import stamp
from evaluation.tables import result_heading, sections_markdown
from uedpo.errors import InputError

INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def _benchmarks() -> list:
    """Every registered benchmark (their modules are imported: each may add options)."""
    return [get_benchmark(name) for name in benchmark_names()]


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="uedpo-eval", description=__doc__.split("\n\n")[0],
                      formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--bench", required=True, choices=(*benchmark_names(), "all"),
                   help="a registered benchmark (evaluation.benches), or all: the paper's table")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--responses", help="score an existing responses file (JSON or JSONL)")
    src.add_argument("--ckpt", action="append", help="checkpoint dir or hub id (repeat to compare)")
    p.add_argument("--adapter", action="append", help="peft LoRA adapter dir per --ckpt ('-' for none)")
    p.add_argument("--image-dir", type=Path, help="benchmark images (checkpoint mode)")
    p.add_argument("--skip-bad-images", action="store_true",
                   help="score the items whose image opens and list the others (the result is labelled partial); "
                        "without it an unreadable image stops the run before the model loads")
    p.add_argument("--out", type=Path, help="output directory: <out>/<bench>/results.json, items.jsonl, tables")
    p.add_argument("--output-json", type=Path, help="results JSON path (scoring mode; items go beside it)")
    p.add_argument("--data-dir", help="benchmark data directory (default: $UEDPO_DATA_DIR or the user cache)")
    p.add_argument("--limit", type=int, help="generate and score only the first N items (--ckpt; smoke tests)")
    p.add_argument("--allow-partial", action="store_true",
                   help="score a responses file that answers only part of the benchmark (labelled partial n/N)")
    p.add_argument("--batch-size", type=int, help="generation batch size (default 8; 100 for shapes)")
    p.add_argument("--max-new-tokens", type=int, help="override every benchmark's generation budget")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="auto", help="auto (bf16 on GPU, fp32 on CPU), float32, bfloat16, float16")
    p.add_argument("--device", default="auto")
    from uedpo.models.load_options import LoadOptions  # --attn-implementation --device-map --quantization

    LoadOptions.add_arguments(p, dtype=False)  # the one loading function's options, as uedpo-train / uedpo-inspect
    p.add_argument("--baseline", type=Path, help="results JSON to compare against (exit 1 on regression)")
    p.add_argument("--tolerance", type=float, default=0.0, help="allowed worsening per metric (its units)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    for add in dict.fromkeys(e.add_arguments for e in _benchmarks() if e.add_arguments):
        add(p)  # each benchmark's own options (evaluation.benches.Benchmark.add_arguments)
    b = p.add_argument_group("blind spots (--ckpt only; OUT/<bench>/blindspots.jsonl, evaluation/blindspots.py)")
    b.add_argument("--blindspots", action="store_true",
                   help="after scoring, find the checkpoint's blind spots on its own results (amber, chair, objhal, "
                        "shapes, shapes-faint)")
    b.add_argument("--blindspots-from", type=Path, metavar="ITEMS",
                   help="analyse this results.items.jsonl with --ckpt instead of generating (written beside it, or "
                        "under --out/<bench>)")
    b.add_argument("--blindspots-noise-step", type=int, default=500, help="k of the counterfactual of u and Δ")
    b.add_argument("--blindspots-noise-space", choices=("normalized", "pixel01"), default="normalized")
    b.add_argument("--blindspots-step", type=int,
                   help="training step whose noise draw to use (default: one fixed draw per item)")
    b.add_argument("--blindspots-prior-view", choices=("null_zeros", "null_random", "blurred"), default="null_zeros",
                   help="image of the prior-driven verdict: the null image (default) or the noised one")
    b.add_argument("--blindspots-tau", type=float, default=0.4, help="τ of the UE-DPO gate")
    add_judge_options(p)
    return p


class OneLineParser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (exit 2), like every other bad input."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# Options that only change generation: refused with --responses rather than silently ignored.
GENERATION_ONLY = (("limit", "--limit"), ("batch_size", "--batch-size"), ("max_new_tokens", "--max-new-tokens"),
                   ("adapter", "--adapter"), ("image_dir", "--image-dir"), ("skip_bad_images", "--skip-bad-images"),
                   ("attn_implementation", "--attn-implementation"), ("device_map", "--device-map"),
                   ("quantization", "--quantization"))


def validate(opts: argparse.Namespace) -> None:
    """Every option checked before anything is read, loaded or written (a bad one: exit 2, one line)."""
    for name, flag in (("batch_size", "--batch-size"), ("max_new_tokens", "--max-new-tokens"), ("limit", "--limit")):
        value = getattr(opts, name)
        if value is not None and value < 1:
            raise UsageError(f"{flag} {value}: expected a positive integer (leave it out for the default)")
    if not math.isfinite(opts.tolerance) or opts.tolerance < 0:
        raise UsageError(f"--tolerance {opts.tolerance}: expected a non-negative number (the allowed worsening "
                         "per metric, in its units)")
    if opts.responses:
        given = [flag for name, flag in GENERATION_ONLY if getattr(opts, name) not in (None, False, "none")]
        if given:
            hint = (" (to score part of a file, pass a file with those rows and --allow-partial)"
                    if given[0] == "--limit" else "")
            raise UsageError(f"{given[0]}: applies to --ckpt runs (generation), not to scoring --responses{hint}")
        if opts.blindspots or opts.blindspots_from:
            raise UsageError("--blindspots needs --ckpt: the analysis teacher-forces the checkpoint that wrote "
                             "the responses")
        check_input_file(Path(opts.responses), "--responses")
    elif opts.output_json:
        raise UsageError("--output-json: applies to scoring --responses; with --ckpt the results go to "
                         "--out/<bench>/results.json")
    if opts.blindspots_from is not None:
        check_input_file(Path(opts.blindspots_from), "--blindspots-from")
    for check in dict.fromkeys(e.check_options for e in _benchmarks() if e.check_options):
        check(opts)
    if opts.data_dir and Path(opts.data_dir).exists() and not Path(opts.data_dir).is_dir():
        raise UsageError(f"--data-dir {opts.data_dir}: is a file, not a directory; pass the benchmark data "
                         "folder (uedpo-data where shows it)")
    if opts.output_json:
        check_output_file(opts.output_json, "--output-json")
    if opts.out:
        check_output_dir(opts.out, "--out")


def run_scoring(opts: argparse.Namespace, baseline) -> int:
    entry = get_benchmark(opts.bench)
    check_written_for(opts.responses, opts.bench)
    results_path = opts.output_json or (opts.out / opts.bench / "results.json" if opts.out else None)
    scored = entry.score_file(opts.bench, opts.responses, opts,
                               out_dir=results_path.parent if results_path else None)
    stamp(scored.result)
    result = scored.result.to_dict()
    if results_path:  # written first: a closed stdout (`| head`) must not lose them
        lock = (results_path.parent, "--output-json") if opts.output_json else (opts.out, "--out")
        with output_lock(*lock):
            write_outputs(scored, results_path)
    status, report = check_baseline(result, baseline, opts.tolerance) if baseline else (0, None)
    say(result_heading(result) + "\n")
    say(sections_markdown(result))
    for note in scored.notes:
        say(note)
    if results_path:
        say(f"\nresults: {results_path}")
    if report:
        say(report)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        opts = parser.parse_args(argv)
    except SystemExit as exc:  # a usage error (one line, exit 2) or --help (exit 0)
        return int(exc.code or 0)
    try:
        validate(opts)
        baseline = load_baseline(opts.baseline) if opts.baseline else None
        if opts.responses:
            return run_scoring(opts, baseline)
        if opts.blindspots_from:
            from evaluation.checkpoint import run_blindspots_from

            return run_blindspots_from(opts)
        from evaluation.checkpoint import run_checkpoints  # imports torch/transformers only when needed

        return run_checkpoints(opts, baseline)
    except (InputError, JudgeError) as err:  # bad input (every toolkit input error is one), a failing judge
        print(f"uedpo-eval: error: {err}", file=sys.stderr)
        return 2
    except RecursionError:
        print("uedpo-eval: error: an input file is nested too deeply to read (JSON nested thousands of levels); "
              "check --responses and the other files passed", file=sys.stderr)
        return 2
    except OSError as err:  # the remaining disk, permission and device faults: one line naming the file
        where = f"{err.filename}: " if err.filename else f"under --out {opts.out}: " if opts.out else ""
        print(f"uedpo-eval: error: {where}{err.strerror or err}; check the path, its permissions and free space",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        from evaluation.generation import interrupted_message

        print(f"uedpo-eval: interrupted; {interrupted_message()}", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
