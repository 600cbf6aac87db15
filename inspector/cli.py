"""``uedpo-inspect``: serve the token inspector for a checkpoint on this machine (127.0.0.1 by default).

    uedpo-inspect --ckpt PATH [--adapter DIR] [--compare-ckpt PATH [--compare-adapter DIR]]
                  [--samples FILE] [--blindspots FILE] [--image-dir DIR] [--host 127.0.0.1] [--port N]
                  [--auth USER:PASSWORD | UEDPO_INSPECT_AUTH=USER:PASSWORD] [--allow-remote]
                  [--concurrency 4] [--max-queue 64]
                  [--alpha 0.3] [--tau 0.4] [--noise-step 500] [--noise-space normalized]
                  [--noise-kind vcd_sigmoid] [--seed 0] [--step N] [--no-eos]
                  [--dtype auto] [--attn-implementation eager|sdpa|flash_attention_2] [--device-map auto]
                  [--quantization none|4bit|8bit]

The loading options are uedpo-eval's and uedpo-train's (:class:`uedpo.models.load_options.LoadOptions`, for
both checkpoints); one that cannot load here (flash_attention_2 without flash_attn, 4/8-bit without bitsandbytes
or CUDA) exits 2 with one line before any model loads.

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
an unreadable checkpoint or samples file, a port in use: one line on stderr and exit code 2.

Serving other machines (``--host`` other than 127.0.0.1 / localhost / ::1) needs a login, ``--auth USER:PASSWORD``
or better the environment variable ``UEDPO_INSPECT_AUTH=USER:PASSWORD`` (a command line is visible to every
user of the machine in ``ps``), or an explicit ``--allow-remote`` to serve without one. The password is never
printed. Several users at once: ``--concurrency`` requests are handled at a time (the model's forwards still
take turns), at most ``--max-queue`` wait. Exports, previews and gradio's file cache live in one temporary
``uedpo-inspect-*`` folder, removed when the server stops (Ctrl-C, SIGTERM, SIGHUP).
"""

from __future__ import annotations

import argparse
import atexit
import errno
import functools
import ipaddress
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading

TELEMETRY_OFF = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1"}
AUTH_ENV = "UEDPO_INSPECT_AUTH"
EXPORT_PREFIX = "uedpo-inspect-"  # = inspector.session.EXPORT_PREFIX (not imported: it pulls in torch)


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
    p.add_argument(
        "--auth",
        metavar="USER:PASSWORD",
        help=f"require this login (better: set {AUTH_ENV}=USER:PASSWORD, which `ps` does not show)",
    )
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="serve a --host other than this machine without a login (anyone reaching the port can use it)",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="requests handled at once; the model's forwards take turns (default 4)",
    )
    p.add_argument("--max-queue", type=int, default=64, help="requests that may wait (default 64)")
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
    from uedpo.models.load_options import LoadOptions  # imports torch: here, not when the module is imported

    LoadOptions.add_arguments(p)  # --dtype --attn-implementation --device-map --quantization, as uedpo-eval
    return p


def build_session(args: argparse.Namespace, export_root: str | None = None):
    """The app's :class:`~inspector.session.InspectorSession` for ``args`` (no gradio import); exports and
    previews go to ``export_root`` (default: a temporary folder the session removes at exit)."""
    for key, value in TELEMETRY_OFF.items():
        os.environ[key] = value
    import torch

    from inspector.analysis import analyse_pair
    from inspector.samples import read_samples
    from inspector.session import InspectorSession, ModelInfo
    from uedpo.models.load_options import LoadOptions

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
    load = LoadOptions.from_args(args)  # uedpo.models.load_adapter with the options, for both models
    analyse_fn = functools.partial(analyse_pair, load.load(args.ckpt, adapter_dir=args.adapter), **bound)
    model_a = ModelInfo(str(args.ckpt), str(args.adapter or ""))
    compare_fn = model_b = None
    if args.compare_ckpt or args.compare_adapter:
        other = load.load(args.compare_ckpt or args.ckpt, adapter_dir=args.compare_adapter)
        compare_fn = functools.partial(analyse_pair, other, **bound)
        model_b = ModelInfo(str(args.compare_ckpt or args.ckpt), str(args.compare_adapter or ""))
    return InspectorSession(
        analyse_fn,
        compare_fn=compare_fn,
        samples=samples,
        model_a=model_a,
        model_b=model_b,
        export_root=export_root,
    )


def build(args: argparse.Namespace, export_root: str | None = None):
    """(the Gradio app, its launch keyword arguments) for ``args``; raises on a bad checkpoint or samples."""
    session = build_session(args, export_root)  # sets TELEMETRY_OFF before gradio is imported
    from inspector.app import build_app, launch_kwargs

    demo = build_app(
        session,
        alpha=args.alpha,
        tau=args.tau,
        noise_step=args.noise_step,
        concurrency=args.concurrency,
        max_queue=args.max_queue,
    )
    return demo, launch_kwargs(session, host=args.host, port=args.port, auth=resolve_auth(args))


class UsageError(Exception):
    """A bad argument: one line on stderr, exit code 2."""


def parse_auth(value: str, source: str) -> tuple[str, str]:
    """``USER:PASSWORD`` as (user, password); the message of a bad value never contains the value."""
    user, sep, password = value.partition(":")
    if not sep or not user.strip() or not password:
        raise UsageError(f"{source}: expected USER:PASSWORD with a non-empty user and password")
    return user.strip(), password


def resolve_auth(args: argparse.Namespace) -> tuple[str, str] | None:
    """The login of ``--auth``, else of the environment variable ``UEDPO_INSPECT_AUTH``; ``None`` for none."""
    if args.auth is not None:
        return parse_auth(args.auth, "--auth")
    value = os.environ.get(AUTH_ENV, "")
    return parse_auth(value, AUTH_ENV) if value else None


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def check_bind(host: str, port: int | None) -> None:
    """Fail early, before the model loads, when ``host:port`` cannot be served (a port in use, say)."""
    if port is not None and not 0 < port < 65536:
        raise UsageError(f"--port {port}: not a TCP port; pass --port N with 1 <= N <= 65535")
    bare = host.strip("[]")
    try:
        infos = socket.getaddrinfo(bare, port or 0, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UsageError(f"--host {host}: not an address or name this machine can bind") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            s.bind(address)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise UsageError(
                    f"port {port} on {host} is already in use (another uedpo-inspect?); "
                    f"pass --port N for a free port, or stop the server on {port}"
                ) from None
            if err.errno == errno.EACCES:
                raise UsageError(
                    f"port {port}: not allowed for this user; pass --port 1024 or above"
                ) from None
            raise UsageError(
                f"--host {host}: cannot bind ({err.strerror}); pass an address of this machine"
            ) from None


def check_args(args: argparse.Namespace) -> tuple[str, str] | None:
    """Every argument check that needs no model; returns the login. Raises :class:`UsageError`."""
    if not 0.0 < args.tau < 1.0 or args.alpha < 0.0 or not 0 <= args.noise_step < 1000:
        raise UsageError("need 0 < --tau < 1, --alpha >= 0 and 0 <= --noise-step < 1000")
    if args.step is not None and args.step < 0:
        raise UsageError("--step is a training step (trainer.state.global_step), >= 0")
    if args.concurrency < 1 or args.max_queue < 1:
        raise UsageError("need --concurrency >= 1 and --max-queue >= 1")
    from uedpo.models import ModelLoadError
    from uedpo.models.load_options import LoadOptions

    try:  # flash_attention_2 / 4-bit / 8-bit that cannot load here: refused before any model loads
        LoadOptions.from_args(args).check()
    except ModelLoadError as err:
        raise UsageError(str(err)) from None
    auth = resolve_auth(args)
    if not is_loopback(args.host) and auth is None and not args.allow_remote:
        raise UsageError(
            f"--host {args.host} serves other machines: set {AUTH_ENV}=USER:PASSWORD (or --auth) for a login, "
            "or pass --allow-remote to serve without one"
        )
    check_bind(args.host, args.port)
    return auth


def _raise_interrupt(signum, frame):  # SIGTERM / SIGHUP stop the server like Ctrl-C: cleanly
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        auth = check_args(args)
    except UsageError as err:
        print(f"uedpo-inspect: {err}", file=sys.stderr)
        return 2
    # One temporary folder for the exports, the previews and gradio's file cache, removed however the server
    # stops: Ctrl-C, SIGTERM, SIGHUP (handled like Ctrl-C), an error, or a plain interpreter exit (atexit).
    root = tempfile.mkdtemp(prefix=EXPORT_PREFIX)
    remove = functools.partial(shutil.rmtree, root, ignore_errors=True)
    atexit.register(remove)
    own_cache = "GRADIO_TEMP_DIR" not in os.environ
    if own_cache:  # read when gradio's blocks are made, i.e. after this
        os.environ["GRADIO_TEMP_DIR"] = os.path.join(root, "gradio")
    handlers = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            handlers[sig] = signal.signal(sig, _raise_interrupt)
    try:
        return _serve(args, auth, root)
    except KeyboardInterrupt:  # before the server runs (gradio handles it afterwards)
        print("uedpo-inspect: interrupted", file=sys.stderr)
        return 130
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        remove()
        atexit.unregister(remove)
        if own_cache:
            os.environ.pop("GRADIO_TEMP_DIR", None)


def _serve(args: argparse.Namespace, auth: tuple[str, str] | None, root: str) -> int:
    from uedpo.errors import InputError  # the inspector's own, ModelLoadError and the loaders' errors

    try:
        demo, kwargs = build(args, export_root=root)
    except InputError as err:
        print(f"uedpo-inspect: {err}", file=sys.stderr)
        return 2
    if not is_loopback(args.host):
        who = f"behind a login for user {auth[0]!r}" if auth else "without a login (--allow-remote)"
        print(
            f"uedpo-inspect: serving on {args.host} {who}: anyone who can reach this port"
            + (" and log in" if auth else "")
            + " can use the model",
            file=sys.stderr,
        )
    try:
        demo.launch(**kwargs)  # blocks; Ctrl-C (and SIGTERM / SIGHUP) stop the server and return
    except OSError as err:  # the port was taken after check_bind, or no free port from 7860
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        where = f"port {args.port}" if args.port else "no free port from 7860"
        print(
            f"uedpo-inspect: cannot serve on {args.host}, {where} ({message}); pass --port N", file=sys.stderr
        )
        return 2
    finally:
        demo.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
