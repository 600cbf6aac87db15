"""The one training config: a flat dataclass with a reason per field, from YAML + ``key=value`` overrides.

Method options follow METHOD.md §3.1 (paper values where known, [INF] choices otherwise). The YAML file holds
only the keys you change; ``uedpo-train --config cfg.yaml alpha=0.15 max_steps=100`` overrides them; the
resolved config is written to ``<output_dir>/config.yaml``. Every check runs before any data or model is
touched: unknown keys (with the closest key suggested), wrong types, out-of-range values and inconsistent
combinations (e.g. ``loss: dpo`` with ``alpha`` set) raise :class:`ConfigError` with one line naming the key
and the fix.
"""

from __future__ import annotations

import difflib
import math
import typing
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from uedpo.errors import InputError

LOSSES = ("ue_dpo", "dpo", "sft", "tpo", "vdpo", "mdpo")
BRANCHES = ("both", "preferred", "dispreferred")  # UE-DPO ablations: "w/o dispref." = preferred only
VDPO_NULLS = ("zeros", "random")
VDPO_NULL_MODELS = ("policy", "reference")
DATA_FORMATS = ("auto", "trl", "rlhf_v", "rlaif_v")
NOISE_KINDS = ("vcd_sigmoid", "ddpm_linear")
NOISE_SPACES = ("normalized", "pixel01")
NOISE_MODES = ("per_step", "fixed_per_sample")
SCOPES = ("sequence", "batch")
SCORE_SPACES = ("logit", "logprob")
DTYPES = ("auto", "float32", "bfloat16")
# Loading options (uedpo.models.load_options, shared with uedpo-eval / uedpo-inspect); null = transformers' default.
ATTN_IMPLEMENTATIONS = ("eager", "sdpa", "flash_attention_2")
DEVICE_MAPS = ("auto",)
QUANTIZATIONS = ("none", "4bit", "8bit")
LR_SCHEDULERS = ("cosine", "cosine_with_min_lr", "linear", "constant", "constant_with_warmup")
OPTIMIZERS = ("adamw_torch", "sgd")
NOISE_T = 1000  # diffusion steps of the VCD schedule (uedpo.noise); noise_step indexes into it

# Which losses read each method option: setting one for another loss is a mistake worth stopping for.
NOISE_OPTIONS = ("noise_step", "noise_kind", "noise_space", "noise_share_pair", "noise_mode")
PREFERENCE_LOSSES = ("ue_dpo", "dpo", "tpo", "vdpo", "mdpo")
OPTION_LOSSES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("alpha", "tau", "quantile_scope", "score_space", "weight_reference",
                     "std_eps", "branches"), ("ue_dpo",)),
    **dict.fromkeys(NOISE_OPTIONS, ("ue_dpo", "tpo")),  # the diffusion-noised view
    "tpo_detach_score": ("tpo",),
    **dict.fromkeys(("vdpo_gamma", "vdpo_null", "vdpo_null_images", "vdpo_null_model"), ("vdpo",)),
    "beta": PREFERENCE_LOSSES,
}


class ConfigError(InputError):
    """A config key is unknown, mistyped, out of range or inconsistent; the message names it and the fix."""


@dataclass
class TrainConfig:
    """Every knob of a run. Comments give the reason or the source (METHOD.md §3.1)."""

    # -- model ---------------------------------------------------------------------------------------------
    model: str = ""  # base checkpoint directory (or hub id when online); required
    adapter: str | None = None  # peft LoRA to continue from (a frozen copy is π_ref); None: fresh LoRA
    dtype: str = "auto"  # auto = bf16 weights + bf16 autocast on GPU, float32 on CPU
    lora_r: int = 128  # paper: LoRA rank 128; 0 = full-parameter training (SFT from scratch, loss: sft only)
    lora_alpha: int = 256  # LLaVA-1.5 codebase default (2·r); the paper does not give it
    lora_dropout: float = 0.0  # only with disable_dropout: false (dropout would add noise to u and Δ)
    disable_dropout: bool = True  # p = 0 on every dropout after peft wrapping (TRL default; METHOD step 4)
    gradient_checkpointing: bool = True  # non-reentrant, so LoRA weights get gradients; needed for 7B models
    attn_implementation: str | None = None  # eager | sdpa | flash_attention_2 (needs flash_attn and CUDA);
    # null: transformers' default (sdpa where the model supports it)
    device_map: str | None = None  # auto: spread the base model over this process's GPUs (accelerate; one
    # process only, not with DDP); null: one device, placed by the Trainer
    quantization: str = "none"  # 4bit (NF4) | 8bit base weights through bitsandbytes (CUDA only), LoRA on top
    # in dtype (QLoRA-style); needs lora_r > 0

    # -- data ----------------------------------------------------------------------------------------------
    data: str = ""  # JSON / JSONL rows or RLAIF-V parquet (file or directory), or a registered stream such as
    # "shapesworld[:seed=N]" (an endless on-the-fly SFT stream, uedpo.train.streams; needs loss: sft and
    # max_steps); required
    data_format: str = "auto"  # auto (from the row keys) | trl | rlhf_v | rlaif_v
    image_dir: str | None = None  # root of relative image paths; default: the data file's folder
    data_split: str = "train"  # split of a hub dataset id or of a saved DatasetDict directory
    data_streaming: bool = False  # read rows as they are needed (datasets IterableDataset: no Arrow copy,
    # rows checked when read, in file order, ids required, each DDP rank reads only its files); needs max_steps
    data_cache_dir: str | None = None  # where datasets keeps the Arrow copy of the data; null: HF_DATASETS_CACHE
    max_length: int = 2048  # prompt (image tokens included) + completion; only completions are truncated

    # -- loss and method (METHOD.md §3.1) --------------------------------------------------------------------
    loss: str = "ue_dpo"  # ue_dpo | dpo (same code, λ ≡ 1, no blurred pass) | sft (cross-entropy on chosen)
    beta: float = 0.1  # paper: β = 0.1
    alpha: float = 0.3  # paper: 0.3 LLaVA-1.5-7B, 0.25 13B, 0.15 Qwen2.5-VL-3B
    tau: float = 0.4  # share of tokens gated per response; paper: best near 0.4
    noise_step: int = 500  # diffusion step k of the blurred image; paper: k = 500
    noise_kind: str = "vcd_sigmoid"  # VCD/TPO sigmoid schedule; ddpm_linear nearly erases the image at k=500
    noise_space: str = "normalized"  # noise the processor output (VCD) or pixel01 (TPO, clamped)
    noise_share_pair: bool = True  # one ε per pair: chosen and rejected see the same counterfactual image
    noise_mode: str = "per_step"  # per_step: fresh ε each step; fixed_per_sample: ε seeded by the sample id
    quantile_scope: str = "sequence"  # q_τ, and μ, ς of u over the gated tokens: each response or the branch
    score_space: str = "logit"  # raw logits as TPO's visual-anchored score, or logprob
    weight_reference: bool = False  # ablation only: also raise π_ref to λ (the method weights π_θ only)
    std_eps: float = 1e-6  # floor of ς; below it the z-score is 0 (σ = 0.5)
    branches: str = "both"  # paper ablation: preferred ("w/o dispref.", λ_l ≡ 1) | dispreferred (λ_w ≡ 1)
    # -- baselines (METHOD.md §2.2-2.4): each reads only its own options ------------------------------------
    tpo_detach_score: bool = False  # TPO keeps the score in the graph (grad flows through the weights)
    vdpo_gamma: float = 1.5  # V-DPO guidance γ·log π(a|v) − (γ−1)·sg[log π(a|v_null)]; 1 is exactly DPO (V-DPO's
    # code default, so a `loss: vdpo` that changes nothing); 1.5, a mild guidance, is our choice
    vdpo_null: str = "zeros"  # zeros: all-zero normalised image (V-DPO n_random_images=0); random: Gaussian
    vdpo_null_images: int = 8  # random null images averaged (V-DPO default n_random_images=8)
    vdpo_null_model: str = "policy"  # V-DPO --dynamic_llm: the null term from the policy, else the reference

    # -- optimisation ----------------------------------------------------------------------------------------
    learning_rate: float = 1e-5  # paper: max lr 1e-5
    lr_scheduler: str = "cosine"  # paper: cosine; cosine_with_min_lr decays to min_lr_rate x learning_rate
    min_lr_rate: float = 0.0  # floor of cosine_with_min_lr as a share of learning_rate (ShapesWorld SFT: 0.05)
    warmup_ratio: float = 0.05  # share of steps warming up (RLAIF-V LoRA script: 0.05)
    weight_decay: float = 0.0  # TRL / HF default
    max_grad_norm: float = 1.0  # HF default; 0 disables clipping
    optim: str = "adamw_torch"  # adamw_torch, or sgd (tests: updates proportional to the gradient)
    adam_beta1: float = 0.9  # HF default
    adam_beta2: float = 0.999  # HF default; ShapesWorld SFT from scratch uses 0.98
    num_epochs: float = 2.0  # paper: 2 epochs
    max_steps: int = -1  # > 0 stops after this many optimizer steps instead of num_epochs
    batch_size: int = 1  # pairs per device per micro-step (2·batch_size rows: [chosen; rejected])
    grad_accum: int = 1  # micro-steps per optimizer step
    seed: int = 0  # LoRA init, data order and the noise seeds

    # -- output ----------------------------------------------------------------------------------------------
    output_dir: str = ""  # adapter, checkpoints, config.yaml, metrics.csv; required
    logging_steps: int = 10  # optimizer steps between metric rows
    save_steps: int = 500  # optimizer steps between checkpoint-N/ folders
    save_total_limit: int | None = None  # keep only the newest N checkpoints; None keeps all
    report_to: str = "tensorboard"  # tensorboard | none | wandb | ... (metrics.csv is always written)
    resume: str | None = None  # a checkpoint-N directory, or "latest" in output_dir

    def __post_init__(self) -> None:
        check_values(self)
        check_consistency(self, explicit=non_default_keys(self))

    def to_yaml(self) -> str:
        """Every key this run reads (options of other losses are left out, so the file loads back)."""
        values = {k: v for k, v in asdict(self).items() if self.loss in OPTION_LOSSES.get(k, (self.loss,))}
        return yaml.safe_dump(values, sort_keys=False)


FIELD_NAMES = tuple(f.name for f in fields(TrainConfig))


def non_default_keys(cfg: TrainConfig) -> set[str]:
    return {f.name for f in fields(cfg) if getattr(cfg, f.name) != f.default}


def _fail(key: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"config key {key!r} = {value!r}: expected {expected}")


def _check_choice(cfg: TrainConfig, key: str, choices: tuple[str, ...]) -> None:
    value = getattr(cfg, key)
    if value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise _fail(key, value, f"one of {', '.join(choices)}{hint}")


def check_values(cfg: TrainConfig) -> None:
    """Ranges and choices of single fields."""
    for key, choices in [
        ("loss", LOSSES), ("data_format", DATA_FORMATS), ("noise_kind", NOISE_KINDS),
        ("noise_space", NOISE_SPACES), ("noise_mode", NOISE_MODES), ("quantile_scope", SCOPES),
        ("score_space", SCORE_SPACES), ("dtype", DTYPES),
        ("lr_scheduler", LR_SCHEDULERS), ("optim", OPTIMIZERS), ("branches", BRANCHES),
        ("vdpo_null", VDPO_NULLS), ("vdpo_null_model", VDPO_NULL_MODELS), ("quantization", QUANTIZATIONS),
    ]:
        _check_choice(cfg, key, choices)
    for key, choices in [("attn_implementation", ATTN_IMPLEMENTATIONS), ("device_map", DEVICE_MAPS)]:
        if getattr(cfg, key) is not None:
            _check_choice(cfg, key, choices)
    ranges = [
        ("alpha", 0.0 <= cfg.alpha < 1.0, "a value in [0, 1) (paper: 0.15-0.3)"),
        ("tau", 0.0 < cfg.tau < 1.0, "a value in (0, 1) (paper: 0.4)"),
        ("beta", cfg.beta > 0, "a positive value (paper: 0.1)"),
        ("noise_step", 0 <= cfg.noise_step < NOISE_T, f"an integer in [0, {NOISE_T}) (paper: 500)"),
        ("std_eps", cfg.std_eps > 0, "a positive value"),
        ("vdpo_gamma", cfg.vdpo_gamma >= 0 and math.isfinite(cfg.vdpo_gamma), "a value >= 0 (1 = DPO)"),
        ("vdpo_null_images", cfg.vdpo_null_images >= 1, "a positive integer"),
        ("lora_r", cfg.lora_r >= 0, "a positive integer, or 0 for full-parameter training"),
        ("min_lr_rate", 0.0 <= cfg.min_lr_rate <= 1.0, "a value in [0, 1]"),
        ("adam_beta1", 0.0 <= cfg.adam_beta1 < 1.0, "a value in [0, 1)"),
        ("adam_beta2", 0.0 <= cfg.adam_beta2 < 1.0, "a value in [0, 1)"),
        ("lora_alpha", cfg.lora_alpha > 0, "a positive value"),
        ("lora_dropout", 0.0 <= cfg.lora_dropout < 1.0, "a value in [0, 1)"),
        ("max_length", cfg.max_length >= 2, "an integer >= 2 (prompt + at least one completion token)"),
        ("learning_rate", cfg.learning_rate > 0, "a positive value (paper: 1e-5)"),
        ("warmup_ratio", 0.0 <= cfg.warmup_ratio < 1.0, "a value in [0, 1)"),
        ("weight_decay", cfg.weight_decay >= 0, "a value >= 0"),
        ("max_grad_norm", cfg.max_grad_norm >= 0, "a value >= 0 (0 disables clipping)"),
        ("num_epochs", cfg.num_epochs > 0 and math.isfinite(cfg.num_epochs), "a positive number"),
        ("max_steps", cfg.max_steps == -1 or cfg.max_steps >= 1, "-1 (use num_epochs) or a positive integer"),
        ("batch_size", cfg.batch_size >= 1, "a positive integer"),
        ("grad_accum", cfg.grad_accum >= 1, "a positive integer"),
        ("logging_steps", cfg.logging_steps >= 1, "a positive integer"),
        ("save_steps", cfg.save_steps >= 1, "a positive integer"),
        ("save_total_limit", cfg.save_total_limit is None or cfg.save_total_limit >= 1, "null or >= 1"),
        ("data_split", bool(cfg.data_split.strip()), "a split name such as train"),
    ]
    for key, ok, expected in ranges:
        if not ok:
            raise _fail(key, getattr(cfg, key), expected)


def check_consistency(cfg: TrainConfig, explicit: set[str]) -> None:
    """Combinations that cannot mean what the user wants; ``explicit`` are the keys the user set."""
    ignored = [k for k, losses in OPTION_LOSSES.items() if k in explicit and cfg.loss not in losses]
    if ignored:
        readers = sorted({loss for k in ignored for loss in OPTION_LOSSES[k]}, key=LOSSES.index)
        raise ConfigError(
            f"config: loss={cfg.loss} ignores {', '.join(ignored)}; remove "
            f"{'it' if len(ignored) == 1 else 'them'} or use loss={' | '.join(readers)}"
        )
    if "vdpo_null_images" in explicit and cfg.vdpo_null != "random":
        raise ConfigError(f"config: vdpo_null_images={cfg.vdpo_null_images} is read with vdpo_null=random only; "
                          "remove it or set vdpo_null=random")
    if cfg.lora_r == 0 and (cfg.loss != "sft" or cfg.adapter):
        raise ConfigError(
            f"config: lora_r=0 (full-parameter training) works with loss=sft and no adapter only (DPO's "
            f"reference is the model with its LoRA disabled); got loss={cfg.loss}, adapter={cfg.adapter}"
        )
    if is_stream(cfg.data) and (cfg.loss != "sft" or cfg.max_steps < 1):
        raise ConfigError(
            f"config: data={cfg.data} is an endless SFT stream; it needs loss=sft and max_steps > 0"
        )
    if cfg.data_streaming and (is_stream(cfg.data) or cfg.max_steps < 1):
        raise ConfigError(
            f"config: data_streaming=true reads {cfg.data or 'the data'} as a stream of unknown length; it needs "
            "max_steps > 0 (and a file, directory or hub id as data, not shapesworld)"
        )
    if cfg.quantization != "none" and cfg.lora_r == 0:
        raise ConfigError(f"config: quantization={cfg.quantization} freezes the base weights in 4/8 bits, so "
                          "lora_r=0 (full-parameter training) cannot train them; set lora_r > 0 or quantization=none")
    if cfg.min_lr_rate != 0.0 and cfg.lr_scheduler != "cosine_with_min_lr":
        raise ConfigError(f"config: min_lr_rate is read by lr_scheduler=cosine_with_min_lr only, not "
                          f"{cfg.lr_scheduler}; remove it or change the scheduler")
    if cfg.lora_dropout > 0 and cfg.disable_dropout:
        raise ConfigError(
            f"config: lora_dropout={cfg.lora_dropout} has no effect with disable_dropout=true (dropout is "
            "set to 0 so u and Δ are deterministic); remove lora_dropout or set disable_dropout=false"
        )
    if cfg.max_steps > 0 and "num_epochs" in explicit:
        raise ConfigError(
            f"config: both max_steps={cfg.max_steps} and num_epochs={cfg.num_epochs} are set; keep one "
            "(max_steps wins in transformers.Trainer, silently)"
        )


def is_stream(data: str) -> bool:
    """``data`` names a registered on-the-fly stream (:mod:`uedpo.train.streams`, e.g. ``shapesworld:seed=N``)."""
    from uedpo.train.streams import stream_name

    return stream_name(data) is not None


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """``value`` (from YAML or a ``key=value`` override) as the field's type, or a ConfigError."""
    args = typing.get_args(hint)
    if type(None) in args:
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            return None
        hint = next(a for a in args if a is not type(None))
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _fail(key, value, "true or false")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
            raise _fail(key, value, "an integer")
        return int(value)
    if hint is float:
        # YAML reads "1e-5" (no dot) as a string: accept any text float() understands.
        try:
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        except (TypeError, ValueError):
            raise _fail(key, value, "a number") from None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise _fail(key, value, "a string")
    return str(value)


# Keys earlier versions accepted, with what replaced them.
REMOVED_KEYS = {"stats_scope": "quantile_scope sets the scope of q_τ, μ and ς together (the core has one scope)"}


def _unknown(key: str, where: str) -> ConfigError:
    if key in REMOVED_KEYS:
        return ConfigError(f"{where}: key {key!r} was removed: {REMOVED_KEYS[key]}; delete it")
    close = difflib.get_close_matches(key, FIELD_NAMES, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(FIELD_NAMES)}"
    return ConfigError(f"{where}: unknown key {key!r}{hint}")


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """``["alpha=0.15", "adapter=null"]`` -> ``{"alpha": 0.15, "adapter": None}`` (values parsed as YAML)."""
    parsed: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip().lstrip("-")
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected key=value, e.g. alpha=0.15")
        try:
            parsed[key] = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            parsed[key] = text
    return parsed


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path}: not found; check the path")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        line = getattr(getattr(err, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise ConfigError(f"config file {path}: not valid YAML{where}; fix the syntax") from err
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        kind = type(loaded).__name__
        raise ConfigError(f"config file {path}: expected a mapping of key: value, got {kind}")
    return loaded


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Defaults <- YAML file <- ``key=value`` overrides, all checked; required keys must end up set."""
    hints = typing.get_type_hints(TrainConfig)
    values: dict[str, Any] = {}
    sources = [(read_yaml(path), f"config file {path}")] if path is not None else []
    sources.append((parse_overrides(overrides or []), "override"))
    for mapping, where in sources:
        for key, value in mapping.items():
            if key not in hints:
                raise _unknown(str(key), where)
            values[key] = _coerce(key, value, hints[key])
    missing = [k for k in ("model", "data", "output_dir") if not values.get(k)]
    if missing:
        raise ConfigError(f"config: {', '.join(missing)} not set; add them to the YAML file or as key=value")
    cfg = TrainConfig(**values)
    check_consistency(cfg, explicit=set(values) | non_default_keys(cfg))
    return cfg
