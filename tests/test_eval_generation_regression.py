"""Resumable JSONL generation and the regression check's direction handling."""

import json

import pytest

from evaluation.generation import GenItem, ResumeError, generate_jsonl, read_done, settings_path
from evaluation.regression import compare, format_report

ITEMS = [GenItem(id=i, image=f"img{i}.jpg", question=f"q{i}") for i in range(1, 8)]
SETTINGS = {"max_new_tokens": 16, "do_sample": False}


class Recorder:
    def __init__(self, fail_after=None):
        self.calls, self.fail_after = [], fail_after

    def __call__(self, batch):
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise KeyboardInterrupt
        self.calls.append([it.id for it in batch])
        return [f"answer {it.id}" for it in batch]


def test_generation_writes_rows_in_item_order(tmp_path):
    path = tmp_path / "responses.jsonl"
    rows = generate_jsonl(ITEMS, path, Recorder(), settings=SETTINGS, batch_size=3, progress=False)
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert rows[0] == {"id": 1, "image": "img1.jpg", "question": "q1", "response": "answer 1"}
    assert json.loads(settings_path(path).read_text()) == SETTINGS


def test_interrupted_run_resumes_without_loss_or_duplication(tmp_path):
    path = tmp_path / "responses.jsonl"
    with pytest.raises(KeyboardInterrupt):
        generate_jsonl(ITEMS, path, Recorder(fail_after=2), settings=SETTINGS, batch_size=2, progress=False)
    assert len(path.read_text().splitlines()) == 4
    with open(path, "a") as f:  # a crash in the middle of writing a line
        f.write('{"id": 5, "ima')
    second = Recorder()
    rows = generate_jsonl(ITEMS, path, second, settings=SETTINGS, batch_size=2, progress=False)
    assert second.calls == [[5, 6], [7]]
    ids = [json.loads(line)["id"] for line in path.read_text().splitlines()]
    assert sorted(ids) == [1, 2, 3, 4, 5, 6, 7] and len(ids) == 7
    assert [r["response"] for r in rows] == [f"answer {i}" for i in range(1, 8)]


def test_changed_settings_are_refused(tmp_path):
    path = tmp_path / "responses.jsonl"
    generate_jsonl(ITEMS[:2], path, Recorder(), settings=SETTINGS, progress=False)
    with pytest.raises(ResumeError, match="max_new_tokens"):
        generate_jsonl(ITEMS, path, Recorder(), settings={**SETTINGS, "max_new_tokens": 512}, progress=False)


def test_corrupt_line_is_a_clear_error(tmp_path):
    path = tmp_path / "responses.jsonl"
    path.write_text('{"id": 1, "response": "x"}\nnot json\n')
    with pytest.raises(ResumeError, match="line 2"):
        read_done(path)


def _result(**sections):
    return {"bench": "x", "metrics": sections}


def test_regression_direction_per_metric():
    base = _result(generative={"CHAIR": 7.0, "Cover": 50.0}, discriminative={"F1": 80.0})
    better = _result(generative={"CHAIR": 6.0, "Cover": 51.0}, discriminative={"F1": 81.0})
    worse = _result(generative={"CHAIR": 7.5, "Cover": 49.0}, discriminative={"F1": 80.0})
    assert compare(better, base).ok
    report = compare(worse, base)
    assert {(d.section, d.metric) for d in report.regressions} == {("generative", "CHAIR"), ("generative", "Cover")}
    assert "REGRESSION generative/CHAIR" in format_report(report, 0.0)
    assert compare(worse, base, tolerance=1.0).ok


def test_missing_metric_fails_and_unknown_direction_never_fails():
    base = _result(generative={"CHAIR": 7.0, "Mystery": 1.0})
    assert not compare(_result(generative={"Mystery": 1.0}), base).ok
    assert compare(_result(generative={"CHAIR": 7.0, "Mystery": 9.0}), base).ok
    with pytest.raises(ValueError, match="tolerance"):
        compare(base, base, tolerance=-1)


def test_resume_refuses_rows_that_answered_another_question(tmp_path):
    """Same ids, other questions (e.g. POPE random at the HEAD vs the e3e3926 data): never mixed."""
    path = tmp_path / "responses.jsonl"
    first = [GenItem(id=i, image=f"{i}.jpg", question=f"Is there a dog {i}?") for i in range(3)]
    generate_jsonl(first, path, lambda batch: ["yes"] * len(batch), settings={"bench": "pope"}, progress=False)
    changed = [GenItem(id=i, image=f"{i}.jpg", question=f"Is there a cat {i}?") for i in range(3)]
    with pytest.raises(ResumeError, match=r"item 0 was generated for another question or image"):
        generate_jsonl(changed, path, lambda batch: ["no"] * len(batch), settings={"bench": "pope"},
                       progress=False)
    more = first + [GenItem(id=3, image="3.jpg", question="Is there a dog 3?")]  # a longer run resumes
    rows = generate_jsonl(more, path, lambda batch: ["no"] * len(batch), settings={"bench": "pope"},
                          progress=False)
    assert [r["response"] for r in rows] == ["yes", "yes", "yes", "no"]
