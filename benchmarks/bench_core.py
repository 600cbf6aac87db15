"""Cost of the UE-DPO core against one log_softmax over the same logits.

Measures, on B=8 rows ([4 chosen; 4 rejected]), T=512, V=32000 float32 logits (clear and blurred):
  pipeline = token_signals (u, Δ) + exploration λ for both branches + per-token log-probs + ue_dpo_loss
  baseline = torch.log_softmax(clear_logits, -1)
and prints the time ratio (median of repeats) and the peak extra resident memory of each, measured in the
same process (Linux VmHWM, reset before each run). Targets: ratio ≤ 2, extra memory ≤ one (B, T, V) tensor.

    python benchmarks/bench_core.py [--b 8 --t 512 --v 32000 --repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from uedpo.exploration import exploration_strengths
from uedpo.loss import ue_dpo_loss
from uedpo.signals import selective_log_softmax, token_signals


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_extra_mib(fn) -> float:
    """Peak resident memory above the current level while ``fn`` runs (MiB)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    before = _rss_kib("VmRSS:")
    fn()
    return (_rss_kib("VmHWM:") - before) / 1024


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def make_inputs(b: int, t: int, v: int):
    g = torch.Generator().manual_seed(0)
    clear = torch.randn(b, t, v, generator=g)
    blurred = clear + 0.5 * torch.randn(b, t, v, generator=g)
    labels = torch.randint(0, v, (b, t), generator=g)
    mask = torch.ones(b, t, dtype=torch.bool)
    mask[:, : t // 4] = False  # the prompt part of each row
    ref_logps = torch.log(torch.rand(b, t, generator=g))
    return clear, blurred, labels, mask, ref_logps


def pipeline(clear, blurred, labels, mask, ref_logps, alpha=0.3, tau=0.4, beta=0.1):
    half = clear.shape[0] // 2
    sig = token_signals(clear, blurred, labels, mask)
    lam_w = exploration_strengths(sig.u[:half], sig.delta[:half], mask[:half], preferred=True, alpha=alpha, tau=tau)
    lam_l = exploration_strengths(sig.u[half:], sig.delta[half:], mask[half:], preferred=False, alpha=alpha, tau=tau)
    logps = selective_log_softmax(clear, labels.masked_fill(~mask, 0))
    out = ue_dpo_loss(
        logps[:half], logps[half:], ref_logps[:half], ref_logps[half:], lam_w, lam_l, mask[:half], mask[half:], beta
    )
    return out.loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--b", type=int, default=8)
    parser.add_argument("--t", type=int, default=512)
    parser.add_argument("--v", type=int, default=32000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    inputs = make_inputs(args.b, args.t, args.v)
    clear = inputs[0]
    tensor_mib = clear.numel() * clear.element_size() / 2**20

    mem_base = peak_extra_mib(lambda: torch.log_softmax(clear, -1))
    mem_pipe = peak_extra_mib(lambda: pipeline(*inputs))
    t_base = timed(lambda: torch.log_softmax(clear, -1), args.repeats)
    t_pipe = timed(lambda: pipeline(*inputs), args.repeats)

    print(f"logits (B, T, V) = ({args.b}, {args.t}, {args.v}) float32, one tensor = {tensor_mib:.0f} MiB; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| path | median time (s) | ratio | peak extra memory (MiB) | in (B,T,V) tensors |")
    print("|---|---|---|---|---|")
    print(f"| log_softmax (baseline) | {t_base:.3f} | 1.00 | {mem_base:.0f} | {mem_base / tensor_mib:.2f} |")
    print(f"| signals + λ + loss | {t_pipe:.3f} | {t_pipe / t_base:.2f} | {mem_pipe:.0f} | "
          f"{mem_pipe / tensor_mib:.2f} |")


if __name__ == "__main__":
    main()
