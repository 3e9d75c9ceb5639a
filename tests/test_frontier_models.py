"""The newer reasoning models' entries (configs/models.yaml) re-pointed at the loopback server, which answers
each as its provider route does (:data:`r1lib.testing.MODEL_ROUTES`): the trace state, thinking, answer and
reasoning tokens of their records, the request fields they send, and the frontier profile."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from r1lib.app.profiles import Profile
from r1lib.config.settings import ModelConfig, models_registry
from r1lib.core.errors import UserError
from r1lib.generation.runner import Request, run_requests
from r1lib.store.database import Store
from r1lib.testing import FAST_RETRIES, MODEL_ROUTES, LoopbackServer, scripted_answer, scripted_thinking

PROMPTS = ("How do tides work?", "Write a haiku about rain.")
GPT_OSS = [f"gpt-oss-{size}{effort}" for size in ("20b", "120b") for effort in ("-low", "", "-high")]
#: Entry -> (trace state, thinking shown, reasoning tokens reported) of its route's replies.
EXPECTED = {
    "deepseek-r1-0528": ("api_field", True, True),  # DeepSeek API: reasoning_content + reasoning_tokens
    "deepseek-v3-0324": ("no_think", False, False),
    "qwen3-32b-think": ("api_field", True, True),  # vLLM --reasoning-parser qwen3: reasoning_content
    "qwen3-32b-nothink": ("no_think", False, False),  # enable_thinking false: a plain answer
    "qwq-32b": ("bare_close", True, True),  # no server parser: THINKING</think>ANSWER in the content
    "qwen2.5-32b": ("no_think", False, False),
    **{name: ("api_field", True, True) for name in GPT_OSS},  # vLLM harmony: the `reasoning` field
    "o4-mini": ("no_think", False, True),  # hidden: only reasoning_tokens
}


def repointed(config: ModelConfig, server: LoopbackServer) -> ModelConfig:
    """The entry with its base_url on the loopback server, no API key and fast retries (nothing else changed)."""
    return dataclasses.replace(config, base_url=(server.base_url,), api_key_env=None,
                               options={**config.options, **FAST_RETRIES})


@pytest.fixture
def routes(loopback: Callable[..., LoopbackServer]) -> LoopbackServer:
    """A loopback server answering as each newer model's route, keeping the request bodies."""
    return loopback(routes=MODEL_ROUTES, keep_requests=True, behaviour="plain")


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_entry_is_accounted_as_its_route_returns_it(name: str, routes: LoopbackServer, store: Store) -> None:
    config = models_registry()[name]
    state, shows_thinking, counts_reasoning = EXPECTED[name]
    requests = [Request(f"p{i}", [{"role": "user", "content": prompt}]) for i, prompt in enumerate(PROMPTS)]
    records = run_requests(repointed(config, routes), "frontier", requests, store, progress=False)[0]
    for record, prompt in zip(records, PROMPTS):
        thinking = scripted_thinking(prompt)
        assert record.ok and record.finish_reason == "stop"
        assert (record.trace_state, record.answer) == (state, scripted_answer(prompt))
        assert record.thinking == (thinking if shows_thinking else None)
        assert record.reasoning_tokens == (len(thinking.split()) if counts_reasoning else 0)
        tag = 1 if state == "bare_close" else 0  # the </think> tag is one more token of the content
        assert record.answer_tokens == len(scripted_answer(prompt).split()) + tag
    assert routes.counts["ok"] == len(PROMPTS)
    assert {r["model"] for r in routes.requests} == {config.model}


def test_qwen3_think_and_nothink_share_one_deployment_and_send_enable_thinking(routes: LoopbackServer,
                                                                              store: Store) -> None:
    registry = models_registry()
    think, nothink = registry["qwen3-32b-think"], registry["qwen3-32b-nothink"]
    assert (think.model, think.base_url) == (nothink.model, nothink.base_url)
    assert (think.reasoning, think.counterpart, nothink.reasoning) == (True, "qwen3-32b-nothink", False)
    request = [Request("p0", [{"role": "user", "content": PROMPTS[0]}])]
    sent = {}
    for config in (think, nothink):
        run_requests(repointed(config, routes), "frontier", request, store, progress=False)
        sent[config.name] = routes.requests[-1]
    assert sent["qwen3-32b-think"]["chat_template_kwargs"] == {"enable_thinking": True}
    assert sent["qwen3-32b-nothink"]["chat_template_kwargs"] == {"enable_thinking": False}
    assert {body["model"] for body in sent.values()} == {"Qwen/Qwen3-32B"}


def test_reasoning_effort_is_sent_as_each_entry_names_it(routes: LoopbackServer, store: Store) -> None:
    registry = models_registry()
    request = [Request("p0", [{"role": "user", "content": PROMPTS[0]}])]
    efforts = {}
    for name in (*GPT_OSS, "o4-mini"):
        run_requests(repointed(registry[name], routes), "frontier", request, store, progress=False)
        efforts[name] = routes.requests[-1]["reasoning_effort"]
    assert efforts == {"gpt-oss-20b-low": "low", "gpt-oss-20b": "medium", "gpt-oss-20b-high": "high",
                       "gpt-oss-120b-low": "low", "gpt-oss-120b": "medium", "gpt-oss-120b-high": "high",
                       "o4-mini": "medium"}
    o4 = routes.requests[-1]
    assert o4["max_completion_tokens"] == 32768 and "temperature" not in o4 and "stream" not in o4


def test_a_route_to_an_unknown_behaviour_is_refused() -> None:
    with pytest.raises(UserError, match="unknown loopback behaviour 'harmony'"):
        LoopbackServer(routes={"openai/gpt-oss-20b": "harmony"})


def test_frontier_profile_runs_the_paper_protocol_on_the_pairs() -> None:
    profile, paper = Profile.load("frontier"), Profile.load("paper")
    assert profile.pairs == (("deepseek-r1-0528", "deepseek-v3-0324"), ("qwen3-32b-think", "qwen3-32b-nothink"),
                             ("qwq-32b", "qwen2.5-32b"))
    assert set(profile.models) == set(EXPECTED)
    assert {b: e.limit for b, e in profile.benchmarks.items()} == {b: e.limit for b, e in paper.benchmarks.items()}
    assert profile.judge_models == paper.judge_models and profile.scorers == paper.scorers
    assert (profile.reference, profile.phishing_victim) == ("o4-mini", "gpt-4o")
    registry = models_registry()
    for name in profile.models:  # priced from a source and a date, or left unpriced on a self-hosted server
        pricing = registry[name].pricing
        assert (pricing["source"] and pricing["as_of"]) if pricing else "localhost" in registry[name].base_url[0]
