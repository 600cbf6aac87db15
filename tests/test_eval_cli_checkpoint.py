"""`uedpo-eval --ckpt`: tiny checkpoints end to end on every benchmark, resume after a kill, batching,
comparison, regression exit codes, data-parallel shards and bad input."""

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import need_data, need_nltk
from PIL import Image
from test_judge_client import Handler, Stub  # noqa: F401  (the stub judge server)

from evaluation.benches import get_benchmark
from evaluation.cli import build_parser, main
from uedpo.models.tiny import build_tiny

LIMIT = 3
FAST = ["--max-new-tokens", "6", "--quiet", "--similarity", "exact"]


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpts")
    return {family: build_tiny(family, root / family, seed=0) for family in ("llava", "qwen2_5_vl")}


def write_images(image_dir, bench, data_dir, n=LIMIT, start=0):
    opts = build_parser().parse_args(["--bench", bench, "--ckpt", "x", "--data-dir", str(data_dir)])
    items = get_benchmark(bench).items(bench, opts)[start : start + n]
    image_dir.mkdir(parents=True, exist_ok=True)
    for k, it in enumerate(items):
        Image.new("RGB", (40 + k, 30), (30 * k % 255, 120, 60)).save(image_dir / it.image)
    return items


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


@pytest.fixture
def data_dir():
    need_nltk()
    return need_data("amber/data/query/query_all.json", "mmhal/mmhal-bench_answer_template.json",
                     "object_halbench/gt/gt_objects_maxlinn_subsets.json")


@pytest.mark.parametrize("family", ["llava", "qwen2_5_vl"])
@pytest.mark.parametrize("bench", ["amber", "amber-d", "chair", "objhal"])
def test_every_bench_end_to_end(tiny, data_dir, tmp_path, capsys, family, bench):
    items = write_images(tmp_path / "img", bench, data_dir)
    out = tmp_path / "out"
    code = main(["--bench", bench, "--ckpt", str(tiny[family]), "--image-dir", str(tmp_path / "img"),
                 "--limit", str(LIMIT), "--out", str(out), "--data-dir", str(data_dir), *FAST])
    assert code == 0, capsys.readouterr().err
    rows = lines(out / bench / "responses.jsonl")
    assert [r["id"] for r in rows] == [it.id for it in items]
    assert all(isinstance(r["response"], str) for r in rows)
    result = json.loads((out / bench / "results.json").read_text())
    assert result["n_items"] == LIMIT and result["metrics"]
    per_item = lines(out / bench / "results.items.jsonl")
    assert len(per_item) == LIMIT
    # the inspector opens these rows on their image and question
    assert [(r["image"], r["question"]) for r in per_item] == [(it.image, it.question) for it in items]
    assert (out / bench / "table.md").exists() and (out / bench / "table.csv").exists()
    # --limit scores part of the benchmark, and every output says so
    assert "+partial:3/" in result["variant"] and result["config"]["coverage"]["n"] == LIMIT
    assert "PARTIAL: 3 of" in (out / bench / "table.md").read_text()
    assert {r["bench"] for r in rows} == {bench}
    # the exact weights: one digest over the checkpoint's files, each hashed here independently
    ckpt = result["model"]["ckpt"]
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(tiny[family].iterdir())
             if p.suffix in (".safetensors", ".json", ".jinja", ".txt", ".model")}
    assert ckpt["files"] == files and ckpt["sha256"] == hashlib.sha256(
        "".join(f"{n}\0{h}\n" for n, h in files.items()).encode()).hexdigest()
    assert result["model"]["adapter"] is None and result["date"] and result["versions"]["torch"]


def test_mmhal_with_a_stub_judge_and_the_paper_row(tiny, data_dir, tmp_path, capsys):
    from http.server import ThreadingHTTPServer
    from threading import Thread

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.stub = Stub()
    server.stub.reply = lambda prompt: "The response is accurate.\nRating: 4"
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        for bench in ("objhal", "mmhal", "amber"):
            write_images(tmp_path / "img", bench, data_dir)
        code = main(["--bench", "all", "--ckpt", str(tiny["llava"]), "--image-dir", str(tmp_path / "img"),
                     "--limit", str(LIMIT), "--out", str(tmp_path / "out"), "--data-dir", str(data_dir), *FAST,
                     "--judge-model", "stub", "--judge-api-key-env", "",
                     "--judge-base-url", f"http://127.0.0.1:{server.server_address[1]}/v1"])
    finally:
        server.shutdown()
    out = capsys.readouterr().out
    assert code == 0 and "the paper's row" in out
    combined = json.loads((tmp_path / "out" / "results.json").read_text())
    row = combined["paper_row"]
    assert row["MMHal score↑"]["value"] == 4.0 and row["MMHal HalRate↓"]["value"] == 0.0
    assert isinstance(row["AMBER-g CHAIR↓"]["value"], float)
    assert row["AMBER-d F1↑"]["value"] == "not run"  # the 3 AMBER items are all generative
    # every column says how it was scored; none of these is the paper's protocol
    assert row["Obj-Hal CHAIRs↓"]["variant"].startswith("nltk-noun-lemmas+partial:3/300")
    assert "objects extracted by NLTK" in row["Obj-Hal CHAIRs↓"]["protocol"]
    assert row["MMHal score↑"]["variant"].startswith("judge:")  # the stub is not gpt-4-0314
    assert all(c["protocol"] != "paper" for c in row.values())
    assert "objects extracted by NLTK" in out and "⚠" in out
    assert combined["model"]["ckpt"]["sha256"] and combined["date"]
    reviews = json.loads((tmp_path / "out" / "mmhal" / "mmhal_reviews.json").read_text())
    assert len(reviews) == LIMIT and reviews[0]["model"]


def test_all_without_a_judge_says_so(tiny, data_dir, tmp_path, capsys):
    for bench in ("objhal", "mmhal", "amber"):
        write_images(tmp_path / "img", bench, data_dir, n=1)
    code = main(["--bench", "all", "--ckpt", str(tiny["llava"]), "--image-dir", str(tmp_path / "img"),
                 "--limit", "1", "--out", str(tmp_path / "out"), "--data-dir", str(data_dir), *FAST])
    out = capsys.readouterr().out
    assert code == 0 and "needs judge" in out
    assert (tmp_path / "out" / "mmhal" / "responses.jsonl").exists()


def test_batched_and_unbatched_runs_write_the_same_text(tiny, data_dir, tmp_path):
    write_images(tmp_path / "img", "amber-d", data_dir, n=5)
    texts = []
    for bs in ("1", "4"):
        out = tmp_path / f"bs{bs}"
        assert main(["--bench", "amber-d", "--ckpt", str(tiny["qwen2_5_vl"]), "--image-dir", str(tmp_path / "img"),
                     "--limit", "5", "--batch-size", bs, "--out", str(out), "--data-dir", str(data_dir), *FAST]) == 0
        texts.append([r["response"] for r in lines(out / "amber-d" / "responses.jsonl")])
    assert texts[0] == texts[1]


def test_changed_settings_are_refused_on_resume(tiny, data_dir, tmp_path, capsys):
    write_images(tmp_path / "img", "amber", data_dir)
    args = ["--bench", "amber", "--ckpt", str(tiny["llava"]), "--image-dir", str(tmp_path / "img"), "--limit",
            "2", "--out", str(tmp_path / "out"), "--data-dir", str(data_dir), "--quiet", "--similarity", "exact"]
    assert main([*args, "--max-new-tokens", "4"]) == 0
    assert main([*args, "--max-new-tokens", "9"]) == 2
    assert "max_new_tokens" in capsys.readouterr().err


@pytest.mark.slow
def test_killed_run_resumes_without_loss_or_duplication(tiny, data_dir, tmp_path):
    """A real subprocess is killed (SIGKILL) after its first batches; the rerun completes the file, and the
    result equals an uninterrupted run."""
    n = 12
    write_images(tmp_path / "img", "amber", data_dir, n=n)

    def args(out):
        return [sys.executable, "-m", "evaluation.cli", "--bench", "amber", "--ckpt", str(tiny["llava"]),
                "--image-dir", str(tmp_path / "img"), "--limit", str(n), "--batch-size", "2", "--out", str(out),
                "--data-dir", str(data_dir), "--max-new-tokens", "24", "--quiet", "--similarity", "exact"]

    responses = tmp_path / "out" / "amber" / "responses.jsonl"
    proc = subprocess.Popen(args(tmp_path / "out"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and (not responses.exists() or len(responses.read_text().splitlines()) < 2):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = len(responses.read_text().splitlines())
    assert 2 <= written < n, "the kill should land mid-run"
    assert subprocess.run(args(tmp_path / "out"), capture_output=True).returncode == 0
    rows = lines(responses)
    assert sorted(r["id"] for r in rows) == list(range(1, n + 1))
    assert subprocess.run(args(tmp_path / "fresh"), capture_output=True).returncode == 0
    reference = {r["id"]: r["response"] for r in lines(tmp_path / "fresh" / "amber" / "responses.jsonl")}
    assert {r["id"]: r["response"] for r in rows} == reference


def test_two_checkpoints_give_one_comparison_table(tiny, data_dir, tmp_path, capsys):
    write_images(tmp_path / "img", "amber-d", data_dir)
    code = main(["--bench", "amber-d", "--ckpt", str(tiny["llava"]), "--ckpt", str(tiny["qwen2_5_vl"]),
                 "--image-dir", str(tmp_path / "img"), "--limit", str(LIMIT), "--out", str(tmp_path / "out"),
                 "--data-dir", str(data_dir), *FAST])
    assert code == 0
    table = (tmp_path / "out" / "comparison.md").read_text()
    assert "llava" in table and "qwen2_5_vl" in table and "discriminative/F1↑" in table
    assert (tmp_path / "out" / "llava" / "amber-d" / "results.json").exists()


def test_regression_exit_codes_against_a_baseline(tiny, data_dir, tmp_path, capsys):
    write_images(tmp_path / "img", "amber-d", data_dir)
    args = ["--bench", "amber-d", "--ckpt", str(tiny["llava"]), "--image-dir", str(tmp_path / "img"), "--limit",
            str(LIMIT), "--data-dir", str(data_dir), *FAST]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    result = json.loads((tmp_path / "a" / "amber-d" / "results.json").read_text())
    assert main([*args, "--out", str(tmp_path / "b"), "--baseline", str(tmp_path / "a/amber-d/results.json")]) == 0
    better = json.loads(json.dumps(result))
    better["metrics"]["discriminative"]["Accuracy"] += 10  # a baseline this run cannot match
    (tmp_path / "better.json").write_text(json.dumps(better))
    assert main([*args, "--out", str(tmp_path / "c"), "--baseline", str(tmp_path / "better.json")]) == 1
    assert "REGRESSION discriminative/Accuracy" in capsys.readouterr().out


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_data_parallel_shards_merge_into_the_single_process_result(tiny, data_dir, tmp_path):
    write_images(tmp_path / "img", "amber-d", data_dir, n=5)
    base = [sys.executable, "-m", "evaluation.cli", "--bench", "amber-d", "--ckpt", str(tiny["llava"]),
            "--image-dir", str(tmp_path / "img"), "--limit", "5", "--data-dir", str(data_dir), *FAST]
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": "2"}
    procs = [subprocess.Popen([*base, "--out", str(tmp_path / "dp")], env={**env, "RANK": str(r)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for r in (0, 1)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert subprocess.run([*base, "--out", str(tmp_path / "single")], capture_output=True).returncode == 0
    merged = lines(tmp_path / "dp" / "amber-d" / "responses.jsonl")
    single = lines(tmp_path / "single" / "amber-d" / "responses.jsonl")
    assert merged == single
    assert len(lines(tmp_path / "dp" / "amber-d" / "responses.rank1.jsonl")) == 2
    dp = json.loads((tmp_path / "dp" / "amber-d" / "results.json").read_text())
    assert dp["metrics"] == json.loads((tmp_path / "single" / "amber-d" / "results.json").read_text())["metrics"]


def test_bad_input_exits_2_with_one_line(tiny, data_dir, tmp_path, capsys):
    items = write_images(tmp_path / "img", "amber", data_dir, n=2)
    common = ["--bench", "amber", "--data-dir", str(data_dir), *FAST]

    def err(*args):
        code = main([*args, *common])
        e = capsys.readouterr().err
        assert code == 2 and len(e.strip().splitlines()) == 1, e
        return e

    assert "directory not found" in err("--ckpt", str(tmp_path / "nope"), "--image-dir", str(tmp_path / "img"),
                                        "--out", str(tmp_path / "o"), "--limit", "2")
    assert "AMBER_3.jpg" in err("--ckpt", str(tiny["llava"]), "--image-dir", str(tmp_path / "img"),
                                "--out", str(tmp_path / "o"), "--limit", "3")  # names the first missing image
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for f in tiny["llava"].iterdir():
        (corrupt / f.name).write_bytes(f.read_bytes())
    (corrupt / "model.safetensors").write_bytes(b"not a safetensors file")
    assert "safetensors" in err("--ckpt", str(corrupt), "--image-dir", str(tmp_path / "img"),
                                "--out", str(tmp_path / "o"), "--limit", "2")
    assert "--image-dir" in err("--ckpt", str(tiny["llava"]), "--out", str(tmp_path / "o"))
    empty = tmp_path / "empty-data"
    empty.mkdir()
    code = main(["--bench", "amber", "--ckpt", str(tiny["llava"]), "--image-dir", str(tmp_path / "img"),
                 "--out", str(tmp_path / "o"), "--data-dir", str(empty), "--quiet"])
    assert code == 2 and "uedpo-data fetch amber" in capsys.readouterr().err
    assert items


def test_unreadable_images_stop_the_run_unless_skipped_and_then_the_result_is_partial(tiny, data_dir, tmp_path,
                                                                                      capsys):
    write_images(tmp_path / "img", "amber", data_dir, n=3)
    (tmp_path / "img" / "AMBER_2.jpg").write_bytes(b"this is not a jpeg")
    args = ["--bench", "amber", "--ckpt", str(tiny["llava"]), "--image-dir", str(tmp_path / "img"),
            "--limit", "3", "--out", str(tmp_path / "out"), "--data-dir", str(data_dir), *FAST]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "AMBER_2.jpg (item 2)" in err and "--skip-bad-images" in err
    assert not (tmp_path / "out").exists()  # refused before the model loads: nothing written
    code = main([*args, "--skip-bad-images"])
    out = capsys.readouterr().out
    assert code == 0 and "skipped 1 unreadable images" in out and "AMBER_2.jpg" in out
    assert [r["id"] for r in lines(tmp_path / "out" / "amber" / "responses.jsonl")] == [1, 3]
    result = json.loads((tmp_path / "out" / "amber" / "results.json").read_text())
    assert result["n_items"] == 2 and result["config"]["skipped_images"] == ["AMBER_2.jpg"]
    assert "+partial:2/" in result["variant"]
