"""Batch layout shared by teacher-forced scoring and preference training.

Each row is ``[left-padded prompt | response | right padding]``: prompts are left-padded to a common length P
(as for generation), responses start at the same column P in every row and are right-padded to T. So
``input_ids[:, P + t]`` is response token t of each row, predicted by the logits at column ``P + t - 1``,
which is what TRL's vision preference collator builds (prompt left-padded, completion right-padded,
``huggingface/trl`` ``trl/trainer/dpo_trainer.py`` ``DataCollatorForVisionPreference``).
"""

from __future__ import annotations

import torch

# Keys of an encoded batch that are bookkeeping, not model inputs.
BOOKKEEPING_KEYS = ("response_mask", "prompt_length")


def append_responses(
    prompt_enc: dict[str, torch.Tensor], responses: list[list[int]], pad_id: int
) -> dict[str, torch.Tensor | int]:
    """Append right-padded response ids to a left-padded prompt encoding (B, P) -> (B, P + T).

    Per-token side inputs of width P (``mm_token_type_ids``: 0 = text) are extended with zeros; image
    tensors (``pixel_values``, ``image_grid_thw``) pass through unchanged.
    """
    ids, attn = prompt_enc["input_ids"], prompt_enc["attention_mask"]
    batch, prompt_len = ids.shape
    width = max((len(r) for r in responses), default=0)
    resp = torch.full((batch, width), pad_id, dtype=ids.dtype)
    resp_mask = torch.zeros((batch, width), dtype=torch.bool)
    for row, tokens in enumerate(responses):
        resp[row, : len(tokens)] = torch.tensor(tokens, dtype=ids.dtype)
        resp_mask[row, : len(tokens)] = True
    out: dict[str, torch.Tensor | int] = {}
    for key, value in prompt_enc.items():
        if key == "input_ids":
            out[key] = torch.cat([ids, resp], dim=1)
        elif key == "attention_mask":
            out[key] = torch.cat([attn, resp_mask.to(attn.dtype)], dim=1)
        elif isinstance(value, torch.Tensor) and value.shape[:2] == (batch, prompt_len) and key != "pixel_values":
            out[key] = torch.cat([value, value.new_zeros((batch, width))], dim=1)
        else:
            out[key] = value
    out["response_mask"] = torch.cat([torch.zeros((batch, prompt_len), dtype=torch.bool), resp_mask], dim=1)
    out["prompt_length"] = prompt_len
    return out


def response_targets(batch: dict[str, torch.Tensor | int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``labels`` (B, T) and ``mask`` (B, T) bool of the response columns, aligned with :func:`response_logits`."""
    start = int(batch["prompt_length"])
    return batch["input_ids"][:, start:], batch["response_mask"][:, start:]


def left_pad_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids that start at 0 on each row's first real token, as ``generate`` builds them."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def piece_strings(tokenizer, ids: list[int]) -> list[str]:
    """Per-token display strings that concatenate back to ``decode(ids)``.

    Decoding one token alone loses its leading space (SentencePiece) or splits multi-byte characters (byte
    BPE), so each piece is the growth of the decoded prefix.
    """
    pieces, previous = [], ""
    for end in range(1, len(ids) + 1):
        text = tokenizer.decode(ids[:end], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        pieces.append(text[len(previous) :] if text.startswith(previous) else text)
        previous = text
    return pieces
