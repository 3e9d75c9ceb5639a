"""The dress rehearsal: the paper profile end to end with every model and GPT-4o re-pointed (by a
models-file override) at a loopback server imitating each provider route."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from r1lib.app.rehearse import PaperImitation, imitation_server, models_file, rehearse
from r1lib.config.settings import Settings, models_registry
from r1lib.core.records import BLOCKED_FINISH
from r1lib.store.database import Store

TABLES = [f"table{n}" for n in range(1, 11)]


@pytest.fixture
def outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs, tables and figures of the rehearsal under the test's temporary folder."""
    for variable, folder in (("R1LIB_RUNS", "runs"), ("R1LIB_TABLES", "tables"), ("R1LIB_FIGURES", "figures")):
        monkeypatch.setenv(variable, str(tmp_path / folder))
    return tmp_path


def test_the_models_file_repoints_every_paper_model_and_the_judge(tmp_path: Path) -> None:
    path = models_file(tmp_path / "models.yaml", "http://127.0.0.1:9/v1", route="deepseek")
    registry = models_registry(Settings.load())
    override = models_registry(Settings.load(), extra_files=[str(path)])
    for name in ("deepseek-r1", "deepseek-v3", "r1-distill-llama-70b", "llama-3.3-70b", "o3-mini", "gpt-4o"):
        assert override[name].base_url == ("http://127.0.0.1:9/v1",) and override[name].api_key_env is None
        assert (override[name].label, override[name].params) == (registry[name].label, registry[name].params)
    assert override["deepseek-r1"].model == "deepseek-reasoner"  # DeepSeek's API route


def test_imitation_answers_each_route_in_its_shape() -> None:
    imitation = PaperImitation("gpt-4o-2024-08-06")
    ask = lambda model: imitation({"model": model, "messages": [{"role": "user", "content": "q"}]})  # noqa: E731
    assert ask("deepseek-ai/DeepSeek-R1").startswith("<think>\n")
    assert set(ask("deepseek-reasoner")) == {"content", "reasoning_content"}
    assert "</think>" in ask("deepseek-ai/DeepSeek-R1-Distill-Llama-70B") and "<think>" not in ask(
        "deepseek-ai/DeepSeek-R1-Distill-Llama-70B")
    blocked = [imitation({"model": "o3-mini-2025-01-31", "messages": [{"role": "user", "content": f"q{i}"}]})
               for i in range(60)]
    assert any("error" in b for b in blocked) and any("reasoning_tokens" in b for b in blocked)


@pytest.mark.mirror  # the imitated GPT-4o recognises upstream's judge protocols by their phrases, and which
@pytest.mark.slow    # o3-mini prompts it blocks depends on the real items; the one-word rehearsal runs on fixtures
def test_rehearsal_of_the_paper_profile_writes_every_table(outputs: Path) -> None:
    code = rehearse(limit=3, route="together")
    tables = outputs / "tables" / "rehearsal-together"
    status = (tables / "status.md").read_text()
    assert code == 0, status
    for name in TABLES:
        assert (tables / f"{name}.csv").is_file(), name
    assert "FAILED" not in status and "incomplete" not in status
    with Store(outputs / "runs" / "rehearsal-together" / "store.sqlite") as store:
        records = store.generations_frame(role="eval")
    states = records.groupby("model")["trace_state"].agg(set)
    assert states["deepseek-r1"] >= {"closed"} and states["r1-distill-llama-70b"] >= {"bare_close"}
    o3 = records[records["model"] == "o3-mini"]
    assert (o3["finish_reason"] == BLOCKED_FINISH).any() and (o3["reasoning_tokens"] == 120).any()
    table5 = pd.read_csv(tables / "table5.csv")
    assert (table5["n_blocked"] > 0).any()  # o3-mini's blocked prompts are counted, and shown
    assert "reward model 'RLHFlow/ArmoRM-Llama3-8B-v0.1' cannot be loaded" in (
        outputs / "runs" / "rehearsal-together" / "paper" / "notebooks" / "03_reasoning_harm.ipynb").read_text()


@pytest.mark.slow
def test_a_judge_answering_one_word_to_everything_breaks_nothing(outputs: Path) -> None:
    code = rehearse(limit=3, route="deepseek", judge="one-word")
    tables = outputs / "tables" / "rehearsal-deepseek-one-word"
    status = (tables / "status.md").read_text()
    assert code == 0, status
    for name in TABLES:
        assert (tables / f"{name}.csv").is_file(), name
    table2 = pd.read_csv(tables / "table2.csv")
    mitre = table2[table2["column"] == "MITRE"]
    assert (mitre["status"] == "not comparable").all()
    # MITRE's first step, upstream's refusal check on the model's answer, needs no judge: those answers
    # are judged refusals; every answer that reaches the "Okay." judge is unparsed, excluded and counted
    # (a model whose answers all reached the judge has no judged answer: no value, all of them excluded)
    assert mitre["value"].dropna().eq(100).all() and mitre["n_excluded"].sum() > 0
    assert (mitre["value"].notna() | (mitre["n_excluded"] > 0)).all()
    with Store(outputs / "runs" / "rehearsal-deepseek-one-word" / "store.sqlite") as store:
        verdicts = store.verdicts_frame(judge="mitre", channel="answer")
    assert set(verdicts.loc[verdicts["parsed_ok"], "label"]) == {"refusal"}
    assert mitre["n_excluded"].sum() == (~verdicts["parsed_ok"]).sum()
    with Store(outputs / "runs" / "rehearsal-deepseek-one-word" / "store.sqlite") as store:
        r1 = store.generations_frame(model="deepseek-r1")
    assert set(r1["trace_state"]) == {"api_field"}  # DeepSeek's reasoning_content route


def test_the_imitation_server_is_an_openai_compatible_server() -> None:
    from openai import OpenAI
    with imitation_server() as server:
        client = OpenAI(base_url=server.base_url, api_key="none")
        reply = client.chat.completions.create(model="deepseek-ai/DeepSeek-V3",
                                               messages=[{"role": "user", "content": "hello"}])
    assert reply.choices[0].message.content
