"""`uedpo-eval`'s outputs as one set (issue #13): a full disk keeps the previous set, readers refuse a set that was
not published completely, a closed stdout loses nothing, files follow the umask, one run per output folder, and
settings left by a run that stopped early do not block the next one."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, need_data

from evaluation.cli import main
from evaluation.outputs import BLINDSPOT_FILES, write_outputs
from uedpo import io as results_module
from uedpo.io import IncompleteSetError, check_member, publish_set

AMBER = "amber/data/annotations.json"
MEMBERS = ("results.json", "results.items.jsonl", "table.md", "table.csv", "results.manifest.json")


def answers(root: Path, n: int) -> list[dict]:
    rows = [{"id": a["id"], "response": "No"} for a in json.loads((root / AMBER).read_text()) if a["id"] > 1004]
    return rows[:n]


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_publish_replaces_the_whole_set_and_readers_check_it(tmp_path):
    publish_set(tmp_path, {"results.json": "{}", "results.items.jsonl": "a\n", "table.md": "A"}, "results.manifest.json")
    (tmp_path / "blindspots.md").write_text("made from the old items")
    publish_set(tmp_path, {"results.json": '{"n": 2}', "table.md": "B"}, "results.manifest.json",
                drop=("blindspots.md",))
    # the member the new set lacks and the dropped file went with the old set
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json", "results.manifest.json", "table.md"]
    manifest = json.loads((tmp_path / "results.manifest.json").read_text())
    assert manifest["complete"] is True and set(manifest["files"]) == {"results.json", "table.md"}
    check_member(tmp_path / "results.json")
    (tmp_path / "table.md").write_text("edited")
    with pytest.raises(IncompleteSetError, match="differs from the sha256"):
        check_member(tmp_path / "table.md")
    (tmp_path / "results.manifest.json").write_text(json.dumps({**manifest, "complete": False}))
    with pytest.raises(IncompleteSetError, match="being written when a run stopped"):
        check_member(tmp_path / "results.json")
    (tmp_path / "results.manifest.json").unlink()
    check_member(tmp_path / "results.json")  # no manifest: a standalone file (hand-made, or an older version)


def test_full_disk_while_writing_keeps_the_previous_set(tmp_path, capsys, monkeypatch):
    """ENOSPC injected into the writer in-process (the 3rd temporary file of the set): exit 2, one line, the
    previous set byte-for-byte, no temporary file left; the rerun publishes the new set."""
    root = need_data(AMBER)
    (tmp_path / "a.json").write_text(json.dumps(answers(root, 10)))
    (tmp_path / "b.json").write_text(json.dumps(answers(root, 20)))
    common = ["--bench", "amber-d", "--data-dir", str(root), "--allow-partial", "--quiet", "--out", str(tmp_path / "o")]
    assert main(["--responses", str(tmp_path / "a.json"), *common]) == 0
    bench_dir = tmp_path / "o" / "amber-d"
    before = contents(bench_dir)
    assert set(before) == set(MEMBERS)
    real, calls = results_module._write_temp, []

    def full_disk(path, data, **kw):
        calls.append(path.name)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, data, **kw)

    monkeypatch.setattr(results_module, "_write_temp", full_disk)
    capsys.readouterr()
    assert main(["--responses", str(tmp_path / "b.json"), *common]) == 2
    line = one_line(capsys.readouterr().err)
    assert "No space left on device" in line and "previous results there are unchanged" in line
    assert contents(bench_dir) == before and not list(bench_dir.glob(".*"))
    monkeypatch.setattr(results_module, "_write_temp", real)
    assert main(["--responses", str(tmp_path / "b.json"), *common]) == 0
    assert json.loads((bench_dir / "results.json").read_text())["n_items"] == 20
    for name in MEMBERS[:-1]:
        check_member(bench_dir / name)


def test_full_disk_on_a_real_tmpfs(tmp_path):
    """The same with a real 256 KiB tmpfs, filled up between two runs (root only: it mounts one)."""
    root = need_data(AMBER)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:
        pytest.skip("mount -t tmpfs is not permitted here")
    try:
        (tmp_path / "a.json").write_text(json.dumps(answers(root, 10)))
        (tmp_path / "b.json").write_text(json.dumps(answers(root, 200)))
        cmd = [sys.executable, "-m", "evaluation.cli", "--bench", "amber-d", "--data-dir", str(root),
               "--allow-partial", "--quiet", "--out", str(disk)]
        assert subprocess.run([*cmd, "--responses", str(tmp_path / "a.json")], cwd=REPO).returncode == 0
        before = contents(disk / "amber-d")
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        (disk / "filler").write_bytes(b"\0" * max(0, free - 12 * 1024))  # room for results.json, not the rest
        proc = subprocess.run([*cmd, "--responses", str(tmp_path / "b.json")], cwd=REPO, capture_output=True,
                              text=True)
        assert proc.returncode == 2 and "No space left on device" in one_line(proc.stderr)
        assert contents(disk / "amber-d") == before and not list((disk / "amber-d").glob(".*"))
    finally:
        subprocess.run(["umount", str(disk)])


def test_stale_blind_spot_files_go_with_the_set_they_were_made_from(tmp_path):
    from evaluation.benches import Scored
    from evaluation.results import BenchResult

    scored = Scored(BenchResult("amber", {"generative": {"CHAIR": 1.0}}, 1), [{"bench": "amber", "id": 1}])
    for name in BLINDSPOT_FILES:
        (tmp_path / name).write_text("{}")
    (tmp_path / "blindspots.settings.json").write_text(json.dumps({"items_sha256": "another file's"}))
    write_outputs(scored, tmp_path / "results.json")
    assert not any((tmp_path / name).exists() for name in BLINDSPOT_FILES)
    import hashlib

    items = (tmp_path / "results.items.jsonl").read_bytes()
    for name in BLINDSPOT_FILES:
        (tmp_path / name).write_text("{}")
    (tmp_path / "blindspots.settings.json").write_text(json.dumps({"items_sha256": hashlib.sha256(items).hexdigest()}))
    write_outputs(scored, tmp_path / "results.json")  # the same items: the analysis still applies
    assert all((tmp_path / name).exists() for name in BLINDSPOT_FILES)


def test_a_closed_stdout_loses_neither_the_results_nor_the_exit_status(tmp_path):
    root = need_data(AMBER)
    (tmp_path / "a.json").write_text(json.dumps(answers(root, 10)))
    cmd = [sys.executable, "-m", "evaluation.cli", "--bench", "amber-d", "--responses", str(tmp_path / "a.json"),
           "--data-dir", str(root), "--allow-partial", "--quiet"]
    assert subprocess.run([*cmd, "--out", str(tmp_path / "base")], cwd=REPO).returncode == 0
    baseline = json.loads((tmp_path / "base" / "amber-d" / "results.json").read_text())
    baseline["metrics"]["discriminative"]["F1"] += 5  # this run regresses against it: exit 1
    (tmp_path / "better.json").write_text(json.dumps(baseline))
    for extra, status in (([], 0), (["--baseline", str(tmp_path / "better.json")], 1)):
        out = tmp_path / f"o{status}"
        proc = subprocess.Popen([*cmd, "--out", str(out), *extra], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        proc.stdout.close()  # `| head -0`: the reader is gone before the first line
        err = proc.stderr.read()
        assert proc.wait() == status and err == "", err
        assert {p.name for p in (out / "amber-d").iterdir()} == set(MEMBERS)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_output_files_follow_the_umask(tmp_path, umask, mode):
    root = need_data(AMBER)
    (tmp_path / "a.json").write_text(json.dumps(answers(root, 10)))
    proc = subprocess.run([sys.executable, "-m", "evaluation.cli", "--bench", "amber-d", "--responses",
                           str(tmp_path / "a.json"), "--data-dir", str(root), "--allow-partial", "--quiet", "--out",
                           str(tmp_path / "o")], cwd=REPO, preexec_fn=lambda: os.umask(umask), capture_output=True)
    assert proc.returncode == 0, proc.stderr
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "o" / "amber-d").iterdir()}
    assert modes == dict.fromkeys(MEMBERS, mode)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    data = need_data(AMBER, "amber/data/query/query_all.json")
    from PIL import Image

    from benchmarks_data.amber import load_amber_queries
    from uedpo.models.tiny import build_tiny

    root = tmp_path_factory.mktemp("tiny_run")
    tiny = build_tiny("llava", root / "tiny", seed=0)
    for k, q in enumerate(load_amber_queries("all", data)[:6]):
        (root / "img").mkdir(exist_ok=True)
        Image.new("RGB", (40 + k, 30), (30 * k, 120, 60)).save(root / "img" / q.image)

    def args(out: Path, n: int = 6, tokens: int = 24) -> list[str]:
        return ["--bench", "amber", "--ckpt", str(tiny), "--image-dir", str(root / "img"), "--limit", str(n),
                "--batch-size", "1", "--out", str(out), "--data-dir", str(data), "--max-new-tokens", str(tokens),
                "--quiet", "--similarity", "exact"]
    return args


@pytest.mark.slow
def test_a_second_run_on_the_same_out_stops_with_one_line(tiny_run, tmp_path):
    """Two runs started together on one --out (the issue: 10 of 20 rows duplicated, every later run exit 2):
    one runs, the other stops at once with one line naming the first; no row twice; later runs work."""
    responses = tmp_path / "out" / "amber" / "responses.jsonl"
    cmd = [sys.executable, "-m", "evaluation.cli", *tiny_run(tmp_path / "out")]
    procs = [subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 2], errs
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    line = one_line(errs[loser])
    assert f"--out {tmp_path / 'out'}: another uedpo-eval run (pid {procs[winner].pid})" in line
    ids = [json.loads(x)["id"] for x in responses.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 6
    assert subprocess.run(cmd, cwd=REPO, capture_output=True).returncode == 0  # and later runs work
    assert not (tmp_path / "out" / ".uedpo-eval.lock").exists()


def test_settings_left_beside_no_responses_do_not_block_the_next_run(tiny_run, tmp_path, capsys):
    """A run stopped before its first batch left only responses.settings.json; the corrected rerun goes ahead
    (the message of a real mismatch says to delete responses.jsonl, and that is then enough)."""
    bench_dir = tmp_path / "out" / "amber"
    bench_dir.mkdir(parents=True)
    (bench_dir / "responses.settings.json").write_text(json.dumps({"max_new_tokens": [-1]}))
    assert main(tiny_run(tmp_path / "out", 2)) == 0, capsys.readouterr().err
    assert json.loads((bench_dir / "responses.settings.json").read_text())["max_new_tokens"] == [24]
    assert main(tiny_run(tmp_path / "out", 2, tokens=9)) == 2  # with responses there, other settings are refused
    assert "max_new_tokens" in capsys.readouterr().err
    (bench_dir / "responses.jsonl").unlink()
    assert main(tiny_run(tmp_path / "out", 2, tokens=9)) == 0


def test_the_lock_is_released_and_its_folder_removed_when_nothing_was_written(tmp_path):
    from evaluation.benches import UsageError
    from evaluation.outputs import output_lock

    out = tmp_path / "a" / "b"
    with pytest.raises(UsageError, match="another uedpo-eval run"):
        with output_lock(out):
            assert (out / ".uedpo-eval.lock").read_text().strip() == str(os.getpid())
            with output_lock(out):
                pass
    assert not (tmp_path / "a").exists()
    with output_lock(out):
        (out / "x").write_text("kept")
    assert sorted(p.name for p in out.iterdir()) == ["x"]


def test_full_disk_during_generation_keeps_the_saved_responses(tiny_run, tmp_path, capsys, monkeypatch):
    """ENOSPC injected at the second batch's fsync: exit 2, one line naming responses.jsonl, the first batch
    kept; the rerun resumes and completes."""
    import evaluation.generation as generation

    real, calls = os.fsync, []

    def full_disk(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    monkeypatch.setattr(generation.os, "fsync", full_disk)
    responses = tmp_path / "out" / "amber" / "responses.jsonl"
    assert main(tiny_run(tmp_path / "out", 3)) == 2
    line = one_line(capsys.readouterr().err)
    assert f"{responses}: cannot save the responses (No space left on device)" in line
    assert not (tmp_path / "out" / "amber" / "results.json").exists()
    monkeypatch.setattr(generation.os, "fsync", real)
    assert main(tiny_run(tmp_path / "out", 3)) == 0
    ids = [json.loads(x)["id"] for x in responses.read_text().splitlines()]
    assert ids == [1, 2, 3]
