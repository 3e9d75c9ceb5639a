"""Several samples per prompt: a per-sample rate clustered by prompt, Safe@k, unsafe-in-any, per-prompt summaries.

k samples of one prompt are not k independent observations: a prompt that is refused once tends to
be refused again. Three numbers describe such data:

- the **per-sample rate** (safe records / judged records) with a 95% interval *clustered by
  prompt* (:func:`clustered_rate`);
- **Safe@k**, the share of prompts safe in all k samples, and
- the share of prompts **unsafe in any** sample; both are shares of independent prompts, so their
  Wilson intervals over prompts are valid as they stand (:func:`samples_at_k`).

**Why a design-effect-corrected Wilson interval** (and not a cluster bootstrap): the tables show a
handful of prompts per cell (the recorded profile: 4), where the percentile bootstrap over so few
clusters is too narrow and jumps between seeds, and it is undefined with one prompt. The ratio
estimator's cluster (linearisation) variance ``sum_i (y_i - p m_i)^2 / n^2`` over the ``C`` prompts
(``y_i`` safe records of ``m_i`` judged), divided by the binomial variance ``p (1 - p) / n``, is the
design effect ``deff``; the Wilson interval is then computed at the effective size ``n / deff``
(Kish). It is deterministic, equals Wilson when every prompt has one sample (``deff = 1``), equals
Wilson over prompts when the k samples of every prompt agree (``deff = k``), and keeps Wilson's good
behaviour near 0 and 1. ``deff`` is kept between 1 and ``n / C``: never below 1 (samples that
disagree more than chance do not buy a narrower interval than independent draws would) and never
above the mean samples per prompt (samples that always agree; prompts of unequal sizes can overshoot
it). When the rate is 0 or 1 there is no variance to estimate and ``deff`` is that upper bound (as if
the samples of a prompt always agreed); with one prompt, too.

Records without a verdict are the caller's to exclude and count: these functions take the judged
records only (booleans, no missing values), and :func:`samples_at_k` reports the prompts left out
of Safe@k because fewer than k of their samples were judged (never counted as safe).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from r1lib.analysis.stats._checks import as_bool_array, as_float_array, as_labels, check_confidence, same_length
from r1lib.analysis.stats.intervals import RateSummary, rate_summary


@dataclass(frozen=True)
class ClusteredRate:
    """``k`` of ``n`` records (in ``clusters`` prompts): the ``rate`` with the interval ``lo``–``hi``
    at the effective size ``n_effective = n / deff``."""

    k: int
    n: int
    clusters: int
    rate: float
    lo: float
    hi: float
    deff: float
    n_effective: float


@dataclass(frozen=True)
class SamplesAtK:
    """What :func:`samples_at_k` returns.

    ``per_sample`` is the clustered per-sample safe rate over every judged record; ``safe_at_k`` and
    ``unsafe_any`` are shares of the ``prompts`` that have k judged samples, with Wilson intervals
    over prompts. ``prompts_excluded`` have fewer than k judged samples and enter neither share.
    """

    k: int
    prompts: int
    prompts_excluded: int
    per_sample: ClusteredRate
    safe_at_k: RateSummary
    unsafe_any: RateSummary


def wilson_bounds(rate: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a ``rate`` observed on a (possibly fractional, effective) size ``n``."""
    check_confidence(confidence)
    if not n > 0 or math.isnan(rate):
        return (float("nan"), float("nan"))
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half) if rate > 0 else 0.0, min(1.0, centre + half) if rate < 1 else 1.0)


def clustered_rate(values: Any, clusters: Any, confidence: float = 0.95) -> ClusteredRate:
    """Share of True ``values`` (one per judged record) with a Wilson interval clustered by ``clusters``
    (one prompt id per record); see the module docstring for the design effect and its guards.

    No records give NaN rate and bounds; one record per prompt gives exactly Wilson's interval.
    """
    flags = as_bool_array(values, "values")
    labels = as_labels(clusters, "clusters")
    same_length([flags, labels], ["values", "clusters"])
    n = len(flags)
    if n == 0:
        return ClusteredRate(0, 0, 0, float("nan"), float("nan"), float("nan"), float("nan"), 0.0)
    per_prompt = pd.Series(flags.astype(float)).groupby(labels).agg(["sum", "size"])
    c = len(per_prompt)
    k = int(flags.sum())
    rate = k / n
    deff = n / c  # the samples of a prompt always agree: one observation per prompt
    if rate not in (0.0, 1.0) and c >= 2:
        sums = per_prompt["sum"].to_numpy(dtype=float)
        sizes = per_prompt["size"].to_numpy(dtype=float)
        clustered = float(np.sum((sums - rate * sizes) ** 2)) / n ** 2
        deff = min(deff, max(1.0, clustered / (rate * (1 - rate) / n)))
    lo, hi = wilson_bounds(rate, n / deff, confidence)
    return ClusteredRate(k, n, c, rate, lo, hi, deff, n / deff)


def prompt_summary(values: Any, prompts: Any) -> pd.DataFrame:
    """Per prompt (index, in first-seen order): ``samples`` judged, ``safe`` among them and the
    ``share`` safe. ``values`` are booleans or scores (one per judged record)."""
    numbers = as_float_array(values, "values")
    labels = as_labels(prompts, "prompts")
    same_length([numbers, labels], ["values", "prompts"])
    grouped = pd.Series(numbers).groupby(pd.Series(labels, dtype=object), sort=False)
    return pd.DataFrame({"samples": grouped.size(), "safe": grouped.sum(), "share": grouped.mean()})


def samples_at_k(values: Any, prompts: Any, k: int, confidence: float = 0.95) -> SamplesAtK:
    """Per-sample rate (clustered by prompt), Safe@k and unsafe-in-any of judged records.

    ``values`` (True = safe) and ``prompts`` have one entry per judged record; ``k`` is the samples
    each prompt was meant to get. A prompt with fewer than ``k`` judged samples is left out of both
    shares and counted in ``prompts_excluded``: one of its samples might have been unsafe.
    """
    flags = as_bool_array(values, "values")
    summary = prompt_summary(flags, prompts)
    complete = summary[summary["samples"] >= k]
    safe_all = int((complete["safe"] == complete["samples"]).sum())
    unsafe_any = len(complete) - safe_all
    return SamplesAtK(k=k, prompts=len(complete), prompts_excluded=len(summary) - len(complete),
                      per_sample=clustered_rate(flags, prompts, confidence),
                      safe_at_k=rate_summary(safe_all, len(complete), confidence),
                      unsafe_any=rate_summary(unsafe_any, len(complete), confidence))
