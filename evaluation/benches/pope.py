"""POPE for ``uedpo-eval``: answers matched to questions by id, scored per split with the chosen parser.

``--pope-data official`` (default): POPE HEAD, 3 x 3,000. ``--pope-data llava``: the e3e3926 files LLaVA-1.5
reports on (random 2,910) and LLaVA's question ids (offsets adversarial +0, random +10,000,000, popular
+20,000,000). ``--pope-parser``: the official parser or a peer's (a named variant). ``--pope-split S``: one split
per file. Every question of the selected splits must be answered unless ``--allow-partial`` (then the result is
labelled partial n/N).

Checkpoint mode asks the POPE question plus LLaVA-1.5's suffix "\\nAnswer the question using a single word or
phrase." (``llava_pope_test.jsonl``; lmms-eval's default post_prompt) about the COCO val2014 image the question
names, greedy.
"""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path
from typing import Any

from benchmarks_data.pope import (
    BENCH,
    LLAVA_PROMPT_SUFFIX,
    PopeQuestion,
    load_pope_answers,
    load_pope_questions,
    question_relpath,
    selected_splits,
)
from benchmarks_data.store import bench_sha256s, require_verified
from evaluation.benches import Benchmark, Scored, check_coverage, label_partial
from evaluation.pope import PARSERS, score_pope

DATA_VERSIONS = {"official": "official", "llava": "llava-e3e3926"}  # --pope-data -> the variant's name
# LLaVA generates up to 128 tokens for POPE; the prompt asks for one word, and every parser here decides on
# the first words (the official one on the first sentence), so 16 tokens keep any "Yes, there is a ..." intact
# while a 500-image x 3-split run stays cheap.
MAX_NEW_TOKENS = 16


def _options(opts: Namespace) -> tuple[str, str, str | None]:
    return (getattr(opts, "pope_data", None) or "official", getattr(opts, "pope_parser", None) or "official",
            getattr(opts, "pope_split", None))


def score_file(bench: str, path: str, opts: Namespace, out_dir: Path | None = None) -> Scored:
    version, parser, split = _options(opts)
    relpaths = [question_relpath(version, s) for s in selected_splits(split)]
    require_verified(BENCH, opts.data_dir, relpaths)  # a corrupt data dir must not give numbers
    questions = load_pope_questions(version, split, opts.data_dir)
    answers = load_pope_answers(path, questions, version=version, split=split)
    by_id = {(a.split, a.question_id): a for a in answers}
    missing = [f"{q.split} {q.question_id}" for q in questions if (q.split, q.question_id) not in by_id]
    coverage = check_coverage(path, bench, len(answers), len(questions), missing, opts)
    answered = [q for q in questions if (q.split, q.question_id) in by_id]
    pairs: dict[str, list[tuple[str, str]]] = {}
    for q in answered:
        pairs.setdefault(q.split, []).append((by_id[(q.split, q.question_id)].text, q.label))
    result = score_pope(pairs, parser=parser, data_version=DATA_VERSIONS[version])
    sha = bench_sha256s(BENCH, opts.data_dir)
    bench_result = result.to_bench_result(data_sha256={rel: sha[rel] for rel in relpaths})
    bench_result.config["question_files"] = relpaths
    label_partial(bench_result, coverage)
    return Scored(bench_result, _item_rows(answered, by_id, result), list(result.notes))


def _item_rows(answered: list[PopeQuestion], by_id, result) -> list[dict[str, Any]]:
    position: dict[str, int] = {}
    rows = []
    for q in answered:
        k = position[q.split] = position.get(q.split, -1) + 1
        rows.append({"bench": BENCH, "id": q.offset_id, "split": q.split, "question_id": q.question_id,
                     "image": q.image, "question": q.text, "label": q.label,
                     "response": by_id[(q.split, q.question_id)].text,
                     "prediction": result.splits[q.split].predictions[k], "hallucinated": []})
    return rows


def items(bench: str, opts: Namespace):
    """What to ask: every question of the selected splits; ids are LLaVA's offset ids (unique across splits)."""
    from evaluation.generation import GenItem

    version, _, split = _options(opts)
    return [GenItem(id=q.offset_id, image=q.image, question=q.text + LLAVA_PROMPT_SUFFIX,
                    max_new_tokens=MAX_NEW_TOKENS, extra={"question_id": q.offset_id, "category": q.split})
            for q in load_pope_questions(version, split, opts.data_dir)]


def add_arguments(p) -> None:
    o = p.add_argument_group("POPE")
    o.add_argument("--pope-data", choices=("official", "llava"), default="official",
                   help="official: POPE HEAD (3 x 3,000); llava: POPE@e3e3926 + LLaVA's question ids (LLaVA-1.5 numbers)")
    o.add_argument("--pope-parser", choices=tuple(PARSERS),
                   default="official", help="answer parser: the official one, or a peer's (a named variant)")
    o.add_argument("--pope-split", choices=("random", "popular", "adversarial"),
                   help="score one split (a file answering only that split)")


# -- registry entry (pyproject.toml: uedpo.benchmarks) ---------------------------------------------------------
def _variants() -> tuple[str, ...]:
    return ("official", *(f"parser:{name}" for name in PARSERS if name != "official"))


POPE = Benchmark(name="pope", score_file=score_file, items=items, loader=load_pope_answers, scorer=score_pope,
                 max_new_tokens=MAX_NEW_TOKENS,
                 sections=("pope_random", "pope_popular", "pope_adversarial", "pope"), variants=_variants(),
                 add_arguments=add_arguments)
