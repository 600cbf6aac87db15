"""Deterministic builders for the DERIVED benchmark files (see ``manifests/*.json`` ``derived``).

Each recipe turns files of the same benchmark into the exact bytes recorded in the manifest; the
caller checks the sha256, so a recipe that drifts is caught, never silently accepted. The steps
mirror how ``shared/benchdata`` was made (its MANIFEST.md, "DERIVED" rows):

* ``objhal_questions``: the 300 Object HalBench prompts from
  ``kchaosun/THUNLP_Multimodal_Excercise@4edc444939bd6e6a079832c976c08e775bd7df5e``
  ``beam_search_objhal_bench_answer.jsonl`` (RLAIF-V's ``obj_halbench_300_with_image.jsonl`` minus images).
* ``maxlinn_gt_subsets``: the GT objects of the 300 Object HalBench images and the 500 OPERA images.

``serialise_gt_objects`` writes the full GT-objects gzip in the byte layout of the manifest, for a
builder (``uedpo-data build-gt``) that computes the ``image_id -> objects`` table itself.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable
from pathlib import Path

from uedpo.errors import InputError

# The THUNLP answer file keeps the model's chat prefix on every question; the prompt starts after it.
THUNLP_IMAGE_PREFIX = "<image>./</image>"


def _jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def objhal_questions(answers_jsonl: Path) -> bytes:
    """``{"idx", "org_idx", "image_id", "question"}`` per line, in file order."""
    lines = []
    for n, rec in enumerate(_jsonl(answers_jsonl), start=1):
        question = rec["question"]
        if not question.startswith(THUNLP_IMAGE_PREFIX):
            raise InputError(f"{answers_jsonl}: line {n} question lacks {THUNLP_IMAGE_PREFIX!r}; "
                             "is this the THUNLP beam_search_objhal_bench_answer.jsonl?")
        row = {"idx": rec["idx"], "org_idx": rec["metainfos"]["org_idx"], "image_id": rec["image_id"],
               "question": question[len(THUNLP_IMAGE_PREFIX):]}
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    return "".join(lines).encode("utf-8")


def maxlinn_gt_subsets(gt_gz: Path, questions_jsonl: Path, opera_jsonl: Path) -> bytes:
    """GT objects restricted to the Object HalBench and OPERA image ids (indent=0, sorted keys)."""
    with gzip.open(gt_gz, "rt", encoding="utf-8") as fh:
        gt = json.load(fh)

    def subset(path: Path) -> dict[str, list[str]]:
        ids = [str(rec["image_id"]) for rec in _jsonl(path)]
        missing = [i for i in ids if i not in gt]
        if missing:
            raise InputError(f"{path}: image ids {missing[:3]} have no GT objects in {gt_gz}")
        return {i: gt[i] for i in ids}

    out = {"object_halbench_300": subset(questions_jsonl), "opera_coco500": subset(opera_jsonl)}
    return json.dumps(out, indent=0, sort_keys=True).encode("utf-8")


def serialise_gt_objects(gt: dict[str, list[str]]) -> bytes:
    """The gz layout of ``gt/coco2014_gt_objects_maxlinn.json.gz``: compact JSON with sorted keys,
    gzip without file name and with mtime 0 so the same table always gives the same sha256."""
    payload = json.dumps(gt, separators=(",", ":"), sort_keys=True).encode("utf-8")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as fh:
        fh.write(payload)
    return buf.getvalue()


RECIPES: dict[str, Callable[..., bytes]] = {
    "objhal_questions": objhal_questions,
    "maxlinn_gt_subsets": maxlinn_gt_subsets,
}
