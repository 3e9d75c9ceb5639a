"""Findings 1 and 2 on real outputs: DeepSeek-R1 vs DeepSeek-V3 under the same jailbreak.

The ``deepseek-jailbreak`` benchmark (:mod:`r1lib.benchmarks.recorded_sets`) holds one recorded
conversation per (batch, provider, model, goal): R1 and V3 were each sent their own rewrite of the
same JailbreakBench goal through the same cloud provider. Each recorded run answers only its own
conversations (the benchmark's ``runs_item`` sends each only those); :func:`evaluate` re-keys the
outcome frame by the *pair* (``prompt_id`` = ``<batch>/<provider>/<goal>``, the item id kept in
``item_id``), with the goal as ``cluster``. With that key the library's paired machinery applies
unchanged: claims (:mod:`r1lib.analysis.claims`, whose intervals then resample whole goals), rate
tables (:func:`r1lib.paper.tables.rates` over :func:`views`), Fig. 3 and the Fig. 4 case.

:func:`pooled` puts the three providers together (model ``DS-R1 (recorded, 3 providers)`` vs
``DS-V3 (...)``); :func:`paired_table` gives the paired differences (goal-cluster bootstrap
interval, exact McNemar on the pairs and a goal-level sign-flip test), :func:`harm_table` the scores
of answers both models gave unsafely (the paper's Fig. 3 design, paired Wilcoxon), and
:func:`attack_claims` / :func:`harm_claims` the claims of findings 1 and 2 on the pooled pairs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from scipy import stats as scipy_stats

from r1lib.analysis.claims import Claim, compare_models, judged_values, pair_claims, score_claims
from r1lib.analysis.stats import cluster_sign_flip_p, mcnemar_exact, paired_bootstrap_diff
from r1lib.benchmarks.recorded import deepseek_run
from r1lib.core.errors import UserError

BENCHMARK = "deepseek-jailbreak"
#: The model names of the pooled frame (every provider's R1, every provider's V3).
POOLED = {"r1": "DS-R1 (recorded, 3 providers)", "v3": "DS-V3 (recorded, 3 providers)"}
POOLED_PAIR = (POOLED["r1"], POOLED["v3"])


def model_pairs(run: Any) -> list[tuple[str, str]]:
    """(R1 model, its V3 counterpart) for every recorded R1 run of the profile that runs the benchmark."""
    if not run.runs(BENCHMARK):
        return []
    plan = run.profile.plan(BENCHMARK)
    models = [m for m in run.profile.models if plan.models is None or m in plan.models]
    pairs = []
    for model in models:
        config = run.profile.config(model)
        if config.backend == "recorded" and (deepseek_run(config.model) or ("",))[0] == "r1":
            if config.counterpart not in models:
                raise UserError(f"{model}: its counterpart {config.counterpart!r} does not run {BENCHMARK}; "
                                "add it to the benchmark's models in the profile")
            pairs.append((model, config.counterpart))
    return pairs


def evaluate(run: Any, judge: str | None = None) -> pd.DataFrame:
    """The answers of the recorded pairs (each model on its own conversations), judged (default: the
    benchmark's judge) and keyed by pair (:func:`by_pair`)."""
    models = [m for pair in model_pairs(run) for m in pair]
    if not models:
        return pd.DataFrame()
    return by_pair(run.evaluate(BENCHMARK, judge=judge, models=models)["answer"])


def scores(run: Any) -> dict[str, pd.DataFrame]:
    """Those answers scored by each scorer of the profile (:meth:`r1lib.app.run.Run.scores`), keyed by pair."""
    models = [m for pair in model_pairs(run) for m in pair]
    return {scorer: by_pair(frame) for scorer, frame in run.scores(BENCHMARK, models=models).items()} if models else {}


def by_pair(frame: pd.DataFrame) -> pd.DataFrame:
    """An outcome frame re-keyed by pair: ``prompt_id`` = ``<batch>/<provider>/<goal>`` from the items'
    category columns (item id kept in ``item_id``), with the goal as ``cluster``."""
    missing = [c for c in ("batch", "provider", "family", "goal") if c not in frame.columns]
    if missing:
        raise UserError(f"{BENCHMARK}: the outcome frame lacks the item categories {missing}; build it from "
                        f"{BENCHMARK} records (run.evaluate({BENCHMARK!r}))")
    return frame.assign(item_id=frame["prompt_id"], cluster=frame["goal"],
                        prompt_id=frame["batch"] + "/" + frame["provider"] + "/" + frame["goal"])


def pooled(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every provider's R1 as one model and every provider's V3 as another (:data:`POOLED`)."""
    return frame.assign(model=frame["family"].map(POOLED))


def views(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-provider rows and the pooled rows in one frame (for tables and claims over both)."""
    return pd.concat([frame, pooled(frame)], ignore_index=True)


def paired_table(frames: Mapping[str, pd.DataFrame], pairs: Sequence[tuple[str, str]],
                 labels: Mapping[str, str]) -> pd.DataFrame:
    """R1 minus V3 attack success (percentage points) on the pairs where both have a verdict, per
    provider and pooled: the difference with a goal-cluster bootstrap 95% interval, the discordant
    pairs (R1 only / V3 only jailbroken), exact McNemar p (pairs as independent) and the goal-level
    sign-flip p (pairs of one goal move together)."""
    rows = []
    for view, frame in frames.items():  # n: pairs with both verdicts; value: difference in points
        for r1, v3 in [*pairs, POOLED_PAIR]:
            data = frame if (r1, v3) != POOLED_PAIR else pooled(frame)
            both = _paired(data, r1, v3, "safe")
            unsafe_r1, unsafe_v3, goals = ~both["a"], ~both["b"], both.get("clusters", [])
            diff = paired_bootstrap_diff(unsafe_r1, unsafe_v3, clusters=goals) if len(unsafe_r1) else None
            test = mcnemar_exact(unsafe_r1, unsafe_v3)
            rows.append({"view": view, "reasoning": labels.get(r1, r1), "counterpart": labels.get(v3, v3),
                         "value": 100 * diff.estimate if diff else float("nan"),
                         "ci_low": 100 * diff.lo if diff else float("nan"),
                         "ci_high": 100 * diff.hi if diff else float("nan"),
                         "n": test.n, "goals": len(set(goals)),
                         "asr_reasoning": 100 * unsafe_r1.mean() if diff else float("nan"),
                         "asr_counterpart": 100 * unsafe_v3.mean() if diff else float("nan"),
                         "reasoning_only": test.b10, "counterpart_only": test.b01, "p_mcnemar": test.p,
                         "p_goal_sign_flip": cluster_sign_flip_p(unsafe_r1, unsafe_v3, goals)
                         if diff else float("nan")})
    return pd.DataFrame(rows)


def harm_table(score_frames: Mapping[str, pd.DataFrame], safety_frame: pd.DataFrame,
               pairs: Sequence[tuple[str, str]], labels: Mapping[str, str]) -> pd.DataFrame:
    """Finding 2: the score (severity / reward) of the answers both models gave unsafely (``safety_frame``'s
    judge), R1 vs V3 on the same pair, per scorer, per provider and pooled: means, the mean paired
    difference with a goal-cluster bootstrap interval, how often R1's answer scores higher, and the
    paired Wilcoxon p."""
    unsafe = judged_values(safety_frame)
    unsafe_keys = set(unsafe.loc[~unsafe["value"].astype(bool), "gen_key"])
    rows = []
    for scorer, frame in score_frames.items():
        scored = frame[frame["gen_key"].isin(unsafe_keys)]
        for r1, v3 in [*pairs, POOLED_PAIR]:
            data = scored if (r1, v3) != POOLED_PAIR else pooled(scored)
            both = _paired(data, r1, v3, "score")
            a, b, goals = both["a"], both["b"], both.get("clusters", [])
            diff = a - b
            estimate = paired_bootstrap_diff(a, b, clusters=goals) if len(a) else None
            rows.append({"scorer": scorer, "reasoning": labels.get(r1, r1), "counterpart": labels.get(v3, v3),
                         "value": estimate.estimate if estimate else float("nan"),
                         "ci_low": estimate.lo if estimate else float("nan"),
                         "ci_high": estimate.hi if estimate else float("nan"),
                         "n": len(a), "goals": len(set(goals)), "unit": "score",
                         "mean_reasoning": a.mean() if len(a) else float("nan"),
                         "mean_counterpart": b.mean() if len(b) else float("nan"),
                         "reasoning_higher": int((diff > 0).sum()), "counterpart_higher": int((diff < 0).sum()),
                         "p_wilcoxon": float(scipy_stats.wilcoxon(diff).pvalue) if (diff != 0).any() else float("nan")})
    return pd.DataFrame(rows)


def attack_claims(frames: Mapping[str, pd.DataFrame], labels: Mapping[str, str]) -> list[Claim]:
    """Finding 1 on these pairs: pooled R1 less safe than pooled V3, one claim per judge view (intervals
    resample goals)."""
    return pair_claims({f"{BENCHMARK}, {view}": pooled(frame) for view, frame in frames.items()}, [POOLED_PAIR],
                       labels)


def harm_claims(score_frames: Mapping[str, pd.DataFrame], safety_frame: pd.DataFrame,
                labels: Mapping[str, str]) -> list[Claim]:
    """Finding 2 on these pairs: pooled R1's answers score higher than pooled V3's where both were unsafe by
    ``safety_frame``'s judge, one claim per scorer."""
    return score_claims(pooled_scores(score_frames), [POOLED_PAIR], labels, safety_frame=pooled(safety_frame),
                        compliant_labels=("unsafe",), what="answers both gave jailbroken, R1 vs V3")


def pooled_scores(score_frames: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Every scorer's frame with the providers pooled (:func:`pooled`)."""
    return {scorer: pooled(frame) for scorer, frame in score_frames.items()}


def _paired(frame: pd.DataFrame, a: str, b: str, value: str) -> Claim:
    """The paired values of models ``a`` and ``b`` (:func:`r1lib.analysis.claims.compare_models`)."""
    return compare_models(frame, a, b, claim="", direction="less", value=value)
