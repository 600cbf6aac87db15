"""The benchmark registry (``evaluation.benches``): every ``--bench`` name is an entry point naming a
:class:`Benchmark`, and a benchmark written as one file outside the toolkit is scored by ``uedpo-eval`` once its
entry point is declared, with no change to the CLI."""

from __future__ import annotations

import json
import sys
import textwrap
from importlib.metadata import EntryPoint

import pytest

import evaluation.benches as benches
from evaluation.benches import ENTRY_POINT_GROUP, Benchmark, benchmark_names, family, get_benchmark

BUILT_IN = ("amber", "amber-g", "amber-d", "chair", "objhal", "mmhal", "pope", "shapes", "shapes-faint")


def test_every_built_in_benchmark_is_registered_and_complete():
    assert set(BUILT_IN) <= set(benchmark_names())
    for name in BUILT_IN:
        entry = get_benchmark(name)
        assert isinstance(entry, Benchmark) and entry.name == name
        assert callable(entry.score_file) and callable(entry.items), name
        assert callable(entry.loader) and callable(entry.scorer), name
        assert entry.sections and entry.variants and entry.max_new_tokens, name
    assert family("amber-g") == family("amber-d") == "amber" and family("pope") == "pope"
    assert get_benchmark("mmhal").needs_judge and not get_benchmark("pope").needs_judge
    assert get_benchmark("shapes").prepare is not None and get_benchmark("shapes").model_scores is not None
    with_hooks = {n for n in BUILT_IN if get_benchmark(n).blindspot_cases is not None}
    assert with_hooks == {"amber", "amber-g", "chair", "objhal", "shapes", "shapes-faint"}


def test_an_unknown_name_is_a_usage_error_listing_the_names():
    with pytest.raises(benches.UsageError, match="no such benchmark; use one of amber"):
        get_benchmark("nope")


TINY_BENCH = '''
"""A benchmark in one file: the share of responses that say "yes"."""
import json
from evaluation.benches import Benchmark, Scored
from evaluation.results import BenchResult


def load(path):
    return [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]


def score(rows, word="yes"):
    return 100.0 * sum(r["text"].strip().lower().startswith(word) for r in rows) / len(rows)


def add_arguments(parser):
    parser.add_argument_group("yesbench").add_argument("--yes-word", default="yes")


def score_file(bench, path, opts, out_dir=None):
    rows = load(path)
    result = BenchResult(bench=bench, metrics={"yesbench": {"yes_share": score(rows, opts.yes_word)}},
                         n_items=len(rows))
    return Scored(result, [{"id": r["id"], "response": r["text"]} for r in rows])


YESBENCH = Benchmark(name="yesbench", score_file=score_file, loader=load, scorer=score, sections=("yesbench",),
                     add_arguments=add_arguments)
'''


@pytest.fixture
def yesbench(tmp_path, monkeypatch):
    (tmp_path / "yesbench_plugin.py").write_text(textwrap.dedent(TINY_BENCH), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    declared = {**benches._declared(), "yesbench": EntryPoint("yesbench", "yesbench_plugin:YESBENCH", ENTRY_POINT_GROUP)}
    monkeypatch.setattr(benches, "_declared", lambda: declared)
    get_benchmark.cache_clear()
    yield
    get_benchmark.cache_clear()
    sys.modules.pop("yesbench_plugin", None)


def test_a_one_file_benchmark_is_scored_by_the_cli(yesbench, tmp_path, capsys):
    from evaluation.cli import main

    responses = tmp_path / "answers.jsonl"
    responses.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in
                                 enumerate(["Yes.", "no", "yes, there is"])), encoding="utf-8")
    code = main(["--bench", "yesbench", "--responses", str(responses), "--out", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    result = json.loads((tmp_path / "out" / "yesbench" / "results.json").read_text(encoding="utf-8"))
    assert result["bench"] == "yesbench" and result["metrics"]["yesbench"]["yes_share"] == pytest.approx(200 / 3)
    # its own option, added to uedpo-eval by the one file
    assert main(["--bench", "yesbench", "--responses", str(responses), "--yes-word", "no",
                 "--output-json", str(tmp_path / "no.json")]) == 0
    assert json.loads((tmp_path / "no.json").read_text())["metrics"]["yesbench"]["yes_share"] == pytest.approx(100 / 3)


def test_a_registered_object_that_is_not_its_benchmark_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(benches, "_declared", lambda: {"x": EntryPoint("x", "evaluation.benches.pope:POPE",
                                                                        ENTRY_POINT_GROUP)})
    get_benchmark.cache_clear()
    try:
        with pytest.raises(TypeError, match="is not the Benchmark 'x'"):
            get_benchmark("x")
    finally:
        get_benchmark.cache_clear()
