"""Trainer config: YAML + key=value overrides, types, ranges, unknown keys and inconsistent options.

No model is needed: every error must come before any data or model is touched.
"""

from __future__ import annotations

import pytest
import yaml

from uedpo.train.cli import main
from uedpo.train.config import ConfigError, TrainConfig, load_config

REQUIRED = {"model": "/ckpt/base", "data": "/data/pairs.json", "output_dir": "/runs/a"}


def _yaml(tmp_path, **values) -> str:
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({**REQUIRED, **values}), encoding="utf-8")
    return str(path)


def test_yaml_then_overrides_with_types(tmp_path):
    # "1e-5" without a dot is a *string* in YAML 1.1; the float field must still accept it.
    path = tmp_path / "cfg.yaml"
    path.write_text(
        "model: /ckpt/base\ndata: /data/pairs.json\noutput_dir: /runs/a\n"
        "alpha: 0.2\nlearning_rate: 1e-5\nbatch_size: 4\nadapter: /start\n",
        encoding="utf-8",
    )
    cfg = load_config(path, ["alpha=0.15", "max_steps=10", "adapter=null", "noise_share_pair=false"])
    assert cfg.alpha == 0.15  # the override wins over the file
    assert cfg.learning_rate == 1e-5 and isinstance(cfg.learning_rate, float)
    assert cfg.batch_size == 4 and cfg.max_steps == 10
    assert cfg.adapter is None and cfg.noise_share_pair is False
    assert cfg.tau == TrainConfig.tau  # untouched keys keep their defaults


def test_resolved_config_round_trips_through_yaml(tmp_path):
    cfg = load_config(_yaml(tmp_path, loss="ue_dpo", alpha=0.25, quantile_scope="batch"))
    again = tmp_path / "again.yaml"
    again.write_text(cfg.to_yaml(), encoding="utf-8")
    assert load_config(again) == cfg


def test_overrides_alone_are_enough():
    cfg = load_config(None, [f"{k}={v}" for k, v in REQUIRED.items()] + ["loss=sft"])
    assert cfg.loss == "sft" and cfg.model == "/ckpt/base"


@pytest.mark.parametrize(
    "where, key, suggestion",
    [("file", "alpah", "alpha"), ("override", "learnig_rate", "learning_rate"),
     ("override", "nois_step", "noise_step")],
)
def test_unknown_key_suggests_the_closest(tmp_path, where, key, suggestion):
    with pytest.raises(ConfigError, match=rf"unknown key '{key}'; did you mean '{suggestion}'\?"):
        if where == "file":
            load_config(_yaml(tmp_path, **{key: 1}))
        else:
            load_config(_yaml(tmp_path), [f"{key}=1"])


@pytest.mark.parametrize(
    "values, overrides, pattern",
    [
        ({"loss": "dpo", "alpha": 0.3}, [], r"loss=dpo ignores alpha"),  # explicit, even at the default value
        ({"loss": "dpo"}, ["tau=0.3", "noise_step=400"], r"loss=dpo ignores tau, noise_step"),
        ({"loss": "sft", "beta": 0.2}, [], r"loss=sft ignores beta"),
        ({"stats_scope": "batch"}, [], r"key 'stats_scope' was removed: quantile_scope sets the scope"),
        ({"lora_dropout": 0.05}, [], r"lora_dropout=0.05 has no effect with disable_dropout=true"),
        ({"max_steps": 100, "num_epochs": 1}, [], r"both max_steps=100 and num_epochs=1.0 are set"),
    ],
)
def test_inconsistent_options_are_refused(tmp_path, values, overrides, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_config(_yaml(tmp_path, **values), overrides)


def test_consistent_variants_are_accepted(tmp_path):
    assert load_config(_yaml(tmp_path, loss="dpo", beta=0.2)).beta == 0.2
    assert load_config(_yaml(tmp_path, lora_dropout=0.05, disable_dropout=False)).lora_dropout == 0.05
    assert load_config(_yaml(tmp_path, max_steps=5)).max_steps == 5


@pytest.mark.parametrize(
    "override, pattern",
    [
        ("alpha=1.5", r"'alpha' = 1.5: expected a value in \[0, 1\)"),
        ("tau=0", r"'tau' = 0.0: expected a value in \(0, 1\)"),
        ("noise_step=1000", r"'noise_step' = 1000: expected an integer in \[0, 1000\)"),
        ("loss=ue-dpo", r"expected one of ue_dpo, dpo, sft, tpo, vdpo, mdpo \(did you mean 'ue_dpo'\?\)"),
        ("batch_size=1.5", r"'batch_size' = 1.5: expected an integer"),
        ("max_steps=abc", r"'max_steps' = 'abc': expected an integer"),
        ("learning_rate=fast", r"'learning_rate' = 'fast': expected a number"),
        ("disable_dropout=maybe", r"'disable_dropout' = 'maybe': expected true or false"),
        ("alpha0.3", r"override 'alpha0.3': expected key=value"),
    ],
)
def test_bad_values_name_the_key_and_the_expectation(tmp_path, override, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_config(_yaml(tmp_path), [override])


def test_required_keys_and_bad_files(tmp_path):
    with pytest.raises(ConfigError, match=r"data, output_dir not set"):
        load_config(None, ["model=/ckpt"])
    with pytest.raises(ConfigError, match=r"config file .*nope.yaml: not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("alpha: [0.3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"not valid YAML"):
        load_config(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- alpha\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"expected a mapping"):
        load_config(listed)


def test_dataclass_checks_programmatic_configs_too():
    with pytest.raises(ConfigError, match=r"loss=dpo ignores alpha"):
        TrainConfig(**REQUIRED, loss="dpo", alpha=0.1)
    with pytest.raises(ConfigError, match=r"'tau' = 1.0"):
        TrainConfig(**REQUIRED, tau=1.0)


def test_cli_reports_config_errors_in_one_line_before_any_work(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["--config", _yaml(tmp_path, output_dir=str(out)), "alpah=0.2"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("uedpo-train: error:") and "did you mean 'alpha'" in err
    assert not out.exists()


def test_example_configs_load_and_are_consistent():
    """Every shipped configs/*.yaml passes the same checks a user's file does (paths are not opened here)."""
    from pathlib import Path

    files = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
    assert files
    alphas = {f.name: load_config(f).alpha for f in files}
    assert alphas["llava15_7b_rlhfv_uedpo.yaml"] == 0.3 and alphas["qwen25vl_3b_rlaifv_uedpo.yaml"] == 0.15


def test_tensorboard_falls_back_to_csv_only_with_a_message(monkeypatch, caplog):
    import uedpo.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "is_tensorboard_available", lambda: False)
    with caplog.at_level("WARNING", logger="uedpo.trainer"):
        assert trainer_module.report_targets("tensorboard") == []
    expected = "tensorboard is not installed (pip install tensorboard); metrics go to metrics.csv only"
    assert expected in caplog.text
    monkeypatch.setattr(trainer_module, "is_tensorboard_available", lambda: True)
    assert trainer_module.report_targets("tensorboard, wandb") == ["tensorboard", "wandb"]
    assert trainer_module.report_targets("none") == []


@pytest.mark.parametrize(
    "values, pattern",
    [
        ({"loss": "tpo", "vdpo_gamma": 2.0}, r"loss=tpo ignores vdpo_gamma; remove it or use loss=vdpo"),
        ({"loss": "dpo", "branches": "preferred"}, r"loss=dpo ignores branches; remove it or use loss=ue_dpo"),
        ({"loss": "mdpo", "noise_step": 400}, r"loss=mdpo ignores noise_step; remove it or use loss=ue_dpo \| tpo"),
        ({"loss": "vdpo", "tpo_detach_score": True}, r"loss=vdpo ignores tpo_detach_score"),
        ({"loss": "vdpo", "vdpo_gamma": -0.5}, r"'vdpo_gamma' = -0.5: expected a value >= 0"),
        ({"loss": "vdpo", "vdpo_null_images": 4}, r"vdpo_null_images=4 is read with vdpo_null=random only"),
        ({"loss": "vdpo", "vdpo_null": "gray"}, r"'vdpo_null' = 'gray': expected one of zeros, random"),
        ({"branches": "chosen"}, r"'branches' = 'chosen': expected one of both, preferred, dispreferred"),
        ({"loss": "tpoo"}, r"did you mean 'tpo'\?"),
    ],
)
def test_method_options_belong_to_their_loss(tmp_path, values, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_config(_yaml(tmp_path, **values))


@pytest.mark.parametrize("loss", ["ue_dpo", "dpo", "sft", "tpo", "vdpo", "mdpo"])
def test_every_loss_round_trips_with_only_its_own_options(tmp_path, loss):
    extra = {"ue_dpo": {"branches": "preferred"}, "tpo": {"tpo_detach_score": True, "noise_step": 400},
             "vdpo": {"vdpo_gamma": 2.0, "vdpo_null": "random", "vdpo_null_images": 2}}.get(loss, {})
    cfg = load_config(_yaml(tmp_path, loss=loss, **extra))
    written = yaml.safe_load(cfg.to_yaml())
    assert ("vdpo_gamma" in written) == (loss == "vdpo") and ("alpha" in written) == (loss == "ue_dpo")
    assert ("noise_step" in written) == (loss in ("ue_dpo", "tpo")) and ("beta" in written) == (loss != "sft")
    again = tmp_path / "again.yaml"
    again.write_text(cfg.to_yaml(), encoding="utf-8")
    assert load_config(again) == cfg
