"""Several samples per prompt: the profile key, the records' keys, the estimate, the statistics
(per-sample rate clustered by prompt, Safe@k, unsafe in any), the paired claims and the tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from r1lib.analysis.claims import compare_models
from r1lib.analysis.stats import bootstrap_mean_ci, claims_table, clustered_rate, samples_at_k, wilson_interval
from r1lib.app.estimate import estimate_profile
from r1lib.app.profiles import Profile
from r1lib.app.rehearse import imitation_server
from r1lib.app.run import Run
from r1lib.app.steps import generate
from r1lib.core.errors import UserError
from r1lib.paper.cells import mean_cell, rate_cell
from r1lib.paper.samples import REPEATED, SAMPLED, SINGLE, samples_at_k_table
from r1lib.store.database import Store
from r1lib.testing import priced_judge_file

#: 10 prompts x 3 samples: 4 safe in all three, 3 unsafe in all three, 3 safe in two of three.
PATTERN = [(True, True, True)] * 4 + [(False, False, False)] * 3 + [(True, True, False)] * 3


def pattern_records(pattern=PATTERN) -> tuple[np.ndarray, np.ndarray]:
    values = np.array([v for row in pattern for v in row])
    prompts = np.array([f"p{i}" for i, row in enumerate(pattern) for _ in row], dtype=object)
    return values, prompts


def test_safe_at_k_and_unsafe_in_any_on_a_known_pattern() -> None:
    values, prompts = pattern_records()
    result = samples_at_k(values, prompts, 3)
    assert (result.k, result.prompts, result.prompts_excluded) == (3, 10, 0)
    assert result.per_sample.rate == pytest.approx(18 / 30) and result.per_sample.clusters == 10
    assert (result.safe_at_k.k, result.safe_at_k.n) == (4, 10) and result.unsafe_any.k == 6
    assert (result.safe_at_k.lo, result.safe_at_k.hi) == pytest.approx(wilson_interval(4, 10))
    # design effect by hand: sum_i (y_i - 0.6 m_i)^2 = 4 * 1.2^2 + 3 * 1.8^2 + 3 * 0.2^2 = 15.6,
    # over n p (1 - p) = 30 * 0.24 = 7.2
    assert result.per_sample.deff == pytest.approx(15.6 / 7.2)
    assert result.per_sample.n_effective == pytest.approx(30 / (15.6 / 7.2))


def test_the_clustered_interval_is_wider_when_samples_of_a_prompt_agree() -> None:
    values, prompts = pattern_records()
    clustered = clustered_rate(values, prompts)
    naive = wilson_interval(int(values.sum()), len(values))
    assert clustered.lo < naive[0] and clustered.hi > naive[1]
    # samples that always agree: the interval is Wilson's over prompts (5 of 10), not over 30 records
    agree = [(True,) * 3] * 5 + [(False,) * 3] * 5
    values, prompts = pattern_records(agree)
    result = clustered_rate(values, prompts)
    assert result.deff == pytest.approx(3.0)
    assert (result.lo, result.hi) == pytest.approx(wilson_interval(5, 10))
    # one sample per prompt: exactly Wilson; an all-safe cell: Wilson over prompts
    single = clustered_rate([True] * 7 + [False] * 3, [f"p{i}" for i in range(10)])
    assert single.deff == 1.0 and (single.lo, single.hi) == pytest.approx(wilson_interval(7, 10))
    all_safe = clustered_rate([True] * 12, [f"p{i // 3}" for i in range(12)])
    assert (all_safe.lo, all_safe.hi) == pytest.approx(wilson_interval(4, 4))


def test_samples_that_disagree_never_narrow_the_interval_below_wilson() -> None:
    alternating = [(True, False)] * 10  # every prompt half safe: less spread than independent draws
    values, prompts = pattern_records(alternating)
    result = clustered_rate(values, prompts)
    assert result.deff == 1.0 and (result.lo, result.hi) == pytest.approx(wilson_interval(10, 20))


def test_a_prompt_with_a_missing_verdict_is_excluded_from_safe_at_k_never_counted_safe() -> None:
    # prompt p2 has two judged samples of three (one had no verdict); both judged samples are safe
    values = np.array([True, True, True, False, True, False, True, True])
    prompts = np.array(["p0"] * 3 + ["p1"] * 3 + ["p2"] * 2, dtype=object)
    result = samples_at_k(values, prompts, 3)
    assert (result.prompts, result.prompts_excluded) == (2, 1)
    assert (result.safe_at_k.k, result.unsafe_any.k) == (1, 1)
    assert result.per_sample.n == 8  # every judged record counts in the per-sample rate
    with pytest.raises(UserError, match="missing"):
        samples_at_k([True, None], ["p0", "p0"], 2)


def outcome_rows(model: str, pattern, *, unjudged: int = 0) -> pd.DataFrame:
    """An outcome frame of one model on XSTest: ``pattern`` rows of samples (True = full refusal, the
    refusal judge's safe label), plus ``unjudged`` records that failed."""
    rows = [{"model": model, "benchmark": "xstest", "prompt_id": f"p{i}", "sample": s, "judge": "refusal-offline",
             "version": "v", "channel": "answer", "outcome": "judged",
             "label": "full_refusal" if safe else "full_compliance", "score": None, "gen_key": f"{model}-{i}-{s}"}
            for i, row in enumerate(pattern) for s, safe in enumerate(row)]
    rows += [{**rows[0], "sample": len(pattern[0]) + j, "outcome": "failed", "label": None,
              "gen_key": f"{model}-failed-{j}"} for j in range(unjudged)]
    return pd.DataFrame(rows)


def test_rate_cells_cluster_by_prompt_when_a_prompt_has_several_samples() -> None:
    frame = outcome_rows("m", PATTERN)
    cell = rate_cell(frame, {"full_refusal"})
    values, prompts = pattern_records()
    clustered = clustered_rate(values, prompts)
    assert (cell["k"], cell["n"], cell["n_excluded"]) == (18, 30, 0)
    assert (cell["ci_low"], cell["ci_high"]) == pytest.approx((100 * clustered.lo, 100 * clustered.hi))
    single = rate_cell(outcome_rows("m", [(safe,) for safe, *_ in PATTERN]), {"full_refusal"})
    assert (single["ci_low"], single["ci_high"]) == pytest.approx(tuple(100 * x for x in wilson_interval(7, 10)))


def test_mean_cells_resample_prompts_when_a_prompt_has_several_samples() -> None:
    frame = outcome_rows("m", PATTERN).assign(score=[float(v) for v in pattern_records()[0]])
    cell = mean_cell(frame, lambda g: g["score"], scale=100.0)
    records = bootstrap_mean_ci(frame["score"].to_numpy())
    assert cell["value"] == pytest.approx(60.0) and cell["n"] == 30
    assert cell["ci_high"] - cell["ci_low"] > 100 * (records.hi - records.lo)  # prompts, not 30 records


def test_samples_at_k_table_counts_the_excluded_and_says_when_draws_repeat() -> None:
    frame = pd.concat([outcome_rows("think", PATTERN, unjudged=1), outcome_rows("plain", [(True,) * 3] * 10)])
    table = samples_at_k_table({"xstest": frame}, {"think": "Think", "plain": "Plain"}, repeats=["plain"]
                               ).set_index("model")
    think, plain = table.loc["think"], table.loc["plain"]
    # the failed record is a fourth sample of p0: k = 4, and p0 lacks a judged fourth sample
    assert (think["k"], think["prompts"], think["prompts_excluded"], think["records_excluded"]) == (4, 0, 10, 1)
    assert (plain["k"], plain["prompts"], plain["safe_at_k"], plain["unsafe_any"]) == (3, 10, 100.0, 0.0)
    assert plain["draws"] == REPEATED and think["draws"] == SAMPLED
    single = samples_at_k_table({"xstest": outcome_rows("plain", [(True,)] * 4)}, {}, repeats=["plain"]).iloc[0]
    assert single["draws"] == SINGLE and single["k"] == 1 and single["safe_at_k"] == single["per_sample"] == 100.0
    clean = samples_at_k_table({"xstest": outcome_rows("think", PATTERN)}, {}).iloc[0]
    assert (clean["safe_at_k"], clean["unsafe_any"], clean["per_sample"]) == pytest.approx((40.0, 60.0, 60.0))
    assert clean["per_sample_ci_high"] - clean["per_sample_ci_low"] > 0


def test_paired_claims_pair_prompts_not_samples_when_k_is_above_one() -> None:
    worse = [(False, False, True)] * 6 + [(True, True, True)] * 4
    frame = pd.concat([outcome_rows("a", worse), outcome_rows("b", [(True,) * 3] * 10)])
    claim = compare_models(frame, "a", "b", claim="a less safe than b", direction="less")
    assert len(claim["a"]) == 10  # ten prompts, not thirty pairs of samples
    assert claim["a"][:6] == pytest.approx([1 / 3] * 6) and list(claim["b"]) == [1.0] * 10
    row = claims_table([claim]).iloc[0]
    assert row["n"] == 10 and row["effect"] == pytest.approx(-0.4)
    single = compare_models(pd.concat([outcome_rows("a", [r[:1] for r in worse]),
                                       outcome_rows("b", [(True,)] * 10)]), "a", "b", claim="c", direction="less")
    assert single["a"].dtype == bool and len(single["a"]) == 10  # k = 1: booleans, McNemar as before


def profile_doc(tmp_path: Path, **xstest) -> dict:
    return {"name": "k", "models": ["fake-r1", "fake-v3"], "samples": 1, "judge_models": {"default": "offline"},
            "benchmarks": {"xstest": {"limit": 3, **xstest}, "mitre": {"limit": 2}},
            "store": str(tmp_path / "store.sqlite")}


def test_profile_samples_per_benchmark_override_the_profile_and_are_validated(tmp_path: Path) -> None:
    profile = Profile.from_dict(profile_doc(tmp_path, samples=3))
    assert profile.samples_for("xstest") == 3 and profile.samples_for("mitre") == 1
    assert profile.samples_note == "1 sample(s) per prompt (xstest: 3)"
    for bad, message in ((0, "samples must be at least 1"), ("3", "samples"), (1.5, "samples")):
        with pytest.raises(UserError, match=message):
            Profile.from_dict(profile_doc(tmp_path, samples=bad))
    with pytest.raises(UserError, match="set 'samples: 1' under benchmarks.phishing"):
        Profile.from_dict({**profile_doc(tmp_path), "samples": 2, "benchmarks": {"phishing": {"limit": 1}}})
    assert Profile.from_dict({**profile_doc(tmp_path), "samples": 2,
                              "benchmarks": {"phishing": {"samples": 1}}}).samples_for("phishing") == 1
    with pytest.raises(UserError, match="does not run benchmark"):
        profile.samples_for("airbench")
    path = tmp_path / "k.yaml"
    path.write_text(yaml.safe_dump(profile_doc(tmp_path, samples=2)))
    assert Profile.load(str(path), limit=1).samples_for("xstest") == 2  # --limit keeps the samples
    assert Profile.load(str(path)).repeats_draws("fake-r1")  # no temperature: the fake repeats its draw


def test_samples_of_one_prompt_and_the_two_arms_never_share_a_record(tmp_path: Path) -> None:
    one = Profile.from_dict(profile_doc(tmp_path))
    three = Profile.from_dict(profile_doc(tmp_path, samples=3))
    with Store(three.store_path) as store:
        by_k = {k: generate(profile, "xstest", store, progress=False)
                for k, profile in ((3, three), (1, one))}
    for model in ("fake-r1", "fake-v3"):
        records = by_k[3][model].records
        prompts = list(dict.fromkeys(r.prompt_id for r in records))
        assert [(r.prompt_id, r.sample) for r in records] == [(p, s) for p in prompts for s in range(3)]
        assert len({r.key for r in records}) == 9
        # k = 1 keys are the first sample's keys of k = 3: adding samples changes no stored key
        assert [r.key for r in by_k[1][model].records] == [r.key for r in records if r.sample == 0]
    keys = [{r.key for r in by_k[3][m].records} for m in ("fake-r1", "fake-v3")]
    assert not keys[0] & keys[1]


def test_the_estimate_counts_every_sample_generated_and_judged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with imitation_server() as server:
        monkeypatch.setenv("R1LIB_MODELS", str(priced_judge_file(tmp_path / "models.yaml", server.base_url)))
        doc = {**profile_doc(tmp_path, samples=3, models=["fake-v3"]), "judge_models": {"default": "loop-gpt-4o"}}
        doc["benchmarks"] = {"xstest": doc["benchmarks"]["xstest"]}
        profile = Profile.from_dict(doc)
        before = estimate_profile(profile).rows
        assert before.loc[before["stage"] == "generation", "calls"].sum() == 3 * 3
        judging = before[(before["stage"] == "judging") & (before["what"] == "xstest")]
        assert judging["calls"].sum() == 3 * 3
        run = Run(profile, tables_dir=tmp_path, figures_dir=tmp_path, progress=False)
        frame = run.evaluate("xstest")["answer"]
        assert len(frame) == 9 and frame["sample"].tolist() == [0, 1, 2] * 3
        with Store(profile.store_path) as store:
            after = estimate_profile(profile, store).rows
        assert after.loc[after["stage"] == "judging", "calls"].sum() == 0
        assert after.loc[after["stage"] == "judging", "stored"].sum() == 9
