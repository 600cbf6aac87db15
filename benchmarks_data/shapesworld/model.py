"""The ShapesWorld model: a small random-init LLaVA-1.5 that ``uedpo-train`` teaches to caption shapes.

Config "G" of SHAPESWORLD.md §2/§7b: ``LlavaForConditionalGeneration`` with a CLIP vision tower (128 wide,
3 layers, 4 heads, patch 16 on 64x64 images -> 16 image tokens after the "default" strategy drops CLS,
``vision_feature_layer=-1``) and a Llama text model (128 wide, 3 layers, 4 heads, MLP 4x, untied embeddings):
about 1.5 M parameters, 6 MB of safetensors.

Tokenizer: word-level over the ShapesWorld text vocabulary (:func:`benchmarks_data.shapesworld.text_vocabulary`)
plus the words of the LLaVA-1.5 prompt template, with a lower-casing normaliser ("Describe" -> "describe").
``Yes`` and ``No`` are added tokens matched before normalisation (``normalized=False``, whole words only), so
the model can answer with exactly the strings the AMBER scorer compares against (it wants "Yes" / "No";
SCORERS.md §3), while every other word is case-insensitive. The ShapesWorld SFT stream
(:class:`uedpo.train.data.ShapesWorldStream`) trains those capitalised answers.

The checkpoint directory (config, safetensors, tokenizer, processor, chat template) is what
:func:`uedpo.models.load_adapter` opens, like any LLaVA-1.5 checkpoint. The trained demo checkpoint is
shipped as ``benchmarks_data/shapesworld/assets/shapes-demo`` (alias ``shapes-demo``); see its README for the command that makes it.

    python -m benchmarks_data.shapesworld.model --out runs/shapes-init --seed 0
"""

from __future__ import annotations

import argparse
import re
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
    PreTrainedTokenizerFast,
)

from uedpo.errors import InputError
from uedpo.models.prompts import LLAVA15_CHAT_TEMPLATE, llava15_prompt

IMAGE_SIZE, PATCH = 64, 16  # 4x4 patches = one per ShapesWorld grid cell (SHAPESWORLD.md §3: alignment matters)
# (vision, text) sizes: "demo" = config G (SHAPESWORLD.md §2); "tiny" = tiny_1L for unit tests (§7a).
SIZES = {
    "demo": (dict(hidden_size=128, intermediate_size=512, num_hidden_layers=3, num_attention_heads=4),
             dict(hidden_size=128, intermediate_size=512, num_hidden_layers=3, num_attention_heads=4,
                  num_key_value_heads=4)),
    "tiny": (dict(hidden_size=32, intermediate_size=128, num_hidden_layers=1, num_attention_heads=2),
             dict(hidden_size=64, intermediate_size=256, num_hidden_layers=1, num_attention_heads=2,
                  num_key_value_heads=2)),
}
SPECIALS = ["<pad>", "<unk>", "<s>", "</s>", "<image>"]
# The AMBER scorer compares answers to exactly "Yes" / "No"; kept out of the lower-casing normaliser.
ANSWER_TOKENS = ("Yes", "No")
_PIECES = re.compile(r"\w+|[^\w\s]+")  # what pre_tokenizers.Whitespace() splits text into


def shapes_vocabulary() -> list[str]:
    """Lower-cased words of the LLaVA-1.5 prompt template and the ShapesWorld texts, in a stable order."""
    from benchmarks_data.shapesworld import text_vocabulary

    template = llava15_prompt("").replace("<image>", " ")
    words = [w.lower() for w in _PIECES.findall(template)] + [w.lower() for w in text_vocabulary()]
    return list(dict.fromkeys(w for w in words if w not in SPECIALS))


def shapes_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {tok: i for i, tok in enumerate(SPECIALS + shapes_vocabulary())}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.normalizer = normalizers.Lowercase()
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.decoder = decoders.WordPiece(cleanup=False)  # cleanup=True would glue "image ." into "image."
    tk.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIALS])
    tk.add_tokens([AddedToken(a, normalized=False, single_word=True) for a in ANSWER_TOKENS])
    return PreTrainedTokenizerFast(
        tokenizer_object=tk, unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="</s>",
        extra_special_tokens={"image_token": "<image>"}, clean_up_tokenization_spaces=False,
        model_max_length=512,
    )


def shapes_llava(seed: int = 0, size: str = "demo") -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """Random-init model of ``size`` (:data:`SIZES`; ``torch.manual_seed(seed)``) and its processor."""
    if size not in SIZES:
        raise InputError(f"size: expected one of {sorted(SIZES)}, got {size!r}")
    vision, text = SIZES[size]
    tok = shapes_tokenizer()
    n_patches = (IMAGE_SIZE // PATCH) ** 2
    cfg = LlavaConfig(
        vision_config=CLIPVisionConfig(image_size=IMAGE_SIZE, patch_size=PATCH, **vision),
        text_config=LlamaConfig(
            vocab_size=len(tok), max_position_embeddings=512, tie_word_embeddings=False,
            pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, **text,
        ),
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        image_seq_length=n_patches,
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
        tie_word_embeddings=False,
    )
    ip = LlavaImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}, do_pad=True,
    )
    proc = LlavaProcessor(
        image_processor=ip, tokenizer=tok, patch_size=PATCH, vision_feature_select_strategy="default",
        num_additional_image_tokens=1, chat_template=LLAVA15_CHAT_TEMPLATE,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(cfg)
    gen = model.generation_config
    gen.pad_token_id, gen.eos_token_id, gen.bos_token_id = tok.pad_token_id, tok.eos_token_id, tok.bos_token_id
    gen.do_sample = False
    return model.eval(), proc


def build_shapes_model(out_dir: str | Path, seed: int = 0, size: str = "demo") -> Path:
    """Write the random-init ShapesWorld checkpoint (safetensors + tokenizer + processor) to ``out_dir``."""
    model, proc = shapes_llava(seed, size)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    proc.save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks_data.shapesworld.model", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory (created if missing)")
    parser.add_argument("--seed", type=int, default=0, help="torch seed of the random initialisation")
    parser.add_argument("--size", choices=sorted(SIZES), default="demo", help="demo (config G) or tiny (tests)")
    args = parser.parse_args(argv)
    torch.set_flush_denormal(True)
    out = build_shapes_model(args.out, seed=args.seed, size=args.size)
    n = sum(f.stat().st_size for f in out.glob("*.safetensors"))
    print(f"wrote random-init ShapesWorld checkpoint to {out} ({n / 1e6:.2f} MB of safetensors)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
