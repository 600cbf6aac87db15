"""A cached, bounded, retrying client for any OpenAI-compatible chat-completions endpoint (LLM judge).

``POST {base_url}/chat/completions`` with ``{"model", "messages": [one user message], "temperature", ...}``.
Works with OpenAI itself and with local servers (vLLM, SGLang, lmdeploy, llama.cpp) that speak the same API.
HTTP with the standard library only (``urllib`` + ``concurrent.futures``; ``tqdm`` for progress).

Protocol defaults follow the MMHal judge (``llava-rlhf/LLaVA-RLHF`` @ 830a083 ``Eval/eval_gpt_mmhal.py``):
the prompt is sent as ONE user message with ``temperature=0.0``. LLaVA-RLHF sends no ``max_tokens`` (server
default); the RLHF-V/RLAIF-V forks send ``max_tokens=512`` (and ``top_p=1``, the API default) through their
``Chat`` wrapper (``RLHF-V/RLAIF-V`` ``eval/gpt4_grpc.py``). The default here is 512, as in the forks: the
judge's answer is a short explanation plus a rating line, well under that. Set ``max_tokens=None`` to send
none, like LLaVA-RLHF.

Unlike the official loop (retry forever, ``sleep(10)``), retries here are bounded, with exponential backoff
and jitter, and happen on HTTP 408/429/5xx, timeouts, connection errors and malformed bodies (non-JSON, no
``choices[0].message.content``). Other HTTP errors (400, 401, 404, ...) fail at once: retrying cannot fix
them. Every real HTTP request counts against ``max_calls``; going over raises :class:`JudgeBudgetError`,
never a partial result.

A reply is usable only when its text is non-empty and complete (``finish_reason`` is not ``"length"``) and
the ``model`` the endpoint reports is the one requested (or one of ``accept_models``):

* an empty or cut-off reply is retried like a transient fault; if every attempt gives one, the prompt is a
  *judge failure*: ``complete_many`` raises (or, with ``allow_failures=True``, returns a reply with
  ``failure`` set) and the reply is never cached, so a rerun asks again;
* a reply from another model raises :class:`JudgeModelError` at once (not retried, not cached): scores from
  another judge are not the scores asked for. Aliases count as other models (``gpt-4`` served as
  ``gpt-4-0613``), since an alias is exactly how the judge behind a name changes between two runs.

A cache entry that fails these checks (written by an older version, or under another ``accept_models``) is
not used: the prompt is asked again and the entry replaced.

Cache (``cache.py``): one JSON file per request under ``cache_dir``, keyed by sha256 of (model, messages,
params), holding the full completion JSON, written atomically. A rerun reads the cache and makes no HTTP call
for a cached prompt; no API key is needed then.

The API key is read from the environment variable named by ``api_key_env`` (default ``OPENAI_API_KEY``) only
when a real call is needed. It is sent as ``Authorization: Bearer ...`` and never stored in the config, the
cache, the replies or any error message (server text quoted in errors is redacted).
"""

from evaluation.judge.cache import ResponseCache
from evaluation.judge.client import JudgeClient
from evaluation.judge.types import (
    DEFAULT_API_KEY_ENV,
    DEFAULT_BASE_URL,
    DEFAULT_MAX_TOKENS,
    JudgeBudgetError,
    JudgeConfig,
    JudgeError,
    JudgeModelError,
    JudgeReply,
)

__all__ = [
    "DEFAULT_API_KEY_ENV", "DEFAULT_BASE_URL", "DEFAULT_MAX_TOKENS", "JudgeBudgetError", "JudgeClient",
    "JudgeConfig", "JudgeError", "JudgeModelError", "JudgeReply", "ResponseCache",
]
