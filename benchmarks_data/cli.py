"""``uedpo-data``: fetch, verify and locate the benchmark data files.

    uedpo-data fetch amber            # download into the cache (or --data-dir / UEDPO_DATA_DIR)
    uedpo-data verify [BENCH]         # sha256 of every file against manifests/<bench>.json
    uedpo-data where                  # what is present per benchmark, verified or not
    uedpo-data build-gt --coco-annotations DIR --out gt.json.gz   # COCO ground-truth objects file
    uedpo-data amber-similarity --spacy-model en_core_web_lg --out sim.json   # AMBER similarity table

Exit codes: 0 OK, 1 a file failed verification (or a download failed), 2 usage or bad input.
A subcommand is one ``add_<name>(subparsers, common)`` function in ``SUBCOMMANDS``: it adds its
parser and sets ``handler`` to a function ``(args) -> int``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks_data import store
from benchmarks_data.manifest import BENCHES
from uedpo.errors import InputError

EXIT_OK, EXIT_VERIFY_FAILED, EXIT_USAGE = 0, 1, 2

# (subparsers action, parent parser holding --data-dir) -> None; see add_fetch for the pattern.
SubcommandAdder = Callable[[Any, argparse.ArgumentParser], None]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Plain left-aligned columns separated by two spaces (no trailing spaces)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ subcommands


def _run_fetch(args: argparse.Namespace) -> int:
    report = store.fetch(args.bench, args.data_dir)
    print(f"data dir: {report.data_dir}")
    rows = [(o.relpath, o.action, o.detail) for o in report.outcomes if o.action != "valid"]
    if rows:
        print(format_table(["file", "result", "detail"], rows))
    counts = {a: len(report.by_action(a)) for a in ("valid", "downloaded", "built", "manual", "failed")}
    print(f"{args.bench}: " + ", ".join(f"{n} {a}" for a, n in counts.items() if n))
    if report.by_action("manual"):
        print("files marked 'manual' need the step named in 'detail'; everything else is usable now")
    # Some files are reference-use only; say so where the user gets them.
    print("licences: " + "; ".join(store.load_manifest(args.bench).licenses))
    return EXIT_OK if report.ok else EXIT_VERIFY_FAILED


def add_fetch(subparsers, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser("fetch", parents=[common], help="download a benchmark's files and verify them")
    p.add_argument("bench", choices=BENCHES)
    p.set_defaults(handler=_run_fetch)


def _run_verify(args: argparse.Namespace) -> int:
    report = store.verify(args.bench, args.data_dir)
    print(f"data dir: {report.data_dir}")
    shown = report.checks if args.all else report.problems
    if shown:
        print(format_table(["bench", "file", "status", "detail"],
                           [(c.bench, c.relpath, c.status, "" if c.ok else c.message()) for c in shown]))
    for bench in BENCHES if args.bench is None else (args.bench,):
        checks = report.for_bench(bench)
        print(f"{bench}: {sum(c.ok for c in checks)}/{len(checks)} files OK")
    if not report.ok:
        print(f"verification failed for {len(report.problems)} file(s); the fix is in 'detail'", file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_VERIFY_FAILED


def add_verify(subparsers, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser("verify", parents=[common], help="check sha256 of every file (all benchmarks)")
    p.add_argument("bench", nargs="?", choices=BENCHES, help="only this benchmark")
    p.add_argument("--all", action="store_true", help="list every file, not only the problems")
    p.set_defaults(handler=_run_verify)


def _run_where(args: argparse.Namespace) -> int:
    report = store.where(args.data_dir)
    print(f"data dir: {report.data_dir}  (from {report.origin})")
    print(format_table(["bench", "present", "verified", "status"],
                       [(b.bench, f"{b.present}/{b.total}", f"{b.verified}/{b.total}", b.status)
                        for b in report.benches]))
    for b in report.benches:
        if b.images is not None and not b.images.included:
            print(f"{b.bench} images ({b.images.count}, {b.images.naming}) are not included: {b.images.where}")
    return EXIT_OK


def add_where(subparsers, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser("where", parents=[common], help="show the data dir and what is present")
    p.set_defaults(handler=_run_where)


def check_out_file(path: str, flag: str = "--out") -> None:
    """An output file path checked before any work: not a directory, in a directory that can be written."""
    out = Path(path)
    if out.is_dir():
        raise store.DataError(f"{flag} {path}: is a directory; pass a file path")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise store.DataError(f"{flag} {path}: {parent} is a file, not a directory; pass a path in a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise store.DataError(f"{flag} {path}: cannot create files in {parent} (permission denied or read-only); "
                              "choose a writable folder")


def _run_build_gt(args: argparse.Namespace) -> int:
    from evaluation.benches.coco_gt import build_gt_objects_file

    check_out_file(args.out)

    out = build_gt_objects_file(args.coco_annotations, args.out, args.variant, args.data_dir)
    print(f"wrote {out} ({args.variant} ground truth, sha256 {store.file_sha256(out)})")
    return EXIT_OK


def add_build_gt(subparsers, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "build-gt", parents=[common],
        help="build a COCO ground-truth objects file from the COCO 2014 annotations (instances + captions)")
    p.add_argument("--coco-annotations", required=True,
                   help="folder with instances_{train,val}2014.json and captions_{train,val}2014.json")
    p.add_argument("--variant", choices=("maxlinn", "rlhfv"), default="maxlinn",
                   help="maxlinn: CHAIR (original synonyms, POS lemmas); rlhfv: Object HalBench (refined, nouns)")
    p.add_argument("--out", required=True, help="output .json.gz path")
    p.set_defaults(handler=_run_build_gt)


def _run_amber_similarity(args: argparse.Namespace) -> int:
    from benchmarks_data.amber import load_amber
    from evaluation.amber import build_similarity_table
    from uedpo.io import atomic_write_json

    check_out_file(args.out)
    table = build_similarity_table(load_amber(args.data_dir).vocabulary, args.spacy_model)
    atomic_write_json(args.out, table)
    print(f"wrote {args.out}: similarities of {len(table) + 1} AMBER words under {args.spacy_model}; "
          f"use it with uedpo-eval --similarity table:{args.out}")
    return EXIT_OK


def add_amber_similarity(subparsers, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "amber-similarity", parents=[common],
        help="precompute AMBER's word-pair similarities with a spaCy model (for --similarity table:PATH)")
    p.add_argument("--spacy-model", default="en_core_web_lg",
                   help="spaCy model name or folder, run as the full pipeline (official: en_core_web_lg)")
    p.add_argument("--out", required=True, help="output JSON path")
    p.set_defaults(handler=_run_amber_similarity)


SUBCOMMANDS: list[SubcommandAdder] = [add_fetch, add_verify, add_where, add_build_gt, add_amber_similarity]


# ------------------------------------------------------------------------------------------- main


class OneLineParser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (exit 2), like every other bad input."""

    def error(self, message: str):
        usage = " ".join(self.format_usage().split())  # argparse wraps it over lines: one line here
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}; {usage}\n")


def build_parser() -> argparse.ArgumentParser:
    # --data-dir is accepted before or after the subcommand; SUPPRESS keeps the subparser's copy
    # from overwriting a value given before it.
    common = OneLineParser(add_help=False)
    common.add_argument("--data-dir", default=argparse.SUPPRESS,
                        help="benchmark data root (overrides UEDPO_DATA_DIR and the user cache)")
    parser = OneLineParser(
        prog="uedpo-data", description="Fetch, verify and locate the benchmark data files.",
        epilog="exit codes: 0 OK, 1 a file failed verification or a download failed, 2 usage or bad input")
    parser.add_argument("--data-dir", default=None, help=argparse.SUPPRESS)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    try:
        root = getattr(args, "data_dir", None)
        if root and Path(root).exists() and not Path(root).is_dir():
            raise store.DataError(f"--data-dir {root}: is a file, not a directory; pass the benchmark data folder")
        return args.handler(args)
    except InputError as exc:  # DataError and every other input error; a bug keeps its traceback
        print(f"uedpo-data: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RecursionError:
        print("uedpo-data: error: an input file is JSON nested too deeply to read; check the files passed",
              file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # disk, permission faults: one line naming the file
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"uedpo-data: error: {where}{exc.strerror or exc}; check the path, its permissions and free space",
              file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("uedpo-data: interrupted; files are written atomically, so nothing is half-written: rerun the "
              "command", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
