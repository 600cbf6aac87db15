"""`make demo`: the UE-DPO core on a tiny LLaVA built offline.

One generated image, a prompt, a preferred and a dispreferred response. The script teacher-forces both
responses under the clear and the diffusion-noised image, prints each token's u, Δ, gate, type and λ, and the
UE-DPO and DPO losses of the pair at the first training step (policy = reference, so DPO gives log 2 and
UE-DPO gives at least log 2: METHOD.md §1.3).

    python -m uedpo.demo [--family llava|qwen2_5_vl] [--alpha 0.3] [--tau 0.4] [--noise-step 500] [--seed 0]
"""

from __future__ import annotations

import argparse
import math
import tempfile

import torch
from PIL import Image, ImageDraw

from uedpo.analysis import ResponseAnalysis, analyse_rows
from uedpo.loss import dpo_loss, ue_dpo_loss
from uedpo.signals import token_signals

QUESTION = "Describe this image."
PREFERRED = "a red car is parked on the street next to a green tree ."
DISPREFERRED = "a red car and a black dog are on the street next to a green tree ."


def demo_image(size: int = 96) -> Image.Image:
    """A street scene in flat shapes: grey road, a red car, a green tree."""
    img = Image.new("RGB", (size, size), (135, 190, 235))
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, size * 0.65, size, size], fill=(90, 90, 95))
    draw.rectangle([size * 0.1, size * 0.5, size * 0.55, size * 0.7], fill=(200, 30, 30))
    draw.ellipse([size * 0.6, size * 0.15, size * 0.95, size * 0.5], fill=(40, 150, 50))
    draw.rectangle([size * 0.75, size * 0.5, size * 0.8, size * 0.65], fill=(100, 60, 30))
    return img


def format_table(analysis: ResponseAnalysis) -> str:
    frame = analysis.frame()[["token", "u", "delta", "gated", "type", "lam"]]
    frame = frame.rename(columns={"delta": "Δ", "gated": "gate", "lam": "λ"})
    return frame.to_markdown(index=False, floatfmt=".4f")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m uedpo.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="llava", choices=["llava", "qwen2_5_vl"])
    parser.add_argument("--alpha", type=float, default=0.3)
    parser.add_argument("--tau", type=float, default=0.4)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--noise-step", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_flush_denormal(True)

    from transformers.utils import logging as hf_logging

    from uedpo.models import load_adapter
    from uedpo.models.tiny import build_tiny

    hf_logging.disable_progress_bar()

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = build_tiny(args.family, tmp, seed=args.seed)
        adapter = load_adapter(ckpt)
        image = demo_image()
        out = adapter.forward_batch(
            [image, image], [QUESTION, QUESTION], [PREFERRED, DISPREFERRED], noise_step=args.noise_step,
            generator=torch.Generator().manual_seed(args.seed), pair_shared=True,
        )
    sig = token_signals(out.clear_logits, out.blurred_logits, out.labels, out.mask)
    rows = {}
    for name, row, preferred in (("preferred", 0, True), ("dispreferred", 1, False)):
        sl = slice(row, row + 1)
        rows[name] = analyse_rows(
            sig.u[sl], sig.delta[sl], out.mask[sl], preferred=preferred, alpha=args.alpha, tau=args.tau,
            token_strings=out.token_strings[sl], token_ids=out.token_ids[sl], logprobs=out.logprobs[sl],
        )[0]

    print(f"tiny {args.family} checkpoint (random weights, built offline); image 96x96; question: {QUESTION!r}")
    print(f"noise step k = {args.noise_step} (VCD sigmoid schedule), α = {args.alpha}, τ = {args.tau}, "
          f"β = {args.beta}\n")
    for name, text in (("preferred", PREFERRED), ("dispreferred", DISPREFERRED)):
        a = rows[name]
        q = "q_τ" if a.preferred else "q_{1−τ}"
        print(f"## {name}: {text!r}")
        print(f"gate threshold {q} = {a.threshold:.4f}; gated tokens {a.n_gated}/{len(a.tokens)}; "
              f"μ = {a.mu:.4f}, ς = {a.sigma:.4f}\n")
        print(format_table(a) + "\n")

    lam_w = torch.tensor([[t.lam for t in rows["preferred"].tokens]])
    lam_l = torch.tensor([[t.lam for t in rows["dispreferred"].tokens]])
    lp_w = torch.tensor([[t.logprob for t in rows["preferred"].tokens]])
    lp_l = torch.tensor([[t.logprob for t in rows["dispreferred"].tokens]])
    m_w, m_l = torch.ones_like(lp_w, dtype=torch.bool), torch.ones_like(lp_l, dtype=torch.bool)
    # First training step: the policy is the reference (LoRA at zero), so the reference log-probs are the same.
    ue = ue_dpo_loss(lp_w, lp_l, lp_w, lp_l, lam_w, lam_l, m_w, m_l, args.beta)
    dpo = dpo_loss(lp_w, lp_l, lp_w, lp_l, m_w, m_l, args.beta)
    print("## losses at the first step (policy = reference)")
    print(f"UE-DPO loss = {ue.loss.item():.6f}  (margin h = {ue.margin.item():+.6f}; "
          f"weighted rewards chosen {ue.rewards_chosen.item():+.6f}, rejected {ue.rewards_rejected.item():+.6f})")
    print(f"DPO loss    = {dpo.loss.item():.6f}  (log 2 = {math.log(2):.6f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
