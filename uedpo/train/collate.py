"""Batches for training through the model adapter, and the guard that image tokens survive truncation.

Layout (TRL's vision preference collator, ``huggingface/trl`` ``trl/trainer/dpo_trainer.py``
``DataCollatorForVisionPreference``): 2B rows ``[chosen_1..B; rejected_1..B]`` with each image repeated,
prompts left-padded, completions right-padded (:func:`uedpo.models.collate.append_responses`); SFT batches
hold the B chosen rows only. Completions end with EOS.

Truncation (trl#5285: truncating a VLM row can cut image tokens and fail silently or at the model): only the
completion is truncated, from the end, to ``max_length − prompt length``; a prompt that leaves no room for one
completion token raises :class:`~uedpo.train.data.TrainDataError` naming the row. :func:`check_rows_fit` runs
that check over the whole data set before training (cheap: image headers and the tokenizer only; a
:class:`~uedpo.train.data.PreferenceDataset` is read in chunks without its memory map), and the collator
asserts per batch that every row kept all the image tokens of its prompt.

Images are decoded here, per batch (rows carry a path or the encoded bytes); rows streamed with
``data_streaming`` arrive as dicts of the fields and become :class:`~uedpo.train.data.PreferenceRow` here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch
from PIL import Image
from tqdm.auto import tqdm

from uedpo.models.collate import append_responses
from uedpo.train.data import PreferenceRow, TrainDataError


def _too_long(row: PreferenceRow, prompt_tokens: int, max_length: int) -> TrainDataError:
    return TrainDataError(
        f"{row.source} (id {row.id}): the prompt is {prompt_tokens} tokens with the image, which leaves no "
        f"room for the response under max_length={max_length}; raise max_length above {prompt_tokens} or "
        "shorten the prompt / lower the image resolution"
    )


@dataclass(frozen=True)
class LengthReport:
    """What :func:`check_rows_fit` found; truncated completions are allowed, too-long prompts are errors."""

    n_rows: int
    max_prompt_tokens: int
    truncated_chosen: int
    truncated_rejected: int


class PromptLengths:
    """Prompt token counts (image tokens included) without running the image processor on every row.

    The processor replaces the image placeholder by N image tokens and tokenizes the text around it as usual,
    so ``len(tokenize(prompt)) + extra(image size)`` is exact, where ``extra`` (N − 1 placeholder token) is
    measured once per image size on a blank image.
    """

    def __init__(self, adapter) -> None:
        self.adapter = adapter
        self._extra: dict[tuple[int, int], int] = {}
        self._empty_prompt = adapter.build_prompt("")
        self._empty_len = len(adapter.tokenizer(self._empty_prompt)["input_ids"])

    def extra(self, size: tuple[int, int]) -> int:
        if size not in self._extra:
            enc = self.adapter.encode_prompts([Image.new("RGB", size)], [self._empty_prompt])
            self._extra[size] = int(enc["input_ids"].shape[1]) - self._empty_len
        return self._extra[size]

    def __call__(self, rows: Sequence[PreferenceRow]) -> list[int]:
        prompts = [self.adapter.build_prompt(r.prompt) for r in rows]
        text_lengths = [len(ids) for ids in self.adapter.tokenizer(prompts)["input_ids"]]
        return [n + self.extra(r.image_size()) for n, r in zip(text_lengths, rows, strict=True)]


def response_ids(tokenizer, responses: Sequence[str]) -> list[list[int]]:
    """Completion token ids + EOS, tokenized on their own (no special tokens), as TRL does."""
    if not responses:
        return []  # fast tokenizers fail on an empty batch
    ids = tokenizer(list(responses), add_special_tokens=False)["input_ids"]
    return [r + [tokenizer.eos_token_id] for r in ids]


def _chunks(rows: Sequence[PreferenceRow], chunk: int) -> Iterator[Sequence[PreferenceRow]]:
    """Consecutive slices of ``rows``; a dataset with ``chunks`` (Arrow-backed) reads them its own way."""
    if hasattr(rows, "chunks"):
        yield from rows.chunks(chunk)
        return
    for start in range(0, len(rows), chunk):
        yield rows[start : start + chunk]


def check_rows_fit(
    rows: Sequence[PreferenceRow], adapter, max_length: int, *, chunk: int = 256, progress: bool | None = None
) -> LengthReport:
    """Raise on the first row whose prompt leaves no room for a completion token; count truncations."""
    lengths = PromptLengths(adapter)
    longest = truncated_w = truncated_l = 0
    n_chunks = math.ceil(len(rows) / chunk)
    show = n_chunks > 4 if progress is None else progress
    for part in tqdm(_chunks(rows, chunk), total=n_chunks, desc="checking lengths", unit="chunk", disable=not show):
        prompt_lengths = lengths(part)
        chosen = response_ids(adapter.tokenizer, [r.chosen for r in part])
        with_rejected = [r for r in part if r.rejected is not None]
        rejected = response_ids(adapter.tokenizer, [r.rejected for r in with_rejected])
        rejected_len = {id(r): len(ids) for r, ids in zip(with_rejected, rejected, strict=True)}
        for row, n_prompt, ids in zip(part, prompt_lengths, chosen, strict=True):
            if n_prompt >= max_length:
                raise _too_long(row, n_prompt, max_length)
            longest = max(longest, n_prompt)
            truncated_w += n_prompt + len(ids) > max_length
            truncated_l += id(row) in rejected_len and n_prompt + rejected_len[id(row)] > max_length
    return LengthReport(len(rows), longest, truncated_w, truncated_l)


class PreferenceCollator:
    """Rows -> model inputs + ``response_mask``, ``prompt_length`` and ``sample_ids`` (CPU tensors).

    ``pairs=True`` gives 2B rows ``[chosen; rejected]`` (DPO / UE-DPO), ``pairs=False`` B chosen rows (SFT).
    """

    def __init__(self, adapter, *, max_length: int, pairs: bool = True) -> None:
        self.adapter, self.max_length, self.pairs = adapter, max_length, pairs

    def __call__(self, rows: Sequence[PreferenceRow | Mapping]) -> dict:
        rows = [PreferenceRow.from_mapping(r) if isinstance(r, Mapping) else r for r in rows]
        images = [r.open_image() for r in rows]
        prompts = [self.adapter.build_prompt(r.prompt) for r in rows]
        responses = [r.chosen for r in rows]
        if self.pairs:
            missing = next((r for r in rows if r.rejected is None), None)
            if missing is not None:
                raise TrainDataError(
                    f"{missing.source} (id {missing.id}): no rejected response; DPO needs one (or loss=sft)"
                )
            images, prompts = images * 2, prompts * 2
            responses = responses + [r.rejected for r in rows]
        prompt_enc = self.adapter.encode_prompts(images, prompts)
        ids = self._truncate(rows, prompt_enc, response_ids(self.adapter.tokenizer, responses))
        batch = append_responses(prompt_enc, ids, self.adapter.tokenizer.pad_token_id)
        self._check_image_tokens(rows, prompt_enc["input_ids"], batch["input_ids"])
        batch["sample_ids"] = [r.id for r in rows]
        return batch

    def _truncate(self, rows, prompt_enc, ids: list[list[int]]) -> list[list[int]]:
        prompt_lengths = prompt_enc["attention_mask"].sum(dim=1).tolist()
        for i, n_prompt in enumerate(prompt_lengths):
            room = self.max_length - int(n_prompt)
            if room < 1:
                raise _too_long(rows[i % len(rows)], int(n_prompt), self.max_length)
            ids[i] = ids[i][:room]
        return ids

    def _check_image_tokens(self, rows, prompt_ids: torch.Tensor, input_ids: torch.Tensor) -> None:
        """Every row keeps the image tokens its prompt had (only completions are ever cut)."""
        image_id = self.adapter.processor.image_token_id
        before = (prompt_ids == image_id).sum(dim=1)
        after = (input_ids == image_id).sum(dim=1)
        bad = torch.nonzero((before != after) | (before == 0)).flatten().tolist()
        if bad:
            row = rows[bad[0] % len(rows)]
            raise TrainDataError(
                f"{row.source} (id {row.id}): {int(after[bad[0]])} image tokens in the batch row, expected "
                f"the prompt's {int(before[bad[0]])} (> 0); remove image placeholders from the responses"
            )
