"""AMBER end to end: ``uedpo-eval --bench amber`` against the official loop, each a fresh process, same model.

Both score all 15,220 ids of ``amber/validation/official_md/responses_all.json`` with the real spaCy
``en_core_web_md`` 3.8.0 (what ``make install`` puts in ``.venv/spacy-models``), timed from process start to
the printed table:

* ours: ``uedpo-eval --bench amber --responses responses_all.json --similarity spacy:MODEL --quiet`` (nouns
  on the fast nltk-3.9.1-identical pipeline; similarities read from the model's vectors, once per word pair);
* official: this script's ``--official-loop`` child, the transcription of ``junyangwang0410/AMBER`` @
  534babf6bbfcce2e735c26289dedfb21cef3c939 ``inference.py`` (``evaluation.amber.reference``: list scans and
  one ``nlp(w1).similarity(nlp(w2))`` per (mention, word) pair, i.e. two pipeline runs per pair, after
  ``spacy.load(MODEL)``), with the official NLTK calls (``nltk.pos_tag``, ``WordNetLemmatizer``) on nltk
  3.9.1's tokenization, so that its nouns are the official ones whatever nltk is installed.

Both printed tables must equal ``official_stdout_all.txt`` (checked). Run::

    UEDPO_DATA_DIR=... NLTK_DATA=... python benchmarks/bench_amber.py [--repeats 3] [--model PATH]
        [--skip-official]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from evaluation.amber.official_stdout import OFFICIAL_HEADERS, parse_official_stdout

VALIDATION = Path("amber/validation/official_md")
TARGET_RATIO = 100.0
TARGET_SECONDS = 3.0
DEFAULT_MODEL = Path(sys.prefix) / "spacy-models" / "en_core_web_md"


def _data_dir() -> Path:
    from benchmarks_data.store import data_dir

    return data_dir()


def parse_markdown_tables(text: str) -> dict[str, dict[str, float]]:
    """``uedpo-eval``'s printed tables (``| section | CHAIR↓ | ...``) as ``{section: {metric: value}}``."""
    sections: dict[str, dict[str, float]] = {}
    header: list[str] = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if not cells or set(cells[0]) <= {"-", ":"}:
            continue
        if cells[0] == "section":
            header = [c.rstrip("↑↓") for c in cells[1:]]
        elif header:
            sections[cells[0]] = {name: float(value) for name, value in zip(header, cells[1:], strict=True)}
    return sections


def official_loop(model: str, responses_path: str) -> None:
    """The child process: the official loop with the real pipeline, printed as the official script prints."""
    import warnings

    warnings.filterwarnings("ignore", category=UserWarning)  # as inference.py (spaCy's W008)
    import spacy

    from benchmarks_data.amber import load_amber, load_amber_responses
    from evaluation.amber.nlp import nltk_noun_extractor
    from evaluation.amber.reference import official_counters, official_printed

    nlp = spacy.load(model)

    def check_synonyms_word(word1: str, word2: str) -> float:
        return nlp(word1).similarity(nlp(word2))

    data = load_amber()
    printed = official_printed(
        official_counters(
            load_amber_responses(responses_path), data, nltk_noun_extractor(), check_synonyms_word
        )
    )
    for header, section in OFFICIAL_HEADERS.items():
        print(f"{header}:")
        for name, value in printed[section].items():
            print(f"{name}:\t {value}")
        print()


def _timed(cmd: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return seconds, done.stdout


def _ours_cmd(model: str, responses: Path) -> list[str]:
    script = Path(sys.executable).with_name("uedpo-eval")
    entry = [str(script)] if script.exists() else [sys.executable, "-m", "evaluation.cli"]
    return [
        *entry,
        "--bench",
        "amber",
        "--responses",
        str(responses),
        "--similarity",
        f"spacy:{model}",
        "--quiet",
    ]


def run(args: argparse.Namespace) -> dict[str, float]:
    root = _data_dir() / VALIDATION
    responses = Path(args.responses) if args.responses else root / "responses_all.json"
    expected = parse_official_stdout((root / "official_stdout_all.txt").read_text(encoding="utf-8"))
    model = str(Path(args.model).resolve())
    print(f"AMBER end to end, {responses.name}, model {model}")
    ours_cmd = _ours_cmd(model, responses)
    print("ours:     " + " ".join(ours_cmd))
    times = []
    for _ in range(args.repeats):
        seconds, out = _timed(ours_cmd)
        if parse_markdown_tables(out) != expected:
            raise SystemExit(f"ours printed other metrics than official_stdout_all.txt:\n{out}")
        times.append(seconds)
    ours = statistics.median(times)
    print(
        f"ours: {', '.join(f'{t:.2f}' for t in times)} s (median {ours:.2f} s; "
        f"target < {TARGET_SECONDS:.0f} s: "
        f"{'met' if ours < TARGET_SECONDS else 'NOT met'}); metrics = official_stdout_all.txt"
    )
    figures = {"ours_s": ours}
    if args.skip_official:
        return figures
    official_cmd = [sys.executable, __file__, "--official-loop", model, "--responses", str(responses)]
    print("official: " + " ".join(official_cmd))
    seconds, out = _timed(official_cmd)
    if parse_official_stdout(out) != expected:
        raise SystemExit(f"the official loop printed other metrics than official_stdout_all.txt:\n{out}")
    ratio = seconds / ours
    print(f"official loop: {seconds:.1f} s; metrics = official_stdout_all.txt")
    print(
        f"speed-up x{ratio:.1f} "
        f"(target >= x{TARGET_RATIO:.0f}: {'met' if ratio >= TARGET_RATIO else 'NOT met'})"
    )
    figures.update(official_s=seconds, ratio=ratio)
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        default=os.environ.get("UEDPO_SPACY_MD", str(DEFAULT_MODEL)),
        help="spaCy model folder (default: the one `make install` unpacks, or $UEDPO_SPACY_MD)",
    )
    parser.add_argument("--responses", help="answers file (default: the validation responses_all.json)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of ours (the median is reported)")
    parser.add_argument(
        "--skip-official", action="store_true", help="time ours only (the official loop takes minutes)"
    )
    parser.add_argument("--official-loop", metavar="MODEL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.official_loop:
        official_loop(args.official_loop, args.responses)
    else:
        run(args)


if __name__ == "__main__":
    main()
