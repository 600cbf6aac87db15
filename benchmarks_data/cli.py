"""``uedpo-data``: fetch, verify and locate the benchmark data files.

    uedpo-data fetch amber            # download into the cache (or --data-dir / UEDPO_DATA_DIR)
    uedpo-data verify [BENCH]         # sha256 of every file against manifests/<bench>.json
    uedpo-data where                  # what is present per benchmark, verified or not

Exit codes: 0 OK, 1 a file failed verification (or a download failed), 2 usage or bad input.
A subcommand is one ``add_<name>(subparsers, common)`` function in ``SUBCOMMANDS``: it adds its
parser and sets ``handler`` to a function ``(args) -> int``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks_data import store
from benchmarks_data.manifest import BENCHES

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


SUBCOMMANDS: list[SubcommandAdder] = [add_fetch, add_verify, add_where]


# ------------------------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    # --data-dir is accepted before or after the subcommand; SUPPRESS keeps the subparser's copy
    # from overwriting a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", default=argparse.SUPPRESS,
                        help="benchmark data root (overrides UEDPO_DATA_DIR and the user cache)")
    parser = argparse.ArgumentParser(
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
        return args.handler(args)
    except (store.DataError, ValueError) as exc:
        print(f"uedpo-data: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
