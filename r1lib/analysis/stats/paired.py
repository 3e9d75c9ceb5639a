"""Paired comparisons of two models (or two channels) on the same prompts.

Typical use: align R1's and V3's per-prompt safe/unsafe outcomes with :func:`align_pairs`, test the
difference with :func:`mcnemar_exact`, estimate it with :func:`paired_bootstrap_diff` (clustered by
risk category), and collect every claim of a notebook in :func:`claims_table`, which corrects the
p-values for multiple testing with :func:`holm`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from r1lib.analysis.stats._checks import as_bool_array, as_float_array, require_columns, same_length
from r1lib.analysis.stats.intervals import Estimate, bootstrap_mean_ci
from r1lib.core.errors import UserError

#: Expected sign of ``mean(a) - mean(b)`` in a claim.
DIRECTIONS = ("greater", "less")
CLAIM_COLUMNS = ["claim", "effect", "ci_low", "ci_high", "p", "p_holm", "n", "holds"]
#: What decided a claim, kept as columns when the claims carry it (see :mod:`r1lib.analysis.claims`).
CLAIM_META = ["subject", "benchmark", "channel", "judge", "version", "value", "excluded"]


@dataclass(frozen=True)
class McNemarResult:
    """Paired binary outcomes: ``n`` pairs, discordant counts and the exact two-sided ``p``.

    ``b10`` counts pairs with ``a`` True and ``b`` False; ``b01`` pairs with ``a`` False and ``b``
    True; ``both_true`` and ``both_false`` are the concordant pairs.
    """

    n: int
    both_true: int
    b10: int
    b01: int
    both_false: int
    p: float


def mcnemar_exact(a: Any, b: Any) -> McNemarResult:
    """Exact McNemar test: two-sided binomial test of ``b10`` out of ``b10 + b01`` against 1/2.

    ``a`` and ``b`` are paired booleans (item ``i`` of both refers to the same prompt). With no
    discordant pairs (all ties, or no pairs at all) the test has no evidence either way and
    ``p = 1.0``. Missing values raise :class:`UserError`.
    """
    a = as_bool_array(a, "a")
    b = as_bool_array(b, "b")
    same_length([a, b], ["a", "b"])
    b10 = int(np.sum(a & ~b))
    b01 = int(np.sum(~a & b))
    p = float(stats.binomtest(b10, b10 + b01, 0.5).pvalue) if b10 + b01 else 1.0
    return McNemarResult(n=len(a), both_true=int(np.sum(a & b)), b10=b10, b01=b01,
                         both_false=int(np.sum(~a & ~b)), p=min(p, 1.0))


def paired_bootstrap_diff(a: Any, b: Any, *, n_boot: int = 2000, seed: int = 0, clusters: Any = None,
                          confidence: float = 0.95) -> Estimate:
    """``mean(a) - mean(b)`` over paired items with a percentile-bootstrap interval.

    Pairs are resampled together (the bootstrap of the per-pair differences), or whole clusters of
    pairs when ``clusters`` is given; see :func:`bootstrap_mean_ci` for the edge cases (no pairs gives
    NaN with ``n = 0``). Booleans count as 0/1.
    """
    a = as_float_array(a, "a")
    b = as_float_array(b, "b")
    same_length([a, b], ["a", "b"])
    return bootstrap_mean_ci(a - b, clusters=clusters, n_boot=n_boot, seed=seed, confidence=confidence)


def cluster_sign_flip_p(a: Any, b: Any, clusters: Any, *, n_perm: int = 20000, seed: int = 0) -> float:
    """Two-sided p of ``mean(a - b) = 0`` over paired items clustered by ``clusters`` (e.g. goals that
    recur across providers): a randomisation test that flips the sign of each cluster's summed
    difference, so pairs of one cluster move together and their dependence is respected.

    Exact (every sign pattern) up to 16 clusters with a non-zero sum, else ``n_perm`` random
    patterns with the usual +1 correction. No non-zero cluster gives ``p = 1.0``.
    """
    differences = as_float_array(a, "a") - as_float_array(b, "b")
    labels = pd.Series(clusters, dtype=object)
    same_length([differences, labels.to_numpy()], ["a - b", "clusters"])
    sums = pd.Series(differences).groupby(labels.to_numpy()).sum().to_numpy(dtype=float)
    sums = sums[sums != 0]
    if not len(sums):
        return 1.0
    observed = abs(sums.sum())
    if len(sums) <= 16:
        signs = 1 - 2 * ((np.arange(2 ** len(sums))[:, None] >> np.arange(len(sums))) & 1)
        return float(np.mean(np.abs(signs @ sums) >= observed - 1e-12))
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=(n_perm, len(sums)))
    return float((1 + np.sum(np.abs(signs @ sums) >= observed - 1e-12)) / (n_perm + 1))


def holm(pvalues: Any) -> np.ndarray:
    """Holm–Bonferroni step-down adjusted p-values, in the input order.

    With the ``m`` non-missing p-values sorted ascending, the i-th (1-based) is multiplied by
    ``m - i + 1``; a running maximum keeps the adjusted values monotone, and they are capped at 1.
    NaN entries pass through as NaN and do not count towards ``m``. An empty input gives an empty array.
    """
    p = np.asarray(pvalues, dtype=float).reshape(-1)
    if np.any((p < 0) | (p > 1)):
        raise UserError("p-values must lie in [0, 1]; check what was passed to holm()")
    adjusted = np.full_like(p, np.nan)
    present = np.flatnonzero(~np.isnan(p))
    order = present[np.argsort(p[present], kind="stable")]
    m = len(order)
    multipliers = m - np.arange(m)
    adjusted[order] = np.minimum(np.maximum.accumulate(multipliers * p[order]), 1.0)
    return adjusted


def align_pairs(frame: pd.DataFrame, *, left: str, right: str, value: str, by: str | Sequence[str] = "prompt_id",
                model_col: str = "model") -> pd.DataFrame:
    """Put two models' per-prompt outcomes side by side, keeping only the prompts both have.

    ``frame`` is long: one row per (model, prompt). The result has the ``by`` columns plus one column
    per model (named ``left`` and ``right``) holding ``value``. Prompts present for only one model are
    left out, and their counts are reported in ``result.attrs["unmatched"]`` (``{left: k, right: m}``).
    Several rows for one (model, prompt) — e.g. several samples — raise :class:`UserError`: add
    ``"sample"`` to ``by`` or aggregate first. So do missing values and models with no rows.
    """
    keys = [by] if isinstance(by, str) else list(by)
    require_columns(frame, [model_col, value, *keys], "align_pairs")
    sides = {}
    for model in (left, right):
        rows = frame.loc[frame[model_col] == model, [*keys, value]]
        if rows.empty:
            raise UserError(f"no rows for model {model!r}; models in the frame: {sorted(frame[model_col].unique())}")
        if rows.duplicated(keys).any():
            raise UserError(f"model {model!r} has several rows for one {keys} (e.g. several samples); "
                            "add 'sample' to by= or aggregate the rows first")
        if rows[value].isna().any():
            raise UserError(f"model {model!r} has {int(rows[value].isna().sum())} missing {value!r} value(s); "
                            "drop or resolve them before pairing")
        sides[model] = rows.rename(columns={value: model})
    merged = sides[left].merge(sides[right], on=keys, how="outer", indicator=True)
    paired = merged.loc[merged["_merge"] == "both", [*keys, left, right]].reset_index(drop=True)
    paired.attrs["unmatched"] = {left: int((merged["_merge"] == "left_only").sum()),
                                 right: int((merged["_merge"] == "right_only").sum())}
    return paired


def claims_table(claims: list[dict[str, Any]], *, alpha: float = 0.05, n_boot: int = 2000, seed: int = 0,
                 confidence: float = 0.95) -> pd.DataFrame:
    """The closing table of a notebook: one row per claim, tested on paired data with Holm correction.

    Each claim is a dict with ``claim`` (its name), ``a`` and ``b`` (paired per-prompt outcomes),
    ``direction`` (``"greater"`` when the claim says ``mean(a) > mean(b)``, ``"less"`` for the
    reverse) and optionally ``clusters`` (one label per pair, e.g. risk category, for the interval).
    ``paired: False`` marks ``a`` and ``b`` as two independent groups (any lengths) instead.

    ``effect`` is ``mean(a) - mean(b)`` with a bootstrap interval (:func:`paired_bootstrap_diff`, or
    each group resampled on its own when unpaired). ``p`` is two-sided: paired, the exact McNemar
    test when both outcomes have a boolean dtype, otherwise the Wilcoxon signed-rank test
    (``p = 1.0`` when every difference is zero); unpaired, Fisher's exact test for booleans, else
    Mann–Whitney. ``p_holm`` is Holm-adjusted over all claims. A claim ``holds`` when
    ``p_holm < alpha`` and the effect has the expected sign. A claim with no pairs (or an empty
    group) has NaN effect and p and does not hold; ``n`` is the number of pairs, or of observations.
    The keys of :data:`CLAIM_META` a claim carries (its judge, channel, excluded records, ...) follow
    as columns.
    """
    rows = []
    for claim in claims:
        missing = [key for key in ("claim", "a", "b", "direction") if key not in claim]
        if missing:
            raise UserError(f"claim {claim.get('claim', '?')!r} lacks {missing}; give claim, a, b and direction")
        if claim["direction"] not in DIRECTIONS:
            raise UserError(f"claim {claim['claim']!r}: direction must be one of {DIRECTIONS}, "
                            f"got {claim['direction']!r}")
        if claim.get("paired", True):
            effect = paired_bootstrap_diff(claim["a"], claim["b"], clusters=claim.get("clusters"), n_boot=n_boot,
                                           seed=seed, confidence=confidence)
            p = _paired_p(claim["a"], claim["b"]) if effect.n else float("nan")
        else:
            effect = unpaired_bootstrap_diff(claim["a"], claim["b"], n_boot=n_boot, seed=seed, confidence=confidence)
            p = _unpaired_p(claim["a"], claim["b"]) if effect.n else float("nan")
        rows.append({"claim": claim["claim"], "effect": effect.estimate, "ci_low": effect.lo,
                     "ci_high": effect.hi, "p": p, "n": effect.n, "direction": claim["direction"],
                     **{key: claim[key] for key in CLAIM_META if key in claim}})
    meta = [key for key in CLAIM_META if any(key in claim for claim in claims)]
    table = pd.DataFrame(rows, columns=[*CLAIM_COLUMNS, "direction", *meta])
    table["p_holm"] = holm(table["p"].to_numpy(dtype=float))
    expected_sign = np.where(table["direction"] == "greater", 1.0, -1.0)
    table["holds"] = (table["p_holm"] < alpha) & (np.sign(table["effect"].to_numpy(dtype=float)) == expected_sign)
    return table[[*CLAIM_COLUMNS, *meta]].astype({"n": int, "holds": bool})


def unpaired_bootstrap_diff(a: Any, b: Any, *, n_boot: int = 2000, seed: int = 0,
                            confidence: float = 0.95) -> Estimate:
    """``mean(a) - mean(b)`` of two independent groups, each resampled on its own (percentile interval).

    ``n`` is the number of observations in both groups; an empty group gives NaN with ``n = 0``.
    """
    a = as_float_array(a, "a")
    b = as_float_array(b, "b")
    if not len(a) or not len(b):
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    diffs = (rng.choice(a, (n_boot, len(a))).mean(axis=1) - rng.choice(b, (n_boot, len(b))).mean(axis=1))
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(diffs, [tail, 100 - tail])
    return Estimate(float(a.mean() - b.mean()), float(lo), float(hi), len(a) + len(b))


def _unpaired_p(a: Any, b: Any) -> float:
    """Two-sided p of two independent groups: Fisher's exact test for booleans, else Mann–Whitney."""
    if _is_boolean(a) and _is_boolean(b):
        a, b = as_bool_array(a, "a"), as_bool_array(b, "b")
        table = [[int(a.sum()), int((~a).sum())], [int(b.sum()), int((~b).sum())]]
        return float(stats.fisher_exact(table).pvalue)
    a, b = as_float_array(a, "a"), as_float_array(b, "b")
    if np.all(a == a[0]) and np.all(b == a[0]):
        return 1.0
    return float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def _paired_p(a: Any, b: Any) -> float:
    """Two-sided p of a paired test: exact McNemar for booleans, Wilcoxon signed-rank otherwise."""
    if _is_boolean(a) and _is_boolean(b):
        return mcnemar_exact(a, b).p
    differences = as_float_array(a, "a") - as_float_array(b, "b")
    if not np.any(differences):
        return 1.0
    return float(stats.wilcoxon(differences).pvalue)


def _is_boolean(values: Any) -> bool:
    return pd.api.types.is_bool_dtype(pd.Series(values))
