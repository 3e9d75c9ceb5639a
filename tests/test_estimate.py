"""``r1lib estimate``: the calls it predicts are the calls a run makes (judge model on the loopback
imitation of GPT-4o), stored work is not counted again, its default lengths are what the cited traces
measure, and it covers every judging the notebooks do."""

from __future__ import annotations

import csv
import dataclasses
import json
import statistics
from pathlib import Path

import pytest

from r1lib.app.cli import main
from r1lib.app.estimate import MIN_STORED, estimate_profile
from r1lib.app.estimate_report import format_estimate
from r1lib.app.judging_plan import unplanned
from r1lib.app.profiles import Profile
from r1lib.app.rehearse import imitation_server
from r1lib.app.reproduce import judgings, reproduce
from r1lib.app.run import Run
from r1lib.benchmarks.sources import DataFiles
from r1lib.config.settings import models_registry
from r1lib.cost.defaults import AIRBENCH_ANSWERS, CHAT, DEFAULT_LENGTHS, SAFEKEY, STAR1, VISIBLE, family
from r1lib.cost.tokens import counter
from r1lib.generation.runner import Request, run_requests
from r1lib.judges.registry import judge_class
from r1lib.store.database import Store
from r1lib.testing import priced_judge_file


@pytest.fixture
def judged_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Two fake models judged by GPT-4o's loopback imitation (priced), on three small benchmarks."""
    with imitation_server() as server:
        monkeypatch.setenv("R1LIB_MODELS", str(priced_judge_file(tmp_path / "models.yaml", server.base_url)))
        profile = Profile.from_dict({"name": "judged", "models": ["fake-r1", "fake-v3"],
                                     "judge_models": {"default": "loop-gpt-4o"},
                                     # one model per benchmark where the fakes' identical answers would
                                     # share one stored judge call (the run asks once, the estimate twice)
                                     "benchmarks": {"xstest": {"limit": 6, "models": ["fake-v3"]},
                                                    "airbench": {"limit": 6, "models": ["fake-r1"]},
                                                    "mitre": {"limit": 5}},
                                     "store": str(tmp_path / "store.sqlite")})
        yield profile, server


def judge_calls(estimate, judge: str) -> int:
    rows = estimate.rows[(estimate.rows["stage"] == "judging") & (estimate.rows["what"] == judge)]
    return int(rows["calls"].sum())


def test_the_estimate_counts_the_calls_the_run_makes(judged_profile) -> None:
    profile, server = judged_profile
    before = estimate_profile(profile)
    generation = before.rows[before.rows["stage"] == "generation"]
    assert generation.groupby("model")["calls"].sum().to_dict() == {"fake-r1": 11, "fake-v3": 11}
    # answers of every model, thinking of the reasoning model only
    assert judge_calls(before, "xstest") == 6 and judge_calls(before, "airbench") == 6 * 2
    assert judge_calls(before, "mitre") == 5 * 3 * 2  # expansion + verdict per output (an upper bound)
    mitre = before.rows[before.rows["what"] == "mitre"]["detail"].tolist()
    assert "thinking of fake-r1: expansion" in mitre and not any(d.startswith("thinking of fake-v3") for d in mitre)
    assert before.rows.loc[before.rows["stage"] == "judging", "usd"].gt(0).all()  # the judge model is priced

    run = Run(profile, tables_dir=profile.store_path.parent, figures_dir=profile.store_path.parent, progress=False)
    run.evaluate("xstest")
    for benchmark in ("airbench", "mitre"):
        run.evaluate(benchmark, channels=("answer", "thinking"))
    with Store(profile.store_path) as store:
        made = {name: sum(1 for _ in store.iter_generations(benchmark=f"judge:{name}", role="judge"))
                for name in ("xstest", "airbench", "mitre")}
        after = estimate_profile(profile, store)
    assert made["xstest"] == judge_calls(before, "xstest") and made["airbench"] == judge_calls(before, "airbench")
    assert 0 < made["mitre"] <= judge_calls(before, "mitre")
    assert server.counts["requests"] == sum(made.values())
    # nothing left to send: every generation and every verdict is stored
    assert after.rows.loc[after.rows["stage"] == "generation", "calls"].sum() == 0
    assert after.rows.loc[after.rows["stage"] == "generation", "stored"].sum() == 22
    assert judge_calls(after, "xstest") == judge_calls(after, "airbench") == judge_calls(after, "mitre") == 0
    # the paper-size line scales the whole run, stored calls included: the same before and after the run
    paper_before, paper_after = before.at_paper_size(), after.at_paper_size()
    assert paper_after["calls"] == pytest.approx(paper_before["calls"]) and paper_after["calls"] > 100
    assert paper_after["usd"] > 0 and after.totals()["usd"] == 0
    shown = format_estimate(after, profile)
    assert "still to send: 0 calls" in shown and f"{paper_after['calls']:,.0f} calls" in shown
    assert "of this run 0 calls ($0.00) are still to send" in shown


def test_the_estimate_says_how_many_stored_records_its_lengths_rest_on(tmp_path: Path) -> None:
    profile = Profile.from_dict({"name": "lengths", "models": ["fake-r1", "fake-v3"],
                                 "judge_models": {"default": "offline"}, "benchmarks": {"xstest": {"limit": 3}},
                                 "store": str(tmp_path / "store.sqlite")})
    registry = models_registry()
    with Store(profile.store_path) as store:
        for model, n in (("fake-r1", MIN_STORED), ("fake-v3", MIN_STORED - 1)):
            requests = [Request(f"q{i}", [{"role": "user", "content": f"question {i}?"}]) for i in range(n)]
            run_requests(registry[model], "demo", requests, store, progress=False)
        estimate = estimate_profile(profile, store)
    measured, default = estimate.lengths["fake-r1"], estimate.lengths["fake-v3"]
    assert measured.source.startswith(f"measured on {MIN_STORED} stored records of this model (at least {MIN_STORED}")
    assert default == dataclasses.replace(DEFAULT_LENGTHS[family(registry["fake-v3"])], source=default.source)
    assert default.source.endswith(f"{MIN_STORED - 1} stored records of this model, fewer than the {MIN_STORED} "
                                   "needed to replace these defaults")
    shown = format_estimate(estimate, profile)
    assert f"fake-r1: {measured.billed:,.0f} billed" in shown and measured.source in shown and default.source in shown


@pytest.mark.mirror  # the real AIR-Bench judge templates (the fixtures' are short)
def test_judge_prompts_are_counted_with_their_templates(judged_profile) -> None:
    profile, _ = judged_profile
    rows = estimate_profile(profile).rows
    rows = rows[rows["stage"] == "judging"].set_index("detail")
    airbench = rows[rows["what"] == "airbench"]
    per_call = airbench["prompt_tokens"] / airbench["calls"]
    # AIR-Bench's per-category judge templates run to hundreds of tokens besides the judged text
    assert (per_call - DEFAULT_LENGTHS[VISIBLE].answer > 300).loc["answer of fake-r1: verdict"]
    xstest = rows[rows["what"] == "xstest"]
    assert (xstest["output_tokens"] / xstest["calls"] == judge_class("xstest").output_tokens).all()


@pytest.mark.slow
@pytest.mark.mirror
def test_estimate_command_prints_per_model_and_per_judge_and_writes_rows(tmp_path: Path, mirror: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out_csv = tmp_path / "rows.csv"
    assert main(["estimate", "--profile", "paper", "--csv", str(out_csv)]) == 0
    out = capsys.readouterr().out
    for expected in ("generation, per model", "judging, per judge and judge model", "deepseek-r1", "gpt-4o",
                     "synchronous", "Batch API", "o200k_base", "at the paper's benchmark sizes"):
        assert expected in out
    rows = list(csv.DictReader(out_csv.open()))
    assert {r["what"] for r in rows if r["stage"] == "judging"} >= {"airbench", "mitre", "phishing", "safety-thinking"}
    assert all(float(r["usd_batch"]) <= float(r["usd"]) for r in rows)


@pytest.mark.mirror
def test_default_lengths_are_what_the_cited_traces_measure(mirror: Path) -> None:
    files, count = DataFiles(download=False), counter().count
    if "o200k_base" not in counter().name:
        pytest.skip("bpe-openai is not installed: the defaults were measured with o200k_base")

    def split(trace: str) -> tuple[int, int]:
        thinking, _, answer = trace.partition("</think>")
        return count(thinking.replace("<think>", "").strip()), count(answer.strip())

    star = [split(row["response"]) for row in json.loads(files.path(STAR1).read_text())]
    safekey = [split(row["target"]) for source in SAFEKEY for row in csv.DictReader(files.path(source).open())]
    means = [(statistics.mean(t for t, _ in rows), statistics.mean(a for _, a in rows)) for rows in (star, safekey)]
    visible = DEFAULT_LENGTHS[VISIBLE]
    assert visible.thinking == pytest.approx((means[0][0] + means[1][0]) / 2, abs=0.1)
    assert visible.answer == pytest.approx((means[0][1] + means[1][1]) / 2, abs=0.1)
    llama = json.loads(files.path(AIRBENCH_ANSWERS["pipeline1_step2_Llama-3-8b_result.json"]).read_text())
    gpt4 = list(csv.DictReader(files.path(AIRBENCH_ANSWERS["pipeline2_step2_gpt-4-turbo_result.csv"]).open()))
    chat = (statistics.mean(count(r["response"]) for r in llama)
            + statistics.mean(count(r["response"]) for r in gpt4)) / 2
    assert DEFAULT_LENGTHS[CHAT].answer == pytest.approx(chat, abs=0.1)
    verdicts = [f"##short_reasoning: {r['reason']}\n##the_score: {r['score']}" for r in llama] + \
               [f"##short_reasoning: {r['score_reason']}\n##the_score: {r['score']}" for r in gpt4]
    assert judge_class("airbench").output_tokens == pytest.approx(statistics.mean(map(count, verdicts)), abs=0.1)


#: Every benchmark the notebooks read: fakes on the paper's, each recorded set with its runs.
FAKES = "[fake-r1, fake-v3, fake-r1-70b, fake-llama, fake-o3]"
DEEPSEEK = [f"recorded-deepseek-{family}-{provider}" for provider in ("volcengine", "alibaba", "tencent")
            for family in ("r1", "v3")]
RECORDED = {"jbb-recorded": "[recorded-r1-distill-llama-8b, recorded-llama-3.1-8b, recorded-llama-3-8b, "
                            "recorded-qwen2.5-7b]",
            "alpaca-harmless": "[recorded-r1-distill-llama-8b, recorded-llama-3-8b]",
            "personas": "[recorded-deepseek-r1-personas]", "xstest-age": "[recorded-r1-distill-qwen-14b]",
            "deepseek-jailbreak": "[" + ", ".join(DEEPSEEK) + "]"}


def test_unplanned_names_a_judging_the_plan_misses() -> None:
    profile = Profile.load("ci")
    assert unplanned(profile, [("airbench", "airbench", "answer"), ("jailbreak:plain", "safety-thinking", "thinking"),
                               ("airbench", "harm-offline", "answer")]) == []
    assert unplanned(profile, [("xstest", "recorded-human", "thinking")]) == [("xstest", "recorded-human", "thinking")]


@pytest.mark.slow
def test_every_judging_the_notebooks_make_is_in_the_estimate(tmp_path: Path) -> None:
    """Runs every notebook on fakes and the recorded fixtures and checks what they judged against JUDGING."""
    models = sorted({m.strip() for group in (FAKES, *RECORDED.values()) for m in group.strip("[]").split(",")})
    lines = ["description: every benchmark the notebooks read", f"models: [{', '.join(models)}]",
             "pairs: [[fake-r1, fake-v3], [fake-r1-70b, fake-llama], [recorded-r1-distill-llama-8b, "
             "recorded-llama-3.1-8b]]", "reference: fake-o3", "judge_models: {default: offline}",
             "phishing_victim: fake-v3", "phishing_turns: 1", "scorers: {severity: {judge: harm-offline}}",
             "benchmarks:"]
    lines += [f"  {b}: {{limit: 6, models: {FAKES}}}" for b in
              ("airbench", "mitre", "interpreter", "phishing", "xstest", "jailbreak", "prompt-injection")]
    lines += [f"  {b}: {{models: {chosen}}}" for b, chosen in RECORDED.items()]
    profile = tmp_path / "everything.yaml"
    profile.write_text("\n".join(lines) + "\n")
    runs = tmp_path / "runs"
    code = reproduce(str(profile), store=tmp_path / "store.sqlite", tables_dir=tmp_path / "tables",
                     figures_dir=tmp_path / "figures", runs_dir=runs)
    assert code == 0
    judged = [j for status in sorted(runs.rglob("*.status.json")) for j in judgings(status)]
    assert len(judged) > 30
    assert {tag.split(":")[0] for tag, _, _ in judged} >= {"airbench", "jbb-recorded", "personas", "deepseek-jailbreak"}
    assert unplanned(Profile.load(str(profile)), judged) == []
