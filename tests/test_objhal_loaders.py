"""Object HalBench loaders: the 300 questions and answer files (RLAIF-V ``load_generated_captions``)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from conftest import need_data

from benchmarks_data.objhal import QUESTIONS_FILE, ObjHalQuestion, load_objhal_answers, load_objhal_questions
from benchmarks_data.store import DataError

QUESTIONS = [ObjHalQuestion(0, 10, 111, "Describe it."), ObjHalQuestion(1, 11, 222, "What is this?")]


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_real_question_file():
    """300 questions, idx = line order, 300 distinct images; 8 prompts used 38/38/38/38/37/37/37/37 times
    (SCORERS.md §1.4); the first line is idx 0, image 339761 (THUNLP answer file, line 1)."""
    root = need_data("object_halbench/" + QUESTIONS_FILE)
    questions = load_objhal_questions(data_dir=root)
    assert len(questions) == 300 and len({q.image_id for q in questions}) == 300
    assert sorted(Counter(q.question for q in questions).values()) == [37] * 4 + [38] * 4
    assert (questions[0].idx, questions[0].image_id, questions[0].org_idx) == (0, 339761, 563)
    assert questions[0].question == "Provide a thorough description of the given image."


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"idx": 1, "org_idx": 1, "image_id": 5, "question": "q"}], r"line 1: idx 1 out of order"),
        ([{"idx": 0, "image_id": 5, "question": "q"}], r"line 1: not an Object HalBench question"),
        (
            [
                {"idx": 0, "org_idx": 1, "image_id": 5, "question": "q"},
                {"idx": 1, "org_idx": 2, "image_id": 5, "question": "q"},
            ],
            "repeated image ids",
        ),
        ([{"idx": 0, "org_idx": 1, "image_id": 5, "question": "q"}], "1 questions, expected 300"),
    ],
)
def test_question_file_errors(tmp_path, rows, message):
    with pytest.raises(DataError, match=message):
        load_objhal_questions(_jsonl(tmp_path / "q.jsonl", rows))


def test_answers_follow_the_official_key_order_and_cleaning(tmp_path):
    """'prompt' before 'question', 'text' before 'answer'; every "Assistant:" removed, then stripped; a record
    without image_id takes the question's image on the same line."""
    rows = [
        {"image_id": 111, "prompt": "P", "question": "Q", "text": "Assistant: A dog. ", "answer": "no"},
        {"question": "Q2", "answer": "  Assistant:A cat Assistant: sits "},
    ]
    answers = load_objhal_answers(_jsonl(tmp_path / "a.jsonl", rows), QUESTIONS)
    assert [(a.image_id, a.question, a.answer) for a in answers] == [
        (111, "P", "A dog."),
        (222, "Q2", "A cat  sits"),
    ]


@pytest.mark.parametrize(
    ("rows", "questions", "message"),
    [
        ([{"question": "q", "answer": "a"}], None, r"line 1: no image_id; pass the question file"),
        ([{"image_id": 111, "question": "q", "answer": "a"}], QUESTIONS, r"1 answers for 2 questions"),
        (
            [
                {"image_id": 111, "question": "q", "answer": "a"},
                {"image_id": 9, "question": "q", "answer": "a"},
            ],
            QUESTIONS,
            r"line 2: image 9 is not an Object HalBench image",
        ),
        ([{"image_id": 111, "question": "q"}], None, r"line 1: needs one of the keys 'text' or 'answer'"),
        ([{"image_id": 111, "answer": "a"}], None, r"line 1: needs one of the keys 'prompt' or 'question'"),
        ([{"image_id": 111, "question": "q", "text": 3}], None, r"line 1: 'text' is int, not text"),
    ],
)
def test_answer_file_errors(tmp_path, rows, questions, message):
    with pytest.raises(DataError, match=message) as info:
        load_objhal_answers(_jsonl(tmp_path / "a.jsonl", rows), questions)
    assert "a.jsonl" in str(info.value) and "\n" not in str(info.value)


def test_answer_ids_outside_the_ground_truth_are_refused(tmp_path):
    rows = [{"image_id": 111, "question": "q", "answer": "a"}]
    with pytest.raises(DataError, match="image 111 has no ground-truth objects"):
        load_objhal_answers(_jsonl(tmp_path / "a.jsonl", rows), known_ids={222})


def test_real_thunlp_answers_match_the_questions_line_by_line():
    root = need_data(
        "object_halbench/" + QUESTIONS_FILE,
        "object_halbench/validation/thunlp_exercise/beam_search_objhal_bench_answer.jsonl",
    )
    questions = load_objhal_questions(data_dir=root)
    answers = load_objhal_answers(
        root / "object_halbench/validation/thunlp_exercise/beam_search_objhal_bench_answer.jsonl", questions
    )
    assert [a.image_id for a in answers] == [q.image_id for q in questions]
    assert all(a.question.startswith("<image>./</image>") for a in answers)  # kept as the file has it
