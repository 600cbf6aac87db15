"""Asymmetric exploration strengths λ and token types (METHOD.md §3.3 steps 6–8).

Preferred branch:    gate = Δ <  q_τ,      λ_w = 1 + α·gate·σ((u − μ)/ς)
Dispreferred branch: gate = Δ ≥ q_{1−τ},   λ_l = 1 − α·gate·σ((u − μ)/ς)

q is the linear-interpolation quantile (as ``torch.quantile``) over the row's valid tokens; μ and ς are the
mean and population std of u over the row's gated tokens, ς floored at ``std_eps``; with fewer than two gated
tokens (or ς below the floor) z = 0, i.e. σ = 0.5. λ = 1 outside the gate and the mask. ``scope="batch"``
takes q, μ and ς over all rows of the branch instead of per row.

Type-I / Type-II split the gated tokens of a preferred response at u = μ, the 50/50 point of the soft boost:
Type-I (u > μ) are blind spots that get pressure; Type-II (u ≤ μ) are legitimate language priors.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import torch

from uedpo._checks import check_alpha, check_bool, check_float, check_ndim, check_open_unit, check_shape

SCOPES = ("sequence", "batch")


class TokenType(IntEnum):
    """Per-token label for display and logging; ``NOT_SCORED`` marks positions outside the mask."""

    NOT_SCORED = -1
    UNGATED = 0
    TYPE_I = 1
    TYPE_II = 2
    EASED = 3


TOKEN_TYPE_NAMES = {
    TokenType.NOT_SCORED: "not-scored",
    TokenType.UNGATED: "ungated",
    TokenType.TYPE_I: "type-i",
    TokenType.TYPE_II: "type-ii",
    TokenType.EASED: "eased",
}


@dataclass(frozen=True)
class Exploration:
    """Everything behind λ for one branch: tensors are (B, T) unless noted."""

    lam: torch.Tensor  # exploration strength λ, 1 outside gate and mask
    gate: torch.Tensor  # bool, the indicator I
    z: torch.Tensor  # standardised u on gated tokens, 0 elsewhere
    threshold: torch.Tensor  # (B,) q_τ (preferred) or q_{1−τ} (dispreferred); NaN for an empty row
    mu: torch.Tensor  # (B,) mean u over gated tokens
    sigma: torch.Tensor  # (B,) population std of u over gated tokens
    n_gated: torch.Tensor  # (B,) int


def _validate(u, delta, mask, alpha, tau, scope) -> None:
    check_ndim("u", u, 2, "(B, T)")
    check_float("u", u)
    check_shape("delta", delta, tuple(u.shape), "(B, T) like u")
    check_float("delta", delta)
    check_shape("mask", mask, tuple(u.shape), "(B, T) like u")
    check_bool("mask", mask)
    if u.device != delta.device or u.device != mask.device:
        raise ValueError(f"u, delta and mask must share one device, got {u.device}, {delta.device}, {mask.device}")
    check_alpha(alpha)
    check_open_unit("tau", tau)
    if scope not in SCOPES:
        raise ValueError(f"scope: expected one of {SCOPES}, got {scope!r}")


def _quantile(delta: torch.Tensor, mask: torch.Tensor, q: float, scope: str) -> torch.Tensor:
    if scope == "batch":
        valid = delta[mask]
        value = torch.quantile(valid, q) if valid.numel() else delta.new_tensor(float("nan"))
        return value.expand(delta.shape[0])
    return torch.nanquantile(delta.masked_fill(~mask, float("nan")), q, dim=1)


def _gated_stats(u: torch.Tensor, gate: torch.Tensor, scope: str):
    dims = (0, 1) if scope == "batch" else (1,)
    zero = torch.zeros((), dtype=u.dtype, device=u.device)
    # torch.where rather than multiplying by the gate: 0 * inf would put NaN into the sums.
    count = gate.float().sum(dim=dims, keepdim=True)
    denom = count.clamp(min=1.0)
    mu = torch.where(gate, u, zero).sum(dim=dims, keepdim=True) / denom
    sigma = torch.where(gate, (u - mu) ** 2, zero).sum(dim=dims, keepdim=True) / denom
    return mu.expand(u.shape[0], 1), sigma.sqrt().expand(u.shape[0], 1), count.expand(u.shape[0], 1)


@torch.no_grad()
def explore(
    u: torch.Tensor,
    delta: torch.Tensor,
    mask: torch.Tensor,
    *,
    preferred: bool,
    alpha: float,
    tau: float,
    scope: str = "sequence",
    std_eps: float = 1e-6,
) -> Exploration:
    """λ with the gate and statistics that produce it (see the module docstring)."""
    _validate(u, delta, mask, alpha, tau, scope)
    u, delta = u.float(), delta.float()
    if preferred:
        threshold = _quantile(delta, mask, tau, scope)
        gate = mask & (delta < threshold[:, None])
    else:
        threshold = _quantile(delta, mask, 1.0 - tau, scope)
        gate = mask & (delta >= threshold[:, None])
    mu, sigma, count = _gated_stats(u, gate, scope)
    usable = (count >= 2) & (sigma >= std_eps)
    z = torch.where(usable & gate, (u - mu) / sigma.clamp(min=std_eps), torch.zeros_like(u))
    boost = alpha * gate.float() * torch.sigmoid(z)
    lam = 1.0 + boost if preferred else 1.0 - boost
    return Exploration(
        lam=lam, gate=gate, z=z, threshold=threshold, mu=mu[:, 0], sigma=sigma[:, 0],
        n_gated=gate.sum(dim=1),
    )


def exploration_strengths(
    u: torch.Tensor,
    delta: torch.Tensor,
    mask: torch.Tensor,
    *,
    preferred: bool,
    alpha: float,
    tau: float,
    scope: str = "sequence",
    std_eps: float = 1e-6,
) -> torch.Tensor:
    """λ (B, T): ``1 + α·I·σ(z)`` for a preferred response, ``1 − α·I·σ(z)`` for a dispreferred one."""
    return explore(u, delta, mask, preferred=preferred, alpha=alpha, tau=tau, scope=scope, std_eps=std_eps).lam


@torch.no_grad()
def token_types(
    u: torch.Tensor,
    delta: torch.Tensor,
    mask: torch.Tensor,
    *,
    preferred: bool,
    tau: float,
    scope: str = "sequence",
    alpha: float = 0.0,
) -> torch.Tensor:
    """Per-token :class:`TokenType` codes (B, T) int64.

    Preferred: Type-I (gated, u > μ), Type-II (gated, u ≤ μ); dispreferred: eased (gated); otherwise
    ungated; ``NOT_SCORED`` outside the mask. α does not change the types; it is accepted for symmetry.
    """
    ex = explore(u, delta, mask, preferred=preferred, alpha=alpha, tau=tau, scope=scope)
    return classify(ex, u, mask, preferred=preferred)


def classify(ex: Exploration, u: torch.Tensor, mask: torch.Tensor, *, preferred: bool) -> torch.Tensor:
    """:class:`TokenType` codes from an :func:`explore` result (see :func:`token_types`)."""
    types = torch.full(u.shape, int(TokenType.UNGATED), dtype=torch.long, device=u.device)
    if preferred:
        above = u.float() > ex.mu[:, None]
        types[ex.gate & above] = int(TokenType.TYPE_I)
        types[ex.gate & ~above] = int(TokenType.TYPE_II)
    else:
        types[ex.gate] = int(TokenType.EASED)
    types[~mask] = int(TokenType.NOT_SCORED)
    return types
