"""Streamed chat completions through the real ``openai`` client against the loopback server:
the same records as non-streamed calls, cut streams kept as interrupted, idle timeouts."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from r1lib.config.settings import ModelConfig
from r1lib.core.records import INTERRUPTED_FINISH, generation_outcome
from r1lib.generation.backends import openai_api
from r1lib.generation.runner import Request, run_requests
from r1lib.testing import BEHAVIOURS, loopback_model, scripted_answer, scripted_thinking

#: A stream that sends nothing for 2 s is given up (and retried).
IDLE = {"idle_timeout": 2.0}
TIMING = ("latency_s", "created_at")


def ask(*texts: str) -> list[Request]:
    """One request per text, the text as its prompt id."""
    return [Request(text, [{"role": "user", "content": text}]) for text in texts]


def without_timing(record: Any) -> dict[str, Any]:
    return {k: v for k, v in record.to_dict().items() if k not in TIMING}


def test_every_behaviour_gives_the_same_record_streamed_or_not(loopback, tmp_path) -> None:
    from r1lib.store.database import Store

    server = loopback()
    requests = ask(*(f"question [[behaviour:{name}]]" for name in BEHAVIOURS))
    stored = {}
    for stream in (False, True):
        server.reset_counts()
        with Store(tmp_path / f"{stream}.sqlite") as store:
            config = loopback_model(server.base_url, stream=stream, options=IDLE)
            records, summary = run_requests(config, "shapes", requests, store,
                                            progress=False)
        assert (summary.new, summary.failed) == (len(BEHAVIOURS), 0)
        assert server.counts["streamed"] == (len(BEHAVIOURS) if stream else 0)
        stored[stream] = {r.key: without_timing(r) for r in records}
    assert stored[True] == stored[False]
    by_state = {r["trace_state"] for r in stored[True].values()}
    assert {"api_field", "closed", "bare_close", "unterminated", "empty_think", "no_think"} <= by_state
    hidden = next(r for r in stored[True].values() if "hidden" in r["prompt_id"])
    assert hidden["reasoning_tokens"] == len(scripted_thinking("x").split())  # from the final usage chunk


def test_auto_streams_reasoning_models_and_long_budgets(loopback, store) -> None:
    base = ModelConfig(name="m", backend="openai", model="loopback")
    assert dataclasses.replace(base, reasoning=True).streams()
    assert dataclasses.replace(base, params={"max_tokens": 32768}).streams()
    assert dataclasses.replace(base, params={"max_completion_tokens": 8192}).streams()
    assert not dataclasses.replace(base, params={"max_tokens": 1024}).streams()
    assert not dataclasses.replace(base, reasoning=True, stream=False).streams()
    assert dataclasses.replace(base, stream=True).streams()

    server = loopback()
    config = dataclasses.replace(loopback_model(server.base_url, stream="auto", options=IDLE), reasoning=True)
    run_requests(config, "auto", ask("one", "two"), store, progress=False)
    assert server.counts["streamed"] == 2


def test_a_stream_cut_half_way_is_kept_as_interrupted_then_completed_on_retry(loopback, store) -> None:
    server = loopback(behaviour="deepseek")
    prompt = "long reasoning [[fault:cut:1]]"
    config = loopback_model(server.base_url, stream=True, options=IDLE)
    records, summary = run_requests(config, "cut", ask(prompt), store, progress=False)

    record = records[0]
    assert summary.new == 1 and record.ok and record.attempts == 2
    assert (record.thinking, record.answer) == (scripted_thinking(prompt), scripted_answer(prompt))
    (cut,) = record.meta["interrupted"]
    assert cut["attempt"] == 1 and cut["reason"].startswith("connection lost mid-stream")
    assert cut["reasoning"] and scripted_thinking(prompt).startswith(cut["reasoning"])
    assert cut["reasoning"] != scripted_thinking(prompt)  # half of it, not merged into the record
    assert server.counts["fault:cut"] == 1 and server.counts["requests"] == 2


def test_a_stream_cut_on_every_attempt_is_an_error_record_retried_next_run(loopback, store) -> None:
    server = loopback(behaviour="tags")
    prompt = "always cut [[fault:cut:2]]"
    config = loopback_model(server.base_url, stream=True, options={**IDLE, "max_attempts": 2})
    records, summary = run_requests(config, "cut", ask(prompt), store, progress=False)

    record = records[0]
    assert summary.failed == 1 and not record.ok
    assert record.finish_reason == INTERRUPTED_FINISH and "interrupted: connection lost" in record.error
    assert record.answer is None and record.thinking is None and record.raw_text is None
    assert generation_outcome(record.error, record.finish_reason, record.trace_state, record.answer) == "failed"
    partials = record.meta["interrupted"]
    assert [p["attempt"] for p in partials] == [1, 2]
    whole = f"<think>\n{scripted_thinking(prompt)}\n</think>\n\n{scripted_answer(prompt)}"
    assert all(p["text"].startswith("<think>") and whole.startswith(p["text"]) and p["text"] != whole
               for p in partials)

    records, summary = run_requests(config, "cut", ask(prompt), store, progress=False)
    record = records[0]
    assert summary.new == 1 and record.ok and record.answer == scripted_answer(prompt)
    assert record.meta["interrupted"] == partials  # the earlier run's cuts stay with the record
    assert server.counts["requests"] == 3


def test_an_idle_stream_times_out_while_a_slow_steady_one_does_not(loopback, store) -> None:
    # gaps and timeouts above a full garbage collection of the test session's heap (~0.3 s when busy)
    server = loopback(behaviour="deepseek", stream_tps=10, slow_s=6.0)  # ~18 chunks: ~1.8 s per reply
    config = loopback_model(server.base_url, stream=True, options={"idle_timeout": 0.6, "max_attempts": 1})
    started = time.perf_counter()
    records, _ = run_requests(config, "idle", ask("steady", "stalls [[fault:stall]]"), store, progress=False)
    elapsed = time.perf_counter() - started

    steady, stalled = records
    assert steady.ok and steady.answer == scripted_answer("steady")
    assert steady.latency_s > 0.6 * 2  # longer in total than the idle timeout, yet not cut
    assert not stalled.ok and stalled.finish_reason == INTERRUPTED_FINISH
    (cut,) = stalled.meta["interrupted"]
    assert cut["reason"] == "no bytes for 0.6 s (options.idle_timeout)" and cut["reasoning"]
    assert elapsed < 5.0  # gave up after the idle timeout, not when the server closed (6 s)


def test_stream_faults_reconcile_with_the_server(loopback, store) -> None:
    server = loopback(behaviour="vllm", fault_rate=0.3, seed=3, faults=("cut", "stall", "500", "429", "malformed"),
                      slow_s=2.0, retry_after=0.01)
    config = loopback_model(server.base_url, stream=True, options={"idle_timeout": 0.8, "max_concurrency": 8})
    requests = ask(*(f"streamed prompt {i}" for i in range(60)))
    records, summary = run_requests(config, "faults", requests, store, progress=False)

    counts = server.counts
    assert counts["fault:cut"] and counts["fault:stall"] and (summary.new, summary.failed) == (60, 0)
    for record in records:
        assert record.thinking == scripted_thinking(record.prompt) and record.answer == scripted_answer(record.prompt)
    cuts = [p for r in records for p in r.meta.get("interrupted", [])]
    assert len(cuts) == counts["fault:cut"] + counts["fault:stall"]
    assert sum(r.attempts for r in records) == counts["requests"] and counts["ok"] == 60


def test_a_malformed_first_chunk_is_a_malformed_body(loopback, store) -> None:
    server = loopback()
    config = loopback_model(server.base_url, stream=True, options={**IDLE, "max_attempts": 2})
    records, _ = run_requests(config, "bad", ask("x [[fault:malformed]]"),
                              store, progress=False)
    assert "failed after 2 attempts: malformed response body" in records[0].error
    assert "interrupted" not in records[0].meta and records[0].finish_reason is None


def test_a_bug_in_stream_reading_raises_instead_of_becoming_error_records(loopback, store, monkeypatch) -> None:
    def broken(self: Any, chunk: dict[str, Any]) -> None:
        raise ValueError("deliberately broken chunk reader")

    monkeypatch.setattr(openai_api.StreamedReply, "add", broken)
    server = loopback()
    with pytest.raises(ValueError, match="deliberately broken chunk reader"):
        run_requests(loopback_model(server.base_url, stream=True, options=IDLE), "bug", ask("a", "b"), store,
                     progress=False)
    assert store.count() == 0
