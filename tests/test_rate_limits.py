"""Pacing to requests- and tokens-per-minute limits, against the loopback server's OpenAI-style buckets.

Assertions are on what the server counted (429s, answers), never on wall-clock speed.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest

from r1lib.config.settings import load_models
from r1lib.core.errors import UserError
from r1lib.core.records import record_key
from r1lib.generation.backends.rate_limits import duration, estimate_tokens, reset_seconds
from r1lib.generation.runner import Request, run_requests
from r1lib.testing import loopback_model, scripted_answer


def prompts(n: int) -> list[Request]:
    return [Request(f"p{i}", [{"role": "user", "content": f"rate probe {i}"}]) for i in range(n)]


def answered(records: list, n: int) -> bool:
    return len(records) == n and all(r.ok and r.answer == scripted_answer(r.prompt) for r in records)


def test_pacing_follows_a_limit_halved_mid_run(loopback, store) -> None:
    # 3,000 RPM = 50 requests/s with 1 s of burst; after ~1 s the server halves it to 25/s. A client
    # that kept its first rate (or ramped concurrency until 429s) would be rejected about every other call.
    server = loopback(rpm=3000, latency=0.05)
    halve = threading.Timer(1.0, server.set_limits, kwargs={"rpm": 1500})
    halve.start()
    try:
        records, summary = run_requests(loopback_model(server.base_url, max_concurrency=64), "halved", prompts(150),
                                        store, progress=False)
    finally:
        halve.cancel()
    counts = server.counts
    assert summary.failed == 0 and answered(records, 150)
    assert counts["ok"] == 150
    assert counts["rate_limited"] <= 8, counts  # < 6 per 100 requests, the halving included


def test_rate_limits_from_the_models_entry_pace_a_provider_that_sends_no_headers(loopback, store) -> None:
    server = loopback(rpm=1200, limit_headers=False)
    config = loopback_model(server.base_url, max_concurrency=64, rate_limits={"rpm": 1200})
    records, summary = run_requests(config, "configured", prompts(60), store, progress=False)
    assert summary.failed == 0 and answered(records, 60)
    assert server.counts["rate_limited"] <= 3


def test_tokens_per_minute_are_paced_on_the_estimate_and_settled_by_usage(loopback, store) -> None:
    # Each call reserves ~1,000 tokens (its max_tokens) but uses ~25: without the correction by usage
    # the client would send 40x slower than allowed; without the reservation it would burst into 429s.
    server = loopback(tpm=600_000, latency=0.05)  # 10,000 tokens/s
    config = loopback_model(server.base_url, max_concurrency=64, params={"max_tokens": 1000}, stream=False)
    records, summary = run_requests(config, "tokens", prompts(80), store, progress=False)
    assert summary.failed == 0 and answered(records, 80)
    assert server.counts["rate_limited"] <= 4


def test_a_429_without_headers_still_backs_off(loopback, store) -> None:
    # 600 RPM (10 at once, then 10/s), no x-ratelimit headers and no Retry-After: the concurrency cap
    # halves and each rejected call backs off; every call is answered within its attempts.
    server = loopback(rpm=600, limit_headers=False)
    config = loopback_model(server.base_url, max_concurrency=32,
                            options={"backoff_s": 0.1, "backoff_max_s": 2.0, "max_attempts": 10})
    records, summary = run_requests(config, "no-headers", prompts(30), store, progress=False)
    assert summary.failed == 0 and answered(records, 30)
    assert server.counts["rate_limited"] > 0  # the server did reject, and the client got through anyway


def test_retry_after_stays_capped_when_the_429_states_limits(loopback, store, caplog) -> None:
    server = loopback(retry_after=30.0, rpm=6000)  # every reply carries x-ratelimit headers
    config = loopback_model(server.base_url, options={"max_attempts": 2, "retry_after_max_s": 0.05})
    with caplog.at_level("INFO", logger="r1lib.generation.backends.openai_api"):
        records, _ = run_requests(config, "cap", [Request("x", [{"role": "user", "content": "[[fault:429]]"}])],
                                  store, progress=False)
    assert "rate limited (429)" in records[0].error
    assert server.counts["fault:429"] == 2
    assert "waiting 0.05 s (server asked 30 s, cap 0.05 s)" in caplog.text


def test_loopback_states_limits_as_openai_does(loopback) -> None:
    import openai

    server = loopback(rpm=60, tpm=10_000)  # 1 request at once, then 1 per second
    client = openai.OpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0)
    first = client.chat.completions.with_raw_response.create(model="loopback",
                                                             messages=[{"role": "user", "content": "hi"}])
    assert first.headers["x-ratelimit-limit-requests"] == "60" and first.headers["x-ratelimit-limit-tokens"] == "10000"
    assert first.headers["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="loopback", messages=[{"role": "user", "content": "again"}])
    headers = caught.value.response.headers
    assert caught.value.code == "rate_limit_exceeded" and 0 < float(headers["retry-after"]) <= 1.0
    assert 0 < reset_seconds(headers) <= 1.0
    client.close()


def test_reset_durations_and_token_estimates() -> None:
    assert duration("20ms") == 0.02 and duration("1s") == 1.0 and duration("6m0s") == 360.0
    assert duration("1h2m3.5s") == 3723.5 and duration("0.5") == 0.5
    assert duration("soon") is None and duration(None) is None
    assert reset_seconds({"x-ratelimit-remaining-requests": "3", "x-ratelimit-reset-requests": "2s"}) is None
    body = {"messages": [{"role": "user", "content": "x" * 400}], "max_tokens": 1000}
    assert estimate_tokens(body) == 1100
    assert estimate_tokens({"messages": [], "max_completion_tokens": 50}) == 50


def test_rate_limits_are_checked_and_never_enter_the_record_key(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("models:\n  a:\n    backend: openai\n    model: x\n    rate_limits: {rpm: 500, tpm: 90000}\n")
    config = load_models([path])["a"]
    assert config.rate_limits == {"rpm": 500, "tpm": 90000}
    messages = [{"role": "user", "content": "Hello"}]
    assert record_key(config.key_fields(), messages, 0) == record_key(
        replace(config, rate_limits=None).key_fields(), messages, 0)
    for text, message in (("{rpm: 0}", "rate_limits.rpm must be more than 0"),
                          ("{rps: 5}", "unknown key 'rps'")):
        path.write_text(f"models:\n  a:\n    backend: openai\n    model: x\n    rate_limits: {text}\n")
        with pytest.raises(UserError, match=message):
            load_models([path])
