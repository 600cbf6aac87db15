"""Signals of a span of tokens (one word) of a teacher-forced text: the math behind blind-spot probes.

Given the teacher-forced logits of B texts under the clear image (z) and under a counterfactual view (z'), the
same positions, and for each word the positions of its tokens, :func:`span_signals` gives per word:

* ``u``, ``delta``, ``blurred_argmax``: :func:`uedpo.signals.token_signals` at the word's **first token**,
  where the model chooses which word comes (u = z[â] − z[a], Δ = z[a] − z'[a], â = argmax z'; METHOD.md
  §3.3 step 5). Later pieces of a multi-token word are near-deterministic continuations; their values are
  kept in ``token_u`` / ``token_delta``. [ours: the first token stands for the word]
* ``logp_clear`` / ``logp_blurred``: log P(word | context) under each image, the sum of the log-probs of
  its tokens (the whole word, not only its first piece).
* ``gated`` / ``type``: the UE-DPO gate and token type of the first token (:func:`uedpo.exploration.explore`
  + :func:`uedpo.exploration.classify`, τ quantile and μ over the text's own response tokens, as training
  computes them for that text). ``preferred`` chooses the branch: a text stating something true is a
  preferred response (Type-I / Type-II / ungated), a text naming an absent object a dispreferred one
  (eased / ungated).

Two verdicts built on them (both ours; the paper defines u and Δ, not these rules):

* :func:`is_blind_spot`: u > 0 (strictly). Under the clear image the model scores its counterfactual-image
  guess â above the word that is there: the image does not beat the language-prior guess.
* :func:`is_prior_driven`: log P(word | counterfactual) ≥ log P(word | clear): the image does not raise the
  word's probability, so the word comes from the language prior, not from the pixels.

Pure torch; no model, tokenizer or benchmark.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from uedpo.exploration import TOKEN_TYPE_NAMES, TokenType, classify, explore
from uedpo.signals import selective_log_softmax, token_signals


@dataclass(frozen=True)
class Span:
    """One word of row ``row``: ``tokens`` index the row's response tokens (its masked-in positions, in order),
    as ``TeacherForced.token_ids[row]`` does. ``preferred``: the UE-DPO branch its gate and type come from."""

    row: int
    tokens: tuple[int, ...]
    preferred: bool = True


@dataclass(frozen=True)
class SpanSignals:
    """The signals of one :class:`Span` (floats in the logits' score space; log-probs in nats)."""

    span: Span
    u: float
    delta: float
    blurred_argmax: int
    logp_clear: float
    logp_blurred: float
    gated: bool
    type: str
    token_u: tuple[float, ...]
    token_delta: tuple[float, ...]
    token_types: tuple[str, ...]

    @property
    def p_clear(self) -> float:
        return math.exp(self.logp_clear)

    @property
    def p_blurred(self) -> float:
        return math.exp(self.logp_blurred)

    @property
    def blind_spot(self) -> bool:
        return is_blind_spot(self.u)

    @property
    def prior_driven(self) -> bool:
        return is_prior_driven(self.logp_clear, self.logp_blurred)


def is_blind_spot(u: float) -> bool:
    """u > 0: the clear image does not lift the word above the counterfactual guess (module docstring)."""
    return float(u) > 0.0


def is_prior_driven(logp_clear: float, logp_counterfactual: float) -> bool:
    """P(word | counterfactual) ≥ P(word | clear): the image adds no support for the word."""
    return float(logp_counterfactual) >= float(logp_clear)


def _positions(mask: torch.Tensor, spans: Sequence[Span]) -> list[list[int]]:
    """Column of every span token; checks rows and token indices."""
    valid = [mask[r].nonzero().flatten().tolist() for r in range(mask.shape[0])]
    out = []
    for k, span in enumerate(spans):
        if not 0 <= span.row < mask.shape[0]:
            raise ValueError(f"spans[{k}]: row {span.row} is not a row of the batch (B = {mask.shape[0]})")
        if not span.tokens:
            raise ValueError(f"spans[{k}]: a span needs at least one token")
        cols = valid[span.row]
        bad = [t for t in span.tokens if not 0 <= t < len(cols)]
        if bad:
            raise ValueError(f"spans[{k}]: token indices {bad} outside the row's {len(cols)} response tokens")
        out.append([cols[t] for t in span.tokens])
    return out


def _summed_logprobs(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, spans: Sequence[Span],
                     positions: list[list[int]]) -> list[float]:
    logp = selective_log_softmax(logits, labels.masked_fill(~mask, 0).long())
    return [float(logp[span.row, cols].sum()) for span, cols in zip(spans, positions, strict=True)]


def span_logprobs(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor,
                  spans: Sequence[Span]) -> list[float]:
    """log P(word | context) per span: the summed log-softmax of its tokens (any view's logits)."""
    return _summed_logprobs(logits, labels, mask, spans, _positions(mask, spans))


@torch.no_grad()
def span_signals(
    clear_logits: torch.Tensor,
    blurred_logits: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor,
    spans: Sequence[Span],
    *,
    tau: float = 0.4,
    score_space: str = "logit",
    scope: str = "sequence",
) -> list[SpanSignals]:
    """:class:`SpanSignals` of every span (module docstring); tensors as :func:`uedpo.signals.token_signals`."""
    sig = token_signals(clear_logits, blurred_logits, labels, mask, score_space=score_space)
    positions = _positions(mask, spans)
    logp_clear = _summed_logprobs(clear_logits, labels, mask, spans, positions)
    logp_blurred = _summed_logprobs(blurred_logits, labels, mask, spans, positions)
    branches = {}
    for preferred in {s.preferred for s in spans}:
        ex = explore(sig.u, sig.delta, mask, preferred=preferred, alpha=0.0, tau=tau, scope=scope)
        branches[preferred] = (ex.gate, classify(ex, sig.u, mask, preferred=preferred))
    out = []
    for span, cols, lp_clear, lp_blurred in zip(spans, positions, logp_clear, logp_blurred, strict=True):
        gate, types = branches[span.preferred]
        row, first = span.row, cols[0]
        names = tuple(TOKEN_TYPE_NAMES[TokenType(int(types[row, c]))] for c in cols)
        out.append(SpanSignals(
            span=span, u=float(sig.u[row, first]), delta=float(sig.delta[row, first]),
            blurred_argmax=int(sig.blurred_argmax[row, first]),
            logp_clear=lp_clear, logp_blurred=lp_blurred,
            gated=bool(gate[row, first]), type=names[0],
            token_u=tuple(float(sig.u[row, c]) for c in cols),
            token_delta=tuple(float(sig.delta[row, c]) for c in cols), token_types=names,
        ))
    return out
