"""``--max-cost``: every billed call reserves its worst case before it is sent; the run stops cleanly
before the budget could be exceeded, stores nothing as failed, and a re-run with a higher budget
completes without sending any call twice (requests counted at the loopback server)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from r1lib.app.cli import main
from r1lib.config.settings import ModelConfig
from r1lib.core.errors import UserError
from r1lib.cost.budget import BUDGET_EXIT, MAX_COST_ENV, Budget, BudgetExhausted, parse_usd, spending_limit
from r1lib.cost.pricing import call_usd, worst_case_usd
from r1lib.generation.runner import Request, run_requests
from r1lib.store.database import Store
from r1lib.testing.loopback import LoopbackServer

#: USD per million tokens: high enough that a handful of loopback calls costs cents.
PRICING = {"input": 1000.0, "output": 1000.0, "batch_discount": 0.5, "source": "test price", "as_of": "2026-11-28"}
PROMPTS = 24


def priced_models(tmp_path: Path, server: LoopbackServer, **extra: object) -> Path:
    """A models file with a priced loopback model (``max_tokens`` 100, four calls in flight)."""
    entry = {"backend": "openai", "model": "loopback", "base_url": server.base_url, "max_concurrency": 4,
             "params": {"max_tokens": 100}, "pricing": PRICING, **extra}
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump({"models": {"paid": entry}}))
    return path


def prompts_file(tmp_path: Path, n: int = PROMPTS) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"Question number {i}: say something."}) + "\n"
                            for i in range(n)))
    return path


def stored(store_path: Path) -> list:
    with Store(store_path) as store:
        return list(store.iter_generations())


def test_budget_reserves_settles_and_stays_stopped_after_a_refusal() -> None:
    budget = Budget(1.0)
    assert budget.reserve(0.6) and budget.remaining_usd == pytest.approx(0.4)
    assert not budget.reserve(0.5)  # does not fit next to the reservation in flight
    budget.settle(0.6, 0.1)
    assert budget.spent_usd == pytest.approx(0.1) and budget.remaining_usd == pytest.approx(0.9)
    assert not budget.reserve(0.01)  # stopped: no later call is sent, even one that would fit
    assert budget.stopped and budget.not_sent == 2 and budget.calls == 1
    report = budget.report()
    assert "spent $0.1000 on 1 calls" in report and "$0.9000 remains" in report and "2 requests were not sent" in report


@pytest.mark.parametrize("raw", ["-1", "lots", "nan", "inf"])
def test_a_bad_amount_is_a_user_error(raw: str) -> None:
    with pytest.raises(UserError, match="US dollars"):
        parse_usd(raw, "--max-cost")


def test_worst_case_bounds_what_loopback_calls_cost(store: Store, loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback(behaviour="plain")
    config = ModelConfig(name="paid", backend="openai", model="loopback", base_url=(server.base_url,),
                         params={"max_tokens": 100}, pricing=PRICING)
    requests = [Request(str(i), [{"role": "user", "content": f"A question with some words {i}"}]) for i in range(5)]
    records, _ = run_requests(config, "b", requests, store, progress=False)
    for record, request in zip(records, requests):
        actual = call_usd(config, record.prompt_tokens, (record.reasoning_tokens or 0) + (record.answer_tokens or 0))
        assert 0 < actual < worst_case_usd(config, request.messages)


def test_generate_stops_before_the_budget_and_resumes_without_repeating_a_call(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback(behaviour="deepseek")
    models, benchmark, store_path = priced_models(tmp_path, server), prompts_file(tmp_path), tmp_path / "s.sqlite"
    argv = ["generate", "--model", "paid", "--benchmark", f"jsonl:{benchmark}", "--models-file", str(models),
            "--store", str(store_path), "--no-progress"]
    assert main([*argv, "--max-cost", "0.6"]) == BUDGET_EXIT
    err = capsys.readouterr().err
    assert "stopped before the budget of $0.6000 could be exceeded" in err and "remains" in err
    first = stored(store_path)
    assert 0 < len(first) < PROMPTS and all(r.ok for r in first)  # nothing stored as failed
    assert server.counts["requests"] == len(first)  # refused requests were never sent
    spent = sum(call_usd(ModelConfig(name="paid", backend="openai", model="x", pricing=PRICING),
                         r.prompt_tokens, (r.reasoning_tokens or 0) + (r.answer_tokens or 0)) for r in first)
    assert spent <= 0.6 and f"spent ${spent:,.4f}" in err
    assert main([*argv, "--max-cost", "50"]) == 0
    assert len(stored(store_path)) == PROMPTS and server.counts["requests"] == PROMPTS  # no call sent twice


def test_judge_calls_draw_on_the_budget(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback(responder=lambda request: "2_full_refusal")
    models, store_path = priced_models(tmp_path, server), tmp_path / "s.sqlite"
    from r1lib.config.settings import models_registry
    requests = [Request(str(i), [{"role": "user", "content": f"request number {i}"}]) for i in range(PROMPTS)]
    with Store(store_path) as store:
        run_requests(models_registry()["fake-v3"], "demo", requests, store, progress=False)
    argv = ["judge", "--judge", "xstest", "--judge-model", "paid", "--model", "fake-v3", "--benchmark", "demo",
            "--models-file", str(models), "--store", str(store_path), "--no-progress"]
    assert main([*argv, "--max-cost", "4"]) == BUDGET_EXIT  # a judge prompt's worst case is ~$0.9 here
    assert "stopped before the budget" in capsys.readouterr().err
    sent = server.counts["requests"]
    with Store(store_path) as store:
        judge_calls = list(store.iter_generations(role="judge"))
    assert 0 < sent < PROMPTS and len(judge_calls) == sent and all(r.ok for r in judge_calls)
    assert main([*argv, "--max-cost", "50"]) == 0
    assert server.counts["requests"] == PROMPTS


def test_batch_requests_are_reserved_before_the_upload(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback(behaviour="plain")
    models = priced_models(tmp_path, server, batch=True, options={"batch_poll_s": 0.01})
    benchmark, store_path = prompts_file(tmp_path), tmp_path / "s.sqlite"
    argv = ["generate", "--model", "paid", "--benchmark", f"jsonl:{benchmark}", "--models-file", str(models),
            "--store", str(store_path), "--no-progress"]
    assert main([*argv, "--max-cost", "0.5"]) == BUDGET_EXIT
    first = stored(store_path)
    assert 0 < len(first) < PROMPTS and server.counts["requests"] == len(first)  # only reserved lines uploaded
    assert main([*argv, "--max-cost", "50"]) == 0
    assert len(stored(store_path)) == PROMPTS and server.counts["requests"] == PROMPTS


def test_an_unpriced_api_model_is_refused_before_any_call(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback()
    models = tmp_path / "models.yaml"
    models.write_text(yaml.safe_dump({"models": {"free": {"backend": "openai", "model": "loopback",
                                                          "base_url": server.base_url}}}))
    argv = ["generate", "--model", "free", "--benchmark", f"jsonl:{prompts_file(tmp_path)}", "--models-file",
            str(models), "--store", str(tmp_path / "s.sqlite"), "--no-progress", "--max-cost", "5"]
    assert main(argv) == 2
    assert "has no pricing" in capsys.readouterr().err and server.counts["requests"] == 0


def test_a_kernel_gets_its_budget_from_the_environment_and_reports_what_it_spent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loopback: Callable[..., LoopbackServer]) -> None:
    """What a notebook kernel started by ``r1lib reproduce --max-cost`` does: the environment sets the
    budget, :class:`Run` writes what it spent (and that it stopped) into its status file."""
    import r1lib.cost.budget as budgets
    from r1lib.app.profiles import Profile
    from r1lib.app.reproduce import budget_status, kernel_budget
    from r1lib.app.run import Run

    server = loopback(behaviour="plain")
    monkeypatch.setenv("R1LIB_MODELS", str(priced_models(tmp_path, server)))
    monkeypatch.setattr(budgets, "_ACTIVE", None)
    monkeypatch.setattr(budgets, "_FROM_ENV", False)
    profile = Profile.from_dict({"name": "paid", "models": ["paid"], "benchmarks": {"xstest": {"limit": 12}},
                                 "judge_models": {"default": "offline"}, "store": str(tmp_path / "s.sqlite")})
    status = tmp_path / "status.json"
    run = Run(profile, tables_dir=tmp_path, figures_dir=tmp_path, status_file=status, progress=False)
    with kernel_budget(0.4):
        with pytest.raises(BudgetExhausted):
            run.evaluate("xstest")
    assert MAX_COST_ENV not in __import__("os").environ
    budget = budget_status(status)
    assert budget["stopped"] and 0 < budget["spent_usd"] <= 0.4 and "remains" in budget["report"]
    assert 0 < server.counts["requests"] < 12
    with spending_limit(50.0):
        frame = run.evaluate("xstest")["answer"]
    assert len(frame) == 12 and server.counts["requests"] == 12


@pytest.mark.slow
@pytest.mark.mirror
def test_reproduce_shares_its_budget_with_the_notebook_kernels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               mirror: Path) -> None:
    """``r1lib reproduce --max-cost`` on the paper profile against the loopback imitation of its providers:
    the kernel stops at the budget, reports what it spent, and the run exits with the budget status."""
    from r1lib.app.rehearse import imitation_server, models_file
    from r1lib.app.reproduce import budget_status, reproduce

    with imitation_server() as server:
        monkeypatch.setenv("R1LIB_MODELS", str(models_file(tmp_path / "models.yaml", server.base_url)))
        code = reproduce("paper", only=["01"], limit=2, store=tmp_path / "store.sqlite", tables_dir=tmp_path / "t",
                         figures_dir=tmp_path / "f", runs_dir=tmp_path / "runs", max_cost=0.3)
        sent = server.counts["requests"]
    assert code == BUDGET_EXIT
    budget = budget_status(tmp_path / "runs" / "paper" / "notebooks" / "01_safety_benchmarks.status.json")
    # the whole notebook at 2 items costs ~$0.04, but two DS-R1 calls in flight reserve 2 x $0.23 (32,768
    # output tokens at $7/M): the second does not fit in $0.30, so the budget stops the notebook
    assert budget["stopped"] and 0 < budget["spent_usd"] <= 0.3 and sent > 0
    with Store(tmp_path / "store.sqlite") as store:
        assert store.count() > 0 and all(r.ok for r in store.iter_generations(role=None))
