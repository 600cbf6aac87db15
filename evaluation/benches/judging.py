"""Judge options shared by the benchmarks that use an LLM (MMHal-Bench, Object HalBench extraction)."""

from __future__ import annotations

import argparse
from pathlib import Path

from evaluation.judge import JudgeClient, JudgeConfig


def add_judge_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("LLM judge (any OpenAI-compatible chat-completions endpoint)")
    g.add_argument("--judge-model", help="judge model name, e.g. gpt-4-0314 (the official MMHal judge)")
    g.add_argument("--judge-base-url", default="https://api.openai.com/v1", help="endpoint base URL")
    g.add_argument("--judge-api-key-env", default="OPENAI_API_KEY",
                   help="NAME of the environment variable that holds the API key ('' for none)")
    g.add_argument("--judge-concurrency", type=int, default=4)
    g.add_argument("--judge-max-calls", type=int, default=None, help="cap on real HTTP calls (retries count)")
    g.add_argument("--judge-timeout", type=float, default=120.0, help="seconds per request")
    g.add_argument("--judge-max-retries", type=int, default=5,
                   help="retries per prompt on 429/5xx, timeouts, connection errors, malformed, empty or cut-off "
                        "replies (exponential backoff); a reply still empty or cut off is a judge failure")
    g.add_argument("--judge-cache", type=Path, default=None,
                   help="cache directory for judge replies (default: <output dir>/judge-cache)")
    g.add_argument("--judge-accept-model", action="append", default=[], metavar="NAME",
                   help="also accept replies the endpoint says NAME served (repeatable); by default a reply "
                        "from any model but --judge-model is refused (exit 2), aliases included")


def judge_client(opts: argparse.Namespace, default_cache: Path | None) -> JudgeClient | None:
    """A client when ``--judge-model`` is given, else None."""
    if not opts.judge_model:
        return None
    config = JudgeConfig(
        model=opts.judge_model, base_url=opts.judge_base_url, api_key_env=opts.judge_api_key_env or None,
        max_concurrency=opts.judge_concurrency, max_calls=opts.judge_max_calls, timeout_s=opts.judge_timeout,
        max_retries=opts.judge_max_retries,
        cache_dir=opts.judge_cache or default_cache,
        accept_models=tuple(getattr(opts, "judge_accept_model", None) or ()),
    )
    return JudgeClient(config, progress=not opts.quiet)


def judge_config_record(client: JudgeClient) -> dict:
    """What the results file records about the judge (never the key)."""
    c = client.config
    return {"model": c.model, "base_url": c.base_url, "params": c.params(), "served_models": list(client.served_models),
            "accept_models": list(c.accept_models), "calls_made": client.calls_made, "retried": dict(client.retried)}
