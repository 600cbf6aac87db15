"""Every bad input to the four CLIs (uedpo-eval, uedpo-data, uedpo-train, uedpo-inspect) ends the command with
exit 2, one line on stderr that names the file or key, no traceback, and nothing written (issue #13).

One table (:data:`CASES`); each case builds its inputs in a fresh folder, runs the CLI and compares the folder's
files before and after. The unreadable-file cases run the CLI as ``nobody`` (``setpriv``) when the tests run as
root (root reads every file), and are skipped with that reason when neither works.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO, need_data
from PIL import Image

from uedpo.io import SET_FORMAT

AMBER = "amber/data/annotations.json"


@dataclass
class Ctx:
    """A case's folder ``w`` (the one checked for writes) and the shared assets outside it."""

    w: Path
    data: Path
    tiny: Path
    img: Path
    r10: Path  # 10 AMBER-d answers, a valid responses file (partial)

    def write(self, name: str, text: str | bytes) -> Path:
        path = self.w / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        return path


@dataclass
class Case:
    id: str
    cli: str
    args: Callable[[Ctx], list[str]]
    names: Callable[[Ctx], str] | str  # must appear in the error line (the file, flag or key)
    setup: Callable[[Ctx], None] = lambda ctx: None
    as_nobody: bool = False


def nested(depth: int = 100_000) -> str:
    return "[" * depth + "]" * depth


def huge_png_header(width: int = 20000, height: int = 20000) -> bytes:
    """A PNG that declares width x height pixels (PIL reads the size without decoding anything)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + \
        chunk(b"IEND", b"")


def S(*args: str) -> Callable[[Ctx], list[str]]:
    """Scoring-mode arguments with ``{w}`` / ``{r10}`` / ``{data}`` filled in."""
    return lambda ctx: [a.format(w=ctx.w, r10=ctx.r10, data=ctx.data, tiny=ctx.tiny, img=ctx.img) for a in args]


def eval_scoring(*args: str) -> Callable[[Ctx], list[str]]:
    return S("--bench", "amber-d", "--data-dir", "{data}", "--quiet", *args)


def eval_ckpt(*args: str) -> Callable[[Ctx], list[str]]:
    return S("--bench", "amber", "--ckpt", "{tiny}", "--image-dir", "{img}", "--limit", "2", "--data-dir", "{data}",
             "--quiet", "--similarity", "exact", "--max-new-tokens", "4", *args)


def unreadable(name: str, text: str = "x") -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        ctx.write(name, text).chmod(0o000)
    return setup


def readonly_dir(name: str) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        (ctx.w / name).mkdir()
        (ctx.w / name).chmod(0o555)
    return setup


def incomplete_set(ctx: Ctx) -> None:
    results = {"bench": "amber-d", "metrics": {"existence": {"F1": 1.0}}}
    ctx.write("base/results.json", json.dumps(results))
    ctx.write("base/results.manifest.json", json.dumps({"format": SET_FORMAT, "complete": False, "set": "x",
                                                        "files": {}}))


def images_with(name: str, content: bytes) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        shutil.copytree(ctx.img, ctx.w / "img")
        (ctx.w / "img" / name).write_bytes(content)
    return setup


def resume_file(rows: str | bytes, settings: str | None = None) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        ctx.write("out/amber/responses.jsonl", rows)
        if settings is not None:
            ctx.write("out/amber/responses.settings.json", settings)
    return setup


def first_amber_row(ctx: Ctx) -> str:
    from benchmarks_data.amber import load_amber_queries

    q = load_amber_queries("all", ctx.data)[0]
    return json.dumps({"id": q.id, "image": q.image, "question": q.query, "response": "x"}) + "\n"


def hold_lock(ctx: Ctx) -> None:
    (ctx.w / "out").mkdir()


CASES = [
    # -- uedpo-eval, scoring a responses file -----------------------------------------------------------------
    Case("responses-nested-json", "uedpo-eval", eval_scoring("--responses", "{w}/r.json", "--out", "{w}/o"),
         "{w}/r.json", lambda c: c.write("r.json", nested())),
    Case("responses-nested-jsonl", "uedpo-eval", S("--bench", "pope", "--responses", "{w}/r.jsonl", "--data-dir",
                                                     "{data}", "--out", "{w}/o"),
         "{w}/r.jsonl", lambda c: c.write("r.jsonl", nested() + "\n")),
    Case("responses-a-directory", "uedpo-eval", eval_scoring("--responses", "{w}/rdir", "--out", "{w}/o"),
         "{w}/rdir", lambda c: (c.w / "rdir").mkdir()),
    Case("responses-missing", "uedpo-eval", eval_scoring("--responses", "{w}/none.json", "--out", "{w}/o"),
         "{w}/none.json"),
    Case("responses-unreadable", "uedpo-eval", eval_scoring("--responses", "{w}/r.json", "--out", "{w}/o"),
         "{w}/r.json", unreadable("r.json", "[]"), as_nobody=True),
    Case("responses-not-utf8", "uedpo-eval", eval_scoring("--responses", "{w}/r.json", "--out", "{w}/o"),
         "{w}/r.json", lambda c: c.write("r.json", b'[{"id": 1005, "response": "\xff\xfe"}]')),
    Case("responses-chair-not-utf8", "uedpo-eval", S("--bench", "chair", "--responses", "{w}/c.json", "--data-dir",
                                                     "{data}", "--out", "{w}/o"),
         "{w}/c.json", lambda c: c.write("c.json", b'[{"image_id": 1, "caption": "\xff"}]')),
    Case("responses-mmhal-not-utf8", "uedpo-eval", S("--bench", "mmhal", "--responses", "{w}/m.jsonl", "--data-dir",
                                                     "{data}", "--out", "{w}/o"),
         "{w}/m.jsonl", lambda c: c.write("m.jsonl", b'{"id": 0, "response": "\xff"}\n')),
    Case("responses-row-without-id", "uedpo-eval", eval_scoring("--responses", "{w}/r.jsonl", "--out", "{w}/o"),
         "{w}/r.jsonl", lambda c: c.write("r.jsonl", '{"response": "No"}\n')),
    Case("responses-duplicate-id", "uedpo-eval", eval_scoring("--responses", "{w}/r.jsonl", "--out", "{w}/o"),
         "{w}/r.jsonl", lambda c: c.write("r.jsonl", '{"id": 1005, "response": "No"}\n' * 2)),
    Case("responses-empty", "uedpo-eval", eval_scoring("--responses", "{w}/r.jsonl", "--out", "{w}/o"),
         "{w}/r.jsonl", lambda c: c.write("r.jsonl", "")),
    Case("responses-other-bench", "uedpo-eval", eval_scoring("--responses", "{w}/r.jsonl", "--out", "{w}/o"),
         "{w}/r.jsonl", lambda c: c.write("r.jsonl", '{"id": 1005, "bench": "chair", "response": "No"}\n')),
    Case("out-is-a-file", "uedpo-eval", eval_scoring("--responses", "{r10}", "--allow-partial", "--out", "{w}/f"),
         "--out {w}/f", lambda c: c.write("f", "x")),
    Case("out-under-a-file", "uedpo-eval", eval_scoring("--responses", "{r10}", "--allow-partial", "--out",
                                                         "{w}/f/sub"),
         "--out {w}/f/sub", lambda c: c.write("f", "x")),
    Case("out-unwritable", "uedpo-eval", eval_scoring("--responses", "{r10}", "--allow-partial", "--out", "{w}/ro"),
         "{w}/ro", readonly_dir("ro"), as_nobody=True),
    Case("output-json-a-directory", "uedpo-eval", eval_scoring("--responses", "{r10}", "--allow-partial",
                                                                "--output-json", "{w}/d"),
         "--output-json {w}/d", lambda c: (c.w / "d").mkdir()),
    Case("output-json-not-json", "uedpo-eval", eval_scoring("--responses", "{r10}", "--allow-partial",
                                                             "--output-json", "{w}/r.txt"),
         "--output-json {w}/r.txt"),
    Case("output-json-with-ckpt", "uedpo-eval", eval_ckpt("--out", "{w}/o", "--output-json", "{w}/r.json"),
         "--output-json"),
    Case("baseline-malformed", "uedpo-eval", eval_scoring("--responses", "{r10}", "--allow-partial", "--out",
                                                           "{w}/o", "--baseline", "{w}/b.json"),
         "{w}/b.json", lambda c: c.write("b.json", "{not json")),
    Case("baseline-nested", "uedpo-eval", eval_scoring("--responses", "{r10}", "--allow-partial", "--out", "{w}/o",
                                                        "--baseline", "{w}/b.json"),
         "{w}/b.json", lambda c: c.write("b.json", nested())),
    Case("baseline-a-directory", "uedpo-eval", eval_scoring("--responses", "{r10}", "--allow-partial", "--out",
                                                             "{w}/o", "--baseline", "{w}/bd"),
         "{w}/bd", lambda c: (c.w / "bd").mkdir()),
    Case("baseline-missing", "uedpo-eval", eval_scoring("--responses", "{r10}", "--allow-partial", "--out", "{w}/o",
                                                         "--baseline", "{w}/none.json"),
         "{w}/none.json"),
    Case("baseline-no-metrics", "uedpo-eval", eval_scoring("--responses", "{r10}", "--allow-partial", "--out",
                                                            "{w}/o", "--baseline", "{w}/b.json"),
         "{w}/b.json", lambda c: c.write("b.json", '{"bench": "amber-d"}')),
    Case("baseline-metric-not-a-number", "uedpo-eval", eval_scoring("--responses", "{r10}", "--allow-partial",
                                                                     "--out", "{w}/o", "--baseline", "{w}/b.json"),
         "metrics.existence.F1", lambda c: c.write("b.json", '{"metrics": {"existence": {"F1": "high"}}}')),
    Case("baseline-incomplete-set", "uedpo-eval", eval_scoring("--responses", "{r10}", "--allow-partial", "--out",
                                                                "{w}/o", "--baseline", "{w}/base/results.json"),
         "{w}/base/results.json", incomplete_set),
    Case("baseline-unreadable", "uedpo-eval", eval_scoring("--responses", "{r10}", "--allow-partial", "--out",
                                                            "{w}/o", "--baseline", "{w}/b.json"),
         "{w}/b.json", unreadable("b.json", "{}"), as_nobody=True),
    Case("limit-when-scoring", "uedpo-eval", eval_scoring("--responses", "{r10}", "--limit", "5", "--out", "{w}/o"),
         "--limit"),
    Case("batch-size-when-scoring", "uedpo-eval", eval_scoring("--responses", "{r10}", "--batch-size", "4",
                                                                "--out", "{w}/o"),
         "--batch-size"),
    Case("tolerance-negative", "uedpo-eval", eval_scoring("--responses", "{r10}", "--tolerance", "-1", "--out",
                                                           "{w}/o"),
         "--tolerance"),
    Case("bench-unknown", "uedpo-eval", S("--bench", "nope", "--responses", "{r10}", "--out", "{w}/o"), "--bench"),
    Case("seed-not-an-int", "uedpo-eval", eval_scoring("--responses", "{r10}", "--seed", "abc", "--out", "{w}/o"),
         "--seed"),
    Case("data-dir-a-file", "uedpo-eval", S("--bench", "amber-d", "--responses", "{r10}", "--data-dir", "{w}/f",
                                            "--out", "{w}/o"),
         "--data-dir", lambda c: c.write("f", "x")),
    Case("similarity-table-missing", "uedpo-eval", eval_scoring("--responses", "{r10}", "--similarity",
                                                                 "table:{w}/t.json", "--out", "{w}/o"),
         "{w}/t.json"),
    Case("reviews-a-directory", "uedpo-eval", S("--bench", "mmhal", "--responses", "{r10}", "--reviews", "{w}/rv",
                                                "--data-dir", "{data}", "--out", "{w}/o"),
         "{w}/rv", lambda c: (c.w / "rv").mkdir()),
    Case("coco-gt-missing", "uedpo-eval", S("--bench", "chair", "--responses", "{r10}", "--coco-gt",
                                            "{w}/gt.json.gz", "--data-dir", "{data}", "--out", "{w}/o"),
         "{w}/gt.json.gz"),
    # -- uedpo-eval --ckpt ------------------------------------------------------------------------------------
    Case("batch-size-negative", "uedpo-eval", eval_ckpt("--batch-size", "-2", "--out", "{w}/o"), "--batch-size"),
    Case("batch-size-zero", "uedpo-eval", eval_ckpt("--batch-size", "0", "--out", "{w}/o"), "--batch-size"),
    Case("max-new-tokens-negative", "uedpo-eval", S("--bench", "amber", "--ckpt", "{tiny}", "--image-dir", "{img}",
                                                    "--data-dir", "{data}", "--max-new-tokens", "-1", "--out",
                                                    "{w}/o"),
         "--max-new-tokens"),
    Case("limit-zero", "uedpo-eval", eval_ckpt("--limit", "0", "--out", "{w}/o"), "--limit"),
    Case("device-unknown", "uedpo-eval", eval_ckpt("--device", "tpu9", "--out", "{w}/o"), "--device tpu9"),
    Case("dtype-unknown", "uedpo-eval", eval_ckpt("--dtype", "float8", "--out", "{w}/o"), "--dtype float8"),
    Case("image-dir-missing", "uedpo-eval", S("--bench", "amber", "--ckpt", "{tiny}", "--image-dir", "{w}/noimg",
                                              "--data-dir", "{data}", "--out", "{w}/o"),
         "{w}/noimg"),
    Case("image-unreadable", "uedpo-eval", S("--bench", "amber", "--ckpt", "{tiny}", "--image-dir", "{w}/img",
                                             "--limit", "3", "--data-dir", "{data}", "--quiet", "--out", "{w}/o"),
         "AMBER_2.jpg", images_with("AMBER_2.jpg", b"not a jpeg")),
    Case("image-20000x20000", "uedpo-eval", S("--bench", "amber", "--ckpt", "{tiny}", "--image-dir", "{w}/img",
                                              "--limit", "3", "--data-dir", "{data}", "--quiet", "--out", "{w}/o"),
         "AMBER_2.jpg", images_with("AMBER_2.jpg", huge_png_header())),
    Case("ckpt-missing", "uedpo-eval", S("--bench", "amber", "--ckpt", "{w}/nockpt", "--image-dir", "{img}",
                                         "--limit", "2", "--data-dir", "{data}", "--out", "{w}/o"),
         "{w}/nockpt"),
    Case("adapter-count", "uedpo-eval", eval_ckpt("--adapter", "-", "--adapter", "-", "--out", "{w}/o"),
         "--adapter"),
    Case("adapter-missing", "uedpo-eval", eval_ckpt("--adapter", "{w}/noadapter", "--out", "{w}/o"), "{w}/noadapter"),
    Case("blindspots-tau", "uedpo-eval", eval_ckpt("--blindspots", "--blindspots-tau", "1.5", "--out", "{w}/o"),
         "--blindspots-tau"),
    Case("ckpt-out-is-a-file", "uedpo-eval", eval_ckpt("--out", "{w}/f"), "--out {w}/f",
         lambda c: c.write("f", "x")),
    Case("resume-row-without-id", "uedpo-eval", eval_ckpt("--out", "{w}/out"), "{w}/out/amber/responses.jsonl",
         resume_file('{"image": "AMBER_1.jpg", "response": "x"}\n')),
    Case("resume-row-not-json", "uedpo-eval", eval_ckpt("--out", "{w}/out"), "{w}/out/amber/responses.jsonl",
         resume_file('{"id": 1, "response": \n')),
    Case("resume-not-utf8", "uedpo-eval", eval_ckpt("--out", "{w}/out"), "{w}/out/amber/responses.jsonl",
         resume_file(b'{"id": 1, "response": "\xff"}\n')),
    Case("resume-settings-corrupt", "uedpo-eval", eval_ckpt("--out", "{w}/out"), "{w}/out/amber/responses.settings.json",
         lambda c: resume_file(first_amber_row(c), "{corrupt")(c)),
    Case("out-locked-by-another-run", "uedpo-eval", eval_ckpt("--out", "{w}/out"), "another uedpo-eval run (pid",
         hold_lock),
    # -- uedpo-data -------------------------------------------------------------------------------------------
    Case("data-verify-unknown-bench", "uedpo-data", S("verify", "nope"), "invalid choice: 'nope'"),
    Case("data-unknown-command", "uedpo-data", S("fetchh", "amber"), "fetchh"),
    Case("data-verify-data-dir-a-file", "uedpo-data", S("verify", "amber", "--data-dir", "{w}/f"), "--data-dir",
         lambda c: c.write("f", "x")),
    Case("data-fetch-data-dir-a-file", "uedpo-data", S("fetch", "amber", "--data-dir", "{w}/f"), "--data-dir",
         lambda c: c.write("f", "x")),
    Case("data-build-gt-out-a-directory", "uedpo-data", S("build-gt", "--coco-annotations", "{w}", "--out",
                                                          "{w}/d"),
         "--out", lambda c: (c.w / "d").mkdir()),
    Case("data-build-gt-annotations-missing", "uedpo-data", S("build-gt", "--coco-annotations", "{w}/none",
                                                              "--out", "{w}/gt.json.gz"),
         "{w}/none"),
    Case("data-build-gt-no-out", "uedpo-data", S("build-gt", "--coco-annotations", "{w}"), "--out"),
    Case("data-similarity-out-a-directory", "uedpo-data", S("amber-similarity", "--out", "{w}/d"), "--out",
         lambda c: (c.w / "d").mkdir()),
    Case("data-similarity-out-unwritable", "uedpo-data", S("amber-similarity", "--out", "{w}/ro/t.json"), "{w}/ro",
         readonly_dir("ro"), as_nobody=True),
    # -- uedpo-train (config errors) ----------------------------------------------------------------------------
    Case("train-unknown-key", "uedpo-train", S("model={tiny}", "data={w}/p.jsonl", "output_dir={w}/run", "nope=1"),
         "'nope'"),
    Case("train-bad-value", "uedpo-train", S("model={tiny}", "data={w}/p.jsonl", "output_dir={w}/run",
                                             "alpha=abc"),
         "'alpha'"),
    Case("train-config-missing", "uedpo-train", S("--config", "{w}/none.yaml"), "{w}/none.yaml"),
    Case("train-config-not-a-mapping", "uedpo-train", S("--config", "{w}/c.yaml"), "{w}/c.yaml",
         lambda c: c.write("c.yaml", "- a\n- b\n")),
    Case("train-vdpo-gamma-negative", "uedpo-train", S("model={tiny}", "data={w}/p.jsonl", "output_dir={w}/run",
                                                       "loss=vdpo", "vdpo_gamma=-1"),
         "vdpo_gamma"),
    Case("train-override-without-equals", "uedpo-train", S("model={tiny}", "alpha"), "'alpha'"),
    Case("train-option-of-another-loss", "uedpo-train", S("model={tiny}", "data={w}/p.jsonl", "output_dir={w}/run",
                                                          "loss=dpo", "vdpo_gamma=2"),
         "vdpo_gamma"),
    # -- uedpo-inspect ------------------------------------------------------------------------------------------
    Case("inspect-tau", "uedpo-inspect", S("--ckpt", "{tiny}", "--tau", "1.5"), "--tau"),
    Case("inspect-noise-step", "uedpo-inspect", S("--ckpt", "{tiny}", "--noise-step", "1000"), "--noise-step"),
    Case("inspect-step-negative", "uedpo-inspect", S("--ckpt", "{tiny}", "--step", "-1"), "--step"),
    Case("inspect-ckpt-missing", "uedpo-inspect", S("--ckpt", "{w}/nockpt"), "{w}/nockpt"),
    Case("inspect-samples-no-usable-row", "uedpo-inspect", S("--ckpt", "{tiny}", "--samples", "{w}/s.jsonl"),
         "{w}/s.jsonl", lambda c: c.write("s.jsonl", '{"id": "x"}\n')),
]

MODULES = {"uedpo-eval": "evaluation.cli", "uedpo-data": "benchmarks_data.cli", "uedpo-train": "uedpo.train.cli",
           "uedpo-inspect": "inspector.cli"}


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """Shared, read-only inputs: the AMBER data, a tiny checkpoint, 3 AMBER images, 10 AMBER-d answers."""
    data = need_data(AMBER, "amber/data/query/query_all.json")
    from benchmarks_data.amber import load_amber_queries
    from uedpo.models.tiny import build_tiny

    root = Path(tempfile.mkdtemp(prefix="uedpo-bad-inputs-"))
    root.chmod(0o755)  # readable by `nobody` for the unreadable-file cases
    tiny = build_tiny("llava", root / "tiny", seed=0)
    img = root / "img"
    img.mkdir()
    for k, q in enumerate(load_amber_queries("all", data)[:3]):
        Image.new("RGB", (40 + k, 30), (30 * k, 120, 60)).save(img / q.image)
    rows = [{"id": a["id"], "response": "No"} for a in json.loads((data / AMBER).read_text()) if a["id"] > 1004]
    r10 = root / "r10.json"
    r10.write_text(json.dumps(rows[:10]))
    for p in [root, *root.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    (root / "home").mkdir(mode=0o777)
    (root / "home").chmod(0o777)
    yield {"data": data, "tiny": tiny, "img": img, "r10": r10, "root": root}
    shutil.rmtree(root, ignore_errors=True)


def files_under(root: Path) -> dict[str, tuple]:
    """Every file and folder under ``root``: path -> (size, mtime, mode) for files, "dir" for folders."""
    out = {}
    for p in sorted(root.rglob("*")):
        out[str(p.relative_to(root))] = "dir" if p.is_dir() else (p.stat().st_size, p.stat().st_mtime_ns,
                                                                   p.stat().st_mode)
    return out


def _nobody_prefix() -> list[str] | None:
    """How to run a command as an unprivileged user, or None."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        return None
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def run_cli(case: Case, ctx: Ctx, capsys) -> tuple[int, str]:
    args = case.args(ctx)
    if case.as_nobody and os.geteuid() == 0:
        prefix = _nobody_prefix()
        if prefix is None:
            pytest.skip("running as root without setpriv: cannot make a file unreadable to the CLI")
        env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(ctx.w.parent / "home")}
        proc = subprocess.run([*prefix, sys.executable, "-m", MODULES[case.cli], *args], capture_output=True,
                              text=True, env=env, cwd=REPO, timeout=300)
        return proc.returncode, proc.stderr
    import importlib

    main = importlib.import_module(MODULES[case.cli]).main
    try:
        code = main(args)
    except SystemExit as exc:  # uedpo-train/uedpo-inspect let argparse exit
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_with_one_line_naming_it_and_writes_nothing(case, assets, capsys, monkeypatch):
    w = Path(tempfile.mkdtemp(prefix=f"case-{case.id}-", dir=assets["root"]))
    w.chmod(0o777)  # the nobody cases create nothing there either, but may look
    ctx = Ctx(w=w, data=assets["data"], tiny=assets["tiny"], img=assets["img"], r10=assets["r10"])
    case.setup(ctx)
    monkeypatch.chdir(w)
    if case.id == "out-locked-by-another-run":
        from evaluation.outputs import output_lock

        with output_lock(w / "out"):  # the first run, holding the folder
            before = files_under(w)
            code, err = run_cli(case, ctx, capsys)
            after = files_under(w)
    else:
        before = files_under(w)
        code, err = run_cli(case, ctx, capsys)
        after = files_under(w)
    for p in w.rglob("*"):  # let the cleanup remove what the case made unreadable
        p.chmod(0o755)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, err
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    names = case.names(ctx) if callable(case.names) else case.names.format(w=w)
    assert names in lines[0], lines[0]
    assert after == before, f"files written: {sorted(set(after) ^ set(before))}"


def test_the_table_covers_the_four_clis_with_at_least_40_cases():
    per_cli = {cli: sum(c.cli == cli for c in CASES) for cli in MODULES}
    assert len(CASES) >= 40 and all(per_cli.values()), per_cli
    assert len({c.id for c in CASES}) == len(CASES)
