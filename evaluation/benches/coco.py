"""CHAIR (COCO protocol) and Object HalBench for ``uedpo-eval``.

CHAIR: captions JSON/JSONL with ``--image-id-key``/``--caption-key``; ground truth from ``--coco-gt`` (a COCO
2014 annotations folder or a ground-truth objects file), default the data directory's Maxlinn GT file. In
checkpoint mode the images are the 500 COCO val2014 images of OPERA's released LLaVA-1.5 logs (a fixed,
public list, unlike OPERA's ``random.shuffle(os.listdir(...))``), prompt "Please describe this image in
detail.", 512 new tokens, as OPERA.

Object HalBench: the 300 questions; objects extracted from the text with NLTK (the official non-GPT path; a
named variant) or, with ``--objhal-extractor llm``, by the judge with the official extraction prompt.
"""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path
from typing import Any

from benchmarks_data.chair_inputs import load_captions, load_vocabulary, read_json_records
from benchmarks_data.coco import load_gt_subset
from benchmarks_data.objhal import load_objhal_answers, load_objhal_questions
from benchmarks_data.store import bench_sha256s, require_verified
from evaluation.benches import Benchmark, Scored, UsageError, check_coverage, check_input_file, label_partial
from evaluation.benches.coco_gt import gt_objects
from evaluation.benches.judging import judge_client, judge_config_record
from evaluation.chair import LEMMA_POS, nlp_versions
from evaluation.chair.chair import score_chair
from evaluation.chair.objhal import score_objhal_extracted, score_objhal_text
from evaluation.chair.objhal_prompt import extraction_prompt, is_short_answer, parse_extraction_reply
from evaluation.chair.objhal_refine import load_chunker

CHAIR_PROMPT = "Please describe this image in detail."  # OPERA / lmms-eval coco_cap_chair
CHAIR_IMAGES = "opera_coco500"
MAX_NEW_TOKENS = 512


def coco_file_name(image_id: int) -> str:
    return f"COCO_val2014_{image_id:012d}.jpg"


def _gt_source(opts: Namespace) -> dict[str, Any]:
    return {"coco_gt": str(opts.coco_gt) if opts.coco_gt else "data-dir:maxlinn"}


def _verify(opts: Namespace, *relpaths: str) -> None:
    """A corrupt data dir must not give numbers; a user-supplied --coco-gt is theirs to vouch for."""
    files = list(relpaths) + ([] if opts.coco_gt else ["gt/coco2014_gt_objects_maxlinn.json.gz"])
    require_verified("object_halbench", opts.data_dir, files)


def score_file(bench: str, path: str, opts: Namespace, out_dir: Path | None = None) -> Scored:
    if bench == "chair":
        _verify(opts, "vocab/synonyms.txt")
        return _score_chair(path, opts)
    _verify(opts, "vocab/synonyms_refine.txt", "questions/obj_halbench_300_questions.jsonl")
    return _score_objhal(path, opts, out_dir)


def _score_chair(path: str, opts: Namespace) -> Scored:
    vocab = load_vocabulary("original", opts.data_dir)
    gt = gt_objects(opts.coco_gt, None, "maxlinn", opts.data_dir)
    records = load_captions(path, opts.image_id_key, opts.caption_key, known_ids=gt)
    result = score_chair([r.caption for r in records], [r.image_id for r in records], gt, vocab, mode=LEMMA_POS,
                         progress=not opts.quiet)
    bench_result = result.to_bench_result(config=_gt_source(opts), versions=nlp_versions(),
                                          data_sha256=bench_sha256s("object_halbench", opts.data_dir))
    items = [{"bench": "chair", "id": it.image_id, "image": coco_file_name(it.image_id), "response": it.caption,
              "hallucinated": [word for word, _ in it.hallucinated], "record": it.to_record()}
             for it in result.items]
    return Scored(bench_result, items)


def _score_objhal(path: str, opts: Namespace, out_dir: Path | None) -> Scored:
    questions = load_objhal_questions(data_dir=opts.data_dir)
    gt = gt_objects(opts.coco_gt, {q.image_id for q in questions}, "maxlinn", opts.data_dir)
    vocab = load_vocabulary("refined", opts.data_dir)
    # The official file answers all 300 questions (image ids may come from the question file by line); a
    # partial one (--allow-partial, uedpo-eval --limit) must carry its own image ids.
    coverage = None
    if len(read_json_records(path)) < len(questions):
        answers = load_objhal_answers(path, None, known_ids=gt)
        answered = {a.image_id for a in answers}
        missing = [q.image_id for q in questions if q.image_id not in answered]
        coverage = check_coverage(path, "objhal", len(answers), len(questions), missing, opts)
    else:
        answers = load_objhal_answers(path, questions, known_ids=gt)
    texts, ids, qs = [a.answer for a in answers], [a.image_id for a in answers], [a.question for a in answers]
    config = _gt_source(opts) | {"extractor": opts.objhal_extractor}
    if opts.objhal_extractor == "llm":
        client = judge_client(opts, out_dir / "judge-cache" if out_dir else None)
        if client is None:
            raise UsageError("--objhal-extractor llm needs --judge-model M [--judge-base-url URL] "
                             "(the official extractor was gpt-3.5-turbo-0613)")
        todo = [i for i, t in enumerate(texts) if not is_short_answer(t)]  # official: <=3 words -> no call
        replies = client.complete_many([extraction_prompt(qs[i], texts[i]) for i in todo], desc="objhal extract")
        extracted: list[list[str]] = [[] for _ in texts]
        for i, reply in zip(todo, replies, strict=True):
            extracted[i] = parse_extraction_reply(reply.text)
        chunker, chunker_name = load_chunker()
        result = score_objhal_extracted(texts, ids, extracted, gt, vocab, questions=qs, chunker=chunker,
                                        chunker_name=chunker_name)
        config["judge"] = judge_config_record(client)
    else:
        result = score_objhal_text(texts, ids, gt, vocab, questions=qs, progress=not opts.quiet)
    bench_result = result.to_bench_result(config=config, versions=nlp_versions(),
                                          data_sha256=bench_sha256s("object_halbench", opts.data_dir))
    label_partial(bench_result, coverage)
    items = [{"bench": "objhal", "id": n, "image": coco_file_name(it.image_id), "question": q, "response": t,
              "hallucinated": [word for word, _ in it.hallucinated], "record": it.to_record()}
             for n, (it, q, t) in enumerate(zip(result.items, qs, texts, strict=True))]
    return Scored(bench_result, items, [f"Object HalBench summary: {result.summary()}"])


def items(bench: str, opts: Namespace):
    from evaluation.generation import GenItem

    if bench == "chair":
        ids = sorted(load_gt_subset(CHAIR_IMAGES, data_dir=opts.data_dir))
        return [GenItem(id=i, image=coco_file_name(i), question=CHAIR_PROMPT, max_new_tokens=MAX_NEW_TOKENS,
                        extra={"image_id": i}) for i in ids]
    return [GenItem(id=n, image=coco_file_name(q.image_id), question=q.question, max_new_tokens=MAX_NEW_TOKENS,
                    extra={"image_id": q.image_id})
            for n, q in enumerate(load_objhal_questions(data_dir=opts.data_dir))]


def add_arguments(p) -> None:
    c = p.add_argument_group("CHAIR / Object HalBench")
    c.add_argument("--coco-gt", help="COCO annotations folder or ground-truth objects file (.json[.gz])")
    c.add_argument("--image-id-key", default="image_id")
    c.add_argument("--caption-key", default="caption")
    c.add_argument("--objhal-extractor", choices=("nltk", "llm"), default="nltk",
                   help="Object HalBench object extraction: NLTK on the text, or the official LLM step (judge)")


def check_options(opts: Namespace) -> None:
    if opts.coco_gt and not Path(opts.coco_gt).is_dir():
        check_input_file(Path(opts.coco_gt), "--coco-gt")


# -- registry entries (pyproject.toml: uedpo.benchmarks) -------------------------------------------------------
def _blindspots(rows, bench: str, opts):
    from evaluation.blindspots import coco_blindspots

    return coco_blindspots(rows, bench, opts)


CHAIR = Benchmark(name="chair", score_file=score_file, items=items, loader=load_captions, scorer=score_chair,
                  prompt=CHAIR_PROMPT,
                  max_new_tokens=MAX_NEW_TOKENS, sections=("chair",), variants=("maxlinn",),
                  blindspot_cases=_blindspots, add_arguments=add_arguments, check_options=check_options)
OBJHAL = Benchmark(name="objhal", score_file=score_file, items=items, loader=load_objhal_answers,
                   scorer=score_objhal_text, max_new_tokens=MAX_NEW_TOKENS,
                   sections=("objhal",), variants=("llm-objects+spacy-trf", "llm-objects+wordnet-fallback",
                                                   "nltk-noun-lemmas"),
                   blindspot_cases=_blindspots, add_arguments=add_arguments, check_options=check_options)
