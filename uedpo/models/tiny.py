"""Tiny random LLaVA-1.5 and Qwen2.5-VL checkpoints, built offline (ENVIRONMENT.md §2 recipe).

They exercise the same loading, prompting, generation and teacher-forced code as real checkpoints: a
word-level tokenizer made with ``tokenizers`` (words outside :data:`TINY_WORDS` map to ``<unk>``), the Pil image
processors (no torchvision), the model config, safetensors weights and the chat template are written to one
directory that :func:`uedpo.models.load_adapter` opens. Tests only; the weights are random.

Usage: ``python -m uedpo.models.tiny --family {llava,qwen2_5_vl} --out DIR [--seed S]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers
from transformers import (
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaImageProcessorPil,
    LlavaProcessor,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2VLImageProcessorPil,
)

from uedpo.models.processors import ImageOnlyQwen2_5_VLProcessor
from uedpo.models.prompts import LLAVA15_CHAT_TEMPLATE, QWEN25VL_CHAT_TEMPLATE
from uedpo.models.tiny_vocab import TINY_WORDS

FAMILIES = ("llava", "qwen2_5_vl")
LLAVA_IMAGE_SIZE, PATCH = 28, 14  # 2x2 patches -> 4 image tokens (CLS dropped by the "default" strategy)
QWEN_MIN_PIXELS, QWEN_MAX_PIXELS = 56 * 56, 112 * 112  # 4..16 image tokens, varying with the aspect ratio


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


def _finish(model: PreTrainedModel, tok: PreTrainedTokenizerFast) -> PreTrainedModel:
    gen = model.generation_config
    gen.pad_token_id, gen.eos_token_id, gen.bos_token_id = tok.pad_token_id, tok.eos_token_id, tok.bos_token_id
    gen.do_sample = False
    return model.eval()


def tiny_llava(seed: int = 0) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """CLIP (32 wide, 2 layers) + Llama (64 wide, 2 layers); ~4 image tokens per image."""
    tok = word_tokenizer(
        ["<pad>", "<unk>", "<s>", "</s>", "<image>"],
        {"image_token": "<image>"},
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
    )
    cfg = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            image_size=LLAVA_IMAGE_SIZE, patch_size=PATCH,
        ),
        text_config=LlamaConfig(
            vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
            pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        ),
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        image_seq_length=(LLAVA_IMAGE_SIZE // PATCH) ** 2,
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )
    # LLaVA-1.5 pads to a square with the mean colour before CLIP preprocessing (image_aspect_ratio="pad").
    ip = LlavaImageProcessorPil(
        size={"shortest_edge": LLAVA_IMAGE_SIZE},
        crop_size={"height": LLAVA_IMAGE_SIZE, "width": LLAVA_IMAGE_SIZE},
        do_pad=True,
    )
    # CLIP has a CLS token: num_additional_image_tokens=1, which the "default" strategy drops (pitfall 4).
    proc = LlavaProcessor(
        image_processor=ip, tokenizer=tok, patch_size=PATCH, vision_feature_select_strategy="default",
        num_additional_image_tokens=1, chat_template=LLAVA15_CHAT_TEMPLATE,
    )
    torch.manual_seed(seed)
    return _finish(LlavaForConditionalGeneration(cfg), tok), proc


def tiny_qwen25vl(seed: int = 0) -> tuple[Qwen2_5_VLForConditionalGeneration, ImageOnlyQwen2_5_VLProcessor]:
    """Qwen2.5-VL vision (32 wide, 2 blocks) + text (64 wide, 2 layers); 4-16 image tokens per image."""
    specials = ["<|endoftext|>", "<unk>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>"]
    tok = word_tokenizer(
        specials, {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"},
        pad_token="<|endoftext|>", eos_token="<|im_end|>",
    )
    ids = {name: tok.convert_tokens_to_ids(t) for name, t in [
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>")]}
    cfg = Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
            # mrope sections must sum to head_dim / 2 = 64 / 4 / 2 = 8 (pitfall 5)
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
            bos_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        ),
        vision_config=dict(
            depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, patch_size=PATCH,
            spatial_merge_size=2, temporal_patch_size=2, window_size=56, fullatt_block_indexes=[1],
        ),
        **ids,
    )
    ip = Qwen2VLImageProcessorPil(
        min_pixels=QWEN_MIN_PIXELS, max_pixels=QWEN_MAX_PIXELS, patch_size=PATCH, merge_size=2,
        temporal_patch_size=2,
    )
    proc = ImageOnlyQwen2_5_VLProcessor(image_processor=ip, tokenizer=tok, chat_template=QWEN25VL_CHAT_TEMPLATE)
    torch.manual_seed(seed)
    return _finish(Qwen2_5_VLForConditionalGeneration(cfg), tok), proc


BUILDERS = {"llava": tiny_llava, "qwen2_5_vl": tiny_qwen25vl}


def build_tiny(family: str, out_dir: str | Path, *, seed: int = 0) -> Path:
    """Write a tiny random checkpoint of ``family`` to ``out_dir`` (safetensors) and return the directory."""
    if family not in BUILDERS:
        raise ValueError(f"family: expected one of {FAMILIES}, got {family!r}")
    model, proc = BUILDERS[family](seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)  # safetensors is the default serialisation
    proc.save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m uedpo.models.tiny", description=__doc__.splitlines()[0])
    parser.add_argument("--family", required=True, choices=FAMILIES)
    parser.add_argument("--out", required=True, type=Path, help="output directory (created if missing)")
    parser.add_argument("--seed", type=int, default=0, help="torch seed for the random weights")
    args = parser.parse_args(argv)
    torch.set_flush_denormal(True)
    out = build_tiny(args.family, args.out, seed=args.seed)
    n = sum(f.stat().st_size for f in out.glob("*.safetensors"))
    print(f"wrote tiny {args.family} checkpoint to {out} ({n / 1e6:.2f} MB of safetensors)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
