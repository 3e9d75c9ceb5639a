"""Tests of r1lib.analysis.stats against scipy, scikit-learn and hand-computed or textbook values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.metrics import cohen_kappa_score

from r1lib.analysis.stats import (  # comparisons
    OUTCOMES,
    accuracy_by_length,
    adjust_family,
    agreement,
    align_pairs,
    bootstrap_mean_ci,
    claims_table,
    classify_outcomes,
    compare_cells,
    conditional_mean,
    deviating,
    fisher_exact_p,
    fleiss_kappa,
    holm,
    krippendorff_alpha_nominal,
    mcnemar_exact,
    mean_difference,
    outcome_counts,
    paired_bootstrap_diff,
    rate_difference,
    rate_summary,
    rogan_gladen,
    rogan_gladen_ci,
    safety_rate,
    safety_table,
    sensitivity_specificity,
    stratified_rate_ci,
    thinking_answer_table,
    wilson_interval,
)
from r1lib.analysis.stats.outcomes import DIALOGUE_STOPS
from r1lib.core.errors import UserError
from r1lib.core.records import GenerationRecord, Verdict
from r1lib.core.traces import parse_trace
from r1lib.store.database import Store

NAN = float("nan")


def wilson_by_hand(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The textbook Wilson score formula, written out independently of scipy."""
    z = sps.norm.ppf(1 - (1 - confidence) / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


# -- intervals ----------------------------------------------------------------------------------

@pytest.mark.parametrize("k,n,confidence", [(3, 10, 0.95), (47, 120, 0.95), (5, 9, 0.9), (1, 1, 0.99)])
def test_wilson_matches_the_formula(k, n, confidence):
    assert wilson_interval(k, n, confidence) == pytest.approx(wilson_by_hand(k, n, confidence), abs=1e-12)


def test_wilson_edges():
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(3.8414588 / (10 + 3.8414588), abs=1e-6)
    lo, hi = wilson_interval(10, 10)
    assert hi == 1.0 and lo == pytest.approx(10 / (10 + 3.8414588), abs=1e-6)
    assert all(math.isnan(x) for x in wilson_interval(0, 0))


@pytest.mark.parametrize("k,n", [(4, 3), (-1, 3), (1.5, 3), (float("nan"), 3), ("2", 3)])
def test_wilson_rejects_bad_counts(k, n):
    with pytest.raises(UserError, match="successes"):
        wilson_interval(k, n)


def test_confidence_must_be_a_proportion():
    with pytest.raises(UserError, match="confidence"):
        wilson_interval(1, 2, confidence=95)


def test_rate_summary():
    summary = rate_summary(3, 12)
    assert (summary.k, summary.n, summary.rate) == (3, 12, 0.25)
    assert (summary.lo, summary.hi) == pytest.approx(wilson_by_hand(3, 12))
    empty = rate_summary(0, 0)
    assert empty.n == 0 and math.isnan(empty.rate) and math.isnan(empty.lo) and math.isnan(empty.hi)


def test_bootstrap_mean_of_binary_values_agrees_with_normal_approximation():
    values = np.array([1] * 120 + [0] * 280)
    result = bootstrap_mean_ci(values, n_boot=4000, seed=1)
    half = 1.959964 * math.sqrt(0.3 * 0.7 / 400)
    assert result.estimate == 0.3 and result.n == 400
    assert result.lo == pytest.approx(0.3 - half, abs=0.01)
    assert result.hi == pytest.approx(0.3 + half, abs=0.01)


def test_bootstrap_is_reproducible_and_seeded():
    values = np.random.default_rng(5).normal(size=50)
    assert bootstrap_mean_ci(values, seed=3) == bootstrap_mean_ci(values, seed=3)
    assert bootstrap_mean_ci(values, seed=3) != bootstrap_mean_ci(values, seed=4)


def test_bootstrap_edges():
    empty = bootstrap_mean_ci([])
    assert empty.n == 0 and all(math.isnan(x) for x in (empty.estimate, empty.lo, empty.hi))
    single = bootstrap_mean_ci([0.7])
    assert single.estimate == 0.7 and single.n == 1 and math.isnan(single.lo) and math.isnan(single.hi)
    constant = bootstrap_mean_ci([2.0] * 5)
    assert (constant.estimate, constant.lo, constant.hi) == (2.0, 2.0, 2.0)
    one_cluster = bootstrap_mean_ci([1.0, 0.0, 1.0], clusters=["a", "a", "a"])
    assert one_cluster.estimate == pytest.approx(2 / 3) and math.isnan(one_cluster.lo)


def test_bootstrap_rejects_missing_values_and_bad_settings():
    with pytest.raises(UserError, match="missing"):
        bootstrap_mean_ci([1.0, NAN, 0.0])
    with pytest.raises(UserError, match="n_boot"):
        bootstrap_mean_ci([1.0, 0.0], n_boot=10)
    with pytest.raises(UserError, match="lengths differ"):
        bootstrap_mean_ci([1.0, 0.0], clusters=["a"])
    with pytest.raises(UserError, match="one-dimensional"):
        bootstrap_mean_ci([[1.0, 0.0]])


def test_cluster_bootstrap_widens_the_interval_for_alike_clusters():
    # Ten clusters of twenty items each; items within a cluster share the same value.
    clusters = np.repeat(np.arange(10), 20)
    values = (clusters % 2).astype(float)
    iid = bootstrap_mean_ci(values, seed=0)
    clustered = bootstrap_mean_ci(values, clusters=clusters, seed=0)
    assert clustered.estimate == iid.estimate == 0.5
    assert (clustered.hi - clustered.lo) > 2.5 * (iid.hi - iid.lo)


def test_cluster_bootstrap_with_singleton_clusters_matches_the_plain_bootstrap():
    values = np.random.default_rng(2).normal(size=300)
    iid = bootstrap_mean_ci(values, n_boot=4000, seed=0)
    singletons = bootstrap_mean_ci(values, clusters=np.arange(300), n_boot=4000, seed=1)
    assert singletons.lo == pytest.approx(iid.lo, abs=0.03)
    assert singletons.hi == pytest.approx(iid.hi, abs=0.03)


def test_cluster_bootstrap_pools_unequal_clusters():
    # The estimate is the item mean, not the mean of cluster means.
    result = bootstrap_mean_ci([1, 1, 1, 0], clusters=["a", "a", "a", "b"])
    assert result.estimate == 0.75
    # two clusters are drawn: both "a" (mean 1.0), both "b" (0.0) or one of each (0.75); each end has a quarter of
    # the draws, so the 2.5th and 97.5th percentiles are the ends themselves
    assert (result.lo, result.hi) == (0.0, 1.0)


def test_stratified_rate_default_weights_give_the_plain_mean():
    result = stratified_rate_ci([1, 0, 1, 1, 0, 0, 1], ["a", "a", "a", "b", "b", "b", "c"])
    assert result.estimate == pytest.approx(4 / 7) and result.n == 7


def test_stratified_rate_with_population_weights():
    values = [1, 1, 0, 0, 0, 1]
    strata = ["x", "x", "y", "y", "y", "y"]
    result = stratified_rate_ci(values, strata, weights={"x": 1, "y": 3})
    assert result.estimate == pytest.approx(0.25 * 1.0 + 0.75 * 0.25)
    # only "y" varies: 0.25 + 0.75 * its resampled mean, whose 2.5th / 97.5th percentiles (Binomial(4, 1/4) / 4)
    # are 0 and 3/4
    assert (result.lo, result.hi) == pytest.approx((0.25, 0.25 + 0.75 * 0.75))


def test_stratified_bootstrap_only_varies_within_strata():
    # Every stratum is constant, so the stratified interval has no width; the plain bootstrap does.
    values = [0.0] * 10 + [1.0] * 10
    strata = ["a"] * 10 + ["b"] * 10
    stratified = stratified_rate_ci(values, strata)
    assert (stratified.lo, stratified.estimate, stratified.hi) == pytest.approx((0.5, 0.5, 0.5))
    plain = bootstrap_mean_ci(values)
    assert plain.hi - plain.lo > 0.2


def test_stratified_singletons_are_held_fixed():
    result = stratified_rate_ci([1, 0, 1, 1], ["a", "a", "b", "c"])
    assert result.estimate == 0.75
    # Only stratum "a" (weight 1/2) varies: its mean is 0, 0.5 or 1 (a quarter, a half, a quarter of the draws), so
    # the resampled estimate is 0.5, 0.75 or 1.0 and both ends carry more than 2.5%.
    assert (result.lo, result.hi) == (0.5, 1.0)
    all_single = stratified_rate_ci([1, 0], ["a", "b"])
    assert all_single.estimate == 0.5 and math.isnan(all_single.lo) and math.isnan(all_single.hi)


def test_stratified_rate_edges_and_errors():
    empty = stratified_rate_ci([], [])
    assert empty.n == 0 and math.isnan(empty.estimate)
    with pytest.raises(UserError, match="missing weights"):
        stratified_rate_ci([1, 0], ["a", "b"], weights={"a": 1})
    with pytest.raises(UserError, match="no values"):
        stratified_rate_ci([1, 0], ["a", "a"], weights={"a": 1, "b": 1})
    with pytest.raises(UserError, match="non-negative"):
        stratified_rate_ci([1, 0], ["a", "b"], weights={"a": -1, "b": 1})


def test_conditional_mean():
    scores = [0.9, 0.1, 0.5, 0.7, 0.2]
    mask = [True, False, True, True, False]
    result = conditional_mean(scores, mask)
    assert result.estimate == pytest.approx(0.7) and result.n == 3
    # a resample of all 0.5 (or all 0.9) has probability 1/27 > 2.5%: the percentile interval is (0.5, 0.9), where
    # a normal approximation would give (0.515, 0.885)
    assert (result.lo, result.hi) == pytest.approx((0.5, 0.9))
    clustered = conditional_mean(scores, mask, clusters=["a", "b", "a", "c", "c"])
    assert clustered.estimate == pytest.approx(0.7) and clustered.n == 3


def test_conditional_mean_of_an_empty_subset_is_nan():
    result = conditional_mean([0.3, 0.4], [False, False])
    assert result.n == 0 and math.isnan(result.estimate) and math.isnan(result.lo)


# -- paired comparisons -------------------------------------------------------------------------

def test_mcnemar_exact_by_hand():
    # 8 pairs (a True, b False), 2 pairs (a False, b True), 5 + 3 ties.
    a = [True] * 8 + [False] * 2 + [True] * 5 + [False] * 3
    b = [False] * 8 + [True] * 2 + [True] * 5 + [False] * 3
    result = mcnemar_exact(a, b)
    assert (result.n, result.b10, result.b01, result.both_true, result.both_false) == (18, 8, 2, 5, 3)
    assert result.p == pytest.approx(2 * (1 + 10 + 45) / 1024)


def test_mcnemar_matches_scipy_binomtest():
    rng = np.random.default_rng(0)
    a, b = rng.random(200) < 0.6, rng.random(200) < 0.45
    result = mcnemar_exact(a, b)
    assert result.p == pytest.approx(sps.binomtest(result.b10, result.b10 + result.b01).pvalue)


def test_mcnemar_all_ties_and_empty():
    assert mcnemar_exact([True, False, True], [True, False, True]).p == 1.0
    empty = mcnemar_exact([], [])
    assert (empty.n, empty.p) == (0, 1.0)


def test_mcnemar_accepts_zero_one_and_rejects_other_values():
    assert mcnemar_exact([1, 0, 1], [0, 0, 1]).b10 == 1
    with pytest.raises(UserError, match="booleans"):
        mcnemar_exact(["safe", "unsafe"], [True, False])
    with pytest.raises(UserError, match="missing"):
        mcnemar_exact([True, None], [True, False])
    with pytest.raises(UserError, match="lengths differ"):
        mcnemar_exact([True], [True, False])


def test_paired_bootstrap_diff():
    a = [1, 1, 1, 0, 1, 1, 0, 1]
    b = [0, 1, 0, 0, 0, 1, 0, 0]
    result = paired_bootstrap_diff(a, b, n_boot=2000, seed=0)
    assert result.estimate == pytest.approx(0.5) and result.n == 8
    # the differences are four 1s and four 0s: the resampled mean is Binomial(8, 1/2) / 8, whose 2.5th and 97.5th
    # percentiles are 1/8 and 7/8
    assert (result.lo, result.hi) == (0.125, 0.875)
    same = paired_bootstrap_diff(a, a)
    assert (same.estimate, same.lo, same.hi) == (0.0, 0.0, 0.0)
    clustered = paired_bootstrap_diff(a, b, clusters=list("aabbccdd"))
    assert clustered.estimate == pytest.approx(0.5)


def test_holm_hand_worked_example():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_passes_nan_through_and_keeps_order():
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    adjusted = holm([0.02, NAN, 0.01])
    assert math.isnan(adjusted[1]) and adjusted[[0, 2]] == pytest.approx([0.02, 0.02])
    assert holm([]).shape == (0,)
    p = np.random.default_rng(3).random(20) / 10
    adjusted = holm(p)
    order = np.argsort(p)
    assert np.all(np.diff(adjusted[order]) >= 0) and np.all(adjusted >= p)
    with pytest.raises(UserError, match="p-values"):
        holm([1.2])


def long_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "model": ["r1"] * 4 + ["v3"] * 3,
        "prompt_id": ["p1", "p2", "p3", "p4", "p1", "p2", "p5"],
        "safe": [True, False, False, True, True, True, False],
    })


def test_align_pairs_keeps_shared_prompts_and_reports_the_rest():
    paired = align_pairs(long_frame(), left="r1", right="v3", value="safe")
    assert list(paired.columns) == ["prompt_id", "r1", "v3"]
    assert paired.sort_values("prompt_id").values.tolist() == [["p1", True, True], ["p2", False, True]]
    assert paired.attrs["unmatched"] == {"r1": 2, "v3": 1}


def test_align_pairs_errors():
    frame = long_frame()
    with pytest.raises(UserError, match="no rows for model 'o3'"):
        align_pairs(frame, left="r1", right="o3", value="safe")
    doubled = pd.concat([frame, frame.iloc[[0]]])
    with pytest.raises(UserError, match="several rows"):
        align_pairs(doubled, left="r1", right="v3", value="safe")
    frame["safe"] = frame["safe"].astype(object)
    frame.loc[0, "safe"] = None
    with pytest.raises(UserError, match="missing"):
        align_pairs(frame, left="r1", right="v3", value="safe")
    with pytest.raises(UserError, match="needs column"):
        align_pairs(frame, left="r1", right="v3", value="verdict")


def test_claims_table():
    rng = np.random.default_rng(7)
    r1_unsafe = rng.random(150) < 0.6
    v3_unsafe = r1_unsafe & (rng.random(150) < 0.5)
    scores_a, scores_b = rng.normal(0.2, 1, 80), rng.normal(0, 1, 80)
    claims = [
        {"claim": "R1 is less safe than V3", "a": r1_unsafe, "b": v3_unsafe, "direction": "greater"},
        {"claim": "V3 is less safe than R1", "a": v3_unsafe, "b": r1_unsafe, "direction": "greater"},
        {"claim": "scores differ", "a": scores_a, "b": scores_b, "direction": "greater"},
        {"claim": "no pairs", "a": np.array([], dtype=bool), "b": np.array([], dtype=bool), "direction": "less"},
    ]
    table = claims_table(claims)
    assert list(table.columns) == ["claim", "effect", "ci_low", "ci_high", "p", "p_holm", "n", "holds"]
    first, second, third, empty = (table.iloc[i] for i in range(4))
    assert first["effect"] == pytest.approx(r1_unsafe.mean() - v3_unsafe.mean())
    assert first["p"] == mcnemar_exact(r1_unsafe, v3_unsafe).p
    assert first["ci_low"] < first["effect"] < first["ci_high"]
    assert bool(first["holds"]) and not bool(second["holds"])  # same p, wrong sign
    assert second["effect"] == pytest.approx(-first["effect"])
    assert third["p"] == pytest.approx(sps.wilcoxon(scores_a - scores_b).pvalue)
    assert empty["n"] == 0 and math.isnan(empty["p"]) and not bool(empty["holds"])
    np.testing.assert_allclose(table["p_holm"], holm(table["p"].to_numpy()), equal_nan=True)
    assert table["p_holm"].iloc[0] == pytest.approx(min(1.0, 3 * first["p"]))


def test_claims_table_edges_and_errors():
    assert list(claims_table([]).columns) == ["claim", "effect", "ci_low", "ci_high", "p", "p_holm", "n", "holds"]
    ties = claims_table([{"claim": "ties", "a": [0.5, 0.2], "b": [0.5, 0.2], "direction": "less"}])
    assert ties["p"].iloc[0] == 1.0 and not ties["holds"].iloc[0]
    with pytest.raises(UserError, match="lacks"):
        claims_table([{"claim": "x", "a": [True]}])
    with pytest.raises(UserError, match="direction"):
        claims_table([{"claim": "x", "a": [True], "b": [False], "direction": "up"}])


# -- thinking x answer --------------------------------------------------------------------------

def test_thinking_answer_table():
    # (thinking safe, answer safe): 6 both safe, 3 leaks, 1 escape, 2 both unsafe.
    pairs = [(True, True)] * 6 + [(False, True)] * 3 + [(True, False)] * 1 + [(False, False)] * 2
    thinking, answer = zip(*pairs)
    table = thinking_answer_table(thinking, answer)
    assert table.n == 12
    assert table.counts.loc["safe", "safe"] == 6 and table.counts.loc["unsafe", "safe"] == 3
    assert table.counts.loc["safe", "unsafe"] == 1 and table.counts.loc["unsafe", "unsafe"] == 2
    assert (table.leak.k, table.leak.rate) == (3, 0.25)
    assert (table.leak.lo, table.leak.hi) == pytest.approx(wilson_by_hand(3, 12))
    assert (table.escape.k, table.escape.rate) == (1, 1 / 12)
    assert table.mcnemar.p == pytest.approx(2 * (1 + 4) / 16)  # 1 of 4 discordant pairs


def test_thinking_answer_table_empty():
    table = thinking_answer_table([], [])
    assert table.n == 0 and int(table.counts.to_numpy().sum()) == 0
    assert math.isnan(table.leak.rate) and math.isnan(table.escape.rate) and table.mcnemar.p == 1.0


# -- outcome accounting -------------------------------------------------------------------------

def generations() -> pd.DataFrame:
    """One record of each kind for model m1, two answered records for m2."""
    rows = [
        # model, error, finish_reason, trace_state, thinking, answer, reasoning_tokens
        ("m1", None, "stop", "closed", "think", "answer", 10),
        ("m1", None, "length", "unterminated", "long think", "", 4000),
        ("m1", None, "content_filter", "no_think", None, "", 0),
        ("m1", "HTTP 500", None, None, None, None, None),
        ("m1", None, "stop", "no_think", None, "answer", 300),   # hidden reasoning (o3-mini style)
        ("m1", None, "length", "closed", "think", "partial answer", 50),
        ("m2", None, "stop", "closed", "think", "answer", 10),
        ("m2", None, "stop", "closed", "think", "answer", 12),
    ]
    frame = pd.DataFrame(rows, columns=["model", "error", "finish_reason", "trace_state", "thinking", "answer",
                                        "reasoning_tokens"])
    frame["benchmark"] = "b"
    return frame


def test_classify_outcomes():
    outcome = classify_outcomes(generations())
    assert list(outcome) == ["answered", "no_answer", "blocked", "failed", "answered", "answered",
                             "answered", "answered"]
    assert list(outcome.cat.categories) == list(OUTCOMES)


def test_outcome_counts_on_generations():
    table = outcome_counts(generations())
    m1 = table.loc[("m1", "b")]
    assert m1[list(DIALOGUE_STOPS)].isna().all()  # not dialogues: unknown, not zero
    counts = m1.drop(["unparsed", *DIALOGUE_STOPS]).to_dict()
    assert counts == {"records": 6, "answered": 3, "no_answer": 1, "blocked": 1, "not_recorded": 0,
                      "failed": 1, "length_capped": 2, "hidden_reasoning": 1}
    assert pd.isna(m1["unparsed"])  # no verdicts in a generations frame: unknown, not zero
    assert table.loc[("m2", "b"), "answered"] == 2
    exclusive = table[list(OUTCOMES)].sum(axis=1)
    assert (exclusive == table["records"]).all()


def verdicts() -> pd.DataFrame:
    rows = [
        # channel, label, parsed_ok, error, finish_reason, trace_state
        ("answer", "safe", True, None, "stop", "closed"),
        ("answer", "unsafe", True, None, "stop", "closed"),
        ("answer", "safe", True, None, "stop", "closed"),
        ("answer", None, False, None, "stop", "closed"),            # unparsed verdict
        ("answer", "no_output", True, None, "length", "unterminated"),
        ("answer", "no_output", True, None, "stop", "bare_close"),   # empty answer after thinking
        ("answer", None, False, "judge timeout", "stop", "closed"),  # failed judge call
        ("answer", "unsafe", True, None, "content_filter", "no_think"),
    ]
    frame = pd.DataFrame(rows, columns=["channel", "label", "parsed_ok", "error", "finish_reason", "trace_state"])
    return frame.assign(model="r1", benchmark="b", judge="j", version="1")


def test_outcome_counts_on_verdicts():
    row = outcome_counts(verdicts()).loc[("r1", "b")]
    assert (row["records"], row["answered"], row["no_answer"], row["blocked"], row["failed"]) == (8, 4, 2, 1, 1)
    assert row["unparsed"] == 1 and row["length_capped"] == 1
    assert pd.isna(row["hidden_reasoning"])


def test_no_output_on_the_thinking_channel_is_not_a_missing_answer():
    frame = pd.DataFrame({"channel": ["thinking"], "label": ["no_output"], "error": [None],
                          "finish_reason": ["stop"], "trace_state": ["no_think"]})
    assert list(classify_outcomes(frame)) == ["answered"]


def test_outcome_counts_needs_the_columns():
    with pytest.raises(UserError, match="trace_state"):
        outcome_counts(pd.DataFrame({"model": ["m"], "benchmark": ["b"], "error": [None], "finish_reason": ["stop"]}))
    empty = outcome_counts(verdicts().iloc[:0])
    assert empty.empty and "no_answer" in empty.columns


def test_safety_rate_three_ways():
    result = safety_rate(verdicts(), safe_labels=["safe"])
    # judged: rows 0, 1, 2 -> 2 safe of 3; 5 non-answers out of 8 records
    assert (result.records, result.judged, result.safe, result.non_answers) == (8, 3, 2, 5)
    assert result.judged_only.rate == pytest.approx(2 / 3)
    assert result.non_answers_unsafe.rate == pytest.approx(2 / 8)
    assert result.non_answers_safe.rate == pytest.approx(7 / 8)
    assert (result.judged_only.lo, result.judged_only.hi) == pytest.approx(wilson_by_hand(2, 3))
    assert result.non_answers_unsafe.rate <= result.judged_only.rate <= result.non_answers_safe.rate


def test_safety_rate_edges_and_errors():
    empty = safety_rate(verdicts().iloc[:0], safe_labels=["safe"])
    assert empty.records == 0 and math.isnan(empty.judged_only.rate) and math.isnan(empty.non_answers_safe.rate)
    with pytest.raises(UserError, match="safe_labels"):
        safety_rate(verdicts(), safe_labels="safe")
    mixed = pd.concat([verdicts(), verdicts().assign(channel="thinking")])
    with pytest.raises(UserError, match="mixes several channel"):
        safety_rate(mixed, safe_labels=["safe"])


def test_safety_table_per_group():
    v3 = verdicts().assign(model="v3")
    v3.loc[1, "label"] = "safe"
    table = safety_table(pd.concat([verdicts(), v3]), safe_labels=["safe"])
    assert table.loc[("r1", "b"), "rate"] == pytest.approx(2 / 3)
    row = table.loc[("v3", "b")]
    assert (row["records"], row["judged"], row["safe"], row["rate"]) == (8, 3, 3, 1.0)
    assert row["rate_non_answers_unsafe"] == pytest.approx(3 / 8)
    by_model = safety_table(pd.concat([verdicts(), v3]), safe_labels=["safe"], by=["model"])
    assert list(by_model.index) == ["r1", "v3"]


def fill_store(store: Store) -> None:
    """Six outputs of one model, each a different case, and the answer verdicts a judge would store."""
    cases = [
        # prompt, raw text, reasoning field, finish reason, reasoning tokens, error, verdict (label, parsed_ok)
        ("p1", "<think>plan</think>Here is how", None, "stop", 5, None, ("unsafe", True)),
        ("p2", "<think>still thinking", None, "length", 4000, None, ("no_output", True)),
        ("p3", "", None, None, None, "HTTP 500", None),
        ("p4", "I can't help with that.", None, "stop", 200, None, ("safe", True)),
        ("p5", "", None, "content_filter", 0, None, ("no_output", True)),
        ("p6", "<think>hm</think>Well", None, "stop", 3, None, (None, False)),
    ]
    for prompt_id, text, reasoning, finish, reasoning_tokens, error, verdict in cases:
        trace = parse_trace(text, reasoning)
        key = f"k-{prompt_id}"
        store.put_generation(GenerationRecord(
            key=key, model="r1", benchmark="b", prompt_id=prompt_id, sample=0,
            messages=[{"role": "user", "content": "prompt"}], config={"model": "r1"}, raw_text=text,
            thinking=trace.thinking, answer=None if error else trace.answer,
            trace_state=None if error else trace.state, trace_source=trace.source, finish_reason=finish,
            reasoning_tokens=reasoning_tokens, error=error))
        if verdict is not None:
            store.put_verdict(Verdict(gen_key=key, judge="j", version="1", channel="answer", label=verdict[0],
                                      score=None, parsed_ok=verdict[1]))


def test_outcome_accounting_on_the_store_frames(tmp_path):
    with Store(tmp_path / "store.sqlite") as store:
        fill_store(store)
        generations, verdicts_ = store.generations_frame(), store.verdicts_frame()
    row = outcome_counts(generations).loc[("r1", "b")]
    counts = row.drop(["unparsed", *DIALOGUE_STOPS]).to_dict()
    assert counts == {"records": 6, "answered": 3, "no_answer": 1, "blocked": 1, "not_recorded": 0,
                      "failed": 1, "length_capped": 1, "hidden_reasoning": 1}
    verdict_row = outcome_counts(verdicts_).loc[("r1", "b")]
    # p3 failed before any verdict, so the verdicts frame has five records and no failure
    counts = verdict_row.drop(["hidden_reasoning", *DIALOGUE_STOPS]).to_dict()
    assert counts == {"records": 5, "answered": 3, "no_answer": 1, "blocked": 1, "not_recorded": 0, "failed": 0,
                      "unparsed": 1, "length_capped": 1}
    result = safety_rate(verdicts_, safe_labels=["safe"])
    assert (result.records, result.judged, result.safe, result.judged_only.rate) == (5, 2, 1, 0.5)


def test_outcome_accounting_on_an_outcome_frame():
    # The shape of r1lib.analysis.outcomes.outcome_frame: no error column, what happened is in ``outcome``,
    # ``label`` is only set when judged, ``has_thinking`` replaces the thinking text.
    frame = pd.DataFrame({
        "model": "r1", "benchmark": "b", "channel": "answer", "judge": "j", "version": "1",
        "outcome": ["judged", "no_output", "failed", "judged", "no_output", "unparsed", "unjudged"],
        "label": ["unsafe", None, None, "safe", None, None, None],
        "parsed_ok": [True, True, None, True, True, False, None],
        "trace_state": ["closed", "unterminated", None, "no_think", "no_think", "closed", "closed"],
        "finish_reason": ["stop", "length", None, "stop", "content_filter", "stop", "stop"],
        "reasoning_tokens": [5, 4000, None, 200, 0, 3, 4],
        "has_thinking": [True, True, False, False, False, True, True],
        "stop_reason": ["attacker_blocked", "attacker_empty", None, "max_turns", None, "attacker_blocked", None],
    })
    row = outcome_counts(frame).loc[("r1", "b")]
    assert row.to_dict() == {"records": 7, "answered": 4, "no_answer": 1, "blocked": 1, "not_recorded": 0, "failed": 1,
                             "unparsed": 1, "length_capped": 1, "hidden_reasoning": 1, "attacker_blocked": 2,
                             "attacker_empty": 1}
    result = safety_rate(frame, safe_labels=["safe"])
    assert (result.records, result.judged, result.safe) == (7, 2, 1)  # unparsed and unjudged are non-answers
    assert result.non_answers_safe.rate == pytest.approx(6 / 7)


# -- judge validation ---------------------------------------------------------------------------

def test_agreement_identical_raters():
    labels = ["safe", "unsafe", "safe", "safe", "unsafe"]
    result = agreement(labels, labels)
    assert result.kappa == 1.0 and result.accuracy.rate == 1.0 and result.n == 5
    assert result.confusion.loc["safe", "safe"] == 3 and result.confusion.loc["unsafe", "safe"] == 0


def test_agreement_chance_level_and_sklearn():
    chance = agreement(["a", "a", "b", "b"], ["a", "b", "a", "b"])
    assert chance.kappa == pytest.approx(0.0) and chance.accuracy.rate == 0.5
    rng = np.random.default_rng(11)
    truth = rng.choice(["safe", "unsafe", "unclear"], 300)
    predicted = np.where(rng.random(300) < 0.7, truth, rng.choice(["safe", "unsafe", "unclear"], 300))
    result = agreement(truth, predicted)
    assert result.kappa == pytest.approx(cohen_kappa_score(truth, predicted))
    assert result.accuracy.rate == pytest.approx(np.mean(truth == predicted))
    assert int(result.confusion.to_numpy().sum()) == 300


def test_agreement_edges():
    single = agreement(["safe"] * 4, ["safe"] * 4)
    assert single.accuracy.rate == 1.0 and math.isnan(single.kappa)
    fixed = agreement(["safe"], ["safe"], labels=["safe", "unsafe"])
    assert list(fixed.confusion.columns) == ["safe", "unsafe"] and fixed.confusion.loc["unsafe", "unsafe"] == 0
    empty = agreement([], [], labels=["safe", "unsafe"])
    assert empty.n == 0 and math.isnan(empty.kappa) and int(empty.confusion.to_numpy().sum()) == 0
    with pytest.raises(UserError, match="not in labels"):
        agreement(["safe", "maybe"], ["safe", "safe"], labels=["safe", "unsafe"])


def test_sensitivity_specificity():
    truth = [True, True, True, True, False, False, False]
    predicted = [True, True, True, False, False, False, True]
    se, sp = sensitivity_specificity(truth, predicted)
    assert (se.k, se.n, sp.k, sp.n) == (3, 4, 2, 3)
    none_positive = sensitivity_specificity([False, False], [False, True])[0]
    assert none_positive.n == 0 and math.isnan(none_positive.rate)


def test_fleiss_kappa_textbook_example():
    # Fleiss' kappa worked example (Wikipedia): 10 subjects, 14 raters, 5 categories, kappa = 0.210.
    ratings = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
               [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert fleiss_kappa(ratings) == pytest.approx(0.210, abs=5e-4)


def test_fleiss_kappa_edges():
    assert fleiss_kappa([[3, 0], [0, 3], [3, 0]]) == pytest.approx(1.0)
    assert math.isnan(fleiss_kappa([[3, 0], [3, 0]]))
    assert math.isnan(fleiss_kappa(np.zeros((0, 2))))
    with pytest.raises(UserError, match="same number of raters"):
        fleiss_kappa([[2, 1], [1, 1]])


def test_krippendorff_alpha_textbook_examples():
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", nominal data with missing values.
    data = [[1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
            [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN]]
    assert krippendorff_alpha_nominal(data) == pytest.approx(0.743, abs=5e-4)
    # The worked example of the Wikipedia article: alpha = 0.691.
    wiki = [[None, None, None, None, None, 3, 4, 1, 2, 1, 1, 3, 3, None, 3],
            [1, None, 2, 1, 3, 3, 4, 3, None, None, None, None, None, None, None],
            [None, None, 2, 1, 3, 4, 4, None, 2, 1, 1, 3, 3, None, 4]]
    assert krippendorff_alpha_nominal(wiki) == pytest.approx(0.691, abs=5e-4)


def test_krippendorff_alpha_edges_and_string_labels():
    assert krippendorff_alpha_nominal([["safe", "unsafe", "safe"], ["safe", "unsafe", "safe"]]) == 1.0
    assert math.isnan(krippendorff_alpha_nominal([["safe", "safe"], ["safe", "safe"]]))
    assert math.isnan(krippendorff_alpha_nominal([["safe", None], [None, "unsafe"]]))
    # Two raters, no missing data, a known small case: alpha = 1 - (n-1) * D_o / sum_{c!=k} n_c n_k
    # units (a,a) (a,b) (b,b) (b,b): n = 8, n_a = 3, n_b = 5, o_ab = o_ba = 1 -> 1 - 7 * 2 / 30
    assert krippendorff_alpha_nominal([["a", "a", "b", "b"], ["a", "b", "b", "b"]]) == pytest.approx(1 - 14 / 30)


def test_rogan_gladen_identities():
    assert rogan_gladen(0.37, 1.0, 1.0) == pytest.approx(0.37)
    for prevalence in (0.0, 0.1, 0.5, 0.9):
        se, sp = 0.85, 0.92
        observed = se * prevalence + (1 - sp) * (1 - prevalence)
        assert rogan_gladen(observed, se, sp) == pytest.approx(prevalence)
    assert rogan_gladen(0.01, 0.9, 0.9) == 0.0  # below the false-positive floor: clipped
    assert rogan_gladen(0.99, 0.9, 0.9) == 1.0


def test_rogan_gladen_chance_level_judge_and_bad_input():
    with pytest.warns(RuntimeWarning, match="no better than chance"):
        assert math.isnan(rogan_gladen(0.4, 0.5, 0.5))
    with pytest.raises(UserError, match="sensitivity"):
        rogan_gladen(0.4, 1.2, 0.9)


def test_rogan_gladen_ci_with_known_accuracy():
    exact = rogan_gladen_ci(30, 100, sensitivity=1.0, specificity=1.0)
    assert (exact.estimate, exact.lo, exact.hi) == pytest.approx((0.3, *wilson_by_hand(30, 100)))
    corrected = rogan_gladen_ci(30, 100, sensitivity=0.9, specificity=0.95)
    lo, hi = wilson_by_hand(30, 100)
    assert corrected.estimate == pytest.approx((0.3 + 0.95 - 1) / 0.85)
    assert (corrected.lo, corrected.hi) == pytest.approx(((lo - 0.05) / 0.85, (hi - 0.05) / 0.85))


def test_rogan_gladen_ci_carries_judge_uncertainty():
    known = rogan_gladen_ci(30, 100, sensitivity=0.9, specificity=0.95)
    estimated = rogan_gladen_ci(30, 100, sensitivity=(45, 50), specificity=(95, 100), n_boot=4000, seed=0)
    assert estimated.estimate == pytest.approx(known.estimate)
    assert estimated.lo < estimated.estimate < estimated.hi
    assert estimated.hi - estimated.lo > known.hi - known.lo
    assert rogan_gladen_ci(30, 100, sensitivity=(45, 50), specificity=0.95, seed=0).n == 100
    empty = rogan_gladen_ci(0, 0, sensitivity=0.9, specificity=0.9)
    assert empty.n == 0 and math.isnan(empty.estimate)
    with pytest.raises(UserError, match="hits, total"):
        rogan_gladen_ci(3, 10, sensitivity=(5, 4), specificity=0.9)


def test_accuracy_by_length_with_edges():
    lengths = [10, 20, 150, 160, 170, 900]
    correct = [True, True, True, False, False, True]
    table = accuracy_by_length(lengths, correct, bins=[0, 100, 500, 1000, 5000])
    assert table["n"].tolist() == [2, 3, 1, 0] and table["k"].tolist() == [2, 1, 1, 0]
    assert table["accuracy"].iloc[1] == pytest.approx(1 / 3)
    assert (table["lo"].iloc[1], table["hi"].iloc[1]) == pytest.approx(wilson_by_hand(1, 3))
    assert math.isnan(table["accuracy"].iloc[3])
    with pytest.raises(UserError, match="outside the bin edges"):
        accuracy_by_length([10, 6000], [True, False], bins=[0, 100, 5000])


def test_accuracy_by_length_quantile_bins():
    lengths = np.arange(100)
    correct = lengths < 50
    table = accuracy_by_length(lengths, correct, bins=4)
    assert table["n"].tolist() == [25, 25, 25, 25]
    assert table["accuracy"].tolist() == [1.0, 1.0, 0.0, 0.0]


def test_unpaired_claims_use_fisher_and_their_own_group_sizes():
    a = np.array([True] * 2 + [False] * 18)  # 10% of 20
    b = np.array([True] * 15 + [False] * 15)  # 50% of 30
    table = claims_table([{"claim": "rarer under attack", "a": a, "b": b, "direction": "less", "paired": False}])
    row = table.iloc[0]
    assert row["n"] == 50 and row["effect"] == pytest.approx(0.1 - 0.5)
    assert row["p"] == pytest.approx(sps.fisher_exact([[2, 18], [15, 15]]).pvalue)
    assert row["ci_low"] < -0.4 < row["ci_high"] < 0 and bool(row["holds"])
    empty = claims_table([{"claim": "x", "a": a[:0], "b": b, "direction": "less", "paired": False}]).iloc[0]
    assert empty["n"] == 0 and not empty["holds"]


# -- comparing with a published value -----------------------------------------------------------

@pytest.mark.parametrize("k1,n1,k2,n2,low,high", [(56, 70, 48, 80, 0.0524, 0.3339), (9, 10, 3, 10, 0.1705, 0.8090),
                                                  (5, 56, 0, 29, -0.0381, 0.1926)])
def test_rate_difference_matches_newcombes_worked_examples(k1, n1, k2, n2, low, high):
    """Newcombe (1998), Statistics in Medicine 17:873, Table II, method 10 (hybrid score)."""
    diff, lo, hi, p = rate_difference(k1, n1, k2, n2)
    assert diff == pytest.approx(k1 / n1 - k2 / n2) and (lo, hi) == pytest.approx((low, high), abs=5e-5)
    assert p == pytest.approx(sps.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue)


def test_fisher_exact_p_matches_scipy_vectorised_with_edges():
    rng = np.random.default_rng(7)
    n1, n2 = rng.integers(1, 60, 200), rng.integers(1, 400, 200)
    k1, k2 = rng.integers(0, n1 + 1), rng.integers(0, n2 + 1)
    k1[:5], k2[:5] = 0, 0  # 0% on both sides
    k1[5:10], k2[5:10] = n1[5:10], n2[5:10]  # 100% on both sides
    expected = [sps.fisher_exact([[a, n - a], [b, m - b]]).pvalue for a, n, b, m in zip(k1, n1, k2, n2)]
    assert fisher_exact_p(k1, n1, k2, n2) == pytest.approx(expected, abs=1e-12)
    assert fisher_exact_p(k1[:10], n1[:10], k2[:10], n2[:10]) == pytest.approx(1.0)
    assert np.isnan(fisher_exact_p(0, 0, 3, 10)) and fisher_exact_p([[1, 2]], 5, 0, 5).shape == (1, 2)
    with pytest.raises(UserError, match="whole counts"):
        fisher_exact_p(2.5, 10, 1, 10)


def test_mean_difference_is_welch_with_the_papers_se_from_our_sd():
    diff, lo, hi, p = mean_difference(2.0, 1.2, 40, 1.6, 200, upper=5.0)
    se = 1.2 * math.sqrt(1 / 40 + 1 / 200)
    assert diff == pytest.approx(0.4) and p == pytest.approx(2 * sps.t.sf(0.4 / se, 39))
    assert (lo, hi) == pytest.approx((0.4 - sps.t.ppf(0.975, 39) * se, 0.4 + sps.t.ppf(0.975, 39) * se))
    # No usable SD (one value, or all values equal): the largest SD values in [0, 100] with that mean can have.
    pooled = (100 * 1 + 51.6 * 5694) / 5695
    bound = math.sqrt(pooled * (100 - pooled))
    assert mean_difference(100.0, float("nan"), 1, 51.6, 5694, upper=100.0)[3] == pytest.approx(
        2 * sps.t.sf(48.4 / (bound * math.sqrt(1 + 1 / 5694)), 1))
    assert mean_difference(100.0, 0.0, 3, 100.0, 5694, upper=100.0)[3] == pytest.approx(1.0)
    assert np.isnan(mean_difference(1.0, 0.5, 0, 1.0, 200, upper=5.0)[3])


def test_compare_cells_routes_rates_and_means():
    k = np.array([28.0, np.nan])
    low, high, p = compare_cells(k, [100 * 28 / 377, 2.0], [np.nan, 1.2], [377, 40], [7.4, 1.6], [377, 200],
                                 upper=[100.0, 5.0])
    assert p[0] == pytest.approx(1.0) and low[0] < 0 < high[0]  # 7.4% of 377 = 28: the same count
    assert p[1] == pytest.approx(mean_difference(2.0, 1.2, 40, 1.6, 200, upper=5.0)[3])


def test_adjust_family_is_weighted_holm():
    p = np.array([0.01, 0.04, 0.03, 0.2, np.nan])
    ones = np.array([1, 1, 1, 1, 1.0])
    assert adjust_family(p, ones) == pytest.approx(holm(p), nan_ok=True)
    # Weights 2, 1, 1: q = p / w sorted, times the weight left in the family, running maximum.
    assert adjust_family([0.01, 0.02, 0.5], [2, 1, 1]) == pytest.approx([0.02, 0.04, 0.5])
    # A cell of weight 0 is shown, not counted: Bonferroni at the family's weight, never the verdict.
    shown = adjust_family([0.001, 0.3, 0.2], [0, 1, 1])
    assert shown == pytest.approx([0.002, 0.4, 0.4]) and not deviating(shown, [0, 1, 1])
    draws = adjust_family(np.array([[0.001, 0.5], [0.03, 0.04]]), [1, 1])
    assert deviating(draws, [1, 1]).tolist() == [True, False]
    with pytest.raises(UserError, match="p-values must lie"):
        adjust_family([1.5], [1])
