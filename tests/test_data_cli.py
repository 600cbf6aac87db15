"""``uedpo-data`` (``python -m benchmarks_data.cli``): verify / where / fetch, exit codes 0 / 1 / 2.

The fetch test that downloads uses ``main()`` in-process with the default opener patched to a
local ``http.server`` on 127.0.0.1 (a subprocess could not take an injected opener); nothing here
reaches the internet.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, need_data
from data_http_server import RewritingOpener, mirror, serve, served_path

from benchmarks_data import cli, store


def run_cli(*args: str, data_env: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("UEDPO_DATA_DIR", None)
    if data_env is not None:
        env["UEDPO_DATA_DIR"] = str(data_env)
    return subprocess.run([sys.executable, "-m", "benchmarks_data.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def tampered(tmp_path) -> Path:
    """Two AMBER files: safe_words.txt intact, metrics.txt with one byte changed."""
    root = need_data("amber/data/safe_words.txt", "amber/data/metrics.txt")
    (tmp_path / "amber/data").mkdir(parents=True)
    shutil.copyfile(root / "amber/data/safe_words.txt", tmp_path / "amber/data/safe_words.txt")
    metrics = (root / "amber/data/metrics.txt").read_bytes()
    (tmp_path / "amber/data/metrics.txt").write_bytes(metrics.replace(b"0.001", b"0.002", 1))
    return tmp_path


def test_verify_shared_data_exits_0():
    root = need_data("amber/data/annotations.json")
    proc = run_cli("verify", data_env=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for line in ("amber: 12/12 files OK", "object_halbench: 14/14 files OK", "mmhal: 13/13 files OK",
                 "pope: 18/18 files OK"):
        assert line in proc.stdout


def test_verify_all_lists_every_file_of_the_bench():
    root = need_data("amber/data/annotations.json")
    proc = run_cli("verify", "amber", "--all", "--data-dir", str(root))
    assert proc.returncode == 0
    for f in store.load_manifest("amber").files:
        assert f.relpath in proc.stdout
    assert "object_halbench" not in proc.stdout


def test_verify_tampered_copy_exits_1_and_names_the_file(tampered):
    proc = run_cli("verify", "amber", "--data-dir", str(tampered))
    assert proc.returncode == 1
    line = next(ln for ln in proc.stdout.splitlines() if "data/metrics.txt" in ln)
    assert "mismatch" in line and "uedpo-data fetch amber" in line
    assert "data/safe_words.txt" not in proc.stdout  # OK files are not listed without --all
    assert "amber: 1/12 files OK" in proc.stdout
    assert "verification failed for 11 file(s)" in proc.stderr


def test_data_dir_option_before_the_subcommand_overrides_the_env(tampered):
    root = need_data("amber/data/annotations.json")
    proc = run_cli("--data-dir", str(tampered), "verify", "amber", data_env=root)
    assert proc.returncode == 1 and f"data dir: {tampered}" in proc.stdout


@pytest.mark.parametrize("args", [("verify", "nosuchbench"), (), ("fetch",), ("frobnicate",)])
def test_usage_errors_exit_2(args):
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert "usage: uedpo-data" in proc.stderr


def test_where_reports_present_missing_and_images(tampered):
    proc = run_cli("where", "--data-dir", str(tampered))
    assert proc.returncode == 0
    assert f"data dir: {tampered}  (from --data-dir)" in proc.stdout
    table = [ln.split() for ln in proc.stdout.splitlines() if ln.split()[:1] in (
        ["amber"], ["object_halbench"], ["mmhal"]) and len(ln.split()) == 4]
    rows = {cells[0]: cells[1:] for cells in table}
    assert rows["amber"] == ["2/12", "1/12", "corrupt"]
    assert rows["object_halbench"] == ["0/14", "0/14", "absent"]
    assert rows["mmhal"] == ["0/13", "0/13", "absent"]
    assert "amber images (1004" in proc.stdout and "drive.google.com" in proc.stdout


def test_fetch_of_a_complete_copy_needs_no_network(tmp_path):
    root = need_data("mmhal/mmhal-bench_answer_template.json")
    shutil.copytree(root / "mmhal", tmp_path / "mmhal")
    proc = run_cli("fetch", "mmhal", "--data-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "mmhal: 13 valid" in proc.stdout


def test_fetch_downloads_from_a_local_server(tmp_path, monkeypatch, capsys):
    root = need_data("mmhal/mmhal-bench_answer_template.json")
    serve_root = tmp_path / "served"
    mirror("mmhal", root, serve_root)
    with serve(serve_root) as base:
        monkeypatch.setattr(store, "_default_opener", RewritingOpener(base))
        assert cli.main(["fetch", "mmhal", "--data-dir", str(tmp_path / "cache")]) == 0
        assert "mmhal: 13 downloaded" in capsys.readouterr().out

        # A corrupted file on the server: exit 1, the file is named and nothing is written.
        template = store.load_manifest("mmhal").file("mmhal-bench_answer_template.json")
        served_path(serve_root, template.url).write_bytes(b"[]")
        (tmp_path / "cache/mmhal" / template.relpath).unlink()
        assert cli.main(["fetch", "mmhal", "--data-dir", str(tmp_path / "cache")]) == 1
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith(template.relpath))
    assert "failed" in line and "sha256 mismatch" in line
    assert "mmhal: 12 valid, 1 failed" in out
    assert not (tmp_path / "cache/mmhal" / template.relpath).exists()


def test_format_table_aligns_columns():
    table = cli.format_table(["a", "long header"], [("xyz", 1), ("q", "22")])
    assert table.splitlines() == ["a    long header", "---  -----------", "xyz  1", "q    22"]
