"""Writing a benchmark's outputs and checking them against a baseline (shared by both uedpo-eval modes).

Everything a run writes is checked before anything is written (:func:`check_output_dir`, :func:`load_baseline`);
the output directory is locked for the run (:func:`output_lock`: a second run on it stops with one line); the
results are published as one set (:func:`write_outputs`, :func:`uedpo.io.publish_set`).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from evaluation.benches import Scored, UsageError
from evaluation.regression import compare, format_report
from evaluation.results import HIGHER_IS_BETTER
from evaluation.tables import result_heading, results_frame, sections_markdown
from uedpo.io import IncompleteSetError, check_member, jsonl_text, manifest_path, new_file_mode, publish_set

LOCK_NAME = ".uedpo-eval.lock"
# Files derived from a per-item file; they go when a new per-item file replaces the one they were made from.
BLINDSPOT_FILES = ("blindspots.jsonl", "blindspots.settings.json", "blindspots.summary.json", "blindspots.md",
                   "blindspots.csv", "blindspots.html", "blindspots.manifest.json")


_stdout_closed = False


def say(text: str = "") -> None:
    """Print a line of the report; a closed stdout (``uedpo-eval ... | head``) is not an error: the rest of the
    report is dropped and the run goes on (its files are written before anything is printed)."""
    global _stdout_closed
    if _stdout_closed:
        return
    try:
        print(text, flush=True)
    except (BrokenPipeError, ValueError):  # ValueError: stdout already closed in-process
        _stdout_closed = True
        try:  # later writes (and the flush at exit) go nowhere instead of raising again
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass


def table_names(results_path: Path) -> tuple[str, str]:
    """``table.md``/``table.csv`` beside ``results.json``; ``<stem>.table.md`` beside another name, so two
    ``--output-json`` files in one folder never share (and overwrite) a table."""
    stem = results_path.stem
    return ("table.md", "table.csv") if stem == "results" else (f"{stem}.table.md", f"{stem}.table.csv")


def items_name(results_path: Path) -> str:
    return results_path.stem + ".items.jsonl"


def render_outputs(scored: Scored, results_path: Path) -> dict[str, str]:
    """The set's files, name -> text: results JSON, per-item JSONL, markdown and CSV tables."""
    result = scored.result.to_dict()
    frame = results_frame([(result["bench"], result)])
    frame.insert(0, "variant", result["variant"])  # a CSV row never loses what it measured
    md, csv = table_names(results_path)
    return {results_path.name: json.dumps(result, indent=2, ensure_ascii=False) + "\n",
            items_name(results_path): jsonl_text(scored.items),
            md: f"{result_heading(result)}\n\n{sections_markdown(result)}\n",
            csv: frame.to_csv()}


def stale_blindspots(directory: Path, items_text: str) -> tuple[str, ...]:
    """The blind-spot files in ``directory`` when they were made from another per-item file than this one."""
    settings = directory / "blindspots.settings.json"
    try:
        made_from = json.loads(settings.read_text(encoding="utf-8")).get("items_sha256")
    except FileNotFoundError:
        return BLINDSPOT_FILES if (directory / "blindspots.manifest.json").exists() else ()
    except (OSError, ValueError, AttributeError, RecursionError):
        return BLINDSPOT_FILES
    return () if made_from == hashlib.sha256(items_text.encode("utf-8")).hexdigest() else BLINDSPOT_FILES


def write_outputs(scored: Scored, results_path: Path) -> None:
    """Publish the result's files as one set (``<stem>.manifest.json`` last); blind-spot files made from a
    previous per-item file are removed with the previous set."""
    files = render_outputs(scored, results_path)
    drop = stale_blindspots(results_path.parent, files[items_name(results_path)]) \
        if results_path.name == "results.json" else ()
    try:
        publish_set(results_path.parent, files, manifest_path(results_path).name, drop)
    except OSError as err:
        raise UsageError(f"{err.filename or results_path.parent}: cannot write the results ({err.strerror}); "
                         "the previous results there are unchanged: free space or fix the permissions and "
                         "rerun") from None


# -- checked before anything is written -----------------------------------------------------------------------
def check_output_dir(path: Path, flag: str) -> None:
    """Refuse an output directory that is a file, lies under a file, or cannot be written (exit 2, nothing
    created)."""
    probe = Path(path)
    while not probe.exists():
        if probe.is_symlink():
            raise UsageError(f"{flag} {path}: {probe} is a broken symbolic link; remove it or choose another path")
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        where = "is a file" if probe == Path(path) else f"lies under the file {probe}"
        raise UsageError(f"{flag} {path}: {where}, not a directory; pass a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: cannot create files in {probe} (permission denied or read-only); "
                         "choose a writable directory")


def check_output_file(path: Path, flag: str) -> None:
    """A results file path: not a directory, in a writable directory."""
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a directory; pass a file path such as {path / 'results.json'}")
    if path.suffix != ".json":
        raise UsageError(f"{flag} {path}: expected a .json file name (the per-item file and tables are named "
                         "after it)")
    check_output_dir(path.parent, flag)


def load_baseline(path: Path) -> dict[str, Any]:
    """The ``--baseline`` results, read and checked before the run (so a bad one writes nothing)."""
    try:
        data = path.read_bytes()
        baseline = json.loads(data.decode("utf-8"))
    except IsADirectoryError:
        raise UsageError(f"--baseline {path}: is a directory; pass a results.json written by uedpo-eval") from None
    except FileNotFoundError:
        raise UsageError(f"--baseline {path}: not found; pass a results.json written by uedpo-eval") from None
    except OSError as err:
        raise UsageError(f"--baseline {path}: cannot read it ({err.strerror}); check its permissions") from None
    except (ValueError, RecursionError) as err:
        why = "nested too deeply" if isinstance(err, RecursionError) else str(err).splitlines()[0]
        raise UsageError(f"--baseline {path}: not valid JSON ({why}); pass a results.json written by "
                         "uedpo-eval") from None
    metrics = baseline.get("metrics") if isinstance(baseline, dict) else None
    if not isinstance(metrics, dict) or not metrics:
        raise UsageError(f"--baseline {path}: no 'metrics' object; pass a results.json written by uedpo-eval")
    for section, values in metrics.items():
        if not isinstance(values, dict):
            raise UsageError(f"--baseline {path}: metrics.{section} is {type(values).__name__}, not an object of "
                             "metric -> number; pass a results.json written by uedpo-eval")
        for name, value in values.items():
            if name in HIGHER_IS_BETTER and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise UsageError(f"--baseline {path}: metrics.{section}.{name} = {value!r} is not a number; pass "
                                 "a results.json written by uedpo-eval")
    try:
        check_member(path, data=data)
    except IncompleteSetError as err:
        raise UsageError(f"--baseline {err}") from None
    return baseline


def check_baseline(result: dict[str, Any], baseline: dict[str, Any], tolerance: float) -> tuple[int, str]:
    """(exit status, report): 1 on a regression or a missing metric, else 0."""
    numeric = {s: {k: v for k, v in m.items() if isinstance(v, int | float) and not isinstance(v, bool)}
               for s, m in baseline["metrics"].items()}
    report = compare(result, {**baseline, "metrics": numeric}, tolerance)
    return (0 if report.ok else 1), format_report(report, tolerance)


# -- one run per output directory -----------------------------------------------------------------------------
def _pid_in(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip() or "?"
    except (OSError, UnicodeDecodeError):
        return "?"


@contextmanager
def output_lock(directory: Path, flag: str = "--out") -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` (``flock`` on ``.uedpo-eval.lock``, one per rank under
    torchrun) for the block; a second run on it stops at once with one line. The lock file is removed at the
    end; directories this call created are removed again when nothing was written into them."""
    directory = Path(directory)
    created = []
    probe = directory
    while not probe.exists():
        created.append(probe)
        probe = probe.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"{flag} {directory}: cannot create it ({err.strerror}); choose a writable "
                         "directory") from None
    rank = int(os.environ.get("RANK", "0") or 0)
    path = directory / (LOCK_NAME if rank == 0 else f".uedpo-eval.rank{rank}.lock")
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, new_file_mode())
        except OSError as err:
            _remove_empty(created)
            raise UsageError(f"{flag} {directory}: cannot write there ({err.strerror}); choose a writable "
                             "directory") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise UsageError(f"{flag} {directory}: another uedpo-eval run (pid {_pid_in(path)}) is writing there; "
                             "wait for it to finish, or pass another directory") from None
        try:  # the previous holder may have removed the file between our open and our lock: lock the new one
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)
        _remove_empty(created)


def _remove_empty(created: list[Path]) -> None:
    for d in created:  # deepest first
        try:
            d.rmdir()
        except OSError:
            break
