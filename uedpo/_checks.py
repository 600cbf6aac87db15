"""Argument checks shared by the core modules: every message names the argument and what was expected."""

from __future__ import annotations

import torch


def check_shape(name: str, t: torch.Tensor, shape: tuple[int, ...], what: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor of shape {what}, got {type(t).__name__}")
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"{name}: expected shape {what} = {tuple(shape)}, got {tuple(t.shape)}")


def check_ndim(name: str, t: torch.Tensor, ndim: int, what: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor of shape {what}, got {type(t).__name__}")
    if t.ndim != ndim:
        raise ValueError(f"{name}: expected shape {what} ({ndim} dims), got {tuple(t.shape)}")


def check_float(name: str, t: torch.Tensor) -> None:
    if not t.is_floating_point():
        raise ValueError(f"{name}: expected a floating-point tensor, got dtype {t.dtype}")


def check_bool(name: str, t: torch.Tensor) -> None:
    if t.dtype != torch.bool:
        raise ValueError(f"{name}: expected a bool mask, got dtype {t.dtype}")


def check_same_device(**tensors: torch.Tensor) -> None:
    devices = {name: t.device for name, t in tensors.items()}
    if len(set(devices.values())) > 1:
        listing = ", ".join(f"{n} on {d}" for n, d in devices.items())
        raise ValueError(f"tensors must share one device, got {listing}")


def check_has_valid(name: str, mask: torch.Tensor) -> None:
    if not bool(mask.any()):
        raise ValueError(f"{name}: mask has no valid token (every entry is False); pass at least one True position")


def check_open_unit(name: str, value: float) -> None:
    if not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name}: expected a value in (0, 1), got {value}")


def check_alpha(value: float) -> None:
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"alpha: expected a value in [0, 1), got {value}")


def check_nonnegative(name: str, value: float) -> None:
    if not 0.0 <= float(value) < float("inf"):
        raise ValueError(f"{name}: expected a finite value >= 0, got {value}")


def check_token_ids(name: str, labels: torch.Tensor, mask: torch.Tensor, vocab: int) -> None:
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise ValueError(f"{name}: expected an integer tensor of token ids, got dtype {labels.dtype}")
    valid = labels[mask]
    if bool((valid < 0).any()) or bool((valid >= vocab).any()):
        raise ValueError(f"{name}: token ids at masked-in positions must lie in [0, V = {vocab})")
