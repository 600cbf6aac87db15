"""Loaders for Object HalBench: the 300 questions and model answer files.

Questions: ``object_halbench/questions/obj_halbench_300_questions.jsonl`` (``idx, org_idx, image_id,
question``; RLAIF-V's ``eval/data/obj_halbench_300_with_image.jsonl`` minus the base64 images, recovered from
``kchaosun/THUNLP_Multimodal_Excercise`` @ 4edc444).

Answers follow ``RLHF-V/RLAIF-V`` @ 83d917b2e8118ca8e7877a796d72af9bb3e6b356 ``eval/eval_gpt_obj_halbench.py``
``load_generated_captions`` (``.jsonl`` branch): the question is ``prompt``, else ``question``; the answer is
``text``, else ``answer``, with every ``"Assistant:"`` removed and then stripped; a record without
``image_id`` takes the image of the question on the same line of the question file. Not ported: the ``.json``
``imgToEval`` branch, the folder-of-files branch and the "coh" prefix splitting (which the official code
applies when the file PATH contains "coh"). A ``.json`` list with the same keys is accepted as well.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks_data.chair_inputs import BENCH, parse_coco_image_id, read_json_records
from benchmarks_data.store import DataError, data_file

QUESTIONS_FILE = "questions/obj_halbench_300_questions.jsonl"
N_QUESTIONS = 300  # official __main__: assert len(imids) == 300
QUESTION_KEYS = ("prompt", "question")  # official order of preference
ANSWER_KEYS = ("text", "answer", "response")  # "response": uedpo-eval's own responses.jsonl
ASSISTANT_PREFIX = "Assistant:"  # official: answer.replace("Assistant:", "").strip()


@dataclass(frozen=True)
class ObjHalQuestion:
    idx: int
    org_idx: int
    image_id: int
    question: str


@dataclass(frozen=True)
class ObjHalAnswer:
    """One answer to score; ``where`` is "line N" / "item N" of its file, for messages."""

    image_id: int
    question: str
    answer: str
    where: str


def load_objhal_questions(
    path: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    expected: int | None = N_QUESTIONS,
) -> list[ObjHalQuestion]:
    """The Object HalBench questions in file order, checked: ``idx`` = line order, unique image ids, count."""
    path = Path(path) if path is not None else data_file(BENCH, QUESTIONS_FILE, data_dir)
    questions = []
    for n, (where, obj) in enumerate(read_json_records(path)):
        try:
            q = ObjHalQuestion(
                int(obj["idx"]), int(obj["org_idx"]), parse_coco_image_id(obj["image_id"]), obj["question"]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(
                f"{path}: {where}: not an Object HalBench question ({exc!r}); each line needs idx, "
                f"org_idx, image_id and question; fetch it with `uedpo-data fetch {BENCH}`"
            ) from None
        if q.idx != n or not isinstance(q.question, str):
            raise DataError(
                f"{path}: {where}: idx {q.idx} out of order (expected {n}) or question not text; "
                f"fetch the file again with `uedpo-data fetch {BENCH}`"
            )
        questions.append(q)
    ids = [q.image_id for q in questions]
    if len(set(ids)) != len(ids):
        raise DataError(f"{path}: repeated image ids; fetch the file again with `uedpo-data fetch {BENCH}`")
    if expected is not None and len(questions) != expected:
        raise DataError(
            f"{path}: {len(questions)} questions, expected {expected}; "
            f"fetch the file again with `uedpo-data fetch {BENCH}`"
        )
    return questions


def _first_key(path: Path, where: str, obj: dict[str, Any], keys: tuple[str, ...]) -> str:
    for key in keys:
        if key in obj:
            value = obj[key]
            if not isinstance(value, str):
                raise DataError(
                    f"{path}: {where}: {key!r} is {type(value).__name__}, not text; fix the record"
                )
            return value
    raise DataError(
        f"{path}: {where}: needs one of the keys {' or '.join(map(repr, keys))} "
        f"(has {', '.join(obj) or 'none'}); write answers with these keys"
    )


def load_objhal_answers(
    path: str | os.PathLike,
    questions: Sequence[ObjHalQuestion] | None = None,
    known_ids: Collection[int] | None = None,
) -> list[ObjHalAnswer]:
    """Model answers for Object HalBench (see the module docstring).

    With ``questions``: an answer without ``image_id`` takes the image of the question on its line, and the
    answers must match the questions one to one (same count, only their image ids). ``known_ids``: images
    with ground truth; other ids are refused.
    """
    path = Path(path)
    records = read_json_records(path)
    if questions is not None and len(records) != len(questions):
        raise DataError(
            f"{path}: {len(records)} answers for {len(questions)} questions; "
            "answer every Object HalBench question exactly once"
        )
    question_ids = None if questions is None else {q.image_id for q in questions}
    answers = []
    for n, (where, obj) in enumerate(records):
        if not isinstance(obj, dict):
            raise DataError(f"{path}: {where}: expected a JSON object, got {type(obj).__name__}")
        if "image_id" in obj:
            try:
                image_id = parse_coco_image_id(obj["image_id"])
            except ValueError as exc:
                raise DataError(f"{path}: {where}: {exc}; fix the image_id") from None
        elif questions is not None:
            image_id = questions[n].image_id  # official: by line index in the question file
        else:
            raise DataError(
                f"{path}: {where}: no image_id; pass the question file so ids can be taken by line"
            )
        if question_ids is not None and image_id not in question_ids:
            raise DataError(
                f"{path}: {where}: image {image_id} is not an Object HalBench image; "
                "answer the benchmark's questions"
            )
        if known_ids is not None and image_id not in known_ids:
            raise DataError(
                f"{path}: {where}: image {image_id} has no ground-truth objects; "
                "use a ground truth that covers the Object HalBench images"
            )
        question = _first_key(path, where, obj, QUESTION_KEYS)
        answer = _first_key(path, where, obj, ANSWER_KEYS).replace(ASSISTANT_PREFIX, "").strip()
        answers.append(ObjHalAnswer(image_id, question, answer, where))
    if not answers:
        raise DataError(f"{path}: no answers found; check the file")
    return answers
