"""`uedpo-eval --ckpt` killed (SIGKILL) again and again, during generation and while writing its results, then
run to completion: the outputs equal those of an uninterrupted run, and no kill ever leaves a mixed output set
(a file of one run beside a file of another). Ctrl-C: one line, exit 130, resumable (issue #13).

The write phase lasts a few milliseconds, so the runs killed there go through a wrapper that slows every
``os.replace`` and ``os.unlink`` by :data:`SLOW` seconds (test code only; the CLI is unchanged), and the kill
lands at a random moment inside the slowed publish.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, need_data, need_nltk
from PIL import Image

from uedpo.io import SET_FORMAT

pytestmark = pytest.mark.slow

N = 8  # items
GEN_KILLS = 4
WRITE_KILLS = 4
SLOW = 0.12
MEMBERS = ("results.json", "results.items.jsonl", "table.md", "table.csv")
WRAPPER = f"""
import os, sys, time
_replace, _unlink = os.replace, os.unlink
def _slow(f):
    def g(*a, **k):
        time.sleep({SLOW})
        return f(*a, **k)
    return g
os.replace, os.unlink = _slow(_replace), _slow(_unlink)
from evaluation.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    need_nltk()
    data = need_data("amber/data/annotations.json", "amber/data/query/query_all.json")
    from benchmarks_data.amber import load_amber_queries
    from uedpo.models.tiny import build_tiny

    root = tmp_path_factory.mktemp("kills")
    tiny = build_tiny("llava", root / "tiny", seed=0)
    img = root / "img"
    img.mkdir()
    for k, q in enumerate(load_amber_queries("all", data)[:N]):
        Image.new("RGB", (40 + k, 30), (30 * k % 255, 120, 60)).save(img / q.image)
    return {"root": root, "tiny": tiny, "img": img, "data": data}


def args(s, out: Path) -> list[str]:
    return ["--bench", "amber", "--ckpt", str(s["tiny"]), "--image-dir", str(s["img"]), "--limit", str(N),
            "--batch-size", "1", "--out", str(out), "--data-dir", str(s["data"]), "--max-new-tokens", "16",
            "--quiet", "--similarity", "exact"]


def start(s, out: Path, slow: bool = False) -> subprocess.Popen:
    cmd = [sys.executable, "-c", WRAPPER] if slow else [sys.executable, "-m", "evaluation.cli"]
    return subprocess.Popen([*cmd, *args(s, out)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO)})


def n_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def publishing(bench_dir: Path) -> bool:
    """A temporary file of a results-set member exists: the publish has begun."""
    return any(p.name.endswith(".tmp") and p.name.startswith(tuple(f".{m}." for m in MEMBERS))
               for p in bench_dir.glob(".*"))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_never_mixed(bench_dir: Path) -> str:
    """The state of the results set after a kill: 'absent', 'complete' or 'incomplete' (publish interrupted);
    every member present is the one the manifest lists, so no member of another set sits beside it."""
    manifest_file = bench_dir / "results.manifest.json"
    present = [m for m in MEMBERS if (bench_dir / m).exists()]
    if not manifest_file.exists():
        assert not present, f"results files without a manifest: {present}"
        return "absent"
    manifest = json.loads(manifest_file.read_text())
    assert manifest["format"] == SET_FORMAT
    for m in present:
        assert manifest["files"].get(m) == sha(bench_dir / m), f"{m} is not the member the manifest lists"
    if manifest["complete"]:
        assert present == list(MEMBERS), f"a complete set lacks {set(MEMBERS) - set(present)}"
        return "complete"
    return "incomplete"


def comparable(bench_dir: Path) -> dict[str, object]:
    """The outputs, byte for byte, except results.json's date and git commit (and the manifest's set id and the
    digest of that results.json)."""
    out: dict[str, object] = {}
    for p in sorted(bench_dir.iterdir()):
        if p.name == "results.json":
            result = json.loads(p.read_text())
            result.pop("date")
            result["versions"].pop("uedpo_git", None)
            out[p.name] = result
        elif p.name == "results.manifest.json":
            manifest = json.loads(p.read_text())
            manifest.pop("set")
            manifest["files"].pop("results.json")
            out[p.name] = manifest
        else:
            out[p.name] = p.read_bytes()
    return out


def test_sigkill_during_generation_and_writing_never_mixes_and_ends_equal(setup, tmp_path):
    ref = tmp_path / "ref"
    done = subprocess.run([sys.executable, "-m", "evaluation.cli", *args(setup, ref)], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "killed"
    bench_dir = out / "amber"
    responses = bench_dir / "responses.jsonl"
    rng = random.Random(13)
    kills = {"generation": 0, "writing": 0}
    states = []
    # during generation: wait for a random number of new rows (one item per batch), plus up to 40 ms
    while kills["generation"] < GEN_KILLS:
        have = n_lines(responses)
        assert have < N, "generation finished before the planned kills; raise N"
        target = min(N - 1, have + rng.randint(1, 2))
        proc = start(setup, out)
        deadline = time.time() + 120
        while proc.poll() is None and n_lines(responses) < target and time.time() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.04))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, "the run ended before its kill"
        kills["generation"] += 1
        states.append(check_never_mixed(bench_dir))
        assert n_lines(responses) <= N
    # during writing: the first run completes generation and is killed inside the slowed publish, like the rest.
    # The swap is ~11 slowed renames and unlinks: one kill at a random moment in each quarter of a 12-step window
    # from the first temporary file, so they land early and late in it (a run that ends first is not a kill)
    window = 12 * SLOW
    for quarter in range(WRITE_KILLS):
        proc = start(setup, out, slow=True)
        deadline = time.time() + 180
        while proc.poll() is None and not publishing(bench_dir) and time.time() < deadline:
            time.sleep(0.002)
        time.sleep((quarter + rng.random()) * window / WRITE_KILLS)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills["writing"] += 1
            states.append(check_never_mixed(bench_dir))
        else:
            assert proc.returncode == 0, proc.stderr.read()
            states.append(f"finished ({check_never_mixed(bench_dir)})")
    final = subprocess.run([sys.executable, "-m", "evaluation.cli", *args(setup, out)], cwd=REPO,
                           capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    assert check_never_mixed(bench_dir) == "complete"
    assert comparable(bench_dir) == comparable(ref / "amber")
    assert not list(out.rglob("*.tmp")) and not (out / ".uedpo-eval.lock").exists()
    assert kills["generation"] == GEN_KILLS and kills["writing"] >= WRITE_KILLS - 1
    assert "incomplete" in states  # some kill did land inside a publish
    print(f"kills: {kills}; states after each: {states}")


def test_ctrl_c_prints_one_line_exits_130_and_resumes(setup, tmp_path):
    out = tmp_path / "out"
    responses = out / "amber" / "responses.jsonl"
    proc = start(setup, out)
    deadline = time.time() + 120
    while proc.poll() is None and n_lines(responses) < 2 and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert proc.returncode == 130 and len(lines) == 1 and "Traceback" not in err, err
    assert "interrupted" in lines[0] and str(responses) in lines[0] and "rerun" in lines[0]
    kept = n_lines(responses)
    assert 2 <= kept < N and responses.read_bytes().endswith(b"\n")
    assert not (out / "amber" / "results.json").exists()
    again = subprocess.run([sys.executable, "-m", "evaluation.cli", *args(setup, out)], cwd=REPO,
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    ids = [json.loads(x)["id"] for x in responses.read_text().splitlines()]
    assert ids == sorted(set(ids)) and len(ids) == N  # nothing lost, nothing twice


def test_ctrl_c_while_the_results_swap_waits_for_the_swap(setup, tmp_path):
    """SIGINT inside the (slowed) publish is held until the set is complete, then the run exits 130."""
    out = tmp_path / "out"
    assert subprocess.run([sys.executable, "-m", "evaluation.cli", *args(setup, out)], cwd=REPO,
                          capture_output=True).returncode == 0
    (out / "amber" / "results.json").unlink()  # only to see the new set arrive
    proc = start(setup, out, slow=True)
    manifest = out / "amber" / "results.manifest.json"
    deadline = time.time() + 180
    while proc.poll() is None and time.time() < deadline:
        if manifest.exists() and not json.loads(manifest.read_text() or "{}").get("complete", True):
            break
        time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert check_never_mixed(out / "amber") == "complete"
