"""Pieces shared by the tiny random checkpoints of :mod:`uedpo.models.families` (tests only, built offline).

A word-level tokenizer made with ``tokenizers`` over :data:`~uedpo.models.tiny_vocab.TINY_WORDS` (anything else
maps to ``<unk>``), the LLaVA and Qwen special-token sets, and the generation-config defaults (greedy, the
tokenizer's pad/eos/bos ids) every tiny model gets.
"""

from __future__ import annotations

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers
from transformers import PreTrainedModel, PreTrainedTokenizerFast

from uedpo.models.tiny_vocab import TINY_WORDS

LLAVA_SPECIALS = ["<pad>", "<unk>", "<s>", "</s>", "<image>"]
QWEN_SPECIALS = ["<|endoftext|>", "<unk>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                 "<|image_pad|>", "<|video_pad|>"]


def word_tokenizer(specials: list[str], named: dict[str, str], **special_kw: str) -> PreTrainedTokenizerFast:
    """Lower-cased word-level tokenizer over ``specials + TINY_WORDS``.

    ``named`` become tokenizer attributes (``tok.image_token``) that the processors read (pitfall 3).
    """
    vocab = {tok: i for i, tok in enumerate(specials + [w for w in TINY_WORDS if w not in specials])}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.normalizer = normalizers.Lowercase()
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.decoder = decoders.WordPiece(cleanup=False)  # cleanup=True would glue "image ." into "image." (pitfall 13)
    tk.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return PreTrainedTokenizerFast(
        tokenizer_object=tk,
        unk_token="<unk>",
        extra_special_tokens=named,
        clean_up_tokenization_spaces=False,
        model_max_length=4096,
        **special_kw,
    )


def llava_tokenizer() -> PreTrainedTokenizerFast:
    """Llama-style specials: ``<pad>``, ``<s>``, ``</s>`` and the ``<image>`` placeholder."""
    return word_tokenizer(LLAVA_SPECIALS, {"image_token": "<image>"}, pad_token="<pad>", bos_token="<s>",
                          eos_token="</s>")


def qwen_tokenizer(extra: tuple[str, ...] = (), named: dict[str, str] | None = None) -> PreTrainedTokenizerFast:
    """Qwen chat specials (``<|im_start|>`` ...; pad ``<|endoftext|>``, eos ``<|im_end|>``) plus ``extra``."""
    named = named or {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"}
    return word_tokenizer(QWEN_SPECIALS + list(extra), named, pad_token="<|endoftext|>", eos_token="<|im_end|>")


def qwen_vision_ids(tok: PreTrainedTokenizerFast) -> dict[str, int]:
    """The four vision token ids a Qwen-VL config takes."""
    return {name: tok.convert_tokens_to_ids(t) for name, t in [
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>")]}


def small_text(tok: PreTrainedTokenizerFast, **extra) -> dict:
    """A 64-wide, 2-layer text model config (4 heads, 2 kv heads) over ``tok``'s vocabulary."""
    return dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, **extra)


def finish(model: PreTrainedModel, tok: PreTrainedTokenizerFast) -> PreTrainedModel:
    """Greedy generation config with the tokenizer's special ids; eval mode."""
    gen = model.generation_config
    gen.pad_token_id, gen.eos_token_id, gen.bos_token_id = tok.pad_token_id, tok.eos_token_id, tok.bos_token_id
    gen.do_sample = False
    return model.eval()
