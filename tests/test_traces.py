"""parse_trace: every state, precedence, whitespace, look-alike tags and real traces from the mirror."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from r1lib.core.traces import STATES, parse_trace
from r1lib.generation.runner import Request, run_requests
from r1lib.store.database import Store
from r1lib.testing import LoopbackServer, loopback_model


@pytest.mark.parametrize(
    ("text", "reasoning", "prefilled", "expected"),
    [
        ("The answer.", "Let me think.", False, ("Let me think.", "The answer.", "api_field", "api_field")),
        ("  \n</think>\n\nThe answer. ", " Think.\n", False, ("Think.", "The answer.", "api_field", "api_field")),
        ("<think>\nPlan.\n</think>\n\nDone.", None, False, ("Plan.", "Done.", "closed", "tags")),
        ("Plan.\n</think>\n\nDone.", None, False, ("Plan.", "Done.", "bare_close", "tags")),
        ("Plan.\n</think>\n\nDone.", None, True, ("Plan.", "Done.", "bare_close", "tags")),
        ("<think>\n\n</think>\n\nDone.", None, False, ("", "Done.", "empty_think", "tags")),
        ("</think>Done.", None, True, ("", "Done.", "empty_think", "tags")),
        ("<think>\nStill thinking when the limit hit", None, False,
         ("Still thinking when the limit hit", "", "unterminated", "tags")),
        ("Still thinking", None, True, ("Still thinking", "", "unterminated", "tags")),
        ("  Just an answer. ", None, False, (None, "Just an answer.", "no_think", "none")),
        ("", None, False, (None, "", "no_think", "none")),
    ],
)
def test_states(text: str, reasoning: str | None, prefilled: bool, expected: tuple) -> None:
    trace = parse_trace(text, reasoning, prefilled_think=prefilled)
    assert (trace.thinking, trace.answer, trace.state, trace.source) == expected


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_blank_reasoning_field_falls_through_to_tags(blank: str) -> None:
    trace = parse_trace("<think>a</think>b", blank)
    assert (trace.state, trace.source, trace.thinking, trace.answer) == ("closed", "tags", "a", "b")


def test_api_field_wins_over_tags() -> None:
    trace = parse_trace("<think>inline</think>visible", "from the field")
    assert trace.state == "api_field"
    assert trace.thinking == "from the field"


def test_lookalike_tags_are_not_tags() -> None:
    text = "I will write <thinking>notes</thinking> and </thinker> here."
    trace = parse_trace(text)
    assert trace.state == "no_think"
    assert trace.answer == text


def test_lookalike_inside_closed_trace_stays_in_thinking() -> None:
    trace = parse_trace("<think>about </thinking> tags</think>answer")
    assert trace.thinking == "about </thinking> tags"
    assert trace.answer == "answer"


def test_several_blocks_split_at_last_close() -> None:
    trace = parse_trace("<think>one</think>middle<think>two</think> final")
    assert trace.state == "closed"
    assert trace.answer == "final"
    assert trace.thinking == "one</think>middle<think>two"
    assert "</think>" not in trace.answer


def test_no_answer_property() -> None:
    assert not parse_trace("<think>cut off").has_answer
    assert parse_trace("fine").has_answer


def test_every_state_is_reachable() -> None:
    cases = [("x", "r", False), ("<think>a</think>b", None, False), ("a</think>b", None, False),
             ("<think></think>b", None, False), ("<think>a", None, False), ("b", None, False)]
    assert {parse_trace(t, r, prefilled_think=p).state for t, r, p in cases} == set(STATES)


@pytest.mark.mirror
def test_real_deepseek_r1_traces_are_closed(mirror: Path) -> None:
    rows = json.loads((mirror / "star-1" / "STAR-1.json").read_text())
    traces = [parse_trace(row["response"]) for row in rows]
    assert Counter(t.state for t in traces) == {"closed": len(rows)}
    assert all(t.thinking and t.answer for t in traces)
    assert not any("<think>" in t.answer or "</think>" in t.answer for t in traces)


@pytest.mark.mirror
@pytest.mark.parametrize("name", ["harmful_r1_7b_gptjudge.csv", "harmful_r1_8b.csv", "harmful_r1_8b_gptjudge.csv"])
def test_real_distill_traces_are_bare_close(mirror: Path, name: str) -> None:
    frame = pd.read_csv(mirror / "safekey-r1-distill-harmful-traces" / name)
    traces = [parse_trace(text, prefilled_think=True) for text in frame["target"]]
    assert Counter(t.state for t in traces) == {"bare_close": len(frame)}
    assert all(t.thinking for t in traces)
    assert sum(bool(t.answer) for t in traces) >= 0.95 * len(frame)


# -- the token-limit rule, on every route of the loopback imitation ---------------------------------------------
#: How a models entry reaches the loopback server: a plain chat completion, a streamed one, the Batch API.
ROUTES = {"chat": {"stream": False}, "stream": {"stream": True},
          "batch": {"batch": True, "options": {"timeout": 5.0, "batch_poll_s": 0.05, "batch_poll_max_s": 0.2},
                    "pricing": {"input": 1.0, "output": 1.0, "batch_discount": 0.5}}}
CUT = "Okay, so the user wants to know about this and I should consider"


def shapes(request: dict[str, Any]) -> dict[str, Any]:
    """The reply named in the last user message: R1's thinking cut at the limit (no tags, or after
    ``<think>``), the same text finished normally, or thinking in a reasoning field cut at the limit."""
    shape = request["messages"][-1]["content"]
    return {"bare": {"content": CUT, "finish_reason": "length"},
            "opened": {"content": f"<think>\n{CUT}", "finish_reason": "length"},
            "finished": {"content": CUT, "finish_reason": "stop"},
            "field": {"content": "", "reasoning_content": CUT, "finish_reason": "length"}}[shape]


@pytest.mark.parametrize("route", list(ROUTES))
def test_a_reasoning_models_output_cut_at_the_token_limit_is_unterminated_thinking_on_every_route(
        loopback: Callable[..., LoopbackServer], store: Store, route: str) -> None:
    server = loopback(responder=shapes)
    requests = [Request(shape, [{"role": "user", "content": shape}])
                for shape in ("bare", "opened", "finished", "field")]
    reasoner = loopback_model(server.base_url, name="r1-together", reasoning=True, **ROUTES[route])
    found = {r.prompt_id: (r.finish_reason, r.trace_state, r.thinking, r.answer)
             for r in run_requests(reasoner, "shapes", requests, store, progress=False)[0]}
    assert found == {"bare": ("length", "unterminated", CUT, ""), "opened": ("length", "unterminated", CUT, ""),
                     "finished": ("stop", "no_think", None, CUT), "field": ("length", "api_field", CUT, "")}
    # a model that does not reason answers; cut at the limit, its answer is a cut answer
    plain = loopback_model(server.base_url, name="v3-together", model="v3", **ROUTES[route])
    record = run_requests(plain, "shapes", requests[:1], store, progress=False)[0][0]
    assert (record.finish_reason, record.trace_state, record.answer) == ("length", "no_think", CUT)
