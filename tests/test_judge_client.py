"""The OpenAI-compatible judge client against a REAL HTTP server on 127.0.0.1 (stdlib http.server stub).

The stub serves ``POST /v1/chat/completions``. Its reply to a prompt is derived from the prompt
(``"echo:" + prompt``, or an MMHal rating chosen from the prompt's text), so every test can check that each
item got exactly its own reply. A per-prompt plan injects failures on successive attempts: HTTP 429/500/503,
a sleep longer than the client timeout, a non-JSON body, a body without ``choices``, a 401 that echoes the
Authorization header back, an empty reply, a reply cut off at the length limit, a reply served by another
model. Like vLLM, the stub names the requested model as the served one unless told otherwise
(``stub.served``). Backoff sleeps are injected (recorded, not slept) to keep the tests fast; every fault test
also checks what the cache holds afterwards (only complete replies from the requested model).
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import need_data

from evaluation.judge import JudgeBudgetError, JudgeClient, JudgeConfig, JudgeError, JudgeModelError

KEY_ENV = "UEDPO_TEST_JUDGE_KEY"
SECRET = "sk-test-DO-NOT-LEAK-4f1c9a"
SERVED_MODEL = "stub-judge-2024-06-01"  # a dated snapshot: differs from the requested alias, as OpenAI's do
TIMEOUT_S = 0.5
STALL_S = 1.5  # "timeout" action: the server stalls longer than the client waits


class Stub:
    """State shared with the handler threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests: list[dict] = []  # {"path", "headers", "body"}
        self.attempts: Counter[str] = Counter()
        self.plan: dict[str, list[str]] = {}
        self.plan_for = lambda prompt: []  # a plan computed from the prompt, for prompts not in `plan`
        self.delay: dict[str, float] = {}
        self.finished: list[str] = []  # prompts in the order their OK replies were sent
        self.in_flight = 0
        self.max_in_flight = 0
        self.reply = lambda prompt: "echo:" + prompt
        self.served: str | None = None  # the `model` of the replies; None: the requested one (as vLLM does)

    def n_requests(self) -> int:
        with self.lock:
            return len(self.requests)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def do_POST(self):
        stub: Stub = self.server.stub  # type: ignore[attr-defined]
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][0]["content"]
        with stub.lock:
            stub.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            attempt = stub.attempts[prompt]
            stub.attempts[prompt] += 1
            plan = stub.plan.get(prompt) or stub.plan_for(prompt)
            action = plan[attempt] if attempt < len(plan) else "ok"
            stub.in_flight += 1
            stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
        try:
            self._act(stub, action, body, prompt)
        finally:
            with stub.lock:
                stub.in_flight -= 1

    def _act(self, stub: Stub, action: str, body: dict, prompt: str) -> None:
        if self.path != "/v1/chat/completions":
            return self._send(404, b'{"error": "not found"}')
        if action == "429":
            return self._send(429, b'{"error": "rate limited"}', {"Retry-After": "0.25"})
        if action in ("500", "503"):
            return self._send(int(action), b"internal error")
        if action == "nonjson":
            return self._send(200, b"<html>gateway hiccup</html>")
        if action == "nochoices":
            return self._send(200, json.dumps({"model": body["model"], "object": "chat.completion"}).encode())
        if action == "401echo":  # a careless server that echoes the credentials back
            return self._send(401, json.dumps({"error": f"bad key {self.headers['Authorization']}"}).encode())
        if action == "timeout":
            time.sleep(STALL_S)
        time.sleep(stub.delay.get(prompt, 0.0))
        content, finish = stub.reply(prompt), "stop"
        if action == "empty":
            content = ""
        elif action == "null":  # OpenAI's shape for a reply without text
            content = None
        elif action == "length":  # the output limit hit mid-explanation, before the rating line
            content, finish = content[: max(1, len(content) // 2)], "length"
        served = "other-judge-9000" if action == "wrongmodel" else stub.served or body["model"]
        completion = {
            "id": f"chatcmpl-{len(prompt)}", "object": "chat.completion", "created": 0, "model": served,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": finish}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        if action == "ok":
            with stub.lock:
                stub.finished.append(prompt)
        self._send(200, json.dumps(completion).encode())


@pytest.fixture
def stub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.stub = Stub()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    server.stub.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"  # type: ignore[attr-defined]
    yield server.stub  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


class SleepRecorder:
    def __init__(self):
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_client(stub: Stub, tmp_path: Path | None = None, sleep=None, **overrides) -> JudgeClient:
    cfg = dict(model="stub-judge", base_url=stub.base_url, api_key_env=KEY_ENV, timeout_s=TIMEOUT_S,
               max_retries=3, backoff_base_s=0.01, backoff_max_s=1.0, max_concurrency=4,
               cache_dir=tmp_path / "cache" if tmp_path else None)
    return JudgeClient(JudgeConfig(**{**cfg, **overrides}), sleep=sleep or SleepRecorder(), rng=random.Random(0),
                       progress=False)


def test_each_prompt_gets_its_own_reply_with_concurrency(stub, tmp_path):
    """12 prompts, 4 workers; earlier prompts are answered more slowly, so replies arrive out of order."""
    prompts = [f"item-{i}" for i in range(12)]
    stub.delay = {p: 0.03 * (12 - i) for i, p in enumerate(prompts)}
    client = make_client(stub, tmp_path)
    replies = client.complete_many(prompts)

    assert [r.text for r in replies] == [f"echo:item-{i}" for i in range(12)]
    assert stub.n_requests() == 12 and set(stub.attempts.values()) == {1}
    assert stub.finished != sorted(stub.finished, key=prompts.index)  # really out of order
    assert 2 <= stub.max_in_flight <= 4  # concurrent, and bounded by max_concurrency
    assert client.calls_made == 12 and not any(r.from_cache for r in replies)


def test_request_shape_and_bearer_key(stub):
    """One user message, temperature 0.0 (official), max_tokens 512 (forks' default), Bearer auth."""
    make_client(stub).complete("hello")
    (req,) = stub.requests
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert req["body"] == {"model": "stub-judge", "messages": [{"role": "user", "content": "hello"}],
                           "temperature": 0.0, "max_tokens": 512}


def test_no_key_env_sends_no_authorization(stub):
    make_client(stub, api_key_env=None, max_tokens=None).complete("hello")
    (req,) = stub.requests
    assert "Authorization" not in req["headers"] and "max_tokens" not in req["body"]


def test_served_model_is_recorded(stub):
    stub.served = SERVED_MODEL
    client = make_client(stub, accept_models=(SERVED_MODEL,))
    reply = client.complete("x")
    assert reply.served_model == SERVED_MODEL and reply.completion["model"] == SERVED_MODEL
    assert client.served_models == (SERVED_MODEL,)


def test_identical_prompts_share_one_call(stub):
    replies = make_client(stub).complete_many(["same", "other", "same"])
    assert [r.text for r in replies] == ["echo:same", "echo:other", "echo:same"]
    assert stub.attempts == Counter({"same": 1, "other": 1})


def test_transient_failures_are_retried_with_backoff(stub):
    """429 (Retry-After 0.25 s), 500, a non-JSON body and a body without choices, then success: 5 attempts,
    4 backoff sleeps. Sleep k is base * 2**k with jitter in [0.5, 1), except the first, which obeys
    Retry-After (0.25 s > 0.01 s)."""
    stub.plan = {"p": ["429", "500", "nonjson", "nochoices"]}
    sleep = SleepRecorder()
    reply = make_client(stub, sleep=sleep, max_retries=4).complete("p")
    assert reply.text == "echo:p" and stub.attempts["p"] == 5
    assert sleep.delays[0] == 0.25
    for k, delay in enumerate(sleep.delays[1:], start=1):
        assert 0.5 * 0.01 * 2 ** k <= delay < 0.01 * 2 ** k


def test_client_timeout_is_retried(stub):
    stub.plan = {"slow": ["timeout"]}
    reply = make_client(stub).complete("slow")
    assert reply.text == "echo:slow" and stub.attempts["slow"] == 2


def test_retries_are_bounded(stub):
    stub.plan = {"bad": ["500"] * 10}
    sleep = SleepRecorder()
    with pytest.raises(JudgeError, match=r"failed 3 times for one prompt \(last: HTTP 500\)") as e:
        make_client(stub, sleep=sleep, max_retries=2).complete("bad")
    assert stub.attempts["bad"] == 3 and len(sleep.delays) == 2
    assert stub.base_url in str(e.value) and "\n" not in str(e.value)


def test_malformed_bodies_exhaust_retries(stub):
    stub.plan = {"m": ["nochoices"] * 10}
    with pytest.raises(JudgeError, match="malformed reply: no choices"):
        make_client(stub, max_retries=1).complete("m")
    assert stub.attempts["m"] == 2


def test_unreachable_judge(tmp_path):
    """Connection refused: a port that was just free. Retried, then one clear line with the URL and fix."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    sleep = SleepRecorder()
    client = JudgeClient(JudgeConfig(model="m", base_url=url, api_key_env=KEY_ENV, max_retries=2,
                                     backoff_base_s=0.01), sleep=sleep, progress=False)
    with pytest.raises(JudgeError) as e:
        client.complete("x")
    msg = str(e.value)
    assert msg.startswith(f"cannot reach the judge at {url}/chat/completions after 3 attempts")
    assert "start the server or fix the judge base URL" in msg and "\n" not in msg
    assert len(sleep.delays) == 2


def test_http_404_fails_fast_with_a_fix(stub):
    client = make_client(stub, base_url=stub.base_url.removesuffix("/v1"))
    with pytest.raises(JudgeError, match=r"answered HTTP 404 .*check the base URL"):
        client.complete("x")
    assert stub.attempts["x"] == 1


def test_cache_makes_a_rerun_do_zero_http_calls(stub, tmp_path, monkeypatch):
    prompts = [f"q{i}" for i in range(6)]
    first = make_client(stub, tmp_path).complete_many(prompts)
    assert stub.n_requests() == 6

    monkeypatch.delenv(KEY_ENV)  # replay needs no key
    again = make_client(stub, tmp_path)
    second = again.complete_many(prompts)
    assert stub.n_requests() == 6 and again.calls_made == 0
    assert [r.text for r in second] == [r.text for r in first]
    assert [r.completion for r in second] == [r.completion for r in first]
    assert all(r.from_cache for r in second) and again.served_models == ("stub-judge",)
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 6


def test_cache_key_covers_model_prompt_and_params(stub):
    base = make_client(stub)
    assert base.cache_key("a") == make_client(stub, timeout_s=9).cache_key("a")  # transport is not part of it
    assert base.cache_key("a") != base.cache_key("b")
    assert base.cache_key("a") != make_client(stub, model="other").cache_key("a")
    assert base.cache_key("a") != make_client(stub, temperature=0.7).cache_key("a")
    assert base.cache_key("a") != make_client(stub, extra_params={"seed": 1}).cache_key("a")


def test_failed_batch_keeps_finished_replies_and_resumes(stub, tmp_path):
    """One prompt keeps failing: the batch raises (no partial result), the others are cached; after the
    server recovers, a rerun asks only for the failed prompt. Nothing is lost or written twice."""
    prompts = [f"r{i}" for i in range(5)]
    stub.plan = {"r2": ["500"] * 3}
    with pytest.raises(JudgeError):
        make_client(stub, tmp_path, max_retries=2, max_concurrency=1).complete_many(prompts)
    done_before = set(stub.finished)
    assert "r2" not in done_before

    replies = make_client(stub, tmp_path).complete_many(prompts)
    assert [r.text for r in replies] == [f"echo:{p}" for p in prompts]
    asked_again = [req["body"]["messages"][0]["content"] for req in stub.requests[-(5 - len(done_before)):]]
    assert set(asked_again) == set(prompts) - done_before
    assert stub.attempts["r2"] == 4 and all(stub.attempts[p] == 1 for p in done_before)
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 5


def test_stray_temp_files_and_corrupt_entries(stub, tmp_path):
    client = make_client(stub, tmp_path)
    key = client.cache_key("c")
    entry = tmp_path / "cache" / key[:2] / f"{key}.json"
    entry.parent.mkdir(parents=True)
    (entry.parent / f".{entry.name}.abc.tmp").write_text("{half")  # left over by a crash mid-write
    assert client.complete("c").text == "echo:c" and entry.exists()

    entry.write_text("{half")
    with pytest.raises(JudgeError, match=rf"{key}\.json: unreadable judge cache entry .*delete the file"):
        make_client(stub, tmp_path).complete("c")


def test_max_calls_checked_before_any_call(stub):
    with pytest.raises(JudgeBudgetError, match=r"5 uncached prompts .* max_calls=3"):
        make_client(stub, max_calls=3).complete_many([f"b{i}" for i in range(5)])
    assert stub.n_requests() == 0


def test_max_calls_counts_retries(stub):
    """Two prompts need 2 calls, but b0 fails twice first: the 4th call would exceed max_calls=3."""
    stub.plan = {"b0": ["500", "500"]}
    client = make_client(stub, max_calls=3, max_concurrency=1)
    with pytest.raises(JudgeBudgetError, match="max_calls=3 reached"):
        client.complete_many(["b0", "b1"])
    assert stub.n_requests() <= 3 and client.calls_made == 3


def test_cached_prompts_do_not_count_against_max_calls(stub, tmp_path):
    make_client(stub, tmp_path).complete_many(["a", "b"])
    client = make_client(stub, tmp_path, max_calls=1)
    assert [r.text for r in client.complete_many(["a", "b", "c"])] == ["echo:a", "echo:b", "echo:c"]
    assert client.calls_made == 1


def test_missing_key_is_a_clear_error(stub, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(JudgeError, match=rf"environment variable {KEY_ENV} is not set"):
        make_client(stub).complete("x")
    assert stub.n_requests() == 0


def test_api_key_never_leaks(stub, tmp_path):
    """The key travels only in the Authorization header: not in errors (even when the server echoes it),
    the config repr, the cache files or the replies."""
    client = make_client(stub, tmp_path)
    replies = client.complete_many(["k1", "k2"])
    stub.plan = {"k3": ["401echo"]}
    with pytest.raises(JudgeError) as e:
        client.complete("k3")
    msg = str(e.value)
    assert "HTTP 401" in msg and f"${KEY_ENV}" in msg and "***" in msg
    assert SECRET not in msg and SECRET not in repr(e.value) and SECRET not in repr(client.config)
    for path in (tmp_path / "cache").rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text()
    assert all(SECRET not in json.dumps(r.completion) for r in replies)
    assert all(req["headers"]["Authorization"] == f"Bearer {SECRET}" for req in stub.requests)


def test_mmhal_end_to_end_through_the_stub(stub, tmp_path):
    """Template records with answer "good" at even positions and "bad" at odd ones; the stub rates a prompt
    whose LMM response is "good" 4, else 1. By hand: score = (48*4 + 48*1)/96 = 2.5, hallucination rate =
    48/96 = 0.5; even positions are attribute, comparison, relation, holistic (i % 8 in 0,2,4,6) -> 4.0,
    the others -> 1.0. Re-scoring the saved dump offline gives the same result."""
    from dataclasses import replace

    from benchmarks_data.mmhal import load_template
    from evaluation.benches.mmhal_judge import judge_and_score, official_review_dump
    from evaluation.benches.mmhal_reviews import reviews_from_objects
    from evaluation.mmhal.score import score_mmhal

    root = need_data("mmhal/mmhal-bench_answer_template.json")
    records = [replace(r, model_answer="good" if r.index % 2 == 0 else "bad")
               for r in load_template(root / "mmhal/mmhal-bench_answer_template.json")]
    stub.reply = lambda p: ("Fine.\n- Rating: 4, somewhat informative, no hallucination"
                            if p.endswith("### LMM Response to Evaluate\ngood\n") else "- Rating: 1, ...")
    client = make_client(stub, tmp_path, max_concurrency=8)
    result, replies = judge_and_score(records, client)

    assert result.score == 2.5 and result.hallucination_rate == 0.5 and result.n_unparseable == 0
    assert result.by_type == {"attribute": 4.0, "adversarial": 1.0, "comparison": 4.0, "counting": 1.0,
                              "relation": 4.0, "environment": 1.0, "holistic": 4.0, "other": 1.0}
    assert client.served_models == ("stub-judge",) and stub.n_requests() == 96

    dump = json.loads(json.dumps(official_review_dump(replies)))
    offline = score_mmhal(records, [r.text for r in reviews_from_objects(dump)])
    assert offline.metrics() == result.metrics()
    assert SECRET not in json.dumps(result.to_bench_result(config={"judge": client.served_models}).to_dict())


def test_crash_while_writing_the_cache_leaves_no_entry(stub, tmp_path, monkeypatch):
    """The process "dies" in the middle of the atomic write (os.replace fails): no entry and no temp file is
    left behind; the next run fetches the reply again and writes exactly one entry."""
    import uedpo.io as results

    def crash(*args):
        raise OSError("simulated crash during write")

    with monkeypatch.context() as patch, pytest.raises(OSError, match="simulated crash"):
        patch.setattr(results.os, "replace", crash)
        make_client(stub, tmp_path).complete("w")
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []

    assert make_client(stub, tmp_path).complete("w").text == "echo:w"
    assert stub.attempts["w"] == 2
    assert len([p for p in (tmp_path / "cache").rglob("*") if p.is_file()]) == 1


def test_extra_params_cannot_override_the_request(stub):
    with pytest.raises(ValueError, match=r"extra_params may not set \['model'\]"):
        make_client(stub, extra_params={"model": "other"})


# ----- judge faults: empty, cut off, another model, bursts, timeouts, malformed; the cache after each -------

def cached(tmp_path: Path) -> dict[str, tuple[str, str, str]]:
    """prompt -> (content, finish_reason, served model) of every cache entry."""
    out = {}
    for path in (tmp_path / "cache").rglob("*.json"):
        entry = json.loads(path.read_text())
        choice = entry["completion"]["choices"][0]
        out[entry["request"]["messages"][0]["content"]] = (
            choice["message"]["content"], choice["finish_reason"], entry["completion"]["model"])
    return out


@pytest.mark.parametrize("fault", ["empty", "null", "length"])
def test_empty_or_cut_off_reply_is_retried_like_a_transient_fault(stub, tmp_path, fault):
    stub.plan = {"e": [fault, fault]}
    client = make_client(stub, tmp_path)
    reply = client.complete("e")
    assert reply.ok and reply.text == "echo:e" and stub.attempts["e"] == 3
    assert client.retried == Counter({"length" if fault == "length" else "empty": 2})
    assert cached(tmp_path) == {"e": ("echo:e", "stop", "stub-judge")}  # only the complete reply


@pytest.mark.parametrize("fault, why", [("empty", "empty reply"), ("length", "reply cut off at the length limit")])
def test_a_persistent_empty_or_cut_off_reply_is_a_judge_failure_never_cached(stub, tmp_path, fault, why):
    """Every attempt of f1 gives an unusable reply: the batch still judges the others, then raises one line
    (default) or returns f1 as a failure (allow_failures). Nothing of f1 is cached; once the judge is healthy a
    rerun asks for f1 alone and caches its reply."""
    prompts = ["f0", "f1", "f2"]
    stub.plan = {"f1": [fault] * 3}
    with pytest.raises(JudgeError) as e:
        make_client(stub, tmp_path, max_retries=2).complete_many(prompts)
    msg = str(e.value)
    assert f"no usable reply for 1 of 3 prompts after 3 attempts each ({why}: 1)" in msg and "\n" not in msg
    assert stub.attempts == Counter({"f0": 1, "f1": 3, "f2": 1})
    assert set(cached(tmp_path)) == {"f0", "f2"}

    stub.plan = {"f1": [fault] * 3}
    stub.attempts.clear()
    replies = make_client(stub, tmp_path, max_retries=2).complete_many(prompts, allow_failures=True)
    assert [r.ok for r in replies] == [True, False, True] and replies[1].failure == why
    assert replies[1].completion["choices"][0]["finish_reason"] == ("length" if fault == "length" else "stop")
    assert stub.attempts == Counter({"f1": 3}) and set(cached(tmp_path)) == {"f0", "f2"}

    healthy = make_client(stub, tmp_path)
    assert [r.text for r in healthy.complete_many(prompts)] == ["echo:f0", "echo:f1", "echo:f2"]
    assert healthy.calls_made == 1 and cached(tmp_path)["f1"] == ("echo:f1", "stop", "stub-judge")


def test_a_reply_from_another_model_is_refused_unless_accepted(stub, tmp_path):
    """Not retried, not cached, one line naming both models and the flag; with accept_models it is used."""
    stub.served = SERVED_MODEL
    with pytest.raises(JudgeModelError) as e:
        make_client(stub, tmp_path).complete("m")
    msg = str(e.value)
    assert f"asked for model 'stub-judge' but '{SERVED_MODEL}' answered" in msg and "\n" not in msg
    assert f"--judge-accept-model {SERVED_MODEL}" in msg
    assert stub.attempts["m"] == 1 and cached(tmp_path) == {}

    accepting = make_client(stub, tmp_path, accept_models=(SERVED_MODEL,))
    assert accepting.complete("m").served_model == SERVED_MODEL
    assert cached(tmp_path) == {"m": ("echo:m", "stop", SERVED_MODEL)}
    # The accepted entry is not used by a client that does not accept that model: asked again, and refused.
    with pytest.raises(JudgeModelError):
        make_client(stub, tmp_path).complete("m")
    assert stub.attempts["m"] == 3


def test_one_foreign_reply_in_a_batch_stops_the_batch(stub, tmp_path):
    stub.plan = {"w3": ["wrongmodel"]}
    prompts = [f"w{i}" for i in range(8)]
    with pytest.raises(JudgeModelError, match="'other-judge-9000' answered"):
        make_client(stub, tmp_path, max_concurrency=1).complete_many(prompts)
    kept = set(cached(tmp_path))  # nothing foreign kept; queued prompts dropped (the one running may finish)
    assert {"w0", "w1", "w2"} <= kept and "w3" not in kept and len(kept) <= 4


def test_unusable_entries_of_an_older_cache_are_asked_again(stub, tmp_path):
    """A cache written before these checks may hold empty, cut-off or foreign replies: none is used as final;
    each prompt is asked again and its entry replaced by the healthy reply."""
    from evaluation.judge import ResponseCache

    client = make_client(stub, tmp_path, accept_models=())
    store = ResponseCache(tmp_path / "cache")
    bad = {"o0": ("", "stop", "stub-judge"), "o1": ("Rating", "length", "stub-judge"),
           "o2": ("echo:o2", "stop", "other-judge-9000"), "o3": ("echo:o3", "stop", "stub-judge")}
    for prompt, (content, finish, model) in bad.items():
        store.put(client.cache_key(prompt), client._request(prompt), {
            "model": model, "choices": [{"message": {"content": content}, "finish_reason": finish}]})
    replies = client.complete_many(list(bad))
    assert [r.text for r in replies] == ["echo:o0", "echo:o1", "echo:o2", "echo:o3"]
    assert [r.from_cache for r in replies] == [False, False, False, True] and client.calls_made == 3
    assert cached(tmp_path) == {p: (f"echo:{p}", "stop", "stub-judge") for p in bad}


def test_bursts_of_429_and_5xx_are_absorbed(stub, tmp_path):
    """12 prompts, each first meets 429, 500 and 503 (36 faults, 48 requests): every reply arrives and is
    cached once; the retries are counted by kind."""
    prompts = [f"b{i}" for i in range(12)]
    stub.plan = {p: ["429", "500", "503"] for p in prompts}
    client = make_client(stub, tmp_path, max_retries=3)
    assert [r.text for r in client.complete_many(prompts)] == [f"echo:{p}" for p in prompts]
    assert stub.n_requests() == 48 and client.calls_made == 48
    assert client.retried == Counter({"http_429": 12, "http_5xx": 24})
    assert cached(tmp_path) == {p: (f"echo:{p}", "stop", "stub-judge") for p in prompts}


def test_timeouts_and_malformed_bodies_leave_only_good_entries(stub, tmp_path):
    stub.plan = {"t": ["timeout"], "j": ["nonjson", "nochoices"], "dead": ["nonjson"] * 5}
    client = make_client(stub, tmp_path, max_retries=2)
    assert [r.text for r in client.complete_many(["t", "j"])] == ["echo:t", "echo:j"]
    assert client.retried == Counter({"timeout": 1, "malformed": 2})
    with pytest.raises(JudgeError, match="failed 3 times for one prompt .*body is not JSON"):
        client.complete("dead")
    assert cached(tmp_path) == {"t": ("echo:t", "stop", "stub-judge"), "j": ("echo:j", "stop", "stub-judge")}


# ----- MMHal through uedpo-eval: issue #13's figure (96 items, 11 empty replies) --------------------------------

EMPTY_ITEMS = (5, 13, 21, 30, 38, 47, 55, 63, 72, 80, 89)  # 11 items whose judge reply is empty
RATED_2 = (13, 30, 55, 90)  # every other item is rated 3


def _item(prompt: str) -> int:
    import re

    return int(re.search(r"### LMM Response to Evaluate\nanswer (\d+)\n", prompt)[1])


def _mmhal_cli(stub, tmp_path, monkeypatch, capsys, *extra, model="gpt-4-0314"):
    """``uedpo-eval --bench mmhal`` on 96 responses "answer i", judged by the stub; (exit, stderr, results)."""
    import functools

    import evaluation.benches.judging as judging
    from evaluation.cli import main

    need_data("mmhal/mmhal-bench_answer_template.json")
    monkeypatch.setattr(judging, "JudgeConfig", functools.partial(JudgeConfig, backoff_base_s=0.001,
                                                                  backoff_max_s=0.002))
    responses = tmp_path / "responses.jsonl"
    responses.write_text("".join(json.dumps({"id": i, "response": f"answer {i}"}) + "\n" for i in range(96)))
    code = main(["--bench", "mmhal", "--responses", str(responses), "--judge-model", model, "--judge-base-url",
                 stub.base_url, "--judge-api-key-env", "", "--judge-max-retries", "2", "--out",
                 str(tmp_path / "out"), "--quiet", *extra])
    captured = capsys.readouterr()
    path = tmp_path / "out" / "mmhal" / "results.json"
    result = json.loads(path.read_text()) if path.exists() else None
    if result is not None:
        path.unlink()
    return code, captured.err, captured.out, result


def _mmhal_cache(tmp_path) -> list[str]:
    return [json.loads(p.read_text())["completion"]["choices"][0]["message"]["content"]
            for p in (tmp_path / "out" / "mmhal" / "judge-cache").rglob("*.json")]


@pytest.fixture
def mmhal_stub(stub):
    stub.reply = lambda p: f"Fine.\n- Rating: {2 if _item(p) in RATED_2 else 3}, not informative, no hallucination"
    return stub


HEALTHY = (96 * 3 - 4) / 96  # 2.9583 -> "2.96"
ZEROED = (96 * 3 - 4 - (11 * 3 - 3)) / 96  # 2.6458 -> "2.65": the 11 empty replies scored 0 (before the fix)


def test_mmhal_persistent_empty_replies_fail_the_run_and_a_healthy_rerun_scores_right(
        mmhal_stub, tmp_path, monkeypatch, capsys):
    """The issue's case. Before: exit 0, score 2.65 labelled official, the 11 empty replies cached, and a rerun
    against a healthy judge kept 2.65. Now: each empty reply is retried (3 attempts), then the run stops with
    one line naming the items; only the 85 good replies are cached; the healthy rerun asks for the 11 alone
    and gives 2.96, official."""
    mmhal_stub.plan_for = lambda p: ["empty"] * 3 if _item(p) in EMPTY_ITEMS else []
    code, err, _, result = _mmhal_cli(mmhal_stub, tmp_path, monkeypatch, capsys)
    assert code == 2 and result is None and err.count("\n") == 1
    assert "11 of 96 replies cannot be rated after 3 attempts each (empty reply: 11; items 5, 13, 21," in err
    assert "not scored as 0, nor cached" in err and "--allow-partial" in err
    assert mmhal_stub.n_requests() == 85 + 11 * 3
    cache = _mmhal_cache(tmp_path)
    assert len(cache) == 85 and all(cache)

    mmhal_stub.plan_for = lambda p: []
    before = mmhal_stub.n_requests()
    code, err, out, result = _mmhal_cli(mmhal_stub, tmp_path, monkeypatch, capsys)
    assert code == 0 and mmhal_stub.n_requests() - before == 11
    assert result["metrics"]["mmhal"]["score"] == pytest.approx(HEALTHY) != pytest.approx(ZEROED)
    assert result["variant"] == "official" and "Average score: 2.96" in out
    assert result["metrics"]["mmhal_judge"] == {"judge_failures": 0, "unparseable": 0, "other_model": 0}
    assert len(_mmhal_cache(tmp_path)) == 96 and all(_mmhal_cache(tmp_path))


def test_mmhal_transient_empty_replies_are_retried_to_the_healthy_score(mmhal_stub, tmp_path, monkeypatch,
                                                                         capsys):
    mmhal_stub.plan_for = lambda p: ["empty", "length"] if _item(p) in EMPTY_ITEMS else []
    code, _, _, result = _mmhal_cli(mmhal_stub, tmp_path, monkeypatch, capsys)
    assert code == 0 and mmhal_stub.n_requests() == 96 + 22
    assert result["metrics"]["mmhal"]["score"] == pytest.approx(HEALTHY) and result["variant"] == "official"
    assert result["config"]["judge"]["retried"] == {"empty": 11, "length": 11}


def test_mmhal_allow_partial_scores_the_judged_items_labelled_partial(mmhal_stub, tmp_path, monkeypatch, capsys):
    """--allow-partial: the 85 judged items are scored (254/85), never the failed ones as 0, and the result
    says partial:85/96 with the failed items listed and counted in the mmhal_judge table."""
    mmhal_stub.plan_for = lambda p: ["length"] * 3 if _item(p) in EMPTY_ITEMS else []
    code, _, out, result = _mmhal_cli(mmhal_stub, tmp_path, monkeypatch, capsys, "--allow-partial")
    assert code == 0 and result["n_items"] == 85
    assert result["metrics"]["mmhal"]["score"] == pytest.approx((85 * 3 - 1) / 85)
    assert result["variant"] == "official+partial:85/96" and "PARTIAL: 85 of 96" in out
    assert result["config"]["judge_failures"] == {"items": list(EMPTY_ITEMS),
                                                  "why": {"reply cut off at the length limit": 11}}
    assert result["metrics"]["mmhal_judge"] == {"judge_failures": 11, "unparseable": 0, "other_model": 0}
    assert "| mmhal_judge |" in out and "judge: 11 failures (not scored, excluded: partial)" in out
    assert len(_mmhal_cache(tmp_path)) == 85

    # The saved dump stays aligned (96 entries); re-scored offline, the cut-off replies are failures again.
    dump = tmp_path / "out" / "mmhal" / "mmhal_reviews.json"
    assert len(json.loads(dump.read_text())) == 96
    code, err, _, _ = _mmhal_cli(mmhal_stub, tmp_path, monkeypatch, capsys, "--reviews", str(dump))
    assert code == 2 and "11 of 96 saved judge replies cannot be rated (reply cut off at the length limit: 11" in err


def test_mmhal_reply_from_another_model_is_refused_unless_accepted(mmhal_stub, tmp_path, monkeypatch, capsys):
    mmhal_stub.served = "gpt-4-1106-preview"
    code, err, _, result = _mmhal_cli(mmhal_stub, tmp_path, monkeypatch, capsys)
    assert code == 2 and result is None and err.count("\n") == 1
    assert "asked for model 'gpt-4-0314' but 'gpt-4-1106-preview' answered" in err
    assert "--judge-accept-model gpt-4-1106-preview" in err and _mmhal_cache(tmp_path) == []

    code, _, out, result = _mmhal_cli(mmhal_stub, tmp_path, monkeypatch, capsys,
                                      "--judge-accept-model", "gpt-4-1106-preview")
    assert code == 0 and result["variant"] == "judge:gpt-4-1106-preview"  # never "official"
    assert result["metrics"]["mmhal_judge"] == {"judge_failures": 0, "unparseable": 0, "other_model": 96}
    assert result["config"]["judge"]["accept_models"] == ["gpt-4-1106-preview"]
    assert result["config"]["n_other_model"] == 96
    assert "96 replies from another model than requested (accepted: --judge-accept-model gpt-4-1106-preview)" in out


def test_mmhal_unparseable_complete_replies_score_0_and_are_counted(mmhal_stub, tmp_path, monkeypatch, capsys):
    """A complete reply without a rating is scored as the official script does (0) and counted."""
    rate = mmhal_stub.reply
    mmhal_stub.reply = lambda p: "I cannot tell." if _item(p) in (0, 1, 2) else rate(p)
    code, _, out, result = _mmhal_cli(mmhal_stub, tmp_path, monkeypatch, capsys)
    assert code == 0 and result["variant"] == "official"
    assert result["metrics"]["mmhal"]["score"] == pytest.approx((96 * 3 - 4 - 9) / 96)
    assert result["metrics"]["mmhal_judge"] == {"judge_failures": 0, "unparseable": 3, "other_model": 0}
    assert result["config"]["n_unparseable"] == 3
    assert "3 unparseable replies (scored 0, as the official script does)" in out
