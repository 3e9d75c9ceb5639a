"""Judge validation: agreement with human labels, agreement among judges, and correcting a rate for
judge error (Rogan–Gladen).

Conventions: for sensitivity and specificity the *positive* class is whatever the judge is asked to
detect (usually "unsafe"). Sensitivity = P(judge says positive | truly positive); specificity =
P(judge says negative | truly negative).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from r1lib.analysis.stats._checks import (
    as_bool_array,
    as_float_array,
    as_labels,
    check_confidence,
    check_n_boot,
    same_length,
)
from r1lib.analysis.stats.intervals import Estimate, RateSummary, rate_summary, wilson_interval
from r1lib.core.errors import UserError

#: Below this, Se + Sp - 1 is treated as zero: the judge is no better than chance and cannot be corrected.
MIN_YOUDEN = 1e-6


@dataclass(frozen=True)
class Agreement:
    """Agreement of predictions with reference labels over ``n`` items.

    ``accuracy`` carries a Wilson interval; ``kappa`` is Cohen's kappa; ``confusion`` counts items
    by reference label (index ``true``) and predicted label (columns ``predicted``).
    """

    n: int
    accuracy: RateSummary
    kappa: float
    confusion: pd.DataFrame


def agreement(y_true: Any, y_pred: Any, labels: Sequence[Any] | None = None, confidence: float = 0.95) -> Agreement:
    """Accuracy, Cohen's kappa and the confusion matrix of ``y_pred`` against ``y_true``.

    ``labels`` fixes the order (and completeness) of the confusion matrix; a label outside it raises
    :class:`UserError`. Kappa is ``(p_o - p_e) / (1 - p_e)``; it is NaN when ``p_e = 1`` (both
    raters used one and the same label throughout) and when there are no items.
    """
    truth = as_labels(y_true, "y_true")
    predicted = as_labels(y_pred, "y_pred")
    same_length([truth, predicted], ["y_true", "y_pred"])
    if labels is None:
        labels = sorted(set(truth) | set(predicted), key=str)
    unknown = (set(truth) | set(predicted)) - set(labels)
    if unknown:
        raise UserError(f"labels {sorted(unknown, key=str)} are not in labels={list(labels)}; "
                        "add them or map them first")
    confusion = pd.crosstab(pd.Categorical(truth, categories=labels), pd.Categorical(predicted, categories=labels),
                            dropna=False).reindex(index=labels, columns=labels, fill_value=0)
    confusion.index.name, confusion.columns.name = "true", "predicted"
    n = len(truth)
    counts = confusion.to_numpy(dtype=float)
    observed = np.trace(counts) / n if n else float("nan")
    expected = float(counts.sum(axis=1) @ counts.sum(axis=0)) / n**2 if n else float("nan")
    kappa = (observed - expected) / (1 - expected) if n and expected < 1 else float("nan")
    return Agreement(n=n, accuracy=rate_summary(int(np.trace(counts)), n, confidence), kappa=float(kappa),
                     confusion=confusion)


def sensitivity_specificity(y_true: Any, y_pred: Any, confidence: float = 0.95) -> tuple[RateSummary, RateSummary]:
    """Sensitivity and specificity of boolean predictions (True = positive) with Wilson intervals.

    Sensitivity is over the truly positive items, specificity over the truly negative ones; a class
    with no items gives NaN for its rate.
    """
    truth = as_bool_array(y_true, "y_true")
    predicted = as_bool_array(y_pred, "y_pred")
    same_length([truth, predicted], ["y_true", "y_pred"])
    sensitivity = rate_summary(int(np.sum(truth & predicted)), int(truth.sum()), confidence)
    specificity = rate_summary(int(np.sum(~truth & ~predicted)), int((~truth).sum()), confidence)
    return sensitivity, specificity


def fleiss_kappa(ratings: Any) -> float:
    """Fleiss' kappa from a subjects × categories matrix of counts (how many raters chose each category).

    Every row must sum to the same number of raters (at least 2). Returns NaN when there are no
    subjects or when every rating falls in one category (chance agreement is then 1).
    """
    counts = np.asarray(ratings, dtype=float)
    if counts.ndim != 2 or np.any(counts < 0) or np.any(counts != np.round(counts)):
        raise UserError("ratings must be a subjects × categories matrix of non-negative whole counts")
    if counts.shape[0] == 0:
        return float("nan")
    raters = counts.sum(axis=1)
    if np.any(raters != raters[0]) or raters[0] < 2:
        raise UserError("every subject must be rated by the same number of raters (at least 2); "
                        "use krippendorff_alpha_nominal for missing ratings")
    n = raters[0]
    per_subject = (np.sum(counts**2, axis=1) - n) / (n * (n - 1))
    shares = counts.sum(axis=0) / counts.sum()
    observed, expected = per_subject.mean(), float(np.sum(shares**2))
    return float((observed - expected) / (1 - expected)) if expected < 1 else float("nan")


def krippendorff_alpha_nominal(reliability_data: Any) -> float:
    """Krippendorff's alpha for nominal data, allowing missing ratings.

    ``reliability_data`` is raters × units (rows are coders or judges, columns are items), with
    ``None``/NaN where a rater gave no value. Units with fewer than two values are not pairable and
    are ignored, as the coefficient prescribes. ``alpha = 1 - (n - 1) * D_o / D_e`` computed from the
    coincidence matrix. Returns NaN when nothing is pairable or only one value occurs (no variation).
    """
    frame = pd.DataFrame(reliability_data)
    if frame.ndim != 2:
        raise UserError("reliability_data must be a raters × units table")
    long = frame.melt(var_name="unit", value_name="value").dropna(subset=["value"])
    counts = pd.crosstab(long["unit"], long["value"]).to_numpy(dtype=float)
    pairable = counts.sum(axis=1) >= 2 if counts.size else np.zeros(0, dtype=bool)
    counts = counts[pairable]
    if counts.shape[0] == 0:
        return float("nan")
    values_per_unit = counts.sum(axis=1, keepdims=True)
    coincidences = (counts / (values_per_unit - 1)).T @ counts - np.diag(np.sum(counts / (values_per_unit - 1), axis=0))
    totals = coincidences.sum(axis=1)
    n = totals.sum()
    disagreement = coincidences.sum() - np.trace(coincidences)
    expected = (n**2 - np.sum(totals**2)) / (n - 1)
    return float(1 - disagreement / expected) if expected > 0 else float("nan")


def rogan_gladen(observed_rate: float, sensitivity: float, specificity: float) -> float:
    """True prevalence implied by an observed (judge-detected) rate and the judge's Se and Sp.

    ``(observed + Sp - 1) / (Se + Sp - 1)``, clipped to [0, 1]. Se = Sp = 1 leaves the rate unchanged.
    When ``Se + Sp - 1 <= MIN_YOUDEN`` the judge is no better than chance: returns NaN with a
    :class:`RuntimeWarning`. Inputs outside [0, 1] raise :class:`UserError`.
    """
    for name, value in (("observed_rate", observed_rate), ("sensitivity", sensitivity), ("specificity", specificity)):
        if not 0 <= value <= 1:
            raise UserError(f"{name} must be a proportion in [0, 1], got {value!r}")
    youden = sensitivity + specificity - 1
    if youden <= MIN_YOUDEN:
        warnings.warn(f"Se + Sp - 1 = {youden:.3g}: the judge is no better than chance, so the rate cannot be "
                      "corrected (returning NaN)", RuntimeWarning, stacklevel=2)
        return float("nan")
    return float(np.clip((observed_rate + specificity - 1) / youden, 0.0, 1.0))


def rogan_gladen_ci(k: int, n: int, *, sensitivity: float | tuple[int, int], specificity: float | tuple[int, int],
                    confidence: float = 0.95, n_boot: int = 2000, seed: int = 0) -> Estimate:
    """Judge-error-corrected prevalence from ``k`` positives in ``n`` with a confidence interval.

    ``sensitivity`` and ``specificity`` are either known proportions or ``(hits, total)`` counts from
    a validation set. When both are known the Wilson bounds of ``k/n`` are mapped through
    :func:`rogan_gladen` (the correction is increasing in the observed rate). When either is given
    as counts, a parametric bootstrap draws the observed rate and the estimated Se/Sp from their
    binomials, so their uncertainty widens the interval; draws where ``Se + Sp - 1`` is not
    positive are left out with a :class:`RuntimeWarning` saying how many.

    ``n = 0`` gives NaN with ``n = 0``; a chance-level judge gives NaN (see :func:`rogan_gladen`).
    """
    check_confidence(confidence)
    check_n_boot(n_boot)
    observed = rate_summary(k, n, confidence)
    se_hat, se_counts = _proportion(sensitivity, "sensitivity")
    sp_hat, sp_counts = _proportion(specificity, "specificity")
    if observed.n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    estimate = rogan_gladen(observed.rate, se_hat, sp_hat)
    if np.isnan(estimate):
        return Estimate(estimate, float("nan"), float("nan"), observed.n)
    if se_counts is None and sp_counts is None:
        lo, hi = wilson_interval(observed.k, observed.n, confidence)
        return Estimate(estimate, rogan_gladen(lo, se_hat, sp_hat), rogan_gladen(hi, se_hat, sp_hat), observed.n)
    rng = np.random.default_rng(seed)
    rates = rng.binomial(observed.n, observed.rate, n_boot) / observed.n
    se = rng.binomial(se_counts[1], se_hat, n_boot) / se_counts[1] if se_counts else np.full(n_boot, se_hat)
    sp = rng.binomial(sp_counts[1], sp_hat, n_boot) / sp_counts[1] if sp_counts else np.full(n_boot, sp_hat)
    youden = se + sp - 1
    usable = youden > MIN_YOUDEN
    if not usable.all():
        warnings.warn(f"{int((~usable).sum())} of {n_boot} bootstrap draws had Se + Sp - 1 <= 0 and were left out; "
                      "validate the judge on more items", RuntimeWarning, stacklevel=2)
    if not usable.any():
        return Estimate(estimate, float("nan"), float("nan"), observed.n)
    corrected = np.clip((rates[usable] + sp[usable] - 1) / youden[usable], 0.0, 1.0)
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(corrected, [tail, 100 - tail])
    return Estimate(estimate, float(lo), float(hi), observed.n)


def accuracy_by_length(lengths: Any, correct: Any, bins: int | Sequence[float],
                       confidence: float = 0.95) -> pd.DataFrame:
    """Accuracy per length bin with Wilson intervals (does the judge degrade on long traces?).

    ``bins`` is either a number of quantile bins (equal-count bins, duplicates merged) or a sequence
    of bin edges (right-closed, the first edge included). Columns: ``bin``, ``n``, ``k``,
    ``accuracy``, ``lo``, ``hi``; an empty bin has ``n = 0`` and NaN accuracy. A length outside the
    given edges raises :class:`UserError` (extend the edges, e.g. with ``np.inf``).
    """
    lengths = as_float_array(lengths, "lengths")
    correct = as_bool_array(correct, "correct")
    same_length([lengths, correct], ["lengths", "correct"])
    if isinstance(bins, int):
        if len(lengths) == 0:
            raise UserError("quantile bins need at least one length; pass explicit bin edges instead")
        binned = pd.qcut(lengths, q=bins, duplicates="drop")
    else:
        binned = pd.cut(lengths, bins=list(bins), include_lowest=True)
        outside = int(pd.isna(binned).sum())
        if outside:
            raise UserError(f"{outside} length(s) fall outside the bin edges {list(bins)}; "
                            "extend the edges (e.g. np.inf)")
    rows = []
    for interval in binned.categories:
        in_bin = np.asarray(binned == interval)
        summary = rate_summary(int(correct[in_bin].sum()), int(in_bin.sum()), confidence)
        rows.append({"bin": interval, "n": summary.n, "k": summary.k, "accuracy": summary.rate,
                     "lo": summary.lo, "hi": summary.hi})
    return pd.DataFrame(rows, columns=["bin", "n", "k", "accuracy", "lo", "hi"])


def _proportion(value: float | tuple[int, int], name: str) -> tuple[float, tuple[int, int] | None]:
    """A proportion and, when ``value`` is given as ``(hits, total)``, those counts."""
    if isinstance(value, tuple):
        if len(value) != 2 or value[1] <= 0 or not 0 <= value[0] <= value[1]:
            raise UserError(f"{name} counts must be (hits, total) with 0 <= hits <= total and total > 0, got {value!r}")
        return value[0] / value[1], (int(value[0]), int(value[1]))
    return float(value), None
