"""Cost of a training step of every method against a DPO step: same model, same LoRA, same batch, one process.

A step is the trainer's ``compute_loss`` + backward (what ``Trainer.training_step`` runs). DPO is a policy
forward (with grad) + a reference forward (no grad) + backward. Each method's floor is DPO plus the passes it
adds, priced from the same run (``F`` = one no-grad forward on the 2B rows, measured; ``D`` = the DPO step):

- UE-DPO: + one no-grad policy forward on the blurred images: (D + F) / D (≈ 1.25× if a backward costs two
  forwards, more with LoRA, whose frozen base weights need no weight gradients);
- TPO: + a policy forward on the noised images WITH grad (and its backward) + a reference forward on them:
  2D / D = 2.00 (``tpo_detach_score: true``: (D + 2F) / D);
- V-DPO (zeros null image, one draw): + one no-grad forward: (D + F) / D (``random`` with n draws: + nF);
- mDPO: + a with-grad policy forward on the chosen rows (half the batch) and its backward + a reference
  forward on them, both timed on those rows in this run (≈ 1.5 if half the rows cost half). Peak memory: the with-grad logits are the only
(2B, T, V) tensor kept until backward; each no-grad pass holds its logits for one call, so the live peak
should not move.

Model: a random LLaVA (CLIP 128×2 on 56-px images = 16 image tokens; Llama hidden 256, 4 layers, vocab 4000),
batch of ``--pairs`` pairs with ~``--response`` completion tokens (sequence ≈ 256 with the prompt). Prints a
markdown table. Memory on GPU: ``torch.cuda.max_memory_allocated`` above the level before the step. On CPU:
resident memory above the level before the step (Linux VmHWM, reset each time, as in bench_core.py),
measured twice: in a child process where glibc returns freed blocks at once (so RSS follows live tensors, the
CPU analogue of the CUDA figure; the memory ratio uses it), and with the default allocator (what a user sees;
it also counts freed blocks glibc keeps). Targets: UE-DPO ≤ 1.3× time and ≤ 1.15× peak memory; every baseline
within 10 % of its floor.

    python benchmarks/bench_trainer.py [--pairs 2 --response 200 --repeats 7 --gc]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import (
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaImageProcessorPil,
    LlavaProcessor,
)

from uedpo.models.prompts import LLAVA15_CHAT_TEMPLATE
from uedpo.models.tiny import word_tokenizer
from uedpo.models.tiny_vocab import TINY_WORDS
from uedpo.train.baseline_steps import chosen_rows
from uedpo.train.config import TrainConfig
from uedpo.trainer import build_trainer

IMAGE, PATCH = 56, 14


def build_model(out: Path, vocab: int, hidden: int, layers: int) -> Path:
    tok = word_tokenizer(["<pad>", "<unk>", "<s>", "</s>", "<image>"], {"image_token": "<image>"},
                         pad_token="<pad>", bos_token="<s>", eos_token="</s>")
    cfg = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=128, intermediate_size=512, num_hidden_layers=2,
                                       num_attention_heads=4, image_size=IMAGE, patch_size=PATCH),
        text_config=LlamaConfig(vocab_size=max(vocab, len(tok)), hidden_size=hidden,
                                intermediate_size=4 * hidden, num_hidden_layers=layers, num_attention_heads=8,
                                num_key_value_heads=8,
                                pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                                eos_token_id=tok.eos_token_id),
        image_token_index=tok.convert_tokens_to_ids("<image>"), image_seq_length=(IMAGE // PATCH) ** 2,
        vision_feature_layer=-2, vision_feature_select_strategy="default",
    )
    proc = LlavaProcessor(
        image_processor=LlavaImageProcessorPil(size={"shortest_edge": IMAGE},
                                               crop_size={"height": IMAGE, "width": IMAGE}, do_pad=True),
        tokenizer=tok, patch_size=PATCH, vision_feature_select_strategy="default",
        num_additional_image_tokens=1, chat_template=LLAVA15_CHAT_TEMPLATE,
    )
    torch.manual_seed(0)
    LlavaForConditionalGeneration(cfg).save_pretrained(out)
    proc.save_pretrained(out)
    return out


def build_data(folder: Path, pairs: int, response: int) -> Path:
    rs = np.random.RandomState(0)
    words = [w for w in TINY_WORDS if w.isalpha()]
    rows = []
    for i in range(pairs):
        Image.fromarray((rs.rand(IMAGE, IMAGE, 3) * 255).astype("uint8")).save(folder / f"{i}.png")
        chosen, rejected = (" ".join(rs.choice(words, response)) for _ in range(2))
        rows.append({"id": str(i), "image": f"{i}.png", "prompt": "describe the image in detail .",
                     "chosen": chosen, "rejected": rejected})
    (folder / "pairs.json").write_text(json.dumps(rows))
    return folder / "pairs.json"


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))


def peak_extra_mib(fn) -> float:
    """Peak memory above the level before ``fn`` (MiB): CUDA allocator on GPU, resident set on CPU."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    before = _rss_kib("VmRSS:")
    fn()
    return (_rss_kib("VmHWM:") - before) / 1024


def make_step(trainer):
    rows = [trainer.train_dataset[i] for i in range(len(trainer.train_dataset))]
    batch = trainer._prepare_inputs(trainer.data_collator(rows))
    trainer.model.train()

    def step() -> None:
        trainer.model.zero_grad(set_to_none=True)
        trainer.compute_loss(trainer.model, dict(batch)).backward()
        trainer.metric_sums.pop_means()
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    width = int(batch["input_ids"].shape[1])
    return step, width, width - int(batch["prompt_length"]), trainer


# The methods measured (name -> config overrides): every loss of the trainer, each at its default options.
METHODS = {"dpo": {"loss": "dpo"}, "ue_dpo": {"loss": "ue_dpo"}, "tpo": {"loss": "tpo"},
           "vdpo": {"loss": "vdpo"}, "mdpo": {"loss": "mdpo"}}


def floors(times: dict[str, float]) -> dict[str, float]:
    """Each method's floor as a multiple of the DPO step (module docstring), from passes timed in this run."""
    t_dpo = times["dpo"]
    extra_forward = (t_dpo + times["forward"]) / t_dpo
    mdpo = (t_dpo + times["grad_chosen"] + times["forward_chosen"]) / t_dpo
    return {"dpo": 1.0, "ue_dpo": extra_forward, "tpo": 2.0, "vdpo": extra_forward, "mdpo": mdpo}


def prepare(args, root: Path) -> dict[str, tuple]:
    """One trainer per loss on the same model, LoRA init (seed) and batch; returns their step functions."""
    base = build_model(root / "model", args.vocab, args.hidden, args.layers)
    data = build_data(root, args.pairs, args.response)
    steps = {}
    for name, overrides in METHODS.items():
        cfg = TrainConfig(model=str(base), data=str(data), output_dir=str(root / name), lora_r=16,
                          lora_alpha=32, report_to="none", max_length=4096, gradient_checkpointing=args.gc,
                          **overrides)
        trainer = build_trainer(cfg)
        if args.gc:
            trainer.model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs=trainer.args.activation_checkpointing_kwargs)
        with torch.no_grad():  # B = 0 at init; give LoRA A a gradient too, as in a real run
            for param_name, p in trainer.model.named_parameters():
                if "lora_B" in param_name:
                    p.normal_(0, 0.01, generator=torch.Generator(p.device).manual_seed(0))
        steps[name] = make_step(trainer)
    return steps


def measure_times(steps: dict[str, tuple], repeats: int) -> dict[str, float]:
    """Median seconds per step, plus one no-grad forward (the floor's extra pass)."""
    trainer = steps["dpo"][3]
    rows = list(trainer.train_dataset)
    batch = trainer._prepare_inputs(trainer.data_collator(rows))
    chosen = chosen_rows(batch, len(rows))

    @torch.no_grad()
    def forward() -> None:
        trainer.adapter.response_logits(batch, model=trainer.model)

    @torch.no_grad()
    def forward_chosen() -> None:
        trainer.adapter.response_logits(chosen, model=trainer.model)

    def grad_chosen() -> None:  # mDPO's extra policy pass: with grad, on the chosen rows, and its backward
        trainer.model.zero_grad(set_to_none=True)
        trainer.adapter.response_logits(chosen, model=trainer.model).logsumexp(-1).mean().backward()

    runs = {**{name: entry[0] for name, entry in steps.items()}, "forward": forward,
            "forward_chosen": forward_chosen, "grad_chosen": grad_chosen}
    for fn in runs.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeats):  # interleaved, so drift on a shared machine hits all alike
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def measure_peaks(steps: dict[str, tuple]) -> dict[str, float]:
    for step, *_ in steps.values():
        step()  # warm-up
    return {loss: max(peak_extra_mib(step) for _ in range(2)) for loss, (step, *_) in steps.items()}


def live_peaks_in_child(argv: list[str]) -> dict[str, float]:
    """CPU: peaks in a child where glibc returns freed blocks at once, so RSS follows live tensors.

    glibc's dynamic mmap threshold otherwise keeps freed (2B, T, V) logits blocks resident, and the RSS peak
    then measures allocator retention, not tensors. ``MALLOC_MMAP_THRESHOLD_`` fixes the threshold.
    """
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    out = subprocess.run([sys.executable, __file__, *argv, "--memory-only"], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--response", type=int, default=200, help="words per response (~tokens)")
    parser.add_argument("--vocab", type=int, default=4000)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--gc", action="store_true", help="gradient checkpointing on")
    parser.add_argument("--memory-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    with tempfile.TemporaryDirectory() as tmp:
        steps = prepare(args, Path(tmp))
        if args.memory_only:
            print(json.dumps(measure_peaks(steps)))
            return
        times = measure_times(steps, args.repeats)
        peaks = measure_peaks(steps)
    on_gpu = torch.cuda.is_available()
    live = peaks if on_gpu else live_peaks_in_child([a for a in sys.argv[1:] if a != "--memory-only"])
    seq, completion = steps["dpo"][1], steps["dpo"][2]
    device = torch.cuda.get_device_name() if on_gpu else f"CPU ({torch.get_num_threads()} threads)"
    t_dpo, t_fwd = times["dpo"], times["forward"]
    floor = floors(times)
    print(f"device: {device}; torch {torch.__version__}; {args.pairs} pairs = {2 * args.pairs} rows, "
          f"sequence {seq} (completion {completion}), vocab {args.vocab}, hidden {args.hidden} x "
          f"{args.layers} layers, LoRA r=16, gradient checkpointing {'on' if args.gc else 'off'}; "
          f"median of {args.repeats}; no-grad forward F = {t_fwd:.3f} s, DPO step D = {t_dpo:.3f} s")
    print()
    live_name = "peak extra, live (MiB)" if on_gpu else "peak extra, live tensors (MiB)"
    rss_name = "peak extra RSS, default malloc (MiB)"
    print(f"| loss | step time (s) | time ratio | floor | ratio / floor | {live_name} | memory ratio | {rss_name} |")
    print("|---|---|---|---|---|---|---|---|")
    for name in METHODS:
        ratio = times[name] / t_dpo
        print(f"| {name} | {times[name]:.3f} | {ratio:.2f} | {floor[name]:.2f} | {ratio / floor[name]:.2f} | "
              f"{live[name]:.1f} | {live[name] / live['dpo']:.2f} | {peaks[name]:.1f} |")


if __name__ == "__main__":
    main()
