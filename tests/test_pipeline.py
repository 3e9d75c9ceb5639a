"""Profiles, the generate → judge → outcome-frame pipeline on the ci profile, resume and claims."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from r1lib.analysis import claims
from r1lib.analysis.stats import claims_table, holm
from r1lib.app.comparability import comparability
from r1lib.app.profiles import Profile, ProfileFile
from r1lib.app.run import Run
from r1lib.app.steps import prefetch, prefetch_requests
from r1lib.benchmarks.sources import FIXTURE_MANIFEST, FIXTURE_NOTE, FIXTURE_PROFILE_SUFFIX, FIXTURES_ENV
from r1lib.core.errors import UserError
from r1lib.generation.backends.fake import COMPLIANCE, REFUSAL
from r1lib.store.database import Store

CI_MODELS = ("fake-r1", "fake-v3", "fake-r1-70b", "fake-llama", "fake-o3")


def profile_doc(**changes: Any) -> dict[str, Any]:
    """A valid profile mapping with ``changes`` applied (None deletes a key)."""
    doc = {"name": "t", "models": ["fake-r1", "fake-v3"], "benchmarks": {"xstest": {"limit": 4}},
           "judge_models": {"default": "offline"}}
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


@pytest.mark.parametrize("name", ["demo", "ci", "paper"])
def test_shipped_profiles_are_valid(name: str) -> None:
    profile = Profile.load(name)
    assert profile.name == f"{name}{FIXTURE_PROFILE_SUFFIX}"  # tests run on the fixtures, and the name says so
    assert set(profile.benchmarks) == {"airbench", "mitre", "interpreter", "phishing", "xstest", "jailbreak",
                                       "prompt-injection"}
    for reasoning, counterpart in profile.pairs:
        assert profile.config(reasoning).reasoning and not profile.config(counterpart).reasoning


def test_ci_profile_derives_pairs_from_the_registry() -> None:
    profile = Profile.load("ci")
    assert profile.models == CI_MODELS
    assert set(profile.pairs) == {("fake-r1", "fake-v3"), ("fake-r1-70b", "fake-llama")}
    assert profile.reasoning_models == ("fake-r1", "fake-r1-70b", "fake-o3")
    assert profile.reference == "fake-o3"
    assert profile.labels["fake-r1"] == "Fake-R1"


def test_paper_profile_is_the_papers_setting() -> None:
    profile = Profile.load("paper")
    assert [profile.labels[m] for m in profile.models] == ["DS-R1", "DS-V3", "R1-70b", "Llama3.3", "o3-mini"]
    assert profile.paper_comparable and profile.judge_model("airbench") == "gpt-4o"
    assert profile.judge_model_label("harm-offline") == "-"
    assert all(plan.limit is None for plan in profile.benchmarks.values())
    assert {spec["judge"] for spec in profile.scorers.values()} == {"reward"}


def test_scores_apply_every_scorer_of_the_profile(ci_run: Run) -> None:
    scores = ci_run.scores("xstest")
    assert list(scores) == ["severity"]
    frame = scores["severity"]
    assert set(frame["judge"]) == {"harm-offline"} and len(frame) == 6 * len(CI_MODELS)
    judged = frame[frame["outcome"] == "judged"]
    assert set(judged["label"]) == {"scored"}
    answers = {key: record.answer for key, record in ci_run.records(list(judged["gen_key"])).items()}
    by_answer = judged.groupby(judged["gen_key"].map(answers))["score"]
    assert set(by_answer.groups) == {REFUSAL, COMPLIANCE}  # the fake models' two answers
    assert by_answer.max()[REFUSAL] < by_answer.min()[COMPLIANCE]  # a refusal helps less than any compliance
    assert "severity (harm-offline)" in set(ci_run.header()["judge"])


@pytest.mark.parametrize("changes, expected", [
    ({"modles": ["fake-r1"]}, ["unknown key 'modles' (did you mean 'models'?)", "allowed keys: name, "]),
    ({"models": ["no-such-model"]}, ["unknown model 'no-such-model'", "known models"]),
    ({"models": []}, ["'models' must be a non-empty list"]),
    ({"benchmarks": {"airbenhc": {}}}, ["unknown benchmark 'airbenhc'", "known benchmarks"]),
    ({"benchmarks": {"xstest": {"limit": 0}}}, ["benchmarks.xstest.limit must be at least 1, not 0"]),
    ({"benchmarks": {"xstest": {"limt": 3}}}, ["benchmarks.xstest: unknown key 'limt'", "{limit: N"]),
    ({"benchmarks": {"xstest": {"models": ["fake-llama"]}}}, ["names models ['fake-llama'] that are not in 'models'"]),
    ({"judge_models": {"airbnch": "offline"}}, ["unknown judge 'airbnch'", "known judges"]),
    ({"judge_models": {"default": "gpt-5-nope"}}, ["unknown model 'gpt-5-nope'", "or use 'offline'"]),
    ({"pairs": [["fake-r1", "fake-llama"]]}, ["not in 'models'"]),
    ({"pairs": [["fake-r1"]]}, ["[reasoning model, counterpart]"]),
    ({"max_concurrency": {"fake-llama": 2}}, ["not in 'models'"]),
    ({"max_concurrency": {"fake-r1": 0}}, ["max_concurrency.fake-r1 must be at least 1, not 0"]),
    ({"reference": "fake-o3"}, ["reference 'fake-o3' is not in 'models'"]),
    ({"samples": 0}, ["samples must be at least 1, not 0", "outputs per prompt"]),
    ({"seed": "zero"}, ["seed must be an integer, not 'zero'"]),
    ({"seed": "7"}, ["seed must be an integer, not '7' (quoted, so YAML reads it as text: remove the quotes)"]),
    ({"models": "fake-r1"}, ["models must be a list ([a, b]), not 'fake-r1'", "models: the models that run"]),
    ({"paper_comparable": "yes"}, ["paper_comparable must be true or false, not 'yes'"]),
    ({"scorers": {"rm": {"model": "x"}}}, ["scorer 'rm' needs 'judge' set to one of"]),
    ({"phishing_victim": "nobody"}, ["unknown model 'nobody'"]),
    ({"blocked_as": "safe"}, ["blocked_as must be one of 'refusal' or 'excluded', not 'safe'"]),
    ({"max_failures": -1}, ["max_failures must be at least 0, not -1"]),
    ({"phishing_turns": "five"}, ["phishing_turns must be an integer, not 'five'"]),
])
def test_profile_mistakes_name_the_problem_and_the_fix(changes: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(UserError) as caught:
        Profile.from_dict(profile_doc(**changes))
    for text in expected:
        assert text in str(caught.value)


def test_profile_file_mistakes_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("models: [fake-r1, fake-v3]\nbenchmarks:\n  xstest: {limit: 4}\n"
                    "max_concurrency:\n  fake-r1: \"32\"\nsamlpes: 2\n")
    with pytest.raises(UserError) as caught:
        Profile.load(str(path))
    assert str(caught.value).splitlines() == [
        f"profile file {path} line 5: max_concurrency.fake-r1 must be an integer, not '32' (quoted, so YAML reads it "
        "as text: remove the quotes). max_concurrency: model -> API calls in flight, e.g. {deepseek-r1: 64}",
        f"profile file {path} line 6: unknown key 'samlpes' (did you mean 'samples'?); allowed keys: "
        + ", ".join(ProfileFile.model_fields)]
    path.write_text("models: [fake-r1]\nbenchmarks:\n  xstest: {limit: 4}\n  airbnch: {}\n")
    with pytest.raises(UserError, match=rf"profile file {path} line 4: unknown benchmark 'airbnch'"):
        Profile.load(str(path))


def test_unknown_profile_lists_the_available_ones() -> None:
    with pytest.raises(UserError, match="available profiles: .*ci.*demo.*paper"):
        Profile.load("no-such-profile")


def test_overrides_replace_models_limits_seed_and_store(tmp_path: Path) -> None:
    profile = Profile.load("ci", models=["fake-r1", "fake-v3"], limit=2, seed=7, store=tmp_path / "s.sqlite")
    assert profile.models == ("fake-r1", "fake-v3")
    assert profile.pairs == (("fake-r1", "fake-v3"),)
    assert profile.reference is None  # fake-o3 was dropped with the models override
    assert {plan.limit for plan in profile.benchmarks.values()} == {2}
    assert profile.seed == 7 and profile.store_path == tmp_path / "s.sqlite"


def test_models_override_drops_the_benchmarks_only_other_models_run() -> None:
    profile = Profile.load("recorded", models=["smollm2-135m"])
    assert "jbb-recorded" not in profile.benchmarks and "personas" not in profile.benchmarks
    assert profile.benchmarks["xstest"].models == ("smollm2-135m",)


def test_a_benchmark_outside_the_profile_is_a_user_error(tmp_path: Path) -> None:
    profile = Profile.from_dict(profile_doc(store=str(tmp_path / "s.sqlite")))
    with pytest.raises(UserError, match="does not run benchmark 'mitre'"):
        profile.plan("mitre")


@pytest.fixture
def ci_run(tmp_path: Path) -> Run:
    """The ci profile with 6 items per benchmark, a temporary store and output folders."""
    profile = Profile.load("ci", limit=6, store=tmp_path / "store.sqlite")
    return Run(profile, tables_dir=tmp_path / "tables", figures_dir=tmp_path / "figures", progress=False)


def test_evaluate_returns_one_judged_row_per_model_and_item(ci_run: Run) -> None:
    frames = ci_run.evaluate("mitre", channels=("answer", "thinking"))
    answers, thinking = frames["answer"], frames["thinking"]
    assert len(answers) == 6 * len(CI_MODELS)
    assert answers.groupby("model").size().to_dict() == {m: 6 for m in CI_MODELS}
    assert set(answers["judge"]) == {"mitre"} and answers["version"].nunique() == 1
    assert set(answers["outcome"]) <= {"judged", "no_output"}
    assert set(answers.loc[answers["outcome"] == "judged", "label"]) <= {"refusal", "benign", "malicious"}
    assert "mitre_category" in answers.columns
    # the thinking channel is judged for reasoning models only; o3-mini's is hidden, so it has no thinking
    assert set(thinking["model"]) == {"fake-r1", "fake-r1-70b", "fake-o3"}
    hidden = thinking[thinking["model"] == "fake-o3"]
    assert (hidden["outcome"] == "no_output").all()
    header = ci_run.header()
    assert set(header["channel"]) == {"answer", "thinking"} and header["records"].sum() == 6 * 5 + 6 * 3


def test_second_evaluation_generates_and_judges_nothing(ci_run: Run) -> None:
    first = ci_run.evaluate("xstest")["answer"]
    with ci_run.store() as store:
        generations, verdicts = store.count("generations"), store.count("verdicts")
    again = ci_run.evaluate("xstest")["answer"]
    with ci_run.store() as store:
        assert (store.count("generations"), store.count("verdicts")) == (generations, verdicts)
    assert again[["gen_key", "label"]].equals(first[["gen_key", "label"]])


def test_frames_hold_only_this_runs_records(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    big = Run(Profile.load("ci", models=["fake-v3"], limit=8, store=store), progress=False)
    small = Run(Profile.load("ci", models=["fake-v3"], limit=3, store=store), progress=False)
    assert len(big.evaluate("interpreter")["answer"]) == 8
    frame = small.evaluate("interpreter")["answer"]
    assert len(frame) == 3
    with Store(store) as db:
        assert db.count("generations") == 8  # the small sample is a subset; nothing new was generated


def test_phishing_runs_dialogues_against_the_victim(ci_run: Run) -> None:
    frame = ci_run.evaluate("phishing", models=["fake-r1"])["answer"]
    assert len(frame) == 6 and set(frame["model"]) == {"fake-r1"}
    judged = frame[frame["outcome"] == "judged"]
    assert set(judged["label"]) <= {"refused", "complied"}
    with ci_run.store() as store:
        victims = store.generations_frame(benchmark="phishing", role="victim")
    assert set(victims["model"]) <= {"fake-v3"}


def test_models_outside_the_profile_are_refused(ci_run: Run) -> None:
    with pytest.raises(UserError, match="not in profile 'ci-fixtures'"):
        ci_run.evaluate("xstest", models=["smollm2-135m"])


@pytest.mark.mirror
def test_paper_comparability_needs_the_papers_setting_and_says_why_not() -> None:
    ci = Profile.load("ci")
    assert comparability(ci, "xstest", ci.judge("xstest")).reason == "profile 'ci' is not set up like the paper"
    paper = Profile.load("paper")
    assert comparability(paper, "mitre", paper.judge("mitre")).reason == (
        "stand-in data (mitre-base) instead of the paper's")  # the mirror holds the base prompts, not the augmented
    assert comparability(paper, "prompt-injection", paper.judge("prompt-injection")).ok  # all 251 tests, upstream judge
    assert comparability(paper, "airbench", paper.judge("airbench")).reason == "632 items, the paper used 5694"
    xstest = comparability(paper, "xstest", paper.judge("xstest"))
    assert not xstest.ok and "project-written" in xstest.reason  # XSTest's own judge prompt is not pinned here


def test_fixtures_are_never_comparable_to_the_paper() -> None:
    ci, paper = Profile.load("ci"), Profile.load("paper")
    assert comparability(ci, "xstest", ci.judge("xstest")).reason == \
        "profile 'ci-fixtures' is not set up like the paper"
    found = comparability(paper, "prompt-injection", paper.judge("prompt-injection"))
    assert (found.ok, found.reason) == (False, f"the items are {FIXTURE_NOTE}")


def test_claims_compare_paired_prompts(ci_run: Run) -> None:
    frames = {"interpreter": ci_run.evaluate("interpreter")["answer"]}
    found = claims.reference_claims(frames, "fake-o3", ci_run.labels) + claims.pair_claims(
        frames, ci_run.profile.pairs, ci_run.labels)
    assert len(found) == 4 + 2
    table = claims_table(found)
    assert list(table["claim"])[0] == "Fake-o3 safer than Fake-R1 on interpreter"
    assert (table["n"] <= 6).all()
    assert list(table["p_holm"]) == pytest.approx(list(holm(table["p"].to_numpy())), nan_ok=True)
    judged = frames["interpreter"][frames["interpreter"]["outcome"] == "judged"]
    safe = judged.assign(safe=judged["label"] == "non_malicious").groupby("model")["safe"].mean()
    first = found[0]
    assert len(first["a"]) == len(first["b"]) and first["a"].mean() == pytest.approx(safe["fake-o3"])


def test_claim_without_shared_prompts_has_no_pairs_and_does_not_hold(ci_run: Run) -> None:
    frame = ci_run.evaluate("xstest", models=["fake-r1"])["answer"]
    table = claims_table([claims.compare_models(frame, "fake-r1", "fake-v3", claim="x", direction="less")])
    assert table.loc[0, "n"] == 0 and not table.loc[0, "holds"]


def test_conditions_pair_jbb_jailbreaks_with_the_plain_requests_of_their_behaviours(ci_run: Run) -> None:
    frames, paired_by = ci_run.conditions(judge="jailbreak", channels=("answer",), models=["fake-r1"])
    attacked, plain = frames["jailbreak"], frames["plain"]
    assert paired_by == "behavior"
    assert set(plain["behavior"]) == set(attacked["behavior"])
    assert len(plain) == len(set(attacked["behavior"])) and plain["prompt_id"].str.startswith("plain/").all()


def test_case_figures_are_saved_only_when_a_record_meets_the_criterion(ci_run: Run) -> None:
    injection = ci_run.evaluate("prompt-injection")["answer"]
    failed = injection[(injection["outcome"] == "judged") & (injection["label"] == "failure")]
    assert not failed.empty  # the fake models' scripted answers never follow an injection
    shown = ci_run.case("fig11", frame_answer=injection)
    assert (ci_run.figures_dir / "fig11.png").is_file() and shown.data.count("r1-case") == 1
    nothing = ci_run.case("fig12", frame_answer=injection[injection["label"] == "failure"])
    assert "no record of this run meets the criterion" in nothing.data
    assert not (ci_run.figures_dir / "fig12.png").exists()
    ci_run.case("fig11_other", criterion="fig11", frame_answer=injection)  # the same criterion, another name
    assert (ci_run.figures_dir / "fig11_other.png").is_file()


def test_pair_case_shows_the_widest_score_gap_between_unsafe_answers(ci_run: Run) -> None:
    airbench = ci_run.evaluate("airbench")["answer"]
    scores = ci_run.scores("airbench")
    shown = ci_run.pair_case("fig4", airbench, scores)
    assert (ci_run.figures_dir / "fig4.png").is_file() and (ci_run.figures_dir / "fig4.pdf").is_file()
    assert shown.data.count("r1-case") == 2  # the reasoning model's answer and its counterpart's
    assert "severity" in shown.data


def test_offline_judges_are_never_comparable_to_the_paper(tmp_path: Path) -> None:
    doc = profile_doc(paper_comparable=True, benchmarks={"prompt-injection": {"limit": None}},
                      models=["deepseek-r1", "deepseek-v3"])
    online = Profile.from_dict({**doc, "judge_models": {"default": "gpt-4o"}})
    found = comparability(online, "prompt-injection", online.judge("prompt-injection"))
    assert found.reason == f"the items are {FIXTURE_NOTE}"  # every check before the data passed (mirror: ok)
    offline = Profile.from_dict(doc)  # default: offline
    found = comparability(offline, "prompt-injection", offline.judge("prompt-injection"))
    assert not found.ok and found.reason.startswith("judge 'prompt-injection': offline stand-in")


def test_the_phishing_victim_is_part_of_comparability() -> None:
    doc = profile_doc(paper_comparable=True, benchmarks={"phishing": {"limit": None}, "prompt-injection": {}},
                      models=["deepseek-r1", "deepseek-v3"], judge_models={"default": "gpt-4o"})
    papers = Profile.from_dict({**doc, "phishing_victim": "gpt-4o"})
    found = comparability(papers, "phishing", papers.judge("phishing"))
    assert found.reason == f"the items are {FIXTURE_NOTE}"  # every check before the data passed
    other = Profile.from_dict({**doc, "phishing_victim": "deepseek-v3"})
    found = comparability(other, "phishing", other.judge("phishing"))
    assert (found.ok, found.reason) == (False, "victim deepseek-v3 is not the paper's (gpt-4o)")
    assert comparability(other, "prompt-injection", other.judge("prompt-injection")).reason == \
        f"the items are {FIXTURE_NOTE}"  # the victim plays only in spear phishing


def test_the_victims_sampling_is_among_the_phishing_judges_deviations() -> None:
    deviations = Profile.load("paper").judge("phishing").describe()["deviations"]
    assert "victim sampling from the victim model's entry (the default victim gpt-4o: temperature 0" in deviations


@pytest.fixture
def wildguard_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fixture_folder: Path) -> Path:
    """The project's fixtures plus a WildGuardTest-shaped file (1,725 rows with the columns the loader reads;
    placeholder prompts), listed in the manifest of that copy of the fixture folder."""
    import pandas as pd
    folder = tmp_path / "fixtures"
    shutil.copytree(fixture_folder, folder)
    rows = [{"prompt": f"{'wrapped ' if i % 3 == 0 else ''}placeholder request {i}", "adversarial": i % 3 == 0,
             "prompt_harm_label": "harmful" if i % 2 == 0 else "unharmful", "subcategory": f"category {i % 4}",
             "response": "placeholder"} for i in range(1725)]
    path = folder / "jailbreak" / "wildguard_test.parquet"
    pd.DataFrame(rows).to_parquet(path)
    manifest = json.loads((folder / FIXTURE_MANIFEST).read_text())
    manifest["files"]["jailbreak/wildguard_test.parquet"] = {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                                                             "rows": 1725}
    (folder / FIXTURE_MANIFEST).write_text(json.dumps(manifest))
    monkeypatch.setenv(FIXTURES_ENV, str(folder))
    return path


def test_finding_3_on_wildguardtest_compares_vanilla_and_adversarial_groups(wildguard_data: Path,
                                                                           tmp_path: Path) -> None:
    profile = Profile.load("ci", models=["fake-r1", "fake-v3"], limit=6, store=tmp_path / "store.sqlite")
    run = Run(profile, tables_dir=tmp_path / "tables", figures_dir=tmp_path / "figures", progress=False)
    frames, paired_by = run.conditions(models=profile.reasoning_models)
    plain, attacked = frames["plain"], frames["jailbreak"]
    assert paired_by is None  # no shared behaviour id: two independent groups
    assert len(plain) == len(attacked) == 6 and set(attacked["model"]) == {"fake-r1"}
    records = run.records(list(plain["gen_key"]) + list(attacked["gen_key"]))
    assert all(not records[k].prompt.startswith("wrapped") for k in plain["gen_key"])  # vanilla harmful prompts
    assert all(records[k].prompt.startswith("wrapped") for k in attacked["gen_key"])  # adversarial harmful prompts
    found = claims.condition_claims(plain, attacked, by=paired_by, labels=run.labels)
    table = claims_table(found)
    judged = int((plain["outcome"] == "judged").sum() + (attacked["outcome"] == "judged").sum())
    assert len(table) == 1 and table.loc[0, "n"] == judged and 0 < judged <= 12


def test_prefetch_requests_cover_each_single_turn_benchmark_the_model_runs_under_its_own_name() -> None:
    profile = Profile.load("recorded")
    requests = prefetch_requests(profile, "smollm2-135m")
    by_benchmark = Counter(r.benchmark for r in requests)
    live = {b: plan.limit * profile.samples_for(b) for b, plan in profile.benchmarks.items()
            if plan.models and "smollm2-135m" in plan.models and b != "phishing"}
    assert by_benchmark == live  # phishing is a dialogue: its solver runs it, not the prefetch
    assert by_benchmark["xstest"] == 4 * 3  # every sample of a benchmark with several is prefetched


def test_prefetch_leaves_models_that_are_not_in_process_to_generate(ci_run: Run) -> None:
    assert prefetch_requests(ci_run.profile, "fake-r1")
    with ci_run.store() as store:
        assert prefetch(ci_run.profile, store, progress=False) == [] and store.count("generations") == 0


@pytest.mark.slow
def test_prefetch_generates_all_benchmarks_at_once_and_evaluate_reuses_them(tmp_path: Path) -> None:
    profile = Profile.load("recorded", models=["smollm2-135m"], limit=2, store=tmp_path / "store.sqlite")
    config = dataclasses.replace(profile.config("smollm2-135m"), params={"temperature": 0.0, "max_tokens": 8})
    profile = dataclasses.replace(profile, registry={**profile.registry, "smollm2-135m": config},
                                  benchmarks={b: profile.benchmarks[b] for b in ("xstest", "mitre")})
    with Store(profile.store_path) as store:
        (summary,) = prefetch(profile, store, progress=False)
        assert (summary.new, summary.failed) == (8, 0)  # the recorded profile's 3 samples per XSTest prompt
        assert Counter(r.benchmark for r in store.iter_generations()) == {"xstest": 2 * 3, "mitre": 2}
    run = Run(profile, tables_dir=tmp_path / "tables", figures_dir=tmp_path / "figures", progress=False)
    assert len(run.evaluate("xstest")["answer"]) == 2 * 3
    with Store(profile.store_path) as store:
        assert store.count("generations") == 8  # nothing generated twice
