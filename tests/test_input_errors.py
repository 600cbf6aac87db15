"""Only input errors are "bad input": every CLI prints a :class:`uedpo.errors.InputError` as one line and exits 2,
while any other exception (a bug in the toolkit, e.g. a plain ``ValueError``) keeps its traceback.

Each CLI is driven once with a fault injected at a point every run passes, raised first as a toolkit bug and
then as an input error. Before the change the bug also became "error: ..." with exit 2 and no traceback.
"""

from __future__ import annotations

import pytest

from uedpo.errors import InputError


class Bug(ValueError):
    """Stands for a mistake inside the toolkit (a ValueError that is not an input error)."""


def _raiser(exc):
    def raise_it(*args, **kwargs):
        raise exc

    return raise_it


def _eval(monkeypatch, tmp_path, exc):
    import evaluation.cli as cli

    monkeypatch.setattr(cli, "check_written_for", _raiser(exc))
    responses = tmp_path / "responses.jsonl"
    responses.write_text('{"question_id": 1, "text": "yes"}\n', encoding="utf-8")
    return cli.main(["--bench", "pope", "--responses", str(responses)])


def _train(monkeypatch, tmp_path, exc):
    import uedpo.train.cli as cli
    import uedpo.train.config as config

    monkeypatch.setattr(config, "load_config", _raiser(exc))
    (tmp_path / "c.yaml").write_text("loss: dpo\n", encoding="utf-8")
    return cli.main(["--config", str(tmp_path / "c.yaml")])


def _data(monkeypatch, tmp_path, exc):
    import benchmarks_data.cli as cli

    monkeypatch.setattr(cli.store, "where", _raiser(exc))
    return cli.main(["where", "--data-dir", str(tmp_path)])


def _export(monkeypatch, tmp_path, exc):
    import uedpo.export as export

    monkeypatch.setattr(export, "export", _raiser(exc))
    return export.main(["--ckpt", "c", "--adapter", str(tmp_path), "--out", str(tmp_path / "out")])


CLIS = {"uedpo-eval": _eval, "uedpo-train": _train, "uedpo-data": _data, "uedpo-export": _export}


@pytest.mark.parametrize("name", list(CLIS))
def test_an_input_error_is_one_line_and_exit_2(name, monkeypatch, tmp_path, capsys):
    code = CLIS[name](monkeypatch, tmp_path, InputError("x.json: item 3 has no id; add one"))
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == f"{name}: error: x.json: item 3 has no id; add one"


@pytest.mark.parametrize("name", list(CLIS))
def test_a_bug_is_not_reported_as_bad_input(name, monkeypatch, tmp_path, capsys):
    with pytest.raises(Bug, match="internal invariant"):
        CLIS[name](monkeypatch, tmp_path, Bug("internal invariant broken"))
    assert "error:" not in capsys.readouterr().err


def test_the_toolkit_error_types_are_input_errors():
    """The errors the loaders, scorers' wiring, trainer and adapters raise for bad input are all InputErrors
    (so each CLI's one handler covers them)."""
    from benchmarks_data.manifest import ManifestError
    from benchmarks_data.store import DataError
    from evaluation.amber.nlp import NltkDataError as AmberNltkDataError
    from evaluation.amber.similarity import SimilarityBackendError
    from evaluation.benches import UsageError
    from evaluation.chair.nlp import NltkDataError
    from evaluation.generation import ResumeError
    from inspector.errors import InputError as InspectorInputError
    from uedpo.export import ExportError
    from uedpo.io import IncompleteSetError
    from uedpo.models.errors import ModelLoadError
    from uedpo.train.config import ConfigError
    from uedpo.train.data import TrainDataError

    for kind in (ManifestError, DataError, AmberNltkDataError, SimilarityBackendError, UsageError, NltkDataError,
                 ResumeError, InspectorInputError, ExportError, IncompleteSetError, ModelLoadError, ConfigError,
                 TrainDataError):
        assert issubclass(kind, InputError), kind
