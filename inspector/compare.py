"""The same response under two checkpoints (e.g. before and after UE-DPO training): per-token differences.

Differences are B − A for u, Δ and λ; a *type flip* is a token whose type differs (say Type-I under the base
model, Type-II after training: a blind spot the training closed). Both analyses must tokenize the response the
same way (same tokenizer), which base + LoRA checkpoints do; otherwise :class:`InputError` says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from inspector.errors import InputError
from uedpo.analysis import ResponseAnalysis


@dataclass(frozen=True)
class TokenDiff:
    index: int
    token: str
    token_id: int
    u_a: float
    u_b: float
    du: float
    delta_a: float
    delta_b: float
    ddelta: float
    lam_a: float
    lam_b: float
    dlam: float
    type_a: str
    type_b: str
    flipped: bool


@dataclass(frozen=True)
class ResponseComparison:
    tokens: tuple[TokenDiff, ...]
    label_a: str
    label_b: str

    @property
    def n_flips(self) -> int:
        return sum(t.flipped for t in self.tokens)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(t) for t in self.tokens], columns=list(TokenDiff.__dataclass_fields__))


def compare_responses(
    a: ResponseAnalysis, b: ResponseAnalysis, *, label_a: str = "A", label_b: str = "B"
) -> ResponseComparison:
    """Token-by-token B − A; :class:`InputError` when the two analyses hold different tokens."""
    ids_a, ids_b = [t.token_id for t in a.tokens], [t.token_id for t in b.tokens]
    if ids_a != ids_b:
        raise InputError(
            f"compare: {label_a} and {label_b} tokenize the response differently "
            f"({len(ids_a)} vs {len(ids_b)} tokens); compare checkpoints that share a tokenizer",
            field="compare",
        )
    return ResponseComparison(
        tokens=tuple(
            TokenDiff(
                index=ta.index,
                token=ta.token,
                token_id=ta.token_id,
                u_a=ta.u,
                u_b=tb.u,
                du=tb.u - ta.u,
                delta_a=ta.delta,
                delta_b=tb.delta,
                ddelta=tb.delta - ta.delta,
                lam_a=ta.lam,
                lam_b=tb.lam,
                dlam=tb.lam - ta.lam,
                type_a=ta.type,
                type_b=tb.type,
                flipped=ta.type != tb.type,
            )
            for ta, tb in zip(a.tokens, b.tokens, strict=True)
        ),
        label_a=label_a,
        label_b=label_b,
    )
