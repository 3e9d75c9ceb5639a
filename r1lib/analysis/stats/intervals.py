"""Rates and means with confidence intervals: Wilson for counts, percentile bootstrap for the rest.

The bootstrap can resample *clusters* (e.g. risk categories: prompts in one category are not
independent draws) or resample *within strata* (stratified samples with known stratum weights).
Every function returns NaN rather than raising when there is nothing to estimate (n = 0), so a
notebook table with an empty cell still renders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from r1lib.analysis.stats._checks import (
    as_bool_array,
    as_float_array,
    as_labels,
    check_confidence,
    check_n_boot,
    same_length,
)
from r1lib.core.errors import UserError

#: Resamples evaluated per vectorised batch (bounds memory for large samples).
_BATCH = 200


@dataclass(frozen=True)
class RateSummary:
    """``k`` successes out of ``n``: the ``rate`` k/n and its confidence interval ``lo``–``hi``."""

    k: int
    n: int
    rate: float
    lo: float
    hi: float


@dataclass(frozen=True)
class Estimate:
    """A point ``estimate`` with its confidence interval ``lo``–``hi`` and the sample size ``n``."""

    estimate: float
    lo: float
    hi: float
    n: int


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes in ``n`` trials (no continuity correction).

    Computed by :func:`scipy.stats.binomtest`. ``n = 0`` gives ``(nan, nan)``; ``k = 0`` gives a
    lower bound of exactly 0 and ``k = n`` an upper bound of exactly 1.
    """
    check_confidence(confidence)
    k, n = _check_counts(k, n)
    if n == 0:
        return (float("nan"), float("nan"))
    interval = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(interval.low), float(interval.high))


def rate_summary(successes: int, n: int, confidence: float = 0.95) -> RateSummary:
    """The rate ``successes / n`` with its Wilson interval; ``n = 0`` gives NaN rate and bounds."""
    k, n = _check_counts(successes, n)
    lo, hi = wilson_interval(k, n, confidence)
    return RateSummary(k=k, n=n, rate=k / n if n else float("nan"), lo=lo, hi=hi)


def bootstrap_mean_ci(values: Any, *, clusters: Any = None, n_boot: int = 2000, seed: int = 0,
                      confidence: float = 0.95) -> Estimate:
    """Mean of ``values`` with a percentile-bootstrap confidence interval.

    Without ``clusters`` items are resampled. With ``clusters`` (one label per value, e.g. the risk
    category) whole clusters are resampled and the statistic is the pooled mean of the values in the
    drawn clusters, which widens the interval when items within a cluster are alike.

    Edge cases: no values gives NaN estimate and bounds with ``n = 0``; fewer than two values (or
    fewer than two clusters) gives the estimate with NaN bounds, since variability cannot be
    estimated. Missing values raise :class:`UserError`.
    """
    check_confidence(confidence)
    check_n_boot(n_boot)
    values = as_float_array(values, "values")
    n = len(values)
    estimate = float(values.mean()) if n else float("nan")
    if clusters is None:
        if n < 2:
            return Estimate(estimate, float("nan"), float("nan"), n)
        lo, hi = _percentile_bootstrap((values,), _mean, n_boot=n_boot, seed=seed, confidence=confidence)
        return Estimate(estimate, lo, hi, n)
    labels = as_labels(clusters, "clusters")
    same_length([values, labels], ["values", "clusters"])
    per_cluster = pd.Series(values).groupby(labels).agg(["sum", "size"])
    if len(per_cluster) < 2:
        return Estimate(estimate, float("nan"), float("nan"), n)
    sums, sizes = per_cluster["sum"].to_numpy(dtype=float), per_cluster["size"].to_numpy(dtype=float)
    lo, hi = _percentile_bootstrap((sums, sizes), _pooled_mean, n_boot=n_boot, seed=seed,
                                   confidence=confidence, paired=True)
    return Estimate(estimate, lo, hi, n)


def stratified_rate_ci(values: Any, strata: Any, weights: Mapping[Any, float] | None = None, *,
                       n_boot: int = 2000, seed: int = 0, confidence: float = 0.95) -> Estimate:
    """Stratified mean (a rate when ``values`` are 0/1) with a within-strata percentile bootstrap.

    The estimate is ``sum_h w_h * mean_h`` over strata ``h``. ``weights`` maps every stratum to its
    share of the population (normalised to sum to 1); without it each stratum weighs its share of the
    sample, which makes the estimate the plain mean. Each bootstrap resample draws every stratum
    independently and with its own size.

    Edge cases: no values gives NaN with ``n = 0``. A stratum with a single value always resamples to
    itself, so it adds no width; when no stratum has two or more values the bounds are NaN. A weight
    for a stratum with no values, a stratum without a weight, or a negative weight raises
    :class:`UserError`.
    """
    check_confidence(confidence)
    check_n_boot(n_boot)
    values = as_float_array(values, "values")
    labels = as_labels(strata, "strata")
    same_length([values, labels], ["values", "strata"])
    if len(values) == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    groups = {stratum: group.to_numpy() for stratum, group in pd.Series(values).groupby(labels)}
    shares = _stratum_weights(groups, weights)
    estimate = float(sum(shares[s] * groups[s].mean() for s in groups))
    resampled = [s for s in groups if len(groups[s]) >= 2]
    if not resampled:
        return Estimate(estimate, float("nan"), float("nan"), len(values))
    fixed = sum(shares[s] * groups[s].mean() for s in groups if len(groups[s]) < 2)
    resampled_weights = np.array([shares[s] for s in resampled])

    def weighted_means(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        means = np.stack([sample.mean(axis=axis) for sample in samples], axis=-1)
        return fixed + means @ resampled_weights

    lo, hi = _percentile_bootstrap(tuple(groups[s] for s in resampled), weighted_means, n_boot=n_boot,
                                   seed=seed, confidence=confidence)
    return Estimate(estimate, lo, hi, len(values))


def conditional_mean(scores: Any, mask: Any, *, clusters: Any = None, n_boot: int = 2000, seed: int = 0,
                     confidence: float = 0.95) -> Estimate:
    """Mean of ``scores`` over the items where ``mask`` is True, with a bootstrap interval.

    Used for harm severity among compliant answers: ``mask`` marks the compliant items. ``clusters``
    (optional, one per item) are subset with the mask and resampled as in :func:`bootstrap_mean_ci`.
    An empty subset gives NaN estimate and bounds with ``n = 0``, never an error.
    """
    scores = as_float_array(scores, "scores")
    mask = as_bool_array(mask, "mask")
    same_length([scores, mask], ["scores", "mask"])
    subset_clusters = None
    if clusters is not None:
        labels = as_labels(clusters, "clusters")
        same_length([scores, labels], ["scores", "clusters"])
        subset_clusters = labels[mask]
    return bootstrap_mean_ci(scores[mask], clusters=subset_clusters, n_boot=n_boot, seed=seed,
                             confidence=confidence)


def _percentile_bootstrap(data: tuple[np.ndarray, ...], statistic: Any, *, n_boot: int, seed: int,
                          confidence: float, paired: bool = False) -> tuple[float, float]:
    result = stats.bootstrap(data, statistic, n_resamples=n_boot, batch=_BATCH, vectorized=True,
                             paired=paired, confidence_level=confidence, method="percentile",
                             rng=np.random.default_rng(seed))
    return (float(result.confidence_interval.low), float(result.confidence_interval.high))


def _mean(sample: np.ndarray, axis: int = -1) -> np.ndarray:
    return sample.mean(axis=axis)


def _pooled_mean(sums: np.ndarray, sizes: np.ndarray, axis: int = -1) -> np.ndarray:
    return sums.sum(axis=axis) / sizes.sum(axis=axis)


def _stratum_weights(groups: Mapping[Any, np.ndarray], weights: Mapping[Any, float] | None) -> dict[Any, float]:
    if weights is None:
        count = sum(len(group) for group in groups.values())
        return {stratum: len(group) / count for stratum, group in groups.items()}
    unweighted = [s for s in groups if s not in weights]
    empty = [s for s in weights if s not in groups]
    if unweighted or empty:
        raise UserError(f"weights must name exactly the strata present: missing weights for {unweighted}, "
                        f"weights for strata with no values {empty}; fix the weights mapping")
    if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise UserError("weights must be non-negative with a positive sum (population shares of the strata)")
    total = float(sum(weights.values()))
    return {stratum: weights[stratum] / total for stratum in groups}


def _check_counts(k: Any, n: Any) -> tuple[int, int]:
    whole = all(isinstance(x, (int, np.integer)) or (isinstance(x, (float, np.floating)) and float(x).is_integer())
                for x in (k, n))
    if not whole or not 0 <= k <= n:
        raise UserError(f"need whole counts with 0 <= successes <= n, got successes={k!r}, n={n!r}")
    return int(k), int(n)
