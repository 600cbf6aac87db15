"""Per-token analysis of a preference pair for the inspector, through the trainer's own path.

``analyse_pair`` runs :meth:`uedpo.models.VLMAdapter.forward_batch` (clear and diffusion-noised image, one
shared noise draw per pair, as training does), :func:`uedpo.signals.token_signals` for u and Δ, and
:func:`uedpo.analysis.analyse_rows` (``explore`` + ``classify``) for the gate, type and λ. So the overlay
shows exactly what UE-DPO weighs.

The noise is the trainer's: the ``noise`` view of :mod:`uedpo.views` seeded by ``view_seed(seed, sample id,
step)``. Given a run's ``seed`` and noise settings, the adapter of ``checkpoint-N`` and ``step = N`` (the
trainer's ``state.global_step`` during the optimizer step after checkpoint N, i.e. ``metrics.csv`` row
``step = N + 1``), the u and Δ of a training pair are exactly those that step computed; ``step=None`` gives the
ε of ``noise_mode: fixed_per_sample``. The sample id is the training row's id (``uedpo.train.data``: the
row's ``id``, else ``idx``, else its row number in the file); for a samples-file row the inspector uses its
``id`` field (rows without one get ``line N``, which is no training id), and an uploaded image the empty id.

The resulting :class:`PairView` keeps the small per-token u/Δ tensors (never the (B, T, V) logits), so
:func:`regate` can apply a new α or τ without another forward: only the noise step k needs one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from PIL import Image

from inspector.errors import InputError
from uedpo.analysis import ResponseAnalysis, analyse_rows
from uedpo.signals import token_signals
from uedpo.views import ViewSpec

# transformers' "no limit" sentinel for tokenizer.model_max_length is int(1e30); anything this large is unset.
UNSET_MAX_LENGTH = 10**9
# Special tokens the processor may add around the prompt (BOS, etc.); only used in the cheap length bound.
PROMPT_SPECIALS_SLACK = 4
NO_SAMPLE_ID = ""  # the noise-seed id of an image that is no training row (an upload)


@dataclass(frozen=True)
class BranchSignals:
    """One response's teacher-forced signals, (1, T) tensors on the CPU; enough to redo the gates."""

    text: str
    u: torch.Tensor
    delta: torch.Tensor
    mask: torch.Tensor
    logprobs: torch.Tensor
    token_ids: tuple[int, ...]
    token_strings: tuple[str, ...]


@dataclass(frozen=True)
class PairView:
    """Everything the inspector shows for one (image, question, preferred[, dispreferred])."""

    question: str
    preferred: ResponseAnalysis
    dispreferred: ResponseAnalysis | None
    signals: tuple[BranchSignals, ...]  # preferred first, then the dispreferred one when given
    alpha: float
    tau: float
    noise_step: int
    noise_space: str
    seed: int
    checkpoint: str = ""
    step: int | None = None  # the noise's step key (None: fixed per sample)
    sample_id: str = NO_SAMPLE_ID  # the noise's sample id

    @property
    def preferred_text(self) -> str:
        """The preferred response as analysed (a blind-spot object's probe, say)."""
        return self.signals[0].text if self.signals else ""

    @property
    def analyses(self) -> dict[str, ResponseAnalysis]:
        out = {"preferred": self.preferred}
        if self.dispreferred is not None:
            out["dispreferred"] = self.dispreferred
        return out


def _analyse(branch: BranchSignals, *, preferred: bool, alpha: float, tau: float) -> ResponseAnalysis:
    return analyse_rows(
        branch.u,
        branch.delta,
        branch.mask,
        preferred=preferred,
        alpha=alpha,
        tau=tau,
        token_strings=[list(branch.token_strings)],
        token_ids=[list(branch.token_ids)],
        logprobs=branch.logprobs,
    )[0]


def view_from_signals(
    question: str,
    signals: tuple[BranchSignals, ...],
    *,
    alpha: float,
    tau: float,
    noise_step: int,
    noise_space: str = "normalized",
    seed: int = 0,
    checkpoint: str = "",
    step: int | None = None,
    sample_id: str = NO_SAMPLE_ID,
) -> PairView:
    """Gates, types and λ from stored signals (``signals[0]`` preferred, ``signals[1]`` dispreferred)."""
    if not 1 <= len(signals) <= 2:
        raise ValueError(f"signals: expected 1 or 2 branches (preferred[, dispreferred]), got {len(signals)}")
    pref = _analyse(signals[0], preferred=True, alpha=alpha, tau=tau)
    disp = _analyse(signals[1], preferred=False, alpha=alpha, tau=tau) if len(signals) == 2 else None
    return PairView(
        question=question,
        preferred=pref,
        dispreferred=disp,
        signals=signals,
        alpha=alpha,
        tau=tau,
        noise_step=noise_step,
        noise_space=noise_space,
        seed=seed,
        checkpoint=checkpoint,
        step=step,
        sample_id=sample_id,
    )


def regate(view: PairView, *, alpha: float, tau: float) -> PairView:
    """The same view under a new α / τ: gates, types and λ recomputed from the kept u and Δ, no forward."""
    fresh = view_from_signals(
        view.question,
        view.signals,
        alpha=alpha,
        tau=tau,
        noise_step=view.noise_step,
        noise_space=view.noise_space,
        seed=view.seed,
        checkpoint=view.checkpoint,
        step=view.step,
        sample_id=view.sample_id,
    )
    return replace(view, preferred=fresh.preferred, dispreferred=fresh.dispreferred, alpha=alpha, tau=tau)


def context_limit(adapter) -> int | None:
    """The model's context length: the smaller of the text config's max positions and the tokenizer's."""
    config = adapter.model.config
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    limits = [
        getattr(text_config, "max_position_embeddings", None),
        getattr(adapter.tokenizer, "model_max_length", None),
    ]
    limits = [int(n) for n in limits if isinstance(n, int) and 0 < n < UNSET_MAX_LENGTH]
    return min(limits) if limits else None


def _image_token_bound(adapter) -> int | None:
    """An upper bound on the image tokens one image expands to, when the config states it (else None)."""
    seq = getattr(adapter.model.config, "image_seq_length", None)  # LLaVA: fixed per image
    if isinstance(seq, int):
        return seq
    ip = getattr(adapter.processor, "image_processor", None)
    max_pixels = getattr(ip, "max_pixels", None)
    patch, merge = getattr(ip, "patch_size", None), getattr(ip, "merge_size", None)
    if isinstance(max_pixels, int) and isinstance(patch, int) and isinstance(merge, int):
        return max_pixels // (patch * merge) ** 2  # Qwen2.5-VL: merged patches at the largest resize
    return None


def check_response(
    adapter, image: Image.Image, question: str, response: str, *, name: str, add_eos: bool
) -> None:
    """:class:`InputError` for an empty response or one that does not fit the model context with its prompt.

    The exact prompt length needs the processor (image tokens); it runs only when a cheap bound cannot decide.
    """
    n_response = len(adapter.tokenizer(response, add_special_tokens=False)["input_ids"]) + int(add_eos)
    if not response.strip() or n_response == 0:
        raise InputError(f"{name} response: empty; type the response to analyse", field=name)
    limit = context_limit(adapter)
    if limit is None:
        return
    prompt = adapter.build_prompt(question)
    n_prompt_text = len(adapter.tokenizer(prompt, add_special_tokens=False)["input_ids"])
    bound = _image_token_bound(adapter)
    if bound is not None and n_prompt_text + bound + PROMPT_SPECIALS_SLACK + n_response <= limit:
        return
    n_prompt = int(adapter.encode_prompts([image], [prompt])["input_ids"].shape[1])
    if n_prompt + n_response > limit:
        raise InputError(
            f"{name} response: {n_response} tokens + {n_prompt} prompt and image tokens exceed the model "
            f"context of {limit} tokens; shorten the response",
            field=name,
        )


def analyse_pair(
    adapter,
    image: Image.Image,
    question: str,
    preferred: str,
    dispreferred: str | None = None,
    *,
    alpha: float = 0.3,
    tau: float = 0.4,
    noise_step: int = 500,
    noise_space: str = "normalized",
    noise_kind: str = "vcd_sigmoid",
    noise_share_pair: bool = True,
    seed: int = 0,
    step: int | None = None,
    sample_id: str | None = None,
    add_eos: bool = True,
) -> PairView:
    """u, Δ, gate, type and λ of every token of ``preferred`` (and ``dispreferred``) for ``image``.

    Both responses go through one :meth:`~uedpo.models.VLMAdapter.forward_batch` call as the ``[chosen;
    rejected]`` rows of one pair, with the trainer's noise: ``view_seed(seed, sample_id, step)`` and
    ``noise_share_pair`` as the run's config (module docstring); a lone preferred response gets the ε it gets
    beside a dispreferred one. An empty ``dispreferred`` counts as absent. ``add_eos`` appends the EOS token
    to each response, as the trainer does (``uedpo.train.collate.response_ids``), so the EOS token is analysed
    and counts in the gate quantiles.
    """
    dispreferred = dispreferred if dispreferred and dispreferred.strip() else None
    responses = [preferred] + ([dispreferred] if dispreferred is not None else [])
    for name, text in zip(("preferred", "dispreferred"), responses, strict=False):
        check_response(adapter, image, question, text, name=name, add_eos=add_eos)
    sample_id = NO_SAMPLE_ID if sample_id is None else str(sample_id)
    view = ViewSpec(
        kind="noise", noise_step=noise_step, noise_kind=noise_kind, noise_space=noise_space,
        pair_shared=noise_share_pair,
    )
    out = adapter.forward_batch(
        [image] * len(responses),
        [question] * len(responses),
        responses,
        view=view,
        sample_ids=[sample_id],
        seed=seed,
        step=step,
        add_eos=add_eos,
    )
    sig = token_signals(out.clear_logits, out.blurred_logits, out.labels, out.mask)
    branches = tuple(
        BranchSignals(
            text=text,
            u=sig.u[row : row + 1].cpu(),
            delta=sig.delta[row : row + 1].cpu(),
            mask=out.mask[row : row + 1].cpu(),
            logprobs=out.logprobs[row : row + 1].cpu(),
            token_ids=tuple(out.token_ids[row]),
            token_strings=tuple(out.token_strings[row]),
        )
        for row, text in enumerate(responses)
    )
    return view_from_signals(
        question,
        branches,
        alpha=alpha,
        tau=tau,
        noise_step=noise_step,
        noise_space=noise_space,
        seed=seed,
        checkpoint=getattr(adapter, "name", ""),
        step=step,
        sample_id=sample_id,
    )
