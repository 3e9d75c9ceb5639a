"""Token and cost accounting: split by token kind and by stage, priced per million tokens, with its source."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from r1lib.app.cli import main
from r1lib.config.settings import load_models, models_registry
from r1lib.core.errors import UserError
from r1lib.cost.pricing import NO_CHARGE, UNKNOWN_MODEL, UNPRICED
from r1lib.cost.spent import costs_table
from r1lib.generation.runner import Request, run_requests
from r1lib.store.database import Store

PRICING = {"input": 1.0, "output": 2.0, "batch_discount": 0.5, "source": "test price", "as_of": "2026-01-02"}


def test_tokens_split_by_stage_and_kind_and_priced(store: Store, tmp_path: Path) -> None:
    models = models_registry()
    priced = replace(models["fake-r1"], pricing=PRICING)
    models["fake-r1"] = priced
    requests = [Request(str(i), [{"role": "user", "content": f"a question number {i}"}]) for i in range(3)]
    records, _ = run_requests(priced, "demo", requests, store, progress=False)
    run_requests(models["fake-v3"], "phishing", requests[:1], store, role="victim", progress=False)
    run_requests(models["fake-judge"], "judge:x", requests[:2], store, role="judge", progress=False)
    models["fake-judge"] = replace(models["fake-judge"], backend="openai")  # as if an API model without prices
    table = costs_table(store, models, output_dir=tmp_path / "tables")
    assert list(zip(table["stage"], table["model"])) == [("generation", "fake-r1"), ("generation", "fake-v3"),
                                                         ("judging", "fake-judge")]
    gen = table.iloc[0]
    assert gen.records == 3
    assert gen.prompt_tokens == sum(r.prompt_tokens for r in records)
    assert gen.reasoning_tokens == sum(r.reasoning_tokens for r in records) > 0
    assert gen.answer_tokens == sum(r.answer_tokens for r in records) > 0
    assert math.isclose(gen.prompt_usd, gen.prompt_tokens * 1.0 / 1e6)
    assert math.isclose(gen.reasoning_usd, gen.reasoning_tokens * 2.0 / 1e6)
    assert math.isclose(gen.total_usd, (gen.prompt_tokens + 2 * (gen.reasoning_tokens + gen.answer_tokens)) / 1e6)
    assert (gen.pricing_source, gen.pricing_as_of) == ("test price", "2026-01-02")
    free = table.iloc[1]  # a model that runs here costs nothing, and says why
    assert free.total_usd == 0.0 and free.pricing_source == NO_CHARGE
    judge = table.iloc[2]
    assert judge.records == 2 and math.isnan(judge.total_usd) and judge.pricing_source == UNPRICED
    written = pd.read_csv(tmp_path / "tables" / "costs.csv")
    assert list(written.columns) == list(table.columns) and written["records"].tolist() == [3, 1, 2]


def test_a_model_missing_from_the_registry_is_named_not_priced(store: Store) -> None:
    models = models_registry()
    run_requests(models["fake-r1"], "demo", [Request("0", [{"role": "user", "content": "q"}])], store, progress=False)
    del models["fake-r1"]
    assert costs_table(store, models)["pricing_source"].tolist() == [UNKNOWN_MODEL]


def test_empty_store_gives_empty_table(store: Store) -> None:
    assert costs_table(store, models_registry()).empty


def test_shipped_prices_say_where_they_come_from_and_when() -> None:
    priced = {name: c.pricing for name, c in models_registry().items() if c.pricing}
    assert {"deepseek-r1", "o3-mini", "gpt-4o"} <= set(priced)
    newer = {"deepseek-r1-0528", "deepseek-v3-0324", "o4-mini"}  # the newer reasoning models, read later
    for name, pricing in priced.items():
        read = "2026-12-08" if name in newer else "2026-11-27"
        assert pricing["source"] and pricing["as_of"] == read and "batch_discount" in pricing


@pytest.mark.parametrize("pricing, message", [
    ("{input: 1, output: 2, source: x}", r"missing required key 'as_of'\. pricing: USD per million tokens"),
    ("{input: 1, output: 2, source: x, as_of: 2025-01-01, batch: 0.5}", r"pricing: unknown key 'batch'"),
    ("{input: -1, output: 2, source: x, as_of: 2025-01-01}", "pricing.input must be at least 0"),
    ("{input: 1, output: 2$, source: x, as_of: 2025-01-01}", r"pricing.output must be a number, not '2\$'"),
    ("{input: 1, output: 2, source: x, as_of: 2025-01-01, batch_discount: 50}",
     "pricing.batch_discount must be less than 1"),
    ("{input: 1, output: 2, source: ' ', as_of: 2025-01-01}", "pricing.source must not be empty"),
    ("{input: 1, output: 2, source: x, as_of: Jan 2025}", "as YYYY-MM-DD"),
    ("[1, 2]", "pricing must be a mapping"),
])
def test_bad_pricing_is_a_user_error_naming_the_key(tmp_path: Path, pricing: str, message: str) -> None:
    models = tmp_path / "m.yaml"
    models.write_text(f"models:\n  mine:\n    backend: fake\n    model: x\n    pricing: {pricing}\n")
    with pytest.raises(UserError, match=rf"m.yaml line 5 \(model 'mine'\): .*{message}"):
        load_models([models])


def test_pricing_in_a_models_file_is_checked_with_its_line(tmp_path: Path) -> None:
    models = tmp_path / "m.yaml"
    models.write_text("models:\n  mine:\n    backend: fake\n    model: x\n"
                      "    pricing: {input: 1, output: 2, source: s, as_of: 2025-13-01}\n")
    with pytest.raises(UserError, match="looks like a date is not one.*month must be in 1..12"):
        load_models([models])
    models.write_text("models:\n  mine:\n    backend: fake\n    model: x\n"
                      "    pricing: {input: 1, output: 2, source: s, as_of: 'last year'}\n")
    with pytest.raises(UserError, match=r"line 5 \(model 'mine'\): pricing.as_of"):
        load_models([models])
    models.write_text("models:\n  mine:\n    backend: fake\n    model: x\n"
                      "    pricing: {input: 1, output: 2, source: s, as_of: 2025-12-01}\n")
    assert load_models([models])["mine"].pricing == {"input": 1.0, "output": 2.0, "batch_discount": None,
                                                     "source": "s", "as_of": "2025-12-01"}


def test_costs_command_prints_tokens_dollars_and_the_price_source(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    models_file = tmp_path / "priced.yaml"
    models_file.write_text("models:\n  fake-r1:\n    backend: fake\n    model: fake-r1\n    reasoning: true\n"
                           "    options: {style: api_field}\n"
                           "    pricing: {input: 3.0, output: 7.0, source: 'a test price', as_of: 2026-01-02}\n")
    path = tmp_path / "store.sqlite"
    with Store(path) as store:
        registry = models_registry(extra_files=[str(models_file)])
        run_requests(registry["fake-r1"], "demo", [Request(str(i), [{"role": "user", "content": f"q {i}"}])
                                                   for i in range(4)], store, progress=False)
        expected = costs_table(store, registry)
    assert main(["costs", "--store", str(path), "--models-file", str(models_file)]) == 0
    out = capsys.readouterr().out
    assert f"{expected.total_usd.item():,.4f}" in out and "reasoning tok" in out
    assert "fake-r1: 3 / 7, as of 2026-01-02, source: a test price" in out
    assert main(["costs", "--store", str(tmp_path / "none.sqlite")]) == 2
    assert "no store at" in capsys.readouterr().err


def test_costs_of_one_benchmark_include_the_judge_calls_about_it(store: Store) -> None:
    from r1lib.judges.base import judge_records
    from r1lib.judges.registry import get_judge

    models = models_registry()
    judge = get_judge("xstest", judge_model="fake-judge", models=models)
    for benchmark, n in (("a", 3), ("b", 2)):
        requests = [Request(f"{benchmark}{i}", [{"role": "user", "content": f"{benchmark} question {i}"}])
                    for i in range(n)]
        records, _ = run_requests(models["fake-r1"], benchmark, requests, store, progress=False)
        judge_records(judge, records, "answer", store, progress=False)
    whole = costs_table(store, models)
    only_b = costs_table(store, models, benchmark="b")
    assert whole["records"].tolist() == [5, 5] and only_b["records"].tolist() == [2, 2]
    assert only_b["stage"].tolist() == ["generation", "judging"]


def test_batch_billed_records_cost_the_batch_price(store: Store) -> None:
    from r1lib.config.settings import ModelConfig
    from r1lib.core.records import GenerationRecord
    from r1lib.cost.spent import costs_table
    priced = ModelConfig(name="judge-model", backend="fake", model="x",
                         pricing={"input": 2.0, "output": 8.0, "batch_discount": 0.5, "source": "test",
                                  "as_of": "2026-11-28"})
    for key, billing in (("sync", None), ("batched", "batch")):
        store.put_generation(GenerationRecord(
            key=key, model="judge-model", benchmark="judge:x", prompt_id=key, sample=0, messages=[], config={},
            role="judge", answer="ok", prompt_tokens=1_000_000, answer_tokens=1_000_000,
            meta={"billing": billing} if billing else {}))
    table = costs_table(store, {"judge-model": priced}).set_index("billing")
    assert table.loc["standard", "total_usd"] == pytest.approx(10.0)
    assert table.loc["batch", "total_usd"] == pytest.approx(5.0)
    assert "batch price (0.5 off)" in table.loc["batch", "pricing_source"]
