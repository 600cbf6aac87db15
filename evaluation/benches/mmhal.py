"""MMHal-Bench for ``uedpo-eval``: judge the responses (or read saved judge replies), then score."""

from __future__ import annotations

from argparse import Namespace
from collections import Counter
from pathlib import Path

from benchmarks_data.mmhal import N_RECORDS, load_responses, load_reviews
from benchmarks_data.store import bench_sha256s, require_verified
from evaluation.benches import Benchmark, Scored, UsageError, check_input_file, label_partial
from evaluation.benches.judging import judge_client, judge_config_record
from evaluation.benches.mmhal_judge import judge_records, official_review_dump
from evaluation.benches.mmhal_reviews import reviews_from_objects, served_models
from evaluation.mmhal.score import judge_variant, official_printout, score_mmhal
from uedpo.io import atomic_write_json

JUDGE_SECTION = "mmhal_judge"  # counts: judge failures, unparseable replies, replies from another model
NEEDS_JUDGE = (
    "MMHal-Bench needs judge replies: pass --reviews FILE (saved replies) or --judge-model M "
    "[--judge-base-url URL] (an OpenAI-compatible endpoint; the key is read from $OPENAI_API_KEY)"
)


def score_file(bench: str, path: str, opts: Namespace, out_dir: Path | None = None) -> Scored:
    """Judge (or read the saved replies of) every response, then score.

    A judge failure (an empty or cut-off reply, after every retry) is never scored as 0: the run stops with
    one line naming the items, since a score over fewer items or with invented zeros is not the benchmark's
    number; the good replies are cached, so a rerun asks only for the failed ones. ``--allow-partial`` scores
    the judged items instead, labelled ``+partial:n/96``. Failures, unparseable replies (scored 0, as the
    official script does) and replies accepted from another model than requested are counted in the
    ``mmhal_judge`` table and in the config.
    """
    require_verified("mmhal", opts.data_dir, ["mmhal-bench_answer_template.json"])
    allow_partial = bool(getattr(opts, "allow_partial", False))
    records = load_responses(path, data_dir=opts.data_dir, allow_subset=allow_partial)
    notes: list[str] = []
    if opts.reviews:
        reviews = reviews_from_objects(load_reviews(opts.reviews, len(records)), source=str(opts.reviews))
        texts, failures = [r.text for r in reviews], [r.failure for r in reviews]
        served, requested = [r.served_model for r in reviews], None
        judge = {"reviews_file": str(opts.reviews), "model": None, "served_models": list(served_models(reviews))}
        replies = None
    else:
        client = judge_client(opts, out_dir / "judge-cache" if out_dir else None)
        if client is None:
            raise UsageError(NEEDS_JUDGE)
        replies = judge_records(records, client, allow_failures=True)
        texts, failures = [r.text for r in replies], [r.failure for r in replies]
        served, requested = [r.served_model for r in replies], client.config.model
        judge = judge_config_record(client)
    failed = [(rec.index, why) for rec, why in zip(records, failures, strict=True) if why]
    if failed and (not allow_partial or len(failed) == len(records)):
        raise UsageError(failure_message(failed, len(records), opts, allow_partial))
    if replies is not None and out_dir is not None:
        # Aligned with the responses; a failed item holds its last (empty / cut-off) completion, which an
        # offline re-score (--reviews) counts as a judge failure again.
        dump = out_dir / "mmhal_reviews.json"
        atomic_write_json(dump, official_review_dump(replies))
        notes.append(f"judge replies saved to {dump} (re-score offline with --reviews)")
    keep = [i for i, why in enumerate(failures) if not why]
    kept = [records[i] for i in keep]
    result = score_mmhal(kept, [texts[i] for i in keep])
    n_other = sum(1 for i in keep if requested and served[i] and served[i] != requested)
    bench_result = result.to_bench_result(
        config={"judge": judge, "n_judge_failures": len(failed), "n_other_model": n_other},
        data_sha256=bench_sha256s("mmhal", opts.data_dir),
    )
    bench_result.metrics[JUDGE_SECTION] = {"judge_failures": len(failed), "unparseable": result.n_unparseable,
                                           "other_model": n_other}
    if failed:
        bench_result.config["judge_failures"] = {
            "items": [i for i, _ in failed], "why": dict(Counter(why for _, why in failed))}
    bench_result.variant = judge_variant(judge.get("model"), judge["served_models"])
    if len(kept) < N_RECORDS:
        have = {r.index for r in kept}
        label_partial(bench_result, {"n": len(kept), "of": N_RECORDS, "n_missing": N_RECORDS - len(kept),
                                     "missing": [i for i in range(N_RECORDS) if i not in have][:50],
                                     "n_judge_failures": len(failed)})
    items = [
        {"bench": "mmhal", "id": it.index, "question": rec.question, "response": rec.model_answer,
         "hallucinated": [], "record": {"question_type": it.question_type, "score": it.score,
                                        "hallucinated": it.hallucinated, "parseable": it.parseable,
                                        "review": it.review}}
        for it, rec in zip(result.items, kept, strict=True)
    ]
    notes += official_printout(result)
    other = f"--judge-accept-model {', '.join(sorted(set(served) - {requested, None}))}" if n_other else ""
    notes.append(
        f"judge: {len(failed)} failures (not scored{', excluded: partial' if failed else ''}), "
        f"{result.n_unparseable} unparseable replies (scored 0, as the official script does), "
        f"{n_other} replies from another model than requested{f' (accepted: {other})' if other else ''}")
    return Scored(bench_result, items, notes)


def failure_message(failed: list[tuple[int, str]], n: int, opts: Namespace, allow_partial: bool) -> str:
    """One line: how many judge failures, which items, why, and the fix."""
    kinds = ", ".join(f"{why}: {k}" for why, k in Counter(why for _, why in failed).most_common())
    shown = ", ".join(str(i) for i, _ in failed[:8]) + (", ..." if len(failed) > 8 else "")
    head = (f"{opts.reviews}: {len(failed)} of {n} saved judge replies cannot be rated" if opts.reviews else
            f"MMHal judge: {len(failed)} of {n} replies cannot be rated after {opts.judge_max_retries + 1} "
            "attempts each")
    head += f" ({kinds}; items {shown}); they are not scored as 0"
    if allow_partial:  # every item failed: nothing to score
        return f"{head} and no item is left to score; check the judge server (its output limit and health)"
    fix = ("; re-run the judge for them" if opts.reviews else
           ", nor cached: rerun to ask only for these (check the judge's output limit and health)")
    return f"{head}{fix}, or pass --allow-partial to score the other {n - len(failed)} (labelled partial)"


MAX_NEW_TOKENS = 512


def image_name(image_src: str) -> str:
    """MMHal images are named by the basename of ``image_src`` (the HF dataset's images/ folder)."""
    return image_src.rstrip("/").rsplit("/", 1)[-1]


def items(bench: str, opts: Namespace):
    from benchmarks_data.mmhal import load_template
    from evaluation.generation import GenItem

    return [GenItem(id=r.index, image=image_name(r.image_src), question=r.question, max_new_tokens=MAX_NEW_TOKENS)
            for r in load_template(data_dir=opts.data_dir)]


def add_arguments(p) -> None:
    m = p.add_argument_group("MMHal-Bench")
    m.add_argument("--reviews", type=Path, help="saved judge replies aligned with the responses")


def check_options(opts: Namespace) -> None:
    if opts.reviews is not None:
        check_input_file(Path(opts.reviews), "--reviews")


# -- registry entry (pyproject.toml: uedpo.benchmarks) ---------------------------------------------------------
MMHAL = Benchmark(name="mmhal", score_file=score_file, items=items, loader=load_responses, scorer=score_mmhal,
                  max_new_tokens=MAX_NEW_TOKENS,
                  sections=("mmhal", "mmhal_by_type", JUDGE_SECTION), variants=("official", "judge:<served model>"),
                  needs_judge=True, add_arguments=add_arguments, check_options=check_options)
