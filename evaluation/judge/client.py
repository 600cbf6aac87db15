"""The judge client: bounded concurrency, bounded retries, call budget, cache, key handling.

See ``evaluation.judge`` for the protocol and the official settings it follows.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from tqdm.auto import tqdm

from evaluation.judge.cache import ResponseCache
from evaluation.judge.types import (
    EMPTY_REPLY,
    LENGTH_CUT,
    RESERVED_PARAMS,
    JudgeBudgetError,
    JudgeConfig,
    JudgeError,
    JudgeModelError,
    JudgeReply,
)
from uedpo.errors import InputError

RETRYABLE_STATUS = frozenset({408, 429})  # plus every 5xx
_ERROR_SNIPPET_CHARS = 200


class _Retryable(Exception):
    """A failure worth retrying; ``retry_after`` is the server's hint in seconds, if any; ``kind`` names it in
    :attr:`JudgeClient.retried` (``http_429``, ``http_5xx``, ``timeout``, ``connection``, ``malformed``, ...)."""

    def __init__(self, message: str, retry_after: float | None = None, unreachable: bool = False,
                 kind: str = "connection"):
        super().__init__(message)
        self.retry_after = retry_after
        self.unreachable = unreachable
        self.kind = kind


class _NoUsableReply(_Retryable):
    """The judge answered, but the reply cannot be scored: empty, or cut off at the length limit. Retried;
    when it persists the prompt is a judge failure (never cached)."""

    def __init__(self, message: str, kind: str, completion: dict[str, Any], text: str):
        super().__init__(message, kind=kind)
        self.completion, self.text = completion, text


def _one_line(text: str) -> str:
    return " ".join(text.split())[:_ERROR_SNIPPET_CHARS]


def _reply_text(completion: Any) -> str:
    """``choices[0].message.content``; ``_Retryable`` for a malformed body, ``_NoUsableReply`` for an empty or
    truncated one (both are retried)."""
    try:
        choice = completion["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise _Retryable("malformed reply: no choices[0].message.content", kind="malformed") from None
    if content is None:
        content = ""  # OpenAI sends null content for a reply with no text
    if not isinstance(content, str):
        raise _Retryable("malformed reply: choices[0].message.content is not text", kind="malformed")
    if not content.strip():
        raise _NoUsableReply(EMPTY_REPLY, "empty", completion, content)
    if isinstance(choice, dict) and choice.get("finish_reason") == "length":
        raise _NoUsableReply(LENGTH_CUT, "length", completion, content)
    return content


class JudgeClient:
    """Sends prompts to the judge; ``evaluation.judge``'s docstring covers retries, cache, budget and the key.

    ``sleep`` and ``rng`` are injectable so tests can make backoff instant and deterministic.
    """

    def __init__(self, config: JudgeConfig, *, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None, progress: bool = True):
        if config.max_concurrency < 1 or config.max_retries < 0:
            raise InputError("JudgeConfig: max_concurrency must be >= 1 and max_retries >= 0")
        reserved = RESERVED_PARAMS.intersection(config.extra_params)
        if reserved:
            raise InputError(f"JudgeConfig: extra_params may not set {sorted(reserved)}; the client sets them")
        if isinstance(config.accept_models, str) or not all(isinstance(m, str) for m in config.accept_models):
            raise InputError("JudgeConfig: accept_models must be a tuple of model names")
        self.config = config
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._progress = progress
        self._lock = threading.Lock()
        self._opener = urllib.request.build_opener()
        self._cache = ResponseCache(config.cache_dir) if config.cache_dir is not None else None
        self._api_key: str | None = None
        self._served: set[str] = set()
        self.calls_made = 0  # real HTTP requests sent by this client
        self.retried: Counter[str] = Counter()  # retries by fault kind (http_429, empty, timeout, ...)

    # ----- public API ---------------------------------------------------------------------------------

    @property
    def served_models(self) -> tuple[str, ...]:
        """Every model name the endpoint reported in the replies returned so far (cached ones included)."""
        with self._lock:
            return tuple(sorted(self._served))

    def cache_key(self, prompt: str) -> str:
        """sha256 of the canonical request body: (model, messages, sampling parameters)."""
        canonical = json.dumps(self._request(prompt), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def accepts(self, served: str | None) -> bool:
        """Whether a reply served by ``served`` may be used: the requested model, or one of ``accept_models``
        (a reply that names no model cannot be checked and is taken as the requested one's)."""
        return served is None or served == self.config.model or served in self.config.accept_models

    def complete(self, prompt: str) -> JudgeReply:
        return self.complete_many([prompt], desc=None)[0]

    def complete_many(self, prompts: Sequence[str], desc: str | None = "judge", *,
                      allow_failures: bool = False) -> list[JudgeReply]:
        """One reply per prompt, in order. Identical prompts share one call. All or nothing: raises on failure
        (replies obtained before the failure are cached, so a rerun resumes).

        A prompt whose every attempt gave an empty or cut-off reply is a judge failure: it raises
        :class:`JudgeError` after the whole batch was tried, or, with ``allow_failures``, comes back as a reply
        with ``failure`` set for the caller to count. Failures are never cached."""
        keys = [self.cache_key(p) for p in prompts]
        unique = dict(zip(keys, prompts, strict=True))
        replies = {k: r for k in unique if (r := self._from_cache(k)) is not None}
        todo = [(k, p) for k, p in unique.items() if k not in replies]
        cap = self.config.max_calls
        if cap is not None and self.calls_made + len(todo) > cap:
            raise JudgeBudgetError(
                f"judge at {self.config.endpoint}: {len(todo)} uncached prompts need at least {len(todo)} calls "
                f"but max_calls={cap} ({self.calls_made} already made); raise max_calls or reuse a cache"
            )
        if todo:
            self._load_api_key()
            replies.update(self._fetch_all(todo, desc))
        for reply in replies.values():
            if reply.served_model and reply.ok:
                with self._lock:
                    self._served.add(reply.served_model)
        failed = [r for r in replies.values() if not r.ok]
        if failed and not allow_failures:
            kinds = ", ".join(f"{why}: {n}" for why, n in Counter(r.failure for r in failed).most_common())
            raise JudgeError(
                f"judge at {self.config.endpoint}: no usable reply for {len(failed)} of {len(unique)} prompts "
                f"after {self.config.max_retries + 1} attempts each ({kinds}); the other replies are cached, so "
                "a rerun asks only for these (check the server's output limit and health)")
        return [replies[k] for k in keys]

    # ----- network -----------------------------------------------------------------------------------

    def _fetch_all(self, todo: list[tuple[str, str]], desc: str | None) -> dict[str, JudgeReply]:
        out: dict[str, JudgeReply] = {}
        workers = min(self.config.max_concurrency, len(todo))
        bar = tqdm(total=len(todo), desc=desc, unit="call", disable=not self._progress or desc is None)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="judge")
        try:
            futures = {pool.submit(self._fetch, k, p): k for k, p in todo}
            for fut in as_completed(futures):
                out[futures[fut]] = fut.result()
                bar.update()
        finally:
            # On failure, drop queued prompts; running ones finish (and are cached) before we re-raise.
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
        return out

    def _fetch(self, key: str, prompt: str) -> JudgeReply:
        cfg = self.config
        body = json.dumps(self._request(prompt)).encode()
        problem: _Retryable | None = None
        for attempt in range(cfg.max_retries + 1):
            if problem is not None:
                self._sleep(self._backoff(attempt - 1, problem.retry_after))
            self._count_call()
            try:
                completion = self._post(body)
                text = _reply_text(completion)
            except _Retryable as e:
                problem = e
                if attempt < cfg.max_retries:
                    with self._lock:
                        self.retried[e.kind] += 1
                continue
            reply = _reply(completion, text, key, from_cache=False)
            if not self.accepts(reply.served_model):
                raise self._model_error(reply.served_model)
            if self._cache is not None:
                self._cache.put(key, self._request(prompt), completion)
            return reply
        assert problem is not None
        attempts = cfg.max_retries + 1
        if isinstance(problem, _NoUsableReply):  # a judge failure for this prompt: reported, never cached
            failed = _reply(problem.completion, problem.text, key, from_cache=False)
            if not self.accepts(failed.served_model):
                raise self._model_error(failed.served_model)
            return JudgeReply(text=failed.text, served_model=failed.served_model, completion=failed.completion,
                              key=key, from_cache=False, failure=str(problem))
        if problem.unreachable:
            raise JudgeError(self._redact(
                f"cannot reach the judge at {cfg.endpoint} after {attempts} attempts ({problem}); "
                "start the server or fix the judge base URL"))
        raise JudgeError(self._redact(
            f"judge at {cfg.endpoint} failed {attempts} times for one prompt (last: {problem}); "
            "check the server's health or retry later (or raise max_retries)"))

    def _post(self, body: bytes) -> Any:
        cfg = self.config
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(cfg.endpoint, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=cfg.timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raise self._status_error(e) from None
        except (TimeoutError, ConnectionError, http.client.HTTPException) as e:
            raise _Retryable(f"{type(e).__name__}: {e}", unreachable=isinstance(e, ConnectionRefusedError),
                             kind="timeout" if isinstance(e, TimeoutError) else "connection") from None
        except urllib.error.URLError as e:
            reason = e.reason
            if isinstance(reason, TimeoutError):
                raise _Retryable(f"timed out after {cfg.timeout_s}s", kind="timeout") from None
            raise _Retryable(f"{type(reason).__name__}: {reason}", unreachable=True) from None
        except OSError as e:
            raise _Retryable(f"{type(e).__name__}: {e}") from None
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            snippet = _one_line(raw[:80].decode(errors="replace"))
            raise _Retryable(f"malformed reply: body is not JSON ({snippet!r})", kind="malformed") from None

    def _status_error(self, e: urllib.error.HTTPError) -> Exception:
        """``_Retryable`` for 408/429/5xx; a ``JudgeError`` with a fix for the rest (retrying cannot help)."""
        try:
            detail = _one_line(e.read().decode(errors="replace"))
        except OSError:
            detail = ""
        finally:
            e.close()
        if e.code in RETRYABLE_STATUS or e.code >= 500:
            kind = f"http_{e.code}" if e.code in RETRYABLE_STATUS else "http_5xx"
            return _Retryable(f"HTTP {e.code}", retry_after=_retry_after(e.headers), kind=kind)
        if e.code in (401, 403):
            fix = f"check the API key in ${self.config.api_key_env}" if self.config.api_key_env else \
                "the server wants an API key: set api_key_env to the variable that holds it"
        elif e.code == 404:
            fix = "check the base URL (it must end before /chat/completions, e.g. http://host:8000/v1) and the model"
        else:
            fix = "check the model name and request parameters"
        return JudgeError(self._redact(f"judge at {self.config.endpoint} answered HTTP {e.code} ({detail}); {fix}"))

    # ----- helpers ------------------------------------------------------------------------------------

    def _request(self, prompt: str) -> dict[str, Any]:
        """The request body. Official: ONE user message, no system prompt."""
        messages = [{"role": "user", "content": prompt}]
        return {"model": self.config.model, "messages": messages, **self.config.params()}

    def _from_cache(self, key: str) -> JudgeReply | None:
        """The cached reply, or None: no entry, or one that is not a usable reply from an accepted model
        (an empty or cut-off reply, or another judge's, cached by an older version): asked again."""
        completion = self._cache.get(key) if self._cache is not None else None
        if completion is None:
            return None
        try:
            reply = _reply(completion, _reply_text(completion), key, from_cache=True)
        except _NoUsableReply:
            return None
        except _Retryable as e:
            raise self._cache.corrupt(key, str(e)) from None
        return reply if self.accepts(reply.served_model) else None

    def _model_error(self, served: str | None) -> JudgeModelError:
        cfg = self.config
        return JudgeModelError(
            f"judge at {cfg.endpoint}: asked for model {cfg.model!r} but {served!r} answered; its replies are "
            f"refused and not cached (another judge gives other scores): request {served!r} as the judge model, "
            f"or accept it (uedpo-eval --judge-accept-model {served})")

    def _backoff(self, retry_index: int, retry_after: float | None) -> float:
        cfg = self.config
        delay = min(cfg.backoff_max_s, cfg.backoff_base_s * 2 ** retry_index)
        delay *= 0.5 + 0.5 * self._rng.random()  # jitter: concurrent workers do not retry in lockstep
        if retry_after is not None:
            delay = max(delay, min(retry_after, cfg.backoff_max_s))
        return delay

    def _count_call(self) -> None:
        with self._lock:
            cap = self.config.max_calls
            if cap is not None and self.calls_made >= cap:
                raise JudgeBudgetError(
                    f"judge at {self.config.endpoint}: max_calls={cap} reached (retries count too); replies so "
                    "far are cached, so rerun with a higher max_calls to resume"
                )
            self.calls_made += 1

    def _load_api_key(self) -> None:
        name = self.config.api_key_env
        if name is None or self._api_key:
            return
        key = os.environ.get(name, "")
        if not key:
            raise JudgeError(
                f"judge at {self.config.endpoint}: environment variable {name} is not set; export the API key "
                "there (or use api_key_env=None for a server that needs no key)"
            )
        self._api_key = key

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text


def _retry_after(headers: Any) -> float | None:
    """Seconds from a numeric ``Retry-After`` header (the HTTP-date form is ignored)."""
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _reply(completion: dict[str, Any], text: str, key: str, from_cache: bool) -> JudgeReply:
    model = completion.get("model")
    return JudgeReply(text=text, served_model=model if isinstance(model, str) else None,
                      completion=completion, key=key, from_cache=from_cache)
