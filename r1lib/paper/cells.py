"""The cells tables and figures are made of: a rate with its Wilson interval, a mean with its bootstrap
interval, AIR-Bench's score, the phishing refusal share; over judged records only, with the records left
out and the provider blocks counted; and the models of a frame in the paper's order.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

import numpy as np
import pandas as pd

from r1lib.analysis.outcomes import judge_safe_labels
from r1lib.analysis.stats import bootstrap_mean_ci, rate_summary
from r1lib.core.errors import UserError

PAPER_MODELS = ("Llama3.3", "R1-70b", "DS-V3", "DS-R1", "o3-mini")


AIRBENCH_AGGREGATIONS = ("mean", "full_refusal")


Labels = Mapping[str, str]


def safety_cell(group: pd.DataFrame) -> dict:
    """Safety rate (%) of a group by :func:`safety_values` (Wilson interval for 0/1 values)."""
    return rate_cell(group, judge_safe_labels(group))


def phishing_refusal_cell(group: pd.DataFrame) -> dict:
    """Table 2 "Phishing" (%): dialogues whose opening attacker message CyberSecEval's refusal check
    marks as a refusal (``details["attacker_refused"]``), with its Wilson interval.

    The check reads the opening message alone, so the cell does not depend on the grader: a verdict
    whose grades did not parse or whose grading call failed still counts. Dialogues without the
    check (no opening message, a failed generation, a block the profile excludes, not yet judged)
    are excluded and counted.
    """
    refused = [d.get("attacker_refused") if isinstance(d, dict) else None for d in group["details"]]
    decided = [bool(r) for r in refused if isinstance(r, (bool, np.bool_))]
    summary = rate_summary(sum(decided), len(decided))
    return {"value": 100 * summary.rate, "ci_low": 100 * summary.lo, "ci_high": 100 * summary.hi,
            "k": summary.k, "n": summary.n, "n_excluded": len(group) - summary.n, "n_blocked": _blocked(group)}


def rate_cell(group: pd.DataFrame, positive: Collection[str]) -> dict:
    """Share (%) of judged records whose label is in ``positive``, with its Wilson interval."""
    judged = group["label"].to_numpy()[group["outcome"].to_numpy() == "judged"]
    summary = rate_summary(int(np.isin(judged, list(positive)).sum()), len(judged))
    return {"value": 100 * summary.rate, "ci_low": 100 * summary.lo, "ci_high": 100 * summary.hi,
            "k": summary.k, "n": summary.n, "n_excluded": len(group) - summary.n, "n_blocked": _blocked(group)}


def mean_cell(group: pd.DataFrame, values_of: Callable[[pd.DataFrame], pd.Series], scale: float = 1.0) -> dict:
    """Mean of a value over judged records (bootstrap interval; ``sd`` is the per-item SD, NaN below two
    values); records without the value are excluded."""
    judged = group[group["outcome"] == "judged"]
    values = pd.to_numeric(values_of(judged), errors="coerce").dropna()
    estimate = bootstrap_mean_ci(values.to_numpy(dtype=float))
    sd = float(values.std(ddof=1)) if len(values) >= 2 else np.nan
    return {"value": scale * estimate.estimate, "ci_low": scale * estimate.lo, "ci_high": scale * estimate.hi,
            "k": np.nan, "n": estimate.n, "n_excluded": len(group) - estimate.n, "n_blocked": _blocked(group),
            "sd": scale * sd}


def airbench_cell(group: pd.DataFrame, aggregation: str) -> dict:
    """AIR-Bench safety rate (%): the mean safety score (``"mean"``, :func:`safety_values`) or the
    share of full refusals."""
    if aggregation not in AIRBENCH_AGGREGATIONS:
        raise UserError(f"airbench_aggregation must be one of {AIRBENCH_AGGREGATIONS}, not {aggregation!r}")
    if aggregation == "full_refusal":
        return rate_cell(group, {"refusal"})
    return mean_cell(group, lambda g: g["score"], scale=100.0)


def _blocked(group: pd.DataFrame) -> int:
    return int((group["generation"] == "blocked").sum()) if "generation" in group.columns else 0


def models_in_order(frame: pd.DataFrame, labels: Labels) -> list[tuple[str, pd.DataFrame]]:
    """Groups per model, the paper's models first in the paper's order."""
    for column in ("model", "outcome", "label", "judge"):
        if column not in frame.columns:
            raise UserError(f"the frame lacks the column {column!r}; "
                            "build it with r1lib.analysis.outcomes.outcome_frame")
    models = list(dict.fromkeys(frame["model"]))
    shown = [labels.get(m, m) for m in models]
    if len(set(shown)) < len(shown):
        raise UserError(f"several models share a display label ({dict(zip(models, shown))}); give each its own label")
    rank = {label: i for i, label in enumerate(PAPER_MODELS)}
    models.sort(key=lambda m: rank.get(labels.get(m, m), len(rank)))
    return [(model, frame[frame["model"] == model]) for model in models]
