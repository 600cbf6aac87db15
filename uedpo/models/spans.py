"""Which response tokens spell a character span of the text: the tokenizer side of word-level probes.

A response is tokenized exactly as :meth:`uedpo.models.VLMAdapter.encode` does (``tokenizer(text,
add_special_tokens=False)``), with the fast tokenizer's character offsets; the tokens of a word are those whose
offsets overlap the word's characters. Needs a fast (Rust) tokenizer, as every supported model ships.
"""

from __future__ import annotations


def char_span_tokens(tokenizer, text: str, start: int, end: int) -> tuple[list[int], tuple[int, ...]]:
    """``(token ids of text, indices of the tokens overlapping text[start:end])``.

    Raises ``ValueError`` for an empty or out-of-range span, a tokenizer without offsets, or a span that no
    token covers (e.g. characters the tokenizer drops).
    """
    if not 0 <= start < end <= len(text):
        raise ValueError(f"span [{start}, {end}) is not a non-empty part of a text of {len(text)} characters")
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"{type(tokenizer).__name__}: token offsets need a fast tokenizer")
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = list(enc["input_ids"]), enc["offset_mapping"]
    hits = tuple(i for i, (a, b) in enumerate(offsets) if b > a and a < end and b > start)
    if not hits:
        raise ValueError(f"no token of the text covers characters [{start}, {end}) ({text[start:end]!r})")
    return ids, hits
