"""Findings 1 and 2 on real outputs: DeepSeek-R1 vs DeepSeek-V3 under the same jailbreak.

The ``deepseek-jailbreak`` benchmark (:mod:`r1lib.benchmarks.recorded_sets`) holds one recorded
conversation per (batch, provider, model, goal): R1 and V3 were each sent their own rewrite of the
same JailbreakBench goal through the same cloud provider. Each recorded run answers only its own
conversations (the benchmark's ``runs_item`` sends each only those); :func:`evaluate` re-keys the outcome frame
by the *pair* (``prompt_id`` = ``<batch>/<provider>/<goal>``, the item id kept in ``item_id``), with
the goal as ``cluster``. With that key the library's paired machinery applies unchanged: claims
(:mod:`r1lib.analysis.claims`, whose intervals then resample whole goals), Fig. 3 and the Fig. 4 case.

:func:`pooled` puts the three providers together (model ``DS-R1 (recorded, 3 providers)`` vs
``DS-V3 (...)``); :func:`asr_table` gives attack success rates with Wilson intervals,
:func:`paired_table` the paired differences (goal-cluster bootstrap interval, exact McNemar on the
pairs and a goal-level sign-flip test), :func:`harm_table` the scores of answers both models gave
unsafely (the paper's Fig. 3 design, paired Wilcoxon).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from scipy import stats as scipy_stats

from r1lib.analysis.claims import judged_values
from r1lib.analysis.stats import cluster_sign_flip_p, mcnemar_exact, paired_bootstrap_diff, wilson_interval
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
    """An outcome frame re-keyed by pair: ``prompt_id`` = ``<batch>/<provider>/<goal>`` (item id in
    ``item_id``), with ``provider``, ``family`` and the goal as ``cluster``."""
    parts = frame["prompt_id"].str.split("/", expand=True)
    if parts.shape[1] != 4:
        raise UserError(f"{BENCHMARK}: item ids must read <batch>/<provider>/<model>/<goal>; got e.g. "
                        f"{frame['prompt_id'].iloc[0]!r}")
    return frame.assign(item_id=frame["prompt_id"], prompt_id=parts[0] + "/" + parts[1] + "/" + parts[3],
                        provider=parts[1], family=parts[2], cluster=parts[3])


def pooled(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every provider's R1 as one model and every provider's V3 as another (:data:`POOLED`)."""
    return frame.assign(model=frame["family"].map(POOLED))


def views(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-provider rows and the pooled rows in one frame (for tables and claims over both)."""
    return pd.concat([frame, pooled(frame)], ignore_index=True)


def asr_table(frames: Mapping[str, pd.DataFrame], labels: Mapping[str, str]) -> pd.DataFrame:
    """Attack success rate (%) per judge view and model, per provider and pooled: value, Wilson 95%
    interval, k unsafe of n judged, records without a verdict (``n_excluded``)."""
    rows = []
    for view, frame in frames.items():
        for model, group in views(frame).groupby("model", sort=False):
            judged = judged_values(group)
            k, n = int((~judged["value"].astype(bool)).sum()), len(judged)
            low, high = wilson_interval(k, n) if n else (float("nan"), float("nan"))
            rows.append({"view": view, "model": model, "label": labels.get(model, model),
                         "value": 100 * k / n if n else float("nan"), "ci_low": 100 * low, "ci_high": 100 * high,
                         "k": k, "n": n, "n_excluded": int((group["outcome"] != "judged").sum())})
    return pd.DataFrame(rows)


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
            both = _paired(judged_values(data), r1, v3, "value")
            unsafe_r1, unsafe_v3 = ~both["value_a"].astype(bool), ~both["value_b"].astype(bool)
            diff = paired_bootstrap_diff(unsafe_r1, unsafe_v3, clusters=both["cluster"]) if len(both) else None
            test = mcnemar_exact(unsafe_r1, unsafe_v3)
            rows.append({"view": view, "reasoning": labels.get(r1, r1), "counterpart": labels.get(v3, v3),
                         "value": 100 * diff.estimate if diff else float("nan"),
                         "ci_low": 100 * diff.lo if diff else float("nan"),
                         "ci_high": 100 * diff.hi if diff else float("nan"),
                         "n": len(both), "goals": both["cluster"].nunique(),
                         "asr_reasoning": 100 * unsafe_r1.mean() if len(both) else float("nan"),
                         "asr_counterpart": 100 * unsafe_v3.mean() if len(both) else float("nan"),
                         "reasoning_only": test.b10, "counterpart_only": test.b01, "p_mcnemar": test.p,
                         "p_goal_sign_flip": cluster_sign_flip_p(unsafe_r1, unsafe_v3, both["cluster"])
                         if len(both) else float("nan")})
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
        scored = judged_values(frame[frame["gen_key"].isin(unsafe_keys)], "score")
        for r1, v3 in [*pairs, POOLED_PAIR]:
            data = scored if (r1, v3) != POOLED_PAIR else pooled(scored)
            both = _paired(data, r1, v3, "value")
            diff = both["value_a"] - both["value_b"]
            estimate = paired_bootstrap_diff(both["value_a"], both["value_b"], clusters=both["cluster"]) \
                if len(both) else None
            rows.append({"scorer": scorer, "reasoning": labels.get(r1, r1), "counterpart": labels.get(v3, v3),
                         "value": estimate.estimate if estimate else float("nan"),
                         "ci_low": estimate.lo if estimate else float("nan"),
                         "ci_high": estimate.hi if estimate else float("nan"),
                         "n": len(both), "goals": both["cluster"].nunique(), "unit": "score",
                         "mean_reasoning": both["value_a"].mean(), "mean_counterpart": both["value_b"].mean(),
                         "reasoning_higher": int((diff > 0).sum()), "counterpart_higher": int((diff < 0).sum()),
                         "p_wilcoxon": float(scipy_stats.wilcoxon(diff).pvalue) if (diff != 0).any() else float("nan")})
    return pd.DataFrame(rows)


def _paired(frame: pd.DataFrame, a: str, b: str, value: str) -> pd.DataFrame:
    keys = ["prompt_id", "sample", "cluster"]
    left = frame.loc[frame["model"] == a, [*keys, value]]
    right = frame.loc[frame["model"] == b, [*keys, value]]
    return left.merge(right, on=keys, suffixes=("_a", "_b"))
