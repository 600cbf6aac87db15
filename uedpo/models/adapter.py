"""The model adapter: the one interface through which UE-DPO takes images, prompts and responses.

:class:`VLMAdapter` wraps a loaded ``transformers`` model (optionally a ``peft`` model) and its processor and
offers:

- :meth:`VLMAdapter.build_prompt`: the official evaluation prompt of the family;
- :meth:`VLMAdapter.generate`: batched generation with left padding (greedy by default);
- :meth:`VLMAdapter.encode` + :meth:`VLMAdapter.response_logits`: the collation and the logits at response
  positions only (``logits_to_keep``), shared by scoring and the trainer;
- :meth:`VLMAdapter.forward_batch` / :meth:`VLMAdapter.forward_pair`: the teacher-forced clear/blurred forward
  of METHOD.md §3.3 steps 1-5, aligned so that ``uedpo.signals.token_signals(out.clear_logits,
  out.blurred_logits, out.labels, out.mask)`` works directly;
- the :class:`uedpo.views.PixelLayout` of the model's ``pixel_values`` (``image_mean`` / ``image_std``,
  ``add_noise``, ``per_channel``, ``to_frames`` / ``from_frames``), so that every counterfactual view of
  :mod:`uedpo.views` (noise, null images, crops) works on every family's layout (:mod:`uedpo.models.layouts`).

Each family (:mod:`uedpo.models.families`) subclasses it with its prompt, image preparation and layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from PIL import Image
from tqdm.auto import tqdm

from uedpo.models.collate import (
    BOOKKEEPING_KEYS,
    append_responses,
    left_pad_positions,
    piece_strings,
    response_targets,
)
from uedpo.models.layouts import qwen_frames_to_patches, qwen_patches_to_frames  # noqa: F401  (re-exported)
from uedpo.views import ViewSpec, apply_view, make_view, noised


@dataclass
class TeacherForced:
    """Teacher-forced scores of the response tokens; ``logits[:, t]`` predicts ``labels[:, t]``.

    Attributes:
        clear_logits: (B, T, V) float32, given the clear image.
        blurred_logits: (B, T, V) float32, same token positions, given the counterfactual image (by default
            the diffusion-noised one; any :class:`uedpo.views.ViewSpec`).
        labels: (B, T) long, response token ids (the pad id where ``mask`` is False).
        mask: (B, T) bool, True on response tokens.
        logprobs: (B, T) float32, log p(label | clear image, prefix); 0 where ``mask`` is False.
        token_ids: per row, the response ids without padding.
        token_strings: per row, one display string per response token (they concatenate to the text).
    """

    clear_logits: torch.Tensor
    blurred_logits: torch.Tensor
    labels: torch.Tensor
    mask: torch.Tensor
    logprobs: torch.Tensor
    token_ids: list[list[int]]
    token_strings: list[list[str]]


def _check_lengths(**named: Sequence) -> int:
    sizes = {name: len(values) for name, values in named.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"inputs must have one entry per item, got lengths {sizes}")
    n = next(iter(sizes.values()))
    if n == 0:
        raise ValueError(f"inputs are empty: {', '.join(sizes)}; pass at least one item")
    return n


class VLMAdapter:
    """Base adapter; subclasses set the prompt builder, image preparation and pixel layout hooks.

    ``explicit_position_ids``: teacher-forced forwards pass position ids that restart at each row's first
    real token (left padding), as ``generate`` builds them; for language models with 1-D rope (Llama,
    Mistral, Qwen2). Qwen-VL models compute their 3-D mrope positions from the attention mask themselves.
    """

    family: ClassVar[str] = ""
    explicit_position_ids: ClassVar[bool] = False
    chat_template: ClassVar[str | None] = None  # jinja giving build_prompt's text (exports write it if missing)

    def __init__(self, model, processor, *, name: str = "") -> None:
        self.model = model
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.name = name or getattr(model.config, "_name_or_path", "")
        if self.tokenizer.pad_token_id is None:
            raise ValueError(f"{self.name}: the tokenizer has no pad token; set one before batching")

    # -- hooks -------------------------------------------------------------------------------------------
    def build_prompt(self, question: str) -> str:
        raise NotImplementedError

    def prepare_image(self, image: Image.Image) -> Image.Image:
        return image.convert("RGB")

    def _add_noise(self, pixel_values: torch.Tensor, step: int, kind: str, generator, pair_shared: bool):
        raise NotImplementedError

    def _per_channel(self, values: Sequence[float], pixel_values: torch.Tensor) -> torch.Tensor:
        """``values`` (one per colour channel) shaped to broadcast against ``pixel_values``."""
        raise NotImplementedError

    def to_frames(self, pixels: torch.Tensor, grid: torch.Tensor | None) -> torch.Tensor:
        """One image's stored pixels -> (F, C, H, W) frames (:class:`uedpo.views.PixelLayout`)."""
        raise NotImplementedError

    def from_frames(self, frames: torch.Tensor, grid: torch.Tensor | None) -> torch.Tensor:
        """The inverse of :meth:`to_frames`."""
        raise NotImplementedError

    # -- pixel layout (uedpo.views.PixelLayout) ---------------------------------------------------------------
    @property
    def image_mean(self) -> tuple[float, ...]:
        return tuple(float(v) for v in self.processor.image_processor.image_mean)

    @property
    def image_std(self) -> tuple[float, ...]:
        return tuple(float(v) for v in self.processor.image_processor.image_std)

    def add_noise(self, pixels: torch.Tensor, step: int, kind: str, generator, pair_shared: bool) -> torch.Tensor:
        """√ᾱ_k·x + √(1−ᾱ_k)·ε with ε drawn in this model's layout (the ``_add_noise`` hook)."""
        return self._add_noise(pixels, step, kind, generator, pair_shared)

    def per_channel(self, values: Sequence[float], pixels: torch.Tensor) -> torch.Tensor:
        return self._per_channel(values, pixels)

    # -- basics ------------------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def encode_prompts(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Processor output for full prompt strings, left-padded (B, P), image tokens expanded."""
        _check_lengths(images=images, prompts=prompts)
        enc = self.processor(
            images=[self.prepare_image(im) for im in images], text=list(prompts),
            padding=True, padding_side="left", return_tensors="pt",
        )
        return dict(enc)

    def encode(
        self,
        images: Sequence[Image.Image],
        prompts_text: Sequence[str],
        responses: Sequence[str],
        *,
        add_eos: bool = False,
    ) -> dict[str, torch.Tensor | int]:
        """Collate (image, full prompt, response) rows: ``[left-padded prompt | right-padded response]``.

        Returns the model inputs (``input_ids``, ``attention_mask``, ``pixel_values`` and, for Qwen,
        ``image_grid_thw`` / ``mm_token_type_ids``) on the model's device, plus ``response_mask`` (B, L) bool
        and ``prompt_length`` P. Responses are tokenized on their own (no special tokens), as the official
        trainers and TRL do; ``add_eos`` appends the EOS token, which preference training should do.
        """
        _check_lengths(images=images, prompts_text=prompts_text, responses=responses)
        prompt_enc = self.encode_prompts(images, prompts_text)
        ids = self.tokenizer(list(responses), add_special_tokens=False)["input_ids"]
        if add_eos:
            ids = [r + [self.tokenizer.eos_token_id] for r in ids]
        if not any(ids):
            raise ValueError("responses: every response is empty; nothing to score")
        batch = append_responses(prompt_enc, ids, self.tokenizer.pad_token_id)
        return {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    def model_inputs(self, batch: dict, pixel_values: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Keyword arguments for ``model(**...)``: floats cast to the model dtype, optional pixel override."""
        inputs = {k: v for k, v in batch.items() if k not in BOOKKEEPING_KEYS}
        if pixel_values is not None:
            if pixel_values.shape != inputs["pixel_values"].shape:
                raise ValueError(
                    f"pixel_values: expected shape {tuple(inputs['pixel_values'].shape)} (token positions must "
                    f"not change), got {tuple(pixel_values.shape)}"
                )
            inputs["pixel_values"] = pixel_values
        inputs["pixel_values"] = inputs["pixel_values"].to(self.device, self.dtype)
        if self.explicit_position_ids:
            inputs["position_ids"] = left_pad_positions(inputs["attention_mask"])
        return inputs

    def response_logits(
        self, batch: dict, pixel_values: torch.Tensor | None = None, *, model=None
    ) -> torch.Tensor:
        """Logits (B, T, V) at the response positions only, in the model dtype, with grad if enabled.

        ``logits[:, t]`` predicts ``input_ids[:, P + t]``: the model keeps the last T + 1 positions
        (``logits_to_keep``, so the (B, L, V) tensor is never built) and the final one is dropped.
        ``model`` runs the forward instead of ``self.model``: a trainer passes its DDP/FSDP-wrapped model so
        that gradients are synchronised and sharded weights are gathered.
        """
        inputs = self.model_inputs(batch, pixel_values)
        width = inputs["input_ids"].shape[1] - int(batch["prompt_length"])
        forward = self.model if model is None else model
        out = forward(**inputs, logits_to_keep=width + 1, use_cache=False)
        return out.logits[:, :-1]

    def noised_pixel_values(
        self,
        pixel_values: torch.Tensor,
        *,
        step: int = 500,
        kind: str = "vcd_sigmoid",
        space: str = "normalized",
        generator: torch.Generator | None = None,
        pair_shared: bool = False,
    ) -> torch.Tensor:
        """The blurred image v' (METHOD.md §3.3 step 1), same shape and dtype as ``pixel_values``.

        ``space="normalized"`` noises the processor output directly (VCD). ``"pixel01"`` un-normalises with
        the processor's mean/std, noises the [0, 1] image, clamps to [0, 1] and re-normalises (TPO, which
        noises the ``ToTensor`` image; here at the model's input resolution, after resizing). The ``noise``
        view of :mod:`uedpo.views` from one generator; :func:`uedpo.views.make_view` seeds it per pair.
        """
        spec = ViewSpec(kind="noise", noise_step=step, noise_kind=kind, noise_space=space, pair_shared=pair_shared)
        return noised(self, pixel_values, spec, generator)

    def view_pixel_values(
        self,
        batch: dict,
        spec: ViewSpec,
        *,
        sample_ids: Sequence[str] | None = None,
        seed: int = 0,
        step: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The counterfactual ``pixel_values`` of an encoded batch under ``spec`` (:mod:`uedpo.views`).

        With ``sample_ids`` (one per pair of ``[chosen; rejected]`` rows, or per row when there are no
        rejected rows) each pair's draw is seeded by ``view_seed(seed, sample id, step)``, exactly as in
        training. Without them, one ``generator`` draws for the whole batch (rows i and i + B paired when
        ``spec.pair_shared``).
        """
        pixels = batch["pixel_values"]
        if sample_ids is not None:
            if generator is not None:
                raise ValueError("generator: not used with sample_ids (each pair seeds its own); pass one of them")
            return make_view(self, pixels, batch, list(sample_ids), spec, seed=seed, step=step)
        return apply_view(self, pixels, spec, generator=generator, grids=batch.get("image_grid_thw"))

    # -- teacher-forced clear / blurred forward -------------------------------------------------------------
    @torch.no_grad()
    def forward_batch(
        self,
        images: Sequence[Image.Image],
        questions: Sequence[str],
        responses: Sequence[str],
        *,
        noise_step: int = 500,
        noise_kind: str = "vcd_sigmoid",
        noise_space: str = "normalized",
        generator: torch.Generator | None = None,
        add_eos: bool = False,
        pair_shared: bool = False,
        view: ViewSpec | None = None,
        sample_ids: Sequence[str] | None = None,
        seed: int = 0,
        step: int | None = None,
    ) -> TeacherForced:
        """Score each response under its clear image and its counterfactual view (same positions, no grad).

        The view is ``view`` if given, else the diffusion noise of ``noise_step`` / ``noise_kind`` /
        ``noise_space`` with ``pair_shared`` (which treats the rows as ``[chosen; rejected]`` and gives both
        rows of a pair the same noise, as training does). Seeding as in :meth:`view_pixel_values`: with
        ``sample_ids`` (one per pair, rows ``[chosen; rejected]`` or chosen rows only) pair i draws from
        ``view_seed(seed, sample_ids[i], step)``, the trainer's scheme, so with the policy weights of that
        step this gives the u and Δ of training step ``step`` (``None``: ``noise_mode: fixed_per_sample``);
        without them one ``generator`` draws for the whole batch (ad-hoc scoring).
        """
        from uedpo.signals import selective_log_softmax

        spec = view or ViewSpec(
            kind="noise", noise_step=noise_step, noise_kind=noise_kind, noise_space=noise_space,
            pair_shared=pair_shared,
        )
        prompts = [self.build_prompt(q) for q in questions]
        batch = self.encode(images, prompts, responses, add_eos=add_eos)
        blurred_pv = self.view_pixel_values(
            batch, spec, sample_ids=sample_ids, seed=seed, step=step, generator=generator
        )
        clear = self.response_logits(batch).float()
        blurred = self.response_logits(batch, pixel_values=blurred_pv).float()
        labels, mask = response_targets(batch)
        logprobs = selective_log_softmax(clear, labels).masked_fill(~mask, 0.0)
        token_ids = [row[m].tolist() for row, m in zip(labels.cpu(), mask.cpu(), strict=True)]
        return TeacherForced(
            clear_logits=clear, blurred_logits=blurred, labels=labels, mask=mask, logprobs=logprobs,
            token_ids=token_ids, token_strings=[piece_strings(self.tokenizer, ids) for ids in token_ids],
        )

    def forward_pair(
        self,
        image: Image.Image,
        prompt_question: str,
        response: str,
        *,
        noise_step: int = 500,
        noise_kind: str = "vcd_sigmoid",
        noise_space: str = "normalized",
        generator: torch.Generator | None = None,
        add_eos: bool = False,
        view: ViewSpec | None = None,
    ) -> TeacherForced:
        """:meth:`forward_batch` for one (image, question, response); tensors keep the batch dimension 1."""
        return self.forward_batch(
            [image], [prompt_question], [response], noise_step=noise_step, noise_kind=noise_kind,
            noise_space=noise_space, generator=generator, add_eos=add_eos, view=view,
        )

    # -- generation ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        images: Sequence[Image.Image],
        questions: Sequence[str],
        *,
        max_new_tokens: int,
        do_sample: bool = False,
        num_beams: int = 1,
        seed: int | None = None,
        batch_size: int = 8,
        progress: bool | None = None,
    ) -> list[str]:
        """Answers to ``questions`` about ``images``, ``batch_size`` rows at a time with left padding.

        Greedy by default; batched greedy gives the same text as one item at a time. ``seed`` seeds torch's
        global RNG once, before the first batch (sampling only). ``progress`` shows a bar (default: when
        there is more than one batch).
        """
        n = _check_lengths(images=images, questions=questions)
        if batch_size < 1 or max_new_tokens < 1:
            raise ValueError(f"batch_size and max_new_tokens must be >= 1, got {batch_size}, {max_new_tokens}")
        if seed is not None:
            torch.manual_seed(seed)
        starts = range(0, n, batch_size)
        show = len(starts) > 1 if progress is None else progress
        sampling = {} if do_sample else {"temperature": None, "top_p": None, "top_k": None}
        answers: list[str] = []
        for start in tqdm(starts, desc=f"generate ({self.family})", disable=not show, unit="batch"):
            stop = start + batch_size
            enc = self.encode_prompts(images[start:stop], [self.build_prompt(q) for q in questions[start:stop]])
            inputs = {k: v.to(self.device) for k, v in enc.items()}
            inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
            out = self.model.generate(
                **inputs, max_new_tokens=max_new_tokens, do_sample=do_sample, num_beams=num_beams,
                pad_token_id=self.tokenizer.pad_token_id, **sampling,
            )
            new_tokens = out[:, inputs["input_ids"].shape[1] :]
            answers.extend(t.strip() for t in self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
        return answers
