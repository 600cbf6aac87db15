"""uedpo-train on bad inputs and interruptions: one line, exit 2 (130 for Ctrl-C), before the model loads.

Covers: an ``output_dir`` that is a file, ``report_to`` naming an integration that is not installed, a pickle-only
start adapter (never unpickled), an adapter trained on another model family, images that resolve outside
``image_dir``, Ctrl-C in a real subprocess (exit 130, complete checkpoints, resume works), a run shorter than
``logging_steps`` (its last step is in metrics.csv) and a fast ``--help`` that lists every config key.
"""

from __future__ import annotations

import csv
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_trainer_support import build_base, make_data, pair_rows, small_config, write_json

import uedpo.trainer as trainer_module
from uedpo.interrupts import deferred_sigint
from uedpo.train.cli import main
from uedpo.train.config import TrainConfig
from uedpo.train.data import TrainDataError, load_rows
from uedpo.train.keys import config_keys
from uedpo.trainer import last_complete_checkpoint, resolve_resume, train

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def llava(tmp_path_factory):
    return build_base(tmp_path_factory.mktemp("inputs_ckpt"), "llava")


def _run(capsys, *args) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


def _refuse_model_load(monkeypatch):
    """Any model load fails the test: the check under test must come first."""
    def loaded(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr(trainer_module, "load_policy", loaded)


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("uedpo-train: error: "), err
    return lines[0]


# ----- output_dir, report_to -----------------------------------------------------------------------------

def test_output_dir_that_is_a_file_is_refused_before_anything_loads(tmp_path, capsys, monkeypatch):
    _refuse_model_load(monkeypatch)
    monkeypatch.setattr(trainer_module, "load_rows", lambda *a, **k: pytest.fail("data read first"))
    taken = tmp_path / "run.txt"
    taken.write_text("not a directory")
    code, err = _run(capsys, "model=/no/model", "data=/no/data.json", f"output_dir={taken}")
    assert code == 2 and f"'output_dir' = {taken}: is a file, not a directory" in _one_line(err)
    code, err = _run(capsys, "model=/no/model", "data=/no/data.json", f"output_dir={taken}/sub")
    assert code == 2 and f"{taken} is a file, so no directory can be made there" in _one_line(err)
    assert taken.read_text() == "not a directory"


@pytest.mark.parametrize("report_to, message", [
    ("wandb", "'report_to' = 'wandb': wandb is not installed; `pip install wandb`, or set report_to="),
    ("tensorboard,mlflow", "mlflow is not installed"),
    ("wandbb", "unknown 'wandbb'; expected none or a comma-separated list of"),
])
def test_report_to_an_integration_that_is_not_installed_is_refused_before_the_model_loads(
        tmp_path, capsys, monkeypatch, report_to, message):
    _refuse_model_load(monkeypatch)
    monkeypatch.setattr(trainer_module, "get_available_reporting_integrations", lambda: ["tensorboard"])
    code, err = _run(capsys, "model=/no/model", "data=/no/data.json", f"output_dir={tmp_path / 'run'}",
                     f"report_to={report_to}")
    assert code == 2 and message in _one_line(err)
    assert not (tmp_path / "run").exists()


def test_report_to_none_and_tensorboard_pass(monkeypatch):
    monkeypatch.setattr(trainer_module, "get_available_reporting_integrations", lambda: [])
    for ok in ("none", "tensorboard", "all"):
        trainer_module.check_report_to(ok)  # tensorboard falls back to metrics.csv with a warning


# ----- the start adapter -------------------------------------------------------------------------------

class _Payload:
    """Unpickling this creates a folder: the proof that a file was unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_pickle_only_adapter_is_refused_and_never_unpickled(tmp_path, capsys, monkeypatch):
    _refuse_model_load(monkeypatch)
    adapter = tmp_path / "old_adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    marker = tmp_path / "UNPICKLED"
    (adapter / "adapter_model.bin").write_bytes(pickle.dumps(_Payload(marker)))
    data = make_data(tmp_path / "data", 2)
    code, err = _run(capsys, "model=/no/model", f"data={data}", f"output_dir={tmp_path / 'run'}",
                     f"adapter={adapter}", "loss=sft")
    line = _one_line(err)
    assert code == 2 and f"adapter {adapter}: no adapter_model.safetensors" in line
    assert "adapter_model.bin is pickled and never loaded; re-save with safetensors" in line
    assert not marker.exists()


def _qwen_adapter(tmp_path: Path) -> Path:
    """A real peft LoRA saved on a tiny Qwen2.5-VL (adapter_config.json records that base)."""
    from peft import LoraConfig, get_peft_model

    from uedpo.models import LM_LORA_TARGETS, load_adapter

    qwen = build_base(tmp_path / "qwen", "qwen2_5_vl")
    model = load_adapter(qwen, device="cpu").model
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=LM_LORA_TARGETS))
    peft.save_pretrained(tmp_path / "qwen_lora")
    recorded = json.loads((tmp_path / "qwen_lora" / "adapter_config.json").read_text())
    assert Path(recorded["base_model_name_or_path"]).resolve() == Path(qwen).resolve()
    return tmp_path / "qwen_lora"


def test_adapter_trained_on_another_family_is_refused_before_the_model_loads(llava, tmp_path, capsys,
                                                                          monkeypatch):
    adapter = _qwen_adapter(tmp_path)
    capsys.readouterr()  # progress bars of building it
    _refuse_model_load(monkeypatch)
    data = make_data(tmp_path / "data", 2)
    code, err = _run(capsys, f"model={llava}", f"data={data}", f"output_dir={tmp_path / 'run'}",
                     f"adapter={adapter}", "loss=sft")
    line = _one_line(err)
    assert code == 2 and f"adapter {adapter}: trained on a qwen2_5_vl base" in line
    assert f"but {llava} is llava; pass the base it was trained on" in line


# ----- images outside image_dir ------------------------------------------------------------------------

def test_images_that_resolve_outside_image_dir_are_refused_with_the_row(tmp_path):
    rows = pair_rows(tmp_path / "data", 3)
    outside = pair_rows(tmp_path / "elsewhere", 1)[0]["image"]
    for name, image in [("dotdot", f"../elsewhere/{outside}"), ("nested", f"sub/../../elsewhere/{outside}"),
                        ("absolute", str(tmp_path / "elsewhere" / outside))]:
        bad = [dict(r) for r in rows]
        bad[2]["image"] = image
        data = write_json(tmp_path / "data" / f"{name}.json", bad)
        with pytest.raises(TrainDataError) as e:
            load_rows(data)
        msg = str(e.value)
        assert msg.startswith(f"{data} row 2 (id p2): image {image!r} resolves to ") and "\n" not in msg
        assert f"outside image_dir {tmp_path / 'data'}" in msg and "relative to image_dir" in msg


def test_paths_inside_image_dir_still_load(tmp_path):
    """Absolute paths inside image_dir, harmless '..' and links the user made inside image_dir are fine."""
    rows = pair_rows(tmp_path / "data", 3)
    rows[0]["image"] = str(tmp_path / "data" / rows[0]["image"])
    rows[1]["image"] = f"sub/../{rows[1]['image']}"
    (tmp_path / "data" / "linked").symlink_to(tmp_path / "data", target_is_directory=True)
    rows[2]["image"] = f"linked/{rows[2]['image']}"
    loaded = load_rows(write_json(tmp_path / "data" / "rows.json", rows))
    assert [r.image_path for r in loaded] == [tmp_path / "data" / "img_0.png", tmp_path / "data" / "img_1.png",
                                              tmp_path / "data" / "linked" / "img_2.png"]


# ----- short runs ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("max_steps, logging_steps, steps", [(3, 10, [3]), (5, 2, [2, 4, 5])])
def test_metrics_csv_always_has_the_last_step(llava, tmp_path, max_steps, logging_steps, steps):
    data = make_data(tmp_path / "data", 2)
    out = train(small_config(llava, data, tmp_path / "run", loss="sft", max_steps=max_steps,
                             logging_steps=logging_steps, batch_size=2))
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == steps and all(r["loss"] for r in rows)


# ----- Ctrl-C --------------------------------------------------------------------------------------------

def test_deferred_sigint_holds_ctrl_c_until_the_block_is_done():
    done, before = [], signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), deferred_sigint():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        done.append("saved")
    assert done == ["saved"]
    assert signal.getsignal(signal.SIGINT) is before


def test_the_trainer_writes_checkpoints_with_ctrl_c_held(llava, tmp_path, monkeypatch):
    """build_trainer wires deferred_sigint around the Trainer's checkpoint writer: a SIGINT in the middle of
    a save lets the save finish (every file written) and only then stops training."""
    from transformers import Trainer

    written = []

    def save(self, model, trial):
        written.append("model")
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        written.append("trainer_state.json")

    monkeypatch.setattr(Trainer, "_save_checkpoint", save)
    trainer = trainer_module.build_trainer(small_config(llava, make_data(tmp_path / "data", 2), tmp_path / "run"))
    with pytest.raises(KeyboardInterrupt):
        trainer._save_checkpoint(trainer.model, None)
    assert written == ["model", "trainer_state.json"]


def test_resume_latest_skips_an_incomplete_checkpoint(tmp_path, caplog):
    for step, complete in ((2, True), (4, True), (6, False)):
        (tmp_path / f"checkpoint-{step}").mkdir()
        if complete:
            (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    with caplog.at_level("WARNING", logger="uedpo.trainer"):
        assert last_complete_checkpoint(str(tmp_path)) == str(tmp_path / "checkpoint-4")
    assert "checkpoint-6 has no trainer_state.json (interrupted while saving)" in caplog.text
    cfg = TrainConfig(model="/m", data="/d.json", output_dir=str(tmp_path), resume=str(tmp_path / "checkpoint-6"))
    with pytest.raises(ValueError, match=r"checkpoint-6: no trainer_state.json, so the checkpoint is incomplete"):
        resolve_resume(cfg)


@pytest.mark.slow
def test_ctrl_c_exits_130_with_one_line_and_the_run_resumes(llava, tmp_path, capsys):
    """A real ``python -m uedpo.train.cli`` gets SIGINT after its second checkpoint: exit 130, one line, no
    traceback, every checkpoint complete; ``resume=latest`` then continues from the newest one."""
    data = make_data(tmp_path / "data", 4)
    out = tmp_path / "run"
    args = [f"model={llava}", f"data={data}", f"output_dir={out}", "loss=sft", "lora_r=4", "lora_alpha=8",
            "report_to=none", "gradient_checkpointing=false", "warmup_ratio=0", "batch_size=2",
            "logging_steps=1", "save_steps=2", "learning_rate=1e-3"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TQDM_DISABLE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "uedpo.train.cli", *args, "max_steps=100000"], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not (out / "checkpoint-4" / "trainer_state.json").is_file():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no second checkpoint within 240 s"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("uedpo-train: interrupted; ") and "add resume=latest to continue" in last
    checkpoints = sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    assert len(checkpoints) >= 2
    for ckpt in checkpoints:
        assert {"trainer_state.json", "adapter_model.safetensors", "optimizer.pt", "scheduler.pt"} <= {
            p.name for p in ckpt.iterdir()}, ckpt
    newest = int(checkpoints[-1].name.split("-")[1])
    assert str(checkpoints[-1]) in last

    assert main([*args, f"max_steps={newest + 1}", "resume=latest"]) == 0
    with open(out / "metrics.csv", newline="") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f)]
    assert steps == list(range(1, newest + 2))
    capsys.readouterr()


# ----- --help --------------------------------------------------------------------------------------------

def test_help_is_fast_imports_no_torch_and_lists_every_key_with_default_and_reason():
    code = ("import sys, time; t = time.perf_counter(); from uedpo.train.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', time.perf_counter() - t)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    marker, seconds = proc.stdout.strip().splitlines()[-1].split()
    assert marker == "NO-TORCH" and float(seconds) < 2.0
    text = " ".join(proc.stdout.split())
    docs = {d.name: d for d in config_keys()}
    assert set(docs) == {f.name for f in __import__("dataclasses").fields(TrainConfig)}
    for doc in docs.values():
        assert doc.reason, f"config key {doc.name} has no reason comment in uedpo/train/config.py"
        assert f"{doc.name} = {doc.default} {doc.reason}" in text
    assert "alpha = 0.3 paper: 0.3 LLaVA-1.5-7B, 0.25 13B, 0.15 Qwen2.5-VL-3B" in text
    assert "adapter = null" in text and docs["learning_rate"].default == "1e-5"
    assert docs["vdpo_gamma"].reason.endswith("1.5, a mild guidance, is our choice")  # a continued comment
    assert docs["report_to"].group == "output" and docs["beta"].group.startswith("loss and method")


def test_a_start_adapter_missing_tensors_is_refused(llava, tmp_path):
    """peft only warns when a start adapter's tensors do not all load; training must stop (as uedpo-eval does),
    naming the adapter and how many tensors are missing."""
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file, save_file

    from uedpo.models import LM_LORA_TARGETS, load_adapter
    from uedpo.train.config import ConfigError
    from uedpo.train.policy import load_policy

    adapter = tmp_path / "start"
    base = load_adapter(llava, device="cpu").model
    get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=LM_LORA_TARGETS)).save_pretrained(adapter)
    weights = load_file(adapter / "adapter_model.safetensors")
    save_file({k: v for k, v in weights.items() if k != sorted(weights)[0]}, adapter / "adapter_model.safetensors")
    data = make_data(tmp_path / "data", 2)
    with pytest.raises(ConfigError, match=r"adapter .*start: does not match .*: 0 tensors unused, 1 missing"):
        load_policy(small_config(llava, data, tmp_path / "run", adapter=str(adapter)))
