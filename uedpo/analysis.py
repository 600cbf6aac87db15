"""Per-token analysis of a response: u, Δ, gate, type, λ and log-prob, as records and tables.

Shared by the demo, the inspector and the trainer's telemetry so that all of them show exactly what training
weighs. Pure torch + pandas; it never imports transformers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import pandas as pd
import torch

from uedpo.exploration import TOKEN_TYPE_NAMES, TokenType, classify, explore


@dataclass(frozen=True)
class TokenRecord:
    index: int
    token: str
    token_id: int
    u: float
    delta: float
    gated: bool
    type: str  # "type-i" | "type-ii" | "eased" | "ungated"
    lam: float
    logprob: float


@dataclass(frozen=True)
class ResponseAnalysis:
    """One response's tokens with the thresholds that decided their gate and type."""

    preferred: bool
    tokens: tuple[TokenRecord, ...]
    threshold: float  # q_τ (preferred) or q_{1−τ} (dispreferred)
    mu: float  # mean u over gated tokens: the Type-I / Type-II split
    sigma: float
    n_gated: int
    alpha: float
    tau: float

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(t) for t in self.tokens])


def analyse_rows(
    u: torch.Tensor,
    delta: torch.Tensor,
    mask: torch.Tensor,
    *,
    preferred: bool,
    alpha: float,
    tau: float,
    token_strings: Sequence[Sequence[str]],
    token_ids: Sequence[Sequence[int]],
    logprobs: torch.Tensor,
    scope: str = "sequence",
) -> list[ResponseAnalysis]:
    """Analyse every row of one branch; the token lists hold only masked-in tokens, in order."""
    ex = explore(u, delta, mask, preferred=preferred, alpha=alpha, tau=tau, scope=scope)
    types = classify(ex, u, mask, preferred=preferred).cpu()
    u, delta, mask = u.float().cpu(), delta.float().cpu(), mask.cpu()
    gate, lam, logprobs = ex.gate.cpu(), ex.lam.cpu(), logprobs.float().cpu()
    out = []
    for row in range(u.shape[0]):
        positions = mask[row].nonzero().flatten().tolist()
        if len(positions) != len(token_strings[row]):
            raise ValueError(
                f"token_strings[{row}]: {len(token_strings[row])} strings for {len(positions)} masked-in tokens"
            )
        tokens = tuple(
            TokenRecord(
                index=i, token=token_strings[row][i], token_id=int(token_ids[row][i]),
                u=float(u[row, p]), delta=float(delta[row, p]), gated=bool(gate[row, p]),
                type=TOKEN_TYPE_NAMES[TokenType(int(types[row, p]))], lam=float(lam[row, p]),
                logprob=float(logprobs[row, p]),
            )
            for i, p in enumerate(positions)
        )
        out.append(ResponseAnalysis(
            preferred=preferred, tokens=tokens, threshold=float(ex.threshold[row]), mu=float(ex.mu[row]),
            sigma=float(ex.sigma[row]), n_gated=int(ex.n_gated[row]), alpha=alpha, tau=tau,
        ))
    return out
