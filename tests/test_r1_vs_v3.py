"""DeepSeek-R1 vs DeepSeek-V3 under one jailbreak (the deepseek-api-jailbreak set): the benchmark, the
recorded runs matched by whole conversation, each run sent only its own conversations, the shipped
label as a read-only judge, and :mod:`r1lib.analysis.r1_vs_v3`'s pairing, tables and claims. First on the
project's fixtures (any clone), then on the real mirror files (``mirror`` tests), where the numbers the
README reports are checked. The files hold harmful prompts and outputs: tests assert on counts only.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from r1lib.analysis import claims, r1_vs_v3
from r1lib.analysis.stats import cluster_sign_flip_p
from r1lib.app.profiles import Profile
from r1lib.app.run import Run
from r1lib.app.steps import generate
from r1lib.benchmarks.registry import load_items
from r1lib.config.settings import models_registry
from r1lib.core.records import NOT_RECORDED_FINISH
from r1lib.generation.backends.recorded import RecordedBackend
from r1lib.paper.tables import rates
from r1lib.store.database import Store

PROVIDERS = ("volcengine", "alibaba", "tencent")
MODELS = [f"recorded-deepseek-{family}-{provider}" for provider in PROVIDERS for family in ("r1", "v3")]
VIEWS = {"offline": None, "shipped": "recorded-jbb-llm-judge"}


def profile_file(tmp_path: Path, *, live: bool = False) -> Path:
    """A profile with the six recorded runs (and, with ``live``, a fake model) on deepseek-jailbreak."""
    models = [*MODELS, *(["fake-r1"] if live else [])]
    path = tmp_path / "r1v3.yaml"
    path.write_text(f"description: R1 vs V3\nmodels: [{', '.join(models)}]\njudge_models: {{default: offline}}\n"
                    "benchmarks: {deepseek-jailbreak: {}}\nscorers: {severity: {judge: harm-offline}}\n")
    return path


def open_run(tmp_path: Path, **kwargs: bool) -> Run:
    """A quiet run of that profile with its own store and output folders."""
    return Run.open(str(profile_file(tmp_path, **kwargs)), store=tmp_path / "store.sqlite",
                    tables_dir=tmp_path / "tables", figures_dir=tmp_path / "figures", progress=False)


def asr_table(views: dict, labels: dict) -> pd.DataFrame:
    """Attack success per judge view and model, per provider and pooled, indexed by (view, model)."""
    return rates({view: r1_vs_v3.views(frame) for view, frame in views.items()}, labels, unsafe=True) \
        .set_index(["view", "model"])


def frames(run: Run) -> dict:
    """The pair-keyed answer frame under each judge view."""
    return {name: r1_vs_v3.evaluate(run, judge=judge) for name, judge in VIEWS.items()}


# -- fixtures ------------------------------------------------------------------------------------------

def test_items_are_one_conversation_per_batch_provider_model_and_goal() -> None:
    items = load_items("deepseek-jailbreak")
    assert len(items) == 20 == len({item.id for item in items})  # GLM-4-Air rows left out
    assert Counter((i.category["provider"], i.category["family"]) for i in items) == {
        ("volcengine", "r1"): 4, ("volcengine", "v3"): 4, ("alibaba", "r1"): 4, ("alibaba", "v3"): 4,
        ("tencent", "r1"): 2, ("tencent", "v3"): 2}
    pairs = Counter(item.meta["pair"] for item in items)
    assert len(pairs) == 10 and set(pairs.values()) == {2}
    assert {i.category["goal"] for i in items} == {"jbb20", "jbb21", "jbb22"}
    assert all([m["role"] for m in i.messages] == ["system", "user", "assistant", "user"] for i in items)
    assert all(i.meta["goal"] == f"[fixture harmful request {i.category['goal'][3:]}]" for i in items)


def test_a_run_answers_its_own_conversation_as_a_whole() -> None:
    backend = RecordedBackend(models_registry()["recorded-deepseek-r1-volcengine"])
    items = {item.id: item for item in load_items("deepseek-jailbreak")}
    own = items["1/volcengine/r1/jbb20"].messages
    assert backend.complete(own).finish_reason == "stop"
    assert backend.complete(items["1/volcengine/v3/jbb20"].messages).finish_reason == NOT_RECORDED_FINISH
    assert backend.complete(items["1/alibaba/r1/jbb20"].messages).finish_reason == NOT_RECORDED_FINISH
    other_history = [*own[:2], {"role": "assistant", "content": "[another draft]"}, own[3]]
    assert backend.complete(other_history).finish_reason == NOT_RECORDED_FINISH  # the whole conversation counts
    spaced = [{**m, "content": f"  {m['content']}\n"} for m in own]
    assert backend.complete(spaced).finish_reason == "stop"  # after whitespace normalisation


def test_each_recorded_run_is_sent_only_its_own_items_and_a_live_model_all(tmp_path: Path) -> None:
    profile = Profile.load(str(profile_file(tmp_path, live=True)), store=tmp_path / "store.sqlite")
    with Store(profile.store_path) as store:
        outcomes = generate(profile, "deepseek-jailbreak", store, progress=False)
    sent = {model: [r.prompt_id for r in outcome.records] for model, outcome in outcomes.items()}
    assert len(sent["fake-r1"]) == 20
    for model in MODELS:
        family, provider = model.split("-")[2], model.split("-")[3]
        assert sent[model] and all(pid.split("/")[1:3] == [provider, family] for pid in sent[model])
        assert all(r.finish_reason != NOT_RECORDED_FINISH for r in outcomes[model].records)
    assert sum(len(sent[m]) for m in MODELS) == 20


def test_pairs_tables_and_claims_on_the_fixtures(tmp_path: Path) -> None:
    run = open_run(tmp_path)
    pairs = r1_vs_v3.model_pairs(run)
    assert pairs == [(f"recorded-deepseek-r1-{p}", f"recorded-deepseek-v3-{p}") for p in PROVIDERS]
    views = frames(run)
    shipped = views["shipped"]
    assert set(shipped["outcome"]) == {"judged"} and len(shipped) == 20 and shipped["prompt_id"].nunique() == 10
    asr = asr_table(views, run.labels)
    assert asr.loc[("shipped", r1_vs_v3.POOLED["r1"]), ["k", "n"]].tolist() == [8, 10]
    assert asr.loc[("shipped", r1_vs_v3.POOLED["v3"]), ["k", "n"]].tolist() == [3, 10]
    paired = r1_vs_v3.paired_table(views, pairs, run.labels)
    pooled = paired[(paired["view"] == "shipped") & (paired["reasoning"] == r1_vs_v3.POOLED["r1"])].iloc[0]
    assert (pooled["n"], pooled["goals"], pooled["reasoning_only"], pooled["counterpart_only"]) == (10, 3, 5, 0)
    assert pooled["value"] == pytest.approx(50.0) and pooled["p_mcnemar"] == pytest.approx(0.0625)
    assert pooled["p_goal_sign_flip"] == pytest.approx(0.5)  # goal sums 3 and 2: two of four sign patterns
    harm = r1_vs_v3.harm_table(r1_vs_v3.scores(run), shipped, pairs, run.labels)
    both = harm[harm["reasoning"] == r1_vs_v3.POOLED["r1"]].iloc[0]
    assert (both["n"], both["reasoning_higher"], both["counterpart_higher"]) == (3, 3, 0)  # R1 says more
    table = run.claims_table(claims.pair_claims({"jailbreak": r1_vs_v3.pooled(shipped)}, [r1_vs_v3.POOLED_PAIR],
                                                run.labels))
    assert table.loc[0, "n"] == 10 and table.loc[0, "effect"] == pytest.approx(-0.5)
    assert table.loc[0, "judge"] == "recorded-jbb-llm-judge" and "shipped labels" in table.loc[0, "evidence"]


def test_the_offline_judge_is_checked_against_the_shipped_labels(tmp_path: Path) -> None:
    run = open_run(tmp_path)
    offline = r1_vs_v3.evaluate(run)
    table = run.claims_table(claims.pair_claims({"jailbreak": r1_vs_v3.pooled(offline)}, [r1_vs_v3.POOLED_PAIR],
                                                run.labels))
    assert table.loc[0, "judge"] == "jailbreak"
    assert "vs LLM-judge (JailbreakBench prompt) flags shipped with the deepseek-api-jailbreak set" \
        in table.loc[0, "evidence"] and "n 20" in table.loc[0, "evidence"]


def test_cluster_sign_flip_is_exact_for_few_clusters_and_sampled_for_many() -> None:
    assert cluster_sign_flip_p([1, 1, 0], [0, 0, 0], ["g1", "g1", "g2"]) == 1.0  # one non-zero cluster: +-2
    assert cluster_sign_flip_p([1, 1, 1], [0, 0, 0], ["a", "b", "c"]) == pytest.approx(0.25)
    assert cluster_sign_flip_p([1, 0], [1, 0], ["a", "b"]) == 1.0
    rng = np.random.default_rng(1)
    a, b = rng.random(200) < 0.7, rng.random(200) < 0.4
    goals = np.repeat([f"g{i}" for i in range(40)], 5)
    assert cluster_sign_flip_p(a, b, goals) < 0.01  # a large shift over 40 clusters
    null = rng.random(200) < 0.5
    assert cluster_sign_flip_p(null, rng.permutation(null), goals) > 0.05


# -- the real set (mirror) -------------------------------------------------------------------------------

@pytest.mark.mirror
def test_real_set_has_90_pairs_of_37_goals_and_each_run_answers_its_own(tmp_path: Path) -> None:
    items = load_items("deepseek-jailbreak")
    assert len(items) == 180 and len({i.meta["pair"] for i in items}) == 90
    assert len({i.category["goal"] for i in items}) == 37
    run = open_run(tmp_path)
    shipped = r1_vs_v3.evaluate(run, judge="recorded-jbb-llm-judge")
    assert Counter(shipped["model"]) == {m: 10 if "tencent" in m else 40 for m in MODELS}
    assert set(shipped["outcome"]) == {"judged"}


@pytest.mark.mirror
def test_real_set_numbers_the_readme_reports(tmp_path: Path) -> None:
    run = open_run(tmp_path)
    views = frames(run)
    pairs = r1_vs_v3.model_pairs(run)
    asr = asr_table(views, run.labels)
    assert asr.loc[("shipped", r1_vs_v3.POOLED["r1"]), ["k", "n"]].tolist() == [70, 90]  # MANIFEST: 70/90
    assert asr.loc[("shipped", r1_vs_v3.POOLED["v3"]), ["k", "n"]].tolist() == [48, 90]  # MANIFEST: 48/90
    paired = r1_vs_v3.paired_table(views, pairs, run.labels).set_index(["view", "reasoning"])
    pooled = paired.loc[("shipped", r1_vs_v3.POOLED["r1"])]
    assert (pooled["reasoning_only"], pooled["counterpart_only"]) == (25, 3) and pooled["p_mcnemar"] < 1e-4
    assert pooled["ci_low"] > 0 and pooled["p_goal_sign_flip"] < 0.01
    offline = paired.loc[("offline", r1_vs_v3.POOLED["r1"])]
    assert offline["ci_low"] < 0 < offline["ci_high"]  # the offline judge sees no gap: a judge-dependent claim
    harm = r1_vs_v3.harm_table(r1_vs_v3.scores(run), views["shipped"], pairs, run.labels)
    both = harm[harm["reasoning"] == r1_vs_v3.POOLED["r1"]].iloc[0]
    assert both["n"] == 45 and both["goals"] == 22 and both["ci_low"] > 0  # MANIFEST: both jailbroken in 45


# -- the notebooks' R1-vs-V3 sections --------------------------------------------------------------------

@pytest.mark.slow
def test_notebooks_02_and_03_write_the_r1_vs_v3_tables_figures_and_claims(tmp_path: Path) -> None:
    from r1lib.app.reproduce import reproduce
    fakes = "[fake-r1, fake-v3, fake-o3]"
    profile = tmp_path / "attacks-r1v3.yaml"
    profile.write_text(
        "description: fakes on the attacks, recorded R1 vs V3\n"
        f"models: [fake-r1, fake-v3, fake-o3, {', '.join(MODELS)}]\n"
        "pairs: [[fake-r1, fake-v3]]\nreference: fake-o3\njudge_models: {default: offline}\nphishing_victim: fake-v3\n"
        "phishing_turns: 1\nscorers: {severity: {judge: harm-offline}}\nbenchmarks:\n"
        + "".join(f"  {b}: {{limit: 4, models: {fakes}}}\n" for b in
                  ("airbench", "mitre", "interpreter", "phishing", "jailbreak", "prompt-injection"))
        + f"  deepseek-jailbreak: {{models: [{', '.join(MODELS)}]}}\n")
    tables, figures = tmp_path / "tables", tmp_path / "figures"
    code = reproduce(str(profile), only=["02", "03"], store=tmp_path / "store.sqlite", tables_dir=tables,
                     figures_dir=figures, runs_dir=tmp_path / "runs")
    assert code == 0
    for name in ("recorded_r1_v3_asr", "recorded_r1_v3_paired", "recorded_r1_v3_harm"):
        assert {"value", "ci_low", "ci_high", "n"} <= set(pd.read_csv(tables / f"{name}.csv").columns)
        assert "[" in (tables / f"{name}.md").read_text()  # the reader's view carries the intervals
    assert (figures / "fig3_r1_v3.png").is_file() and (figures / "fig4_r1_v3.png").is_file()
    attacks = pd.read_csv(tables / "claims_02_attacks.csv")
    r1v3 = attacks[attacks["claim"].str.contains("deepseek-jailbreak")]
    assert len(r1v3) == 2 and set(r1v3["n"]) == {10}
    assert set(r1v3["judge"]) == {"jailbreak", "recorded-jbb-llm-judge"}
    harm = pd.read_csv(tables / "claims_03_reasoning_harm.csv")
    assert harm["claim"].str.contains("answers both gave jailbroken, R1 vs V3").sum() == 1
