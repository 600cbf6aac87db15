"""``uedpo-inspect``: serve the token inspector for a checkpoint on this machine (127.0.0.1 by default).

    uedpo-inspect --ckpt PATH [--adapter DIR] [--compare-ckpt PATH [--compare-adapter DIR]]
                  [--samples FILE] [--blindspots FILE] [--image-dir DIR] [--host 127.0.0.1] [--port N]
                  [--alpha 0.3] [--tau 0.4] [--noise-step 500] [--noise-space normalized]
                  [--noise-kind vcd_sigmoid] [--seed 0] [--step N] [--no-eos]

The image noise is the trainer's (``uedpo.views``): each pair's ε is seeded by (seed, sample id, step). To see
exactly the u and Δ a run computed, pass its ``seed`` and noise settings (``config.yaml``), the adapter of
``checkpoint-N`` and ``--step N``: the step that started from checkpoint N (``trainer.state.global_step`` = N,
logged as ``metrics.csv`` step N + 1). Without ``--step`` the noise is the fixed per-sample ε of
``noise_mode: fixed_per_sample`` (for a ``per_step`` run it matches no step). The sample id is the picked
samples row's ``id`` (the trainer's row id when the row has one) and empty for an uploaded image.

No share link, no analytics (``GRADIO_ANALYTICS_ENABLED=False`` is set before gradio is imported), no CDN:
it works offline. ``--samples`` opens preference pairs, ``uedpo-eval`` per-item responses or a blind-spot file
(``uedpo-eval --blindspots`` writes ``OUT/<bench>/blindspots.jsonl``); ``--blindspots`` joins a blind-spot file
to the per-item file of ``--samples`` by id (or opens it alone). The first item is loaded and analysed when the
page opens. Bad arguments,
an unreadable checkpoint or samples file: one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys

TELEMETRY_OFF = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1"}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="uedpo-inspect", description=__doc__.splitlines()[0])
    p.add_argument(
        "--ckpt", required=True, help="checkpoint directory (LLaVA-1.5 or Qwen2.5-VL, safetensors)"
    )
    p.add_argument("--adapter", help="LoRA adapter directory trained on --ckpt")
    p.add_argument("--compare-ckpt", help="second checkpoint to compare against (e.g. after training)")
    p.add_argument(
        "--compare-adapter", help="LoRA adapter for the comparison (on --compare-ckpt, else --ckpt)"
    )
    p.add_argument(
        "--samples", help="JSONL of preference pairs, uedpo-eval per-item responses or blind-spot rows"
    )
    p.add_argument(
        "--blindspots",
        help="blind-spot JSONL of uedpo-eval --blindspots (OUT/<bench>/blindspots.jsonl), joined to --samples by id",
    )
    p.add_argument("--image-dir", help="directory the samples' image paths are relative to")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: this machine only)")
    p.add_argument("--port", type=int, default=None, help="port (default: the first free one from 7860)")
    p.add_argument("--alpha", type=float, default=0.3, help="exploration strength α (default 0.3)")
    p.add_argument("--tau", type=float, default=0.4, help="gate quantile τ (default 0.4)")
    p.add_argument("--noise-step", type=int, default=500, help="diffusion noise step k (default 500)")
    p.add_argument(
        "--seed", type=int, default=0, help="the training run's seed, which seeds the noise (default 0)"
    )
    p.add_argument(
        "--step",
        type=int,
        default=None,
        help="training step whose noise to rebuild: N for the step after checkpoint-N (metrics.csv step N+1); "
        "default: the fixed per-sample noise (noise_mode: fixed_per_sample)",
    )
    p.add_argument("--noise-space", default="normalized", choices=["normalized", "pixel01"])
    p.add_argument("--noise-kind", default="vcd_sigmoid", choices=["vcd_sigmoid", "ddpm_linear"])
    p.add_argument(
        "--no-eos", action="store_true", help="do not append EOS to the responses (the trainer appends it)"
    )
    return p


def build_session(args: argparse.Namespace):
    """The app's :class:`~inspector.session.InspectorSession` for ``args`` (no gradio import)."""
    for key, value in TELEMETRY_OFF.items():
        os.environ[key] = value
    import torch

    from inspector.analysis import analyse_pair
    from inspector.samples import read_samples
    from inspector.session import InspectorSession, ModelInfo
    from uedpo.models import load_adapter

    torch.set_flush_denormal(True)  # denormals slow CPU forwards up to 10x
    samples = None
    if args.samples or args.blindspots:
        samples = read_samples(
            args.samples or args.blindspots,
            image_dir=args.image_dir,
            blindspots=args.blindspots if args.samples else None,
        )
    bound = dict(
        seed=args.seed,
        step=args.step,
        noise_space=args.noise_space,
        noise_kind=args.noise_kind,
        add_eos=not args.no_eos,
    )
    analyse_fn = functools.partial(analyse_pair, load_adapter(args.ckpt, adapter_dir=args.adapter), **bound)
    model_a = ModelInfo(str(args.ckpt), str(args.adapter or ""))
    compare_fn = model_b = None
    if args.compare_ckpt or args.compare_adapter:
        other = load_adapter(args.compare_ckpt or args.ckpt, adapter_dir=args.compare_adapter)
        compare_fn = functools.partial(analyse_pair, other, **bound)
        model_b = ModelInfo(str(args.compare_ckpt or args.ckpt), str(args.compare_adapter or ""))
    return InspectorSession(
        analyse_fn, compare_fn=compare_fn, samples=samples, model_a=model_a, model_b=model_b
    )


def build(args: argparse.Namespace):
    """(the Gradio app, its launch keyword arguments) for ``args``; raises on a bad checkpoint or samples."""
    session = build_session(args)  # sets TELEMETRY_OFF before gradio is imported
    from inspector.app import build_app, launch_kwargs

    demo = build_app(session, alpha=args.alpha, tau=args.tau, noise_step=args.noise_step)
    return demo, launch_kwargs(session, host=args.host, port=args.port)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not 0.0 < args.tau < 1.0 or args.alpha < 0.0 or not 0 <= args.noise_step < 1000:
        print("uedpo-inspect: need 0 < --tau < 1, --alpha >= 0 and 0 <= --noise-step < 1000", file=sys.stderr)
        return 2
    if args.step is not None and args.step < 0:
        print("uedpo-inspect: --step is a training step (trainer.state.global_step), >= 0", file=sys.stderr)
        return 2
    from inspector.errors import InputError
    from uedpo.models import ModelLoadError

    try:
        demo, kwargs = build(args)
    except (InputError, ModelLoadError) as err:
        print(f"uedpo-inspect: {err}", file=sys.stderr)
        return 2
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"uedpo-inspect: serving on {args.host}: anyone who can reach this port can use the model",
            file=sys.stderr,
        )
    demo.launch(**kwargs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
