"""Token and cost accounting: split by channel and by stage, priced per million tokens."""

from __future__ import annotations

import math
from dataclasses import replace

from r1lib.config import models_registry
from r1lib.costs import token_table
from r1lib.runner import Request, run_requests
from r1lib.store import Store


def test_tokens_split_by_stage_channel_and_priced(store: Store) -> None:
    models = models_registry()
    priced = replace(models["fake-r1"], pricing={"input": 1.0, "output": 2.0})
    models["fake-r1"] = priced
    requests = [Request(str(i), [{"role": "user", "content": f"a question number {i}"}]) for i in range(3)]
    records, _ = run_requests(priced, "demo", requests, store, progress=False)
    run_requests(models["fake-judge"], "judge:x", requests[:2], store, role="judge", progress=False)
    table = token_table(store, models)
    gen = table[(table.stage == "generation")].iloc[0]
    assert (gen.model, gen.benchmark, gen.records) == ("fake-r1", "demo", 3)
    assert gen.prompt_tokens == sum(r.prompt_tokens for r in records)
    assert gen.reasoning_tokens == sum(r.reasoning_tokens for r in records) > 0
    assert gen.answer_tokens == sum(r.answer_tokens for r in records) > 0
    expected = (gen.prompt_tokens * 1.0 + (gen.reasoning_tokens + gen.answer_tokens) * 2.0) / 1e6
    assert math.isclose(gen.cost_usd, expected)
    judge = table[table.stage == "judging"].iloc[0]
    assert (judge.model, judge.records) == ("fake-judge", 2)
    assert math.isnan(judge.cost_usd)


def test_empty_store_gives_empty_table(store: Store) -> None:
    assert token_table(store, models_registry()).empty
