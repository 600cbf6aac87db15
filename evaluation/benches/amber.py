"""AMBER for ``uedpo-eval``: ``amber`` (all ids), ``amber-g`` (generative, ids 1-1004), ``amber-d``."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path
from typing import Any

from benchmarks_data.amber import N_GENERATIVE, load_amber, load_amber_responses, load_similarity_table
from benchmarks_data.store import bench_sha256s, require_verified
from evaluation.amber import SimilarityBackendError, amber_versions, score_amber
from evaluation.amber.similarity import (
    ExactSimilarity,
    SimilarityBackend,
    TableSimilarity,
    parse_backend_name,
)
from evaluation.amber.spacy_backends import SpacySimilarity, SpacyVectorsSimilarity
from evaluation.benches import Benchmark, Scored, UsageError, check_coverage, check_input_file, label_partial

OFFICIAL_SIMILARITY = "spacy:en_core_web_lg"
BENCHES = {"amber": "all", "amber-g": "generative", "amber-d": "discriminative"}



def parse_similarity_spec(spec: str) -> SimilarityBackend:
    """A backend from ``spacy[:MODEL]`` (official: ``spacy:en_core_web_lg``; MODEL a name or a model folder;
    the values are read from the model's vectors), ``spacy-pipeline[:MODEL]`` (the same values from the full
    pipeline), ``exact`` or ``table:PATH``.

    Nothing heavy happens here: the model is read (or spaCy imported) only when scoring starts.
    """
    kind, arg = parse_backend_name(spec)
    if kind == "spacy":
        return SpacyVectorsSimilarity(model=arg)
    if kind == "spacy-pipeline":
        return SpacySimilarity(model=arg)
    if kind == "exact":
        return ExactSimilarity()
    return TableSimilarity(load_similarity_table(arg), source=arg)


def _selects(bench: str, item_id: int) -> bool:
    part = BENCHES[bench]
    return part == "all" or (part == "generative") == (item_id <= N_GENERATIVE)


def _variant(result_variant: str, similarity: str | None, spacy_model: str | None = None) -> str:
    if similarity is None or similarity in (OFFICIAL_SIMILARITY, "spacy"):
        return result_variant
    kind = similarity.split(":")[0]
    if kind.startswith("spacy"):  # a spaCy model other than en_core_web_lg gives other numbers: name it
        return f"{result_variant}+similarity:spacy:{spacy_model or similarity.split(':', 1)[-1]}"
    return f"{result_variant}+similarity:{kind}"


AMBER_FILES = ("data/annotations.json", "data/relation.json", "data/safe_words.txt")


def score_file(bench: str, path: str, opts: Namespace, out_dir=None) -> Scored:
    require_verified("amber", opts.data_dir, AMBER_FILES)  # a corrupt data dir must not give numbers
    data = load_amber(opts.data_dir)
    responses = [r for r in load_amber_responses(path) if _selects(bench, r.id)]
    if not responses:
        raise UsageError(f"{path}: no {BENCHES[bench]} AMBER ids in the file; check --bench or the ids")
    answered = {r.id for r in responses}
    expected = [i for i in sorted(data.annotations) if _selects(bench, i)]
    coverage = check_coverage(path, bench, len(answered), len(expected),
                              [i for i in expected if i not in answered], opts)
    has_generative = any(r.id <= N_GENERATIVE for r in responses)
    similarity = parse_similarity_spec(opts.similarity) if has_generative else None
    try:
        result = score_amber(
            responses, data, similarity=similarity, normalize_answers=opts.normalize_answers,
            progress=not opts.quiet,
        )
    except SimilarityBackendError as err:
        raise UsageError(f"{err} (--similarity; `uedpo-data amber-similarity` writes a table)") from None
    bench_result = result.to_bench_result(amber_versions(similarity), bench_sha256s("amber", opts.data_dir))
    bench_result.bench = bench
    bench_result.variant = _variant(result.variant, result.config.get("similarity"),
                                    bench_result.versions.get("spacy_model"))
    label_partial(bench_result, coverage)
    text = {r.id: r.response for r in responses}
    items: list[dict[str, Any]] = []
    for rec in result.generative_records:
        row = rec.to_dict()
        items.append({"bench": bench, "id": rec.id, "response": text[rec.id],
                      "hallucinated": row.pop("hallucinated"), "record": row})
    for rec in result.discriminative_records:
        items.append({"bench": bench, "id": rec.id, "response": text[rec.id], "hallucinated": [],
                      "record": rec.to_dict()})
    notes = [
        f"answers not exactly 'Yes'/'No' in {section}: {n} (scored as wrong, as the official script does; "
        "--normalize-answers maps 'Yes, ...' style answers)"
        for section, n in result.non_yes_no_answers.items() if n
    ]
    return Scored(bench_result, items, notes)


# Discriminative answers are one word ("Yes"/"No"); descriptions need room (AMBER captions average ~100 words).
MAX_NEW_TOKENS = {"generative": 512, "discriminative": 32}


def items(bench: str, opts: Namespace):
    """What to ask the model: AMBER's own query text for every id of ``bench``."""
    from benchmarks_data.amber import load_amber_queries
    from evaluation.generation import GenItem

    return [
        GenItem(id=q.id, image=q.image, question=q.query,
                max_new_tokens=MAX_NEW_TOKENS["generative" if q.id <= N_GENERATIVE else "discriminative"])
        for q in load_amber_queries("all", opts.data_dir)
        if _selects(bench, q.id)
    ]


def add_arguments(p) -> None:
    a = p.add_argument_group("AMBER")
    a.add_argument("--similarity", default="spacy:en_core_web_lg",
                   help="near-synonym backend: spacy[:NAME|DIR] (official; reads the model's word vectors, "
                        "identical to the pipeline), spacy-pipeline[:NAME|DIR] (runs the pipeline), exact, "
                        "table:PATH")
    a.add_argument("--normalize-answers", action="store_true",
                   help="map 'Yes, there is ...' style answers to Yes/No (a named, non-official variant)")


def check_options(opts: Namespace) -> None:
    if opts.similarity.startswith("table:"):
        check_input_file(Path(opts.similarity.removeprefix("table:")), "--similarity table:")


# -- registry entries (pyproject.toml: uedpo.benchmarks) -------------------------------------------------------
def _entry(name: str) -> Benchmark:
    from evaluation.amber.constants import SECTION_ORDER as SECTIONS
    from evaluation.amber.constants import VARIANT_NORMALIZED_ANSWERS, VARIANT_OFFICIAL
    from evaluation.blindspots import amber_blindspots

    part = BENCHES[name]
    budget = MAX_NEW_TOKENS if part == "all" else MAX_NEW_TOKENS[part]
    sections = SECTIONS if part == "all" else (SECTIONS[:1] if part == "generative" else SECTIONS[1:])
    return Benchmark(name=name, score_file=score_file, items=items, loader=load_amber_responses, scorer=score_amber,
                     max_new_tokens=budget, sections=sections,
                     variants=(VARIANT_OFFICIAL, VARIANT_NORMALIZED_ANSWERS, "+similarity:<backend>"),
                     family="amber",
                     blindspot_cases=None if part == "discriminative" else amber_blindspots,
                     add_arguments=add_arguments, check_options=check_options)


AMBER, AMBER_G, AMBER_D = (_entry(name) for name in BENCHES)
