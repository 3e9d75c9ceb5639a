"""Comparing our estimates with published ones when both are samples: per-cell tests and a table's verdict.

A published rate is k of the paper's n items, ours k of our n: two independent samples from the same
pool of items (each side's binomial variance is the variance of a mean over items drawn from the
pool, so the item-sampling variance is included; where both sides used the very same items the test
is conservative, because the items' own variance then cancels in the difference). Every function is
vectorised: pass arrays of any (broadcastable) shape, e.g. draws × cells in a simulation.

- :func:`rate_difference`: Fisher's exact test (two-sided, conditional; never anti-conservative, also
  at 0 % / 100 % and at small n) and Newcombe's hybrid-score interval for the difference.
- :func:`mean_difference`: a Welch-style test for means whose published SE is not known: the paper's
  SE is assumed to be our per-item SD over the paper's n; t reference with our n − 1 degrees of freedom.
- :func:`adjust_family`: (weighted) Holm over the counted cells of a table (valid under any dependence
  between cells), Bonferroni at the family's weight for cells shown but not counted; :func:`deviating`
  says whether a family has a significant counted cell.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special, stats

from r1lib.core.errors import UserError

#: Two-sided 95% normal quantile.
Z95 = float(stats.norm.ppf(0.975))
ALPHA = 0.05


def wilson_bounds(k: Any, n: Any, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of the proportion ``k / n`` (arrays; NaN where ``n`` is 0)."""
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(np.clip(p * (1 - p), 0, None) / n + z * z / (4 * n * n))
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def rate_difference(k1: Any, n1: Any, k2: Any, n2: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Difference of two proportions ``k1/n1 − k2/n2``: (diff, 95% low, 95% high, two-sided p).

    The interval is Newcombe's hybrid score interval (his method 10, from the two Wilson intervals);
    p is Fisher's exact test (:func:`fisher_exact_p`). Counts must be whole (round a published rate
    times its n first); NaN everywhere when either n is 0.
    """
    k1, n1, k2, n2 = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (k1, n1, k2, n2)))
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p2 = k1 / n1, k2 / n2
    lo1, hi1 = wilson_bounds(k1, n1)
    lo2, hi2 = wilson_bounds(k2, n2)
    diff = p1 - p2
    low = diff - np.sqrt((p1 - lo1) ** 2 + (hi2 - p2) ** 2)
    high = diff + np.sqrt((hi1 - p1) ** 2 + (p2 - lo2) ** 2)
    return diff, low, high, fisher_exact_p(k1, n1, k2, n2)


def fisher_exact_p(k1: Any, n1: Any, k2: Any, n2: Any) -> np.ndarray:
    """Two-sided Fisher exact p for ``k1`` of ``n1`` vs ``k2`` of ``n2`` (arrays; NaN where an n is 0).

    The p-value sums the hypergeometric probabilities of the tables at most as likely as the observed
    one (scipy's definition, with its relative tolerance 1e-7). Each distinct table is computed once,
    so a simulation of many tables with repeated counts stays fast.
    """
    arrays = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (k1, n1, k2, n2)))
    shape = arrays[0].shape
    flat = np.stack([a.reshape(-1) for a in arrays], axis=1)
    bad = np.isnan(flat).any(axis=1) | (flat[:, 1] <= 0) | (flat[:, 3] <= 0)
    counts = flat[~bad]
    if np.any(counts != np.round(counts)) or np.any((counts[:, 0] < 0) | (counts[:, 0] > counts[:, 1])
                                                    | (counts[:, 2] < 0) | (counts[:, 2] > counts[:, 3])):
        raise UserError("Fisher's test needs whole counts with 0 <= k <= n on both sides; round a published "
                        "rate times its n to a count first")
    out = np.full(len(flat), np.nan)
    if len(counts):
        tables, inverse = np.unique(counts.astype(np.int64), axis=0, return_inverse=True)
        out[~bad] = np.array([_fisher_one(*row) for row in tables])[inverse.reshape(-1)]
    return out.reshape(shape)


def _fisher_one(k1: int, n1: int, k2: int, n2: int) -> float:
    total = k1 + k2
    support = np.arange(max(0, total - n2), min(n1, total) + 1)
    logpmf = (special.gammaln(n1 + 1) - special.gammaln(support + 1) - special.gammaln(n1 - support + 1)
              + special.gammaln(n2 + 1) - special.gammaln(total - support + 1)
              - special.gammaln(n2 - total + support + 1))
    logpmf -= logpmf.max()
    observed = logpmf[k1 - support[0]]
    pmf = np.exp(logpmf)
    return float(min(1.0, pmf[logpmf <= observed + np.log1p(1e-7)].sum() / pmf.sum()))


def mean_difference(mean1: Any, sd1: Any, n1: Any, mean2: Any, n2: Any, *,
                    upper: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Difference of two means, the second published without its SD: (diff, 95% low, 95% high, p).

    Both SEs use our per-item SD ``sd1`` (the paper's SE is assumed to be ``sd1 / sqrt(n2)``): the
    statistic ``(mean1 − mean2) / (sd1 · sqrt(1/n1 + 1/n2))`` is referred to Student's t with
    ``n1 − 1`` degrees of freedom, since the SD is estimated from our ``n1`` values. Where the SD
    cannot be estimated or is 0 (``n1 < 2``, or all values equal), the largest SD that values in
    ``[0, upper]`` with the pooled mean ``m`` can have, ``sqrt(m · (upper − m))``, is used instead
    (conservative). NaN where an n is 0.
    """
    mean1, sd1, n1, mean2, n2, upper = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (mean1, sd1, n1, mean2, n2, upper)))
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = np.clip((n1 * mean1 + n2 * mean2) / (n1 + n2), 0, upper)
        bound = np.sqrt(pooled * (upper - pooled))
        sd = np.where((n1 >= 2) & (sd1 > 0), sd1, bound)
        se = sd * np.sqrt(1 / n1 + 1 / n2)
        df = np.maximum(n1 - 1, 1)
        diff = mean1 - mean2
        t = np.where(se > 0, diff / se, np.where(diff == 0, 0.0, np.inf))
        p = 2 * stats.t.sf(np.abs(t), df)
        half = stats.t.ppf(0.975, df) * se
    invalid = (n1 <= 0) | (n2 <= 0) | np.isnan(diff)
    p = np.where(invalid, np.nan, p)
    return diff, diff - half, diff + half, p


def compare_cells(k: Any, value: Any, sd: Any, n: Any, paper: Any, paper_n: Any, *,
                  upper: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Our cells against the paper's (arrays of one shape): the 95% interval of our value − the paper's
    and the two-sided p. A cell with a count ``k`` is a rate in percent (``value`` = 100 k / n): the
    paper's count is its value × its n, rounded, and :func:`rate_difference` tests it. A cell with
    ``k`` NaN is a mean (per-item SD ``sd``, values in ``[0, upper]``) tested by :func:`mean_difference`.
    NaN where an n is 0 or NaN.
    """
    k, value, sd, n, paper, paper_n, upper = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (k, value, sd, n, paper, paper_n, upper)))
    rate = ~np.isnan(k)
    paper_k = np.clip(np.round(paper * paper_n / 100), 0, paper_n)
    _, rate_low, rate_high, rate_p = rate_difference(np.where(rate, k, 0), np.where(rate, n, np.nan),
                                                     np.where(rate, paper_k, 0), paper_n)
    _, mean_low, mean_high, mean_p = mean_difference(value, sd, np.where(rate, np.nan, n), paper, paper_n,
                                                     upper=upper)
    return (np.where(rate, 100 * rate_low, mean_low), np.where(rate, 100 * rate_high, mean_high),
            np.where(rate, rate_p, mean_p))


def adjust_family(p: Any, weights: Any) -> np.ndarray:
    """Adjusted p-values of one table (along the last axis) by weighted Holm over the cells with a
    positive weight (valid under any dependence between cells; equal weights give Holm's procedure).

    With ``q = p / w`` sorted ascending, the j-th adjusted value is the running maximum of ``q`` times
    the weight still in the family (of the j-th and later cells), capped at 1; a family of ``m`` cells
    of weight 1 gives Holm's ``(m − j) · p``. A cell of weight 0 (shown, not counted: a copy of others)
    gets Bonferroni at the family's total weight, as a cell of weight 1 would at the first step, so it
    never changes the family's verdict. NaN stays NaN and leaves the family.
    """
    p = np.asarray(p, dtype=float)
    weights = np.broadcast_to(np.asarray(weights, dtype=float), p.shape)
    present = p[~np.isnan(p)]
    if np.any(present < 0) or np.any(present > 1) or np.any(weights < 0):
        raise UserError("p-values must lie in [0, 1] and weights be non-negative")
    counted = (weights > 0) & ~np.isnan(p)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(counted, p / weights, np.nan)
    order = np.argsort(q, axis=-1, kind="stable")  # NaN sort last
    ranked = np.take_along_axis(q, order, axis=-1)
    ranked_weights = np.take_along_axis(np.where(counted, weights, 0.0), order, axis=-1)
    remaining = np.flip(np.cumsum(np.flip(ranked_weights, axis=-1), axis=-1), axis=-1)
    steps = np.where(np.isnan(ranked), np.nan, np.minimum(np.fmax.accumulate(ranked * remaining, axis=-1), 1.0))
    adjusted = np.empty_like(p)
    np.put_along_axis(adjusted, order, steps, axis=-1)
    total = np.where(counted, weights, 0.0).sum(axis=-1, keepdims=True)
    bonferroni = np.minimum(p * np.maximum(total, 1.0), 1.0)
    return np.where(weights > 0, adjusted, bonferroni)


def deviating(p_adjusted: Any, weights: Any, alpha: float = ALPHA) -> np.ndarray:
    """Whether a family (last axis) has a counted cell (weight > 0) whose adjusted p is below ``alpha``."""
    p_adjusted = np.asarray(p_adjusted, dtype=float)
    counted = np.broadcast_to(np.asarray(weights, dtype=float) > 0, p_adjusted.shape)
    with np.errstate(invalid="ignore"):
        return np.any(counted & (p_adjusted < alpha), axis=-1)
