"""MMHal-Bench for ``uedpo-eval``: judge the responses (or read saved judge replies), then score."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

from benchmarks_data.mmhal import N_RECORDS, load_responses, load_reviews
from benchmarks_data.store import bench_sha256s, require_verified
from evaluation.benches import Scored, UsageError
from evaluation.benches.judging import judge_client, judge_config_record
from evaluation.mmhal.reviews import reviews_from_objects, served_models
from evaluation.mmhal.run import judge_records, official_review_dump
from evaluation.mmhal.score import official_printout, score_mmhal
from evaluation.results import atomic_write_json

NEEDS_JUDGE = (
    "MMHal-Bench needs judge replies: pass --reviews FILE (saved replies) or --judge-model M "
    "[--judge-base-url URL] (an OpenAI-compatible endpoint; the key is read from $OPENAI_API_KEY)"
)


def score_file(bench: str, path: str, opts: Namespace, out_dir: Path | None = None) -> Scored:
    require_verified("mmhal", opts.data_dir, ["mmhal-bench_answer_template.json"])
    records = load_responses(path, data_dir=opts.data_dir, allow_subset=getattr(opts, "allow_subset", False))
    notes: list[str] = []
    if opts.reviews:
        reviews = reviews_from_objects(load_reviews(opts.reviews, N_RECORDS), source=str(opts.reviews))
        texts, judge = [r.text for r in reviews], {"reviews_file": str(opts.reviews),
                                                    "served_models": list(served_models(reviews))}
    else:
        client = judge_client(opts, out_dir / "judge-cache" if out_dir else None)
        if client is None:
            raise UsageError(NEEDS_JUDGE)
        replies = judge_records(records, client)
        texts, judge = [r.text for r in replies], judge_config_record(client)
        if out_dir is not None:
            dump = out_dir / "mmhal_reviews.json"
            atomic_write_json(dump, official_review_dump(replies))
            notes.append(f"judge replies saved to {dump} (re-score offline with --reviews)")
    result = score_mmhal(records, texts)
    bench_result = result.to_bench_result(
        config={"judge": judge}, data_sha256=bench_sha256s("mmhal", opts.data_dir),
    )
    items = [
        {"bench": "mmhal", "id": it.index, "question": rec.question, "response": rec.model_answer,
         "hallucinated": [], "record": {"question_type": it.question_type, "score": it.score,
                                        "hallucinated": it.hallucinated, "parseable": it.parseable,
                                        "review": it.review}}
        for it, rec in zip(result.items, records, strict=True)
    ]
    notes += official_printout(result)
    if result.n_unparseable:
        notes.append(f"unparseable judge replies: {result.n_unparseable} (scored 0, as the official script does)")
    return Scored(bench_result, items, notes)


MAX_NEW_TOKENS = 512


def image_name(image_src: str) -> str:
    """MMHal images are named by the basename of ``image_src`` (the HF dataset's images/ folder)."""
    return image_src.rstrip("/").rsplit("/", 1)[-1]


def items(bench: str, opts: Namespace):
    from benchmarks_data.mmhal import load_template
    from evaluation.generation import GenItem

    return [GenItem(id=r.index, image=image_name(r.image_src), question=r.question, max_new_tokens=MAX_NEW_TOKENS)
            for r in load_template(data_dir=opts.data_dir)]
