"""Peak memory and time to the first training step: the ``datasets`` loader against the previous list loader.

Data: ``--rows`` synthetic RLAIF-V rows (``idx``, ``question``, ``chosen``, ``rejected``, ``image`` =
``{"bytes": PNG, "path": ...}``, ``image_path``, ``origin_dataset``) in ``--shards`` parquet files with
100-row row groups (what ``datasets`` writes for image data), each image a distinct 64×64 PNG. Written once
under ``--data-dir`` and reused.

Each case runs in a fresh child process: ``build_trainer`` (data check, tiny LLaVA + LoRA, ``check_rows_fit``
over every row) then ``Trainer.train`` stopped after its first optimizer step (batch of 1 pair, the image
decoded by the collator). Reported: wall time from the start of ``build_trainer`` to the end of step 1, and
peak resident memory (``VmHWM`` = ``ru_maxrss``: anonymous memory and touched pages of memory-mapped files),
with ``RssAnon`` at the end. Cases:

- ``legacy``: the loader before ``datasets`` (``pq.read_table(...).to_pylist()`` into a list of rows), taken
  from git history (the newest commit whose ``uedpo/train/data.py`` still has ``RowDataset``) into a temp
  module; the current trainer otherwise.
- ``datasets-cold``: ``load_rows`` with an empty ``data_cache_dir`` (parquet -> Arrow conversion included).
- ``datasets-warm``: the same cache again (what every later run of the same data costs).
- ``streaming``: ``data_streaming: true`` (no conversion; rows checked as read, so no up-front pass).
- ``baseline``: 100 rows through ``load_rows``: the fixed cost (torch, transformers, the model, the Trainer);
  "above baseline" is a case's peak minus this one, the memory its data loading adds.

    python benchmarks/bench_data_loading.py [--rows 100000 --shards 4 --data-dir /tmp/uedpo-bench-data]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CASES = ("baseline", "legacy", "datasets-cold", "datasets-warm", "streaming")
QUESTIONS = ["what is in the image ?", "describe the image .", "what color is the car ?", "is there a dog ?"]
CHOSEN = ["a dog on the grass .", "a red car next to a tree .", "two people on a bench .", "yes ."]
REJECTED = ["a cat on a bed .", "a blue car on a road .", "a man riding a horse .", "no ."]


def write_data(folder: Path, rows: int, shards: int) -> Path:
    """``rows`` RLAIF-V rows in ``shards`` parquet files (skipped when ``folder`` already holds them)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    done = folder / "DONE"
    if done.is_file() and done.read_text() == f"{rows} {shards}":
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rs = np.random.RandomState(0)
    per_shard = -(-rows // shards)
    for shard in range(shards):
        ids = range(shard * per_shard, min(rows, (shard + 1) * per_shard))
        images = []
        for i in ids:
            pixels = np.empty((64, 64, 3), np.uint8)
            pixels[:] = rs.randint(0, 256, 3)  # a background, a box and faint noise: ~6 kB as PNG
            x, y, w, h = rs.randint(0, 40, 4)
            pixels[y:y + h + 8, x:x + w + 8] = rs.randint(0, 256, 3)
            pixels += rs.randint(0, 8, pixels.shape, dtype=np.uint8)
            buf = io.BytesIO()
            Image.fromarray(pixels).save(buf, format="PNG", compress_level=1)
            images.append({"bytes": buf.getvalue(), "path": f"coco/{i}.jpg"})
        table = pa.table({
            "idx": [f"rlaif_{i}" for i in ids], "question": [QUESTIONS[i % 4] for i in ids],
            "chosen": [CHOSEN[i % 4] for i in ids], "rejected": [REJECTED[i % 4] for i in ids],
            "image": images, "image_path": [f"coco/{i}.jpg" for i in ids], "origin_dataset": ["coco"] * len(ids),
        })
        pq.write_table(table, folder / f"train-{shard:05d}-of-{shards:05d}.parquet", row_group_size=100)
    done.write_text(f"{rows} {shards}")
    return folder


def legacy_source() -> str:
    """The list-based ``uedpo/train/data.py`` from git history (the newest version that has ``RowDataset``)."""
    log = subprocess.run(["git", "log", "--format=%H", "--", "uedpo/train/data.py"], cwd=REPO, check=True,
                         capture_output=True, text=True).stdout.split()
    for commit in log:
        text = subprocess.run(["git", "show", f"{commit}:uedpo/train/data.py"], cwd=REPO, check=True,
                              capture_output=True, text=True).stdout
        if "class RowDataset" in text and "PreferenceDataset" not in text:
            return text
    raise SystemExit("no list-based uedpo/train/data.py in git history")


def _status() -> dict[str, int]:
    keys = ("VmHWM", "VmRSS", "RssAnon", "RssFile")
    with open("/proc/self/status") as f:
        return {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in f) if k in keys}


def child(case: str, data: str, base: str, out: str, cache: str) -> dict:
    """One case in this (fresh) process; returns seconds to the end of step 1 and the memory figures."""
    import transformers
    from transformers import TrainerCallback

    import uedpo.trainer as trainer_module
    from uedpo.train.config import TrainConfig

    if case == "legacy":
        import importlib.util

        path = Path(tempfile.mkdtemp()) / "legacy_data.py"
        path.write_text(legacy_source(), encoding="utf-8")
        spec = importlib.util.spec_from_file_location("legacy_data", path)
        legacy = importlib.util.module_from_spec(spec)
        sys.modules["legacy_data"] = legacy  # dataclasses look their module up while the class is made
        spec.loader.exec_module(legacy)

        def old_load_rows(data, *, data_format, image_dir, need_rejected, **_new_options):
            return legacy.load_rows(data, data_format=data_format, image_dir=image_dir, need_rejected=need_rejected)

        trainer_module.load_rows = old_load_rows
    transformers.logging.set_verbosity_error()
    cfg = TrainConfig(model=base, data=data, output_dir=out, data_cache_dir=cache, lora_r=4, lora_alpha=8,
                      max_steps=1, batch_size=1, report_to="none", gradient_checkpointing=False, warmup_ratio=0.0,
                      save_steps=10**9, logging_steps=10**9, max_length=256, data_streaming=case == "streaming")
    marks: dict[str, float] = {}

    class StopAfterFirstStep(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            marks["step"] = time.perf_counter()
            control.should_training_stop = True
            control.should_save = False

    start = time.perf_counter()
    trainer = trainer_module.build_trainer(cfg)
    marks["built"] = time.perf_counter()
    trainer.add_callback(StopAfterFirstStep())
    trainer.train()
    status = _status()
    return {"case": case, "rows": len(trainer.train_dataset) if case != "streaming" else None,
            "build_s": marks["built"] - start, "first_step_s": marks["step"] - start,
            "peak_rss_mb": status["VmHWM"] / 1024, "rss_anon_end_mb": status["RssAnon"] / 1024}


def _run_child(case: str, data: Path, base: Path, work: Path, cache: Path) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO)}
    out = work / f"out-{case}"
    cmd = [sys.executable, __file__, "--child", case, "--child-data", str(data), "--child-base", str(base),
           "--child-out", str(out), "--child-cache", str(cache)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"{case} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "uedpo-bench-data")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {', '.join(CASES)}")
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    for name in ("data", "base", "out", "cache"):
        parser.add_argument(f"--child-{name}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.child_data, args.child_base, args.child_out, args.child_cache)))
        return 0

    from uedpo.models.tiny import build_tiny

    t0 = time.perf_counter()
    data = write_data(args.data_dir / f"rlaif-{args.rows}-{args.shards}", args.rows, args.shards)
    small = write_data(args.data_dir / f"rlaif-100-{args.shards}", 100, args.shards)
    print(f"data: {data} ({sum(f.stat().st_size for f in data.glob('*.parquet')) / 2**20:.0f} MiB parquet, "
          f"ready in {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="uedpo-bench-load-") as tmp:
        work = Path(tmp)
        base = build_tiny("llava", work / "tiny_llava", seed=0)
        results = []
        for case in args.cases.split(","):
            cache = work / ("cache-small" if case == "baseline" else "cache")
            if case == "datasets-cold":
                shutil.rmtree(cache, ignore_errors=True)
            result = _run_child(case, small if case == "baseline" else data, base, work, cache)
            results.append(result)
            print(json.dumps(result), file=sys.stderr)
    by_case = {r["case"]: r for r in results}
    legacy, floor = by_case.get("legacy"), by_case.get("baseline", {}).get("peak_rss_mb")

    def ratio(value: float, ref: float | None) -> str:
        return f"{value / ref:.2f}" if ref else "-"

    print(f"\n{args.rows} rows, 64x64 PNG ({args.shards} parquet shards); tiny LLaVA, batch 1, one process, CPU\n")
    print("| case | peak RSS (MiB) | vs legacy | above baseline (MiB) | vs legacy | RssAnon at end (MiB) | "
          "build_trainer (s) | to end of step 1 (s) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        above = r["peak_rss_mb"] - floor if floor else None
        legacy_above = legacy["peak_rss_mb"] - floor if legacy and floor else None
        print(f"| {r['case']} | {r['peak_rss_mb']:.0f} | {ratio(r['peak_rss_mb'], legacy and legacy['peak_rss_mb'])} | "
              f"{'-' if above is None else f'{above:.0f}'} | {ratio(above or 0.0, legacy_above)} | "
              f"{r['rss_anon_end_mb']:.0f} | {r['build_s']:.1f} | {r['first_step_s']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
