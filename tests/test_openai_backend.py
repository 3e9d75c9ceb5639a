"""The OpenAI-compatible backend, driven through the real ``openai`` client against the loopback server."""

from __future__ import annotations

import time
from typing import Any

import pytest

from r1lib.core.errors import UserError
from r1lib.generation.backends import make_backend
from r1lib.generation.backends.concurrency import AdaptiveLimit
from r1lib.generation.backends.openai_replies import retry_after
from r1lib.generation.runner import Request, run_requests
from r1lib.testing import (
    BEHAVIOURS,
    FAULTS,
    LoopbackServer,
    free_port,
    loopback_model,
    scripted_answer,
    scripted_thinking,
)


def prompts(n: int, text: str = "prompt") -> list[Request]:
    """``n`` single-turn requests with distinct prompts."""
    return [Request(f"p{i}", [{"role": "user", "content": f"{text} {i}"}]) for i in range(n)]


# What the runner must store for each behaviour: trace state, thinking?, answer?, finish reason.
EXPECTED = {
    "deepseek": ("api_field", True, True, "stop"),
    "vllm": ("api_field", True, True, "stop"),
    "reasoning_details": ("api_field", True, True, "stop"),
    "tags": ("closed", True, True, "stop"),
    "bare_close": ("bare_close", True, True, "stop"),
    "truncated": ("unterminated", True, False, "length"),
    "empty_think": ("empty_think", False, True, "stop"),
    "hidden": ("no_think", False, True, "stop"),
    "content_filter": ("no_think", False, False, "content_filter"),
    "prompt_filter": ("no_think", False, False, "content_filter"),
    "invalid_prompt": ("no_think", False, False, "content_filter"),
    "plain": ("no_think", False, True, "stop"),
}


def test_every_behaviour_is_split_and_stored(loopback, store) -> None:
    assert set(EXPECTED) == set(BEHAVIOURS)
    server = loopback()
    requests = [Request(name, [{"role": "user", "content": f"question [[behaviour:{name}]]"}])
                for name in BEHAVIOURS]
    records, summary = run_requests(loopback_model(server.base_url), "shapes", requests, store, progress=False)

    assert (summary.new, summary.failed) == (len(BEHAVIOURS), 0)
    for record in records:
        state, has_thinking, has_answer, finish = EXPECTED[record.prompt_id]
        prompt = record.prompt
        assert record.ok and record.attempts == 1, record.prompt_id
        assert (record.trace_state, record.finish_reason) == (state, finish), record.prompt_id
        assert record.thinking == (scripted_thinking(prompt) if has_thinking else
                                   ("" if state == "empty_think" else None)), record.prompt_id
        assert record.answer == (scripted_answer(prompt) if has_answer else ""), record.prompt_id
        assert record.latency_s is not None and record.latency_s > 0
        assert record.prompt_tokens == (None if record.prompt_id in ("prompt_filter", "invalid_prompt") else 2)
    by_id = {r.prompt_id: r for r in records}
    thinking_words = len(scripted_thinking("x").split())
    assert by_id["hidden"].reasoning_tokens == thinking_words  # o3-mini: only the count
    assert by_id["hidden"].answer_tokens == len(scripted_answer("x").split())
    assert by_id["deepseek"].reasoning_field == scripted_thinking(by_id["deepseek"].prompt)
    assert server.counts["ok"] == len(BEHAVIOURS)


def test_reasoning_parser_deepseek_r1_reads_an_output_without_close_tag_as_thinking(loopback, store) -> None:
    """An R1 server that did not split the thinking off (no --reasoning-parser) sends it in the content,
    after a <think> its chat template opened. Cut by the token limit, the content has no tag at all:
    it is thinking, not an answer, as vLLM's deepseek_r1 parser would have said."""
    cut = "Let me think about this request step by step and"
    server = loopback(responder=lambda request: {"content": cut, "finish_reason": "length"})
    plain, parsed = loopback_model(server.base_url), loopback_model(server.base_url, reasoning_parser="deepseek_r1")
    guessed = run_requests(plain, "shapes", prompts(1), store, progress=False)[0][0]
    read = run_requests(parsed, "shapes", prompts(1), store, progress=False)[0][0]
    assert (guessed.trace_state, guessed.thinking, guessed.answer) == ("no_think", None, cut)
    assert (read.trace_state, read.thinking, read.answer) == ("unterminated", cut, "")
    assert read.key != guessed.key  # the parser enters the key: the two readings are two records
    # When the server did split it (a reasoning field), the parser changes nothing.
    split = loopback(behaviour="vllm")
    record = run_requests(loopback_model(split.base_url, reasoning_parser="deepseek_r1"), "shapes", prompts(1), store,
                          progress=False)[0][0]
    assert (record.trace_state, record.thinking) == ("api_field", scripted_thinking(record.prompt))


def test_behaviour_chosen_by_model_name(loopback, store) -> None:
    server = loopback(behaviour="plain")
    config = loopback_model(server.base_url, name="vllm-style", model="vllm")
    records, _ = run_requests(config, "shapes", prompts(2), store, progress=False)
    assert [r.trace_state for r in records] == ["api_field", "api_field"]
    assert server.counts["behaviour:vllm"] == 2


def test_twenty_percent_faults_every_prompt_stored_once(loopback, store) -> None:
    # timeouts above a full garbage collection of the test session's heap (~0.3 s on a busy machine)
    server = loopback(fault_rate=0.2, seed=7, slow_s=2.0, retry_after=0.05)
    config = loopback_model(server.base_url, max_concurrency=16, options={"timeout": 1.0})
    requests = prompts(100)
    records, summary = run_requests(config, "faults", requests, store, progress=False)

    counts = server.counts
    assert sum(counts[f"fault:{kind}"] for kind in FAULTS) > 10  # the faults really happened
    assert (summary.new, summary.failed) == (100, 0)
    assert store.count() == 100 and len({r.prompt_id for r in records}) == 100
    for record in records:
        assert record.answer == scripted_answer(record.prompt)
        assert record.thinking == scripted_thinking(record.prompt)
    assert sum(r.attempts for r in records) == counts["requests"]
    assert counts["ok"] == 100 and set(server.answered.values()) == {1}


def test_hard_failures_are_errors_and_rerun_retries_only_them(loopback, store) -> None:
    server = loopback()
    config = loopback_model(server.base_url, options={"max_attempts": 2})
    requests = prompts(6) + [Request(f"bad{i}", [{"role": "user", "content": f"q{i} [[fault:500]]"}])
                             for i in range(3)]
    records, summary = run_requests(config, "hard", requests, store, progress=False)

    assert (summary.new, summary.failed) == (6, 3)
    failed = [r for r in records if not r.ok]
    assert sorted(r.prompt_id for r in failed) == ["bad0", "bad1", "bad2"]
    for record in failed:
        assert record.answer is None and record.thinking is None and record.attempts == 2
        assert "failed after 2 attempts" in record.error and "HTTP 500" in record.error
    answered_at = {r.key: r.created_at for r in records if r.ok}

    records, summary = run_requests(config, "hard", requests, store, progress=False)
    assert (summary.reused, summary.new, summary.failed) == (6, 0, 3)
    assert server.counts["requests"] == 6 + 3 * 2 * 2  # only the errors were sent again
    assert {r.key: r.created_at for r in records if r.ok} == answered_at
    assert store.count() == 9


def test_stored_error_is_replaced_when_the_server_recovers(loopback, store) -> None:
    server = loopback(fault_rate=1.0, faults=("500",))
    config = loopback_model(server.base_url, options={"max_attempts": 1})
    _, summary = run_requests(config, "recover", prompts(5), store, progress=False)
    assert summary.failed == 5

    server.fault_rate = 0.0
    records, summary = run_requests(config, "recover", prompts(5), store, progress=False)
    assert (summary.new, summary.failed) == (5, 0)
    assert store.count() == 5 and all(r.ok and r.answer == scripted_answer(r.prompt) for r in records)


@pytest.mark.parametrize("fault, message", [
    ("slow", "timed out after 0.3 s"),
    ("drop", "cannot connect to"),
    ("malformed", "malformed response body"),
    ("429", "rate limited (429)"),
])
def test_each_fault_kind_is_reported(loopback, store, fault: str, message: str) -> None:
    server = loopback(slow_s=1.0, retry_after=0.1)
    config = loopback_model(server.base_url, options={"max_attempts": 2, "timeout": 0.3})
    started = time.perf_counter()
    request = Request("x", [{"role": "user", "content": f"[[fault:{fault}]]"}])
    records, summary = run_requests(config, "fault", [request], store, progress=False)
    assert summary.failed == 1 and message in records[0].error
    assert server.counts[f"fault:{fault}"] == 2
    if fault == "429":  # the client waited for Retry-After between the two attempts
        assert time.perf_counter() - started >= 0.1


def test_unreachable_server_gives_clear_error_records(store) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    config = loopback_model(url, options={"max_attempts": 2})
    records, summary = run_requests(config, "down", prompts(3), store, progress=False)
    assert summary.failed == 3 and summary.new == 0
    for record in records:
        assert not record.ok and record.answer is None
        assert f"cannot connect to {url}" in record.error and "check base_url" in record.error


def test_client_errors_are_not_retried(loopback, store) -> None:
    server = loopback()
    config = loopback_model(server.base_url.replace("/v1", "/nowhere"))
    records, summary = run_requests(config, "404", prompts(1), store, progress=False)
    assert summary.failed == 1 and records[0].attempts == 1
    assert "HTTP 404" in records[0].error and "check the model name" in records[0].error


def test_missing_api_key_fails_before_any_request(loopback, store, monkeypatch) -> None:
    monkeypatch.delenv("R1LIB_TEST_NO_SUCH_KEY", raising=False)
    server = loopback()
    config = loopback_model(server.base_url, api_key_env="R1LIB_TEST_NO_SUCH_KEY")
    with pytest.raises(UserError, match="R1LIB_TEST_NO_SUCH_KEY"):
        make_backend(config)
    with pytest.raises(UserError, match="export R1LIB_TEST_NO_SUCH_KEY"):
        run_requests(config, "nokey", prompts(2), store, progress=False)
    assert server.counts["requests"] == 0 and store.count("leases") == 0


def test_params_and_extra_body_are_sent_as_given(loopback, store) -> None:
    seen: list[dict[str, Any]] = []

    def responder(request: dict[str, Any]) -> dict[str, Any]:
        seen.append(request)
        return {"content": "ok", "reasoning_content": "thought", "reasoning_tokens": 1}

    server = loopback(responder=responder)
    config = loopback_model(server.base_url, params={"max_completion_tokens": 64, "reasoning_effort": "high",
                                                 "seed": 3, "top_k": 20},
                        extra_body={"chat_template_kwargs": {"enable_thinking": True}})
    records, _ = run_requests(config, "params", prompts(1), store, progress=False)

    request = seen[0]
    assert request["max_completion_tokens"] == 64 and request["reasoning_effort"] == "high"
    assert request["seed"] == 3 and request["top_k"] == 20
    assert request["chat_template_kwargs"] == {"enable_thinking": True}
    assert "temperature" not in request and "max_tokens" not in request
    assert (records[0].thinking, records[0].answer, records[0].reasoning_tokens) == ("thought", "ok", 1)


def test_requests_are_spread_over_replicas(loopback, store) -> None:
    first, second = loopback(latency=0.02), loopback(latency=0.02)
    config = loopback_model(first.base_url, second.base_url, max_concurrency=8)
    _, summary = run_requests(config, "replicas", prompts(40), store, progress=False)
    assert summary.new == 40
    assert first.counts["ok"] + second.counts["ok"] == 40
    assert min(first.counts["ok"], second.counts["ok"]) >= 10


def test_adaptive_limit_halves_on_rate_limit_and_recovers() -> None:
    limit = AdaptiveLimit(16)
    limit.rate_limited()
    limit.rate_limited()  # the same burst: counted once
    assert limit.limit == 8
    for _ in range(8):
        limit.succeeded()
    assert limit.limit == 9
    for _ in range(200):
        limit.succeeded()
    assert limit.limit == 16


def test_retry_after_header_forms() -> None:
    assert retry_after({"retry-after": "2"}) == 2.0
    assert retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after({}) is None


def test_loopback_rejects_unknown_names() -> None:
    with pytest.raises(UserError, match="unknown loopback behaviour"):
        LoopbackServer(behaviour="nonsense")
    with pytest.raises(UserError, match="unknown loopback faults"):
        LoopbackServer(faults=("404",))


def test_custom_responder_text_and_failure(loopback, store) -> None:
    def responder(request: dict[str, Any]) -> str:
        prompt = request["messages"][-1]["content"]
        if "explode" in prompt:
            raise RuntimeError("scripted judge broke")
        return f"verdict: {len(prompt)}"

    server = loopback(responder=responder)
    config = loopback_model(server.base_url, options={"max_attempts": 2})
    requests = [Request("ok", [{"role": "user", "content": "abc"}]),
                Request("bad", [{"role": "user", "content": "explode"}])]
    records, _ = run_requests(config, "judge", requests, store, progress=False)
    by_id = {r.prompt_id: r for r in records}
    assert (by_id["ok"].answer, by_id["ok"].trace_state) == ("verdict: 3", "no_think")
    assert "responder failed: RuntimeError: scripted judge broke" in by_id["bad"].error
    assert server.counts["behaviour:custom"] == 1 and server.counts["fault:responder"] == 2


def test_provider_blocks_are_stored_once_and_never_retried(loopback, store) -> None:
    server = loopback()
    requests = [Request(name, [{"role": "user", "content": f"unsafe [[behaviour:{name}]]"}])
                for name in ("invalid_prompt", "prompt_filter", "content_filter")]
    config = loopback_model(server.base_url, options={"max_attempts": 3})
    records, summary = run_requests(config, "blocks", requests, store, progress=False)
    assert (summary.new, summary.failed) == (3, 0)
    for record in records:
        assert record.ok and record.attempts == 1 and record.finish_reason == "content_filter"
        assert record.meta["blocked"], record.prompt_id
    by_id = {r.prompt_id: r for r in records}
    assert by_id["invalid_prompt"].meta["blocked"].startswith("invalid_prompt: Invalid prompt")

    _, summary = run_requests(config, "blocks", requests, store, progress=False)
    assert (summary.reused, summary.new) == (3, 0)
    assert server.counts["requests"] == 3  # a block is an outcome: the rerun sends nothing


def test_deepseek_content_risk_message_is_a_block(loopback, store) -> None:
    from r1lib.generation.backends.openai_replies import is_block
    assert is_block("invalid_request_error", "Content Exists Risk")
    assert is_block("invalid_prompt", "anything")
    assert not is_block("invalid_request_error", "max_tokens is too large")


def test_a_bug_in_response_parsing_raises_instead_of_becoming_error_records(loopback, store, monkeypatch) -> None:
    from r1lib.generation.backends import openai_api

    def broken(response: Any) -> Any:
        raise ValueError("deliberately broken parser")

    monkeypatch.setattr(openai_api, "parse_response", broken)
    server = loopback()
    with pytest.raises(ValueError, match="deliberately broken parser"):
        run_requests(loopback_model(server.base_url), "bug", prompts(3), store, progress=False)
    assert store.count() == 0  # nothing was stored as if the provider had failed


def test_retry_after_is_capped_and_logged(loopback, store, caplog) -> None:
    server = loopback(retry_after=30.0)
    config = loopback_model(server.base_url, options={"max_attempts": 2, "retry_after_max_s": 0.05})
    started = time.perf_counter()
    with caplog.at_level("INFO", logger="r1lib.generation.backends.openai_api"):
        records, _ = run_requests(config, "cap", [Request("x", [{"role": "user", "content": "[[fault:429]]"}])],
                                  store, progress=False)
    assert time.perf_counter() - started < 5  # not the 30 s the server asked for
    assert "rate limited (429)" in records[0].error
    assert "waiting 0.05 s (server asked 30 s, cap 0.05 s)" in caplog.text
