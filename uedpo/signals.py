"""Per-token epistemic uncertainty u and visual sensitivity Δ (METHOD.md §3.3 step 5).

For response token a_t with clear-image logits z and blurred-image logits z' at the same position:

    â_t = argmax_j z'_t[j]               (the language-prior guess under the blurred image)
    u_t = z_t[â_t] − z_t[a_t]            (> 0: the clear image does not beat the prior guess, a blind spot)
    Δ_t = z_t[a_t] − z'_t[a_t]           (how much the token's score drops when the image is blurred)

Raw pre-softmax logits by default, as TPO's visual-anchored score (``alibaba/TPO``
``trl/trainer/tpo_trainer.py``). ``score_space="logprob"`` subtracts each side's logsumexp; it leaves u
unchanged (both terms share one normaliser) and changes Δ by ``lse(z) − lse(z')``.

Only gathers and one argmax touch the (B, T, V) tensors; no extra (B, T, V) tensor is materialised in the
default logit space.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from uedpo._checks import check_bool, check_float, check_has_valid, check_ndim, check_same_device, check_shape

SCORE_SPACES = ("logit", "logprob")


@dataclass(frozen=True)
class TokenSignals:
    """u and Δ per token, (B, T) float32, zero outside the mask; ``blurred_argmax`` is â (B, T)."""

    u: torch.Tensor
    delta: torch.Tensor
    blurred_argmax: torch.Tensor


def _gather(logits: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return logits.gather(-1, index.unsqueeze(-1)).squeeze(-1).float()


def _logsumexp_rows(logits: torch.Tensor, chunk_rows: int = 1024) -> torch.Tensor:
    """logsumexp over the vocabulary in float32, a few rows at a time to bound the temporary."""
    flat = logits.reshape(-1, logits.shape[-1])
    out = torch.empty(flat.shape[0], dtype=torch.float32, device=logits.device)
    for start in range(0, flat.shape[0], chunk_rows):
        out[start : start + chunk_rows] = torch.logsumexp(flat[start : start + chunk_rows].float(), dim=-1)
    return out.view(logits.shape[:-1])


def selective_log_softmax(logits: torch.Tensor, labels: torch.Tensor, chunk_rows: int = 1024) -> torch.Tensor:
    """log_softmax(logits)[..., labels] without materialising the full (B, T, V) log-softmax.

    Equivalent to ``torch.log_softmax(logits.float(), -1).gather(-1, labels[..., None])[..., 0]``.
    """
    return _gather(logits, labels) - _logsumexp_rows(logits, chunk_rows)


def _validate(clear_logits, blurred_logits, labels, mask) -> None:
    check_ndim("clear_logits", clear_logits, 3, "(B, T, V)")
    check_float("clear_logits", clear_logits)
    check_shape("blurred_logits", blurred_logits, tuple(clear_logits.shape), "(B, T, V) like clear_logits")
    check_float("blurred_logits", blurred_logits)
    check_shape("labels", labels, tuple(clear_logits.shape[:2]), "(B, T)")
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise ValueError(f"labels: expected an integer tensor of token ids, got dtype {labels.dtype}")
    check_shape("mask", mask, tuple(clear_logits.shape[:2]), "(B, T)")
    check_bool("mask", mask)
    check_same_device(clear_logits=clear_logits, blurred_logits=blurred_logits, labels=labels, mask=mask)
    check_has_valid("mask", mask)
    valid = labels[mask]
    vocab = clear_logits.shape[-1]
    if bool((valid < 0).any()) or bool((valid >= vocab).any()):
        raise ValueError(f"labels: token ids at masked-in positions must lie in [0, V = {vocab})")


@torch.no_grad()
def token_signals(
    clear_logits: torch.Tensor,
    blurred_logits: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor,
    *,
    score_space: str = "logit",
) -> TokenSignals:
    """u and Δ for every response token; logits[:, t] predicts labels[:, t] (already shifted).

    Args:
        clear_logits: (B, T, V) policy logits given the clear image.
        blurred_logits: (B, T, V) the same policy, same tokens, given the blurred image.
        labels: (B, T) token ids a_t (any value, e.g. -100, where ``mask`` is False).
        mask: (B, T) bool, True on response tokens.
        score_space: ``"logit"`` (raw logits, default) or ``"logprob"``.
    """
    if score_space not in SCORE_SPACES:
        raise ValueError(f"score_space: expected one of {SCORE_SPACES}, got {score_space!r}")
    _validate(clear_logits, blurred_logits, labels, mask)
    safe_labels = labels.masked_fill(~mask, 0).long()
    ahat = blurred_logits.argmax(dim=-1)
    z_clear_label = _gather(clear_logits, safe_labels)
    u = _gather(clear_logits, ahat) - z_clear_label
    delta = z_clear_label - _gather(blurred_logits, safe_labels)
    if score_space == "logprob":
        delta = delta - (_logsumexp_rows(clear_logits) - _logsumexp_rows(blurred_logits))
    zero = torch.zeros((), dtype=torch.float32, device=u.device)
    return TokenSignals(
        u=torch.where(mask, u, zero),
        delta=torch.where(mask, delta, zero),
        blurred_argmax=ahat,
    )
