"""Judge configuration, reply and error types (see ``evaluation.judge`` for the protocol)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
# RLHF-V/RLAIF-V `Chat.chat_completion(max_tokens=512)`; LLaVA-RLHF sends none.
DEFAULT_MAX_TOKENS = 512
# Set by the client itself (streaming replies are not supported); extra_params may not override them.
RESERVED_PARAMS = frozenset({"model", "messages", "stream"})
# Replies that cannot be rated: retried, and judge failures when they persist (never cached, never a 0).
EMPTY_REPLY = "empty reply"
LENGTH_CUT = "reply cut off at the length limit"  # finish_reason == "length"


class JudgeError(RuntimeError):
    """The judge could not give a reply; the message is one line naming the URL and the fix."""


class JudgeBudgetError(JudgeError):
    """More real judge calls were needed than ``max_calls`` allows."""


class JudgeModelError(JudgeError):
    """The endpoint answered with another model than the one requested (and not one of ``accept_models``)."""


@dataclass(frozen=True)
class JudgeConfig:
    """Where and how to ask the judge. Holds the NAME of the key's environment variable, never the key."""

    model: str
    base_url: str = DEFAULT_BASE_URL
    api_key_env: str | None = DEFAULT_API_KEY_ENV  # None: send no Authorization header (local servers)
    temperature: float = 0.0  # official MMHal judge setting
    max_tokens: int | None = DEFAULT_MAX_TOKENS
    extra_params: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"seed": 0}; part of the cache key
    timeout_s: float = 120.0  # per HTTP request
    max_retries: int = 5  # retries after the first attempt, per prompt
    backoff_base_s: float = 2.0  # delay before retry k is base * 2**k, with jitter
    backoff_max_s: float = 60.0
    max_concurrency: int = 4
    max_calls: int | None = None  # cap on real HTTP requests (retries included) per client
    cache_dir: str | os.PathLike | None = None
    # Served models accepted besides ``model`` itself (the API's ``model`` field must equal one of them);
    # not part of the cache key: a reply is the same whoever accepts it.
    accept_models: tuple[str, ...] = ()

    @property
    def endpoint(self) -> str:
        return f"{self.base_url.rstrip('/')}/chat/completions"

    def params(self) -> dict[str, Any]:
        """Sampling parameters sent with every request (and hashed into the cache key)."""
        params: dict[str, Any] = {"temperature": float(self.temperature)}
        if self.max_tokens is not None:
            params["max_tokens"] = int(self.max_tokens)
        return {**params, **dict(self.extra_params)}


@dataclass(frozen=True)
class JudgeReply:
    """One judge answer, fresh or from the cache."""

    text: str  # choices[0].message.content
    served_model: str | None  # the `model` field of the response: the snapshot that actually answered
    completion: dict[str, Any]  # the full completion JSON, as the official script saves it
    key: str  # cache key
    from_cache: bool
    # Why there is no usable reply (empty, or cut off at the length limit) after every retry; then ``text``
    # is whatever the last attempt held, ``completion`` that attempt's JSON, and nothing was cached.
    failure: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None
