"""The model card ``uedpo-export`` writes: base, training config, data sha256, toolkit version and commit.

The YAML front matter holds the machine-readable part (``base_model``, ``uedpo_version``, ``uedpo_git``,
``data_sha256``, ...), as the Hugging Face Hub reads model cards; the body repeats it for people, with the
run's ``config.yaml`` verbatim. The toolkit version comes from the installed package's metadata
(``importlib.metadata``) and the commit from the source checkout (:func:`uedpo.source.git_commit`, ``+dirty`` when
tracked files changed).
Nothing here imports :mod:`evaluation` (the package boundary: ``uedpo`` never does).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

import yaml

from uedpo.source import git_commit, installed_version
from uedpo.train.data import SUFFIXES as DATA_SUFFIXES  # the files a data directory holds

VERSIONED = ("uedpo", "transformers", "peft", "torch")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_sha256(config: dict, adapter_dir: Path) -> tuple[str | None, str]:
    """(sha256 or None, how it was obtained) of the run's training data.

    ``data_sha256`` in the config wins; else the ``data`` path (as given, else relative to the adapter
    directory): a file's sha256, or for a directory sha256 over ``"{relative path}\\0{sha256}\\n"`` of its
    data files in sorted order.
    """
    if config.get("data_sha256"):
        return str(config["data_sha256"]), "recorded in config.yaml"
    data = str(config.get("data") or "")
    if not data:
        return None, "config.yaml has no data path"
    path = next((p for p in (Path(data).expanduser(), adapter_dir / data) if p.exists()), None)
    if path is None:
        return None, f"data {data} not found at export time (a stream, or moved)"
    if path.is_file():
        return file_sha256(path), f"sha256 of {path}"
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in DATA_SUFFIXES)
    listing = "".join(f"{p.relative_to(path).as_posix()}\0{file_sha256(p)}\n" for p in files)
    return hashlib.sha256(listing.encode()).hexdigest(), f"digest over {len(files)} data files in {path}"


def read_run_config(adapter_dir: Path) -> tuple[dict, str | None]:
    """The run's ``config.yaml`` (parsed, raw), or ({}, None): in the adapter directory, or for a
    ``checkpoint-N`` directory of a run, in the run directory above it."""
    path = adapter_dir / "config.yaml"
    if not path.is_file() and adapter_dir.name.startswith("checkpoint-"):
        path = adapter_dir.parent / "config.yaml"
    if not path.is_file():
        return {}, None
    text = path.read_text(encoding="utf-8")
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        parsed = None
    return (parsed if isinstance(parsed, dict) else {}), text


def model_card(*, name: str, family: str, adapter_dir: Path, merged: bool, dtype: str, files: list[str]) -> str:
    """README.md for an export (module docstring)."""
    config, config_text = read_run_config(adapter_dir)
    sha, how = data_sha256(config, adapter_dir)
    versions = {package: installed_version(package) or "not installed" for package in VERSIONED}
    front = {
        "library_name": "transformers" if merged else "peft",
        "base_model": name,
        "model_family": family,
        "export": "merged" if merged else "adapter",
        "dtype": dtype,
        "adapter_source": str(adapter_dir),
        "training_loss": config.get("loss"),
        "data": config.get("data"),
        "data_sha256": sha,
        "uedpo_version": versions["uedpo"],
        "uedpo_git": git_commit(),
        "versions": versions,
        "exported": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "tags": ["uedpo", "lora", family],
    }
    what = ("the base with the LoRA adapter merged into its weights (a plain transformers checkpoint)" if merged
            else "a peft LoRA adapter; load it onto the base with `uedpo-eval --ckpt BASE --adapter DIR`")
    body = [
        f"# {family} + UE-DPO LoRA ({'merged' if merged else 'adapter'})", "",
        f"Exported by `uedpo-export` {versions['uedpo']} (commit {front['uedpo_git'] or 'unknown'}): {what}.", "",
        f"- base: `{name}` ({family}); weights {dtype}",
        f"- adapter: `{adapter_dir}`",
        f"- training data: `{config.get('data')}`, sha256 `{sha or 'unknown'}` ({how})",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        "- files: " + ", ".join(f"`{f}`" for f in files), "",
        "## Training config", "",
        f"```yaml\n{config_text.rstrip()}\n```" if config_text else "Not recorded (no config.yaml in the adapter "
        "directory).",
        "",
    ]
    return "---\n" + yaml.safe_dump(front, sort_keys=False) + "---\n\n" + "\n".join(body)
