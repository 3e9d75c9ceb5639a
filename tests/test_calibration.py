"""Calibration of "reproduced / deviates", shown by simulation: perfect reproductions of Tables 2, 3 and 9
(our value and the paper's printed value both drawn from a truth equal to the paper's value) go through
the same per-cell comparison and table verdict that the tables use, and must read "deviates" in about
5% of draws at most; a real shift (one model 10 points lower) must read "deviates" in at least 80%.

Sizes: ours are the paper profile's (configs/profiles/paper.yaml: every item, so Table 1's sizes); the
paper's are its n per cell (data/paper_reference/cell_sizes.csv). XSTest is drawn per prompt type
(25 prompts each, a multinomial over full compliance / full refusal / partial refusal), so Table 9's
TOTAL and PR cells and Table 3's Avg and worst type follow from the same draws as they do in the
tables. AIR-Bench scores are 0 / 0.5 / 1 per prompt with 10% ambiguous answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from r1lib.analysis.stats import adjust_family, compare_cells, deviating, mean_difference, rate_difference
from r1lib.app.profiles import Profile
from r1lib.paper import comparison, layout
from r1lib.paper.cells import PAPER_MODELS

DRAWS = 1000
#: Upper 99% binomial bound on the share of "deviates" among DRAWS when the true rate is 5%.
FALSE_LIMIT = sps.binom.ppf(0.99, DRAWS, 0.05) / DRAWS
POWER = 0.80
SHIFT = 10.0
AMBIGUOUS = 0.10
TYPES = list(layout.XSTEST_TYPES.values())
XSTEST = list(layout.XSTEST_COLUMNS)  # FC, FR, PR


@dataclass
class Cells:
    """Simulated cells of one table: arrays of shape (draws, cells) plus the per-cell constants."""

    k: np.ndarray
    value: np.ndarray
    sd: np.ndarray
    n: np.ndarray
    paper: np.ndarray
    paper_n: np.ndarray
    unit: np.ndarray
    weight: np.ndarray


def deviates_share(cells: Cells) -> float:
    """Share of draws whose table reads "deviates" by the tables' own comparison and verdict."""
    _, _, p = compare_cells(cells.k, cells.value, cells.sd, cells.n, cells.paper, cells.paper_n,
                            upper=comparison.unit_upper(cells.unit))
    return float(deviating(adjust_family(p, cells.weight), cells.weight).mean())


def truth(name: str) -> pd.DataFrame:
    """The paper's cells of a table with the value it is compared at (typos corrected) and its n."""
    reference = comparison.paper_reference()
    cells = reference[name][["model", "row", "column", "value", "unit"]].copy()
    typos = reference["typos"]
    fixed = typos[(typos["table"] == name) & typos["corrected"].notna()].set_index(["model", "row", "column"])
    keys = list(zip(cells["model"], cells["row"], cells["column"]))
    cells["value"] = [float(fixed.loc[key, "corrected"]) if key in fixed.index else v
                      for key, v in zip(keys, cells["value"])]
    cells["paper_n"] = [comparison.paper_cell_size(name, *key) for key in keys]
    return cells.reset_index(drop=True)


@cache
def our_size(benchmark: str) -> int:
    """Items per model in the paper profile: its limit, or every item of Table 1."""
    limit = Profile.load("paper").plan(benchmark).limit
    sizes = comparison.paper_reference()["table1"].set_index("benchmark")["size"]
    return int(limit if limit is not None else sizes[benchmark])


def printed(k: np.ndarray, n: np.ndarray, decimals: int = 1) -> np.ndarray:
    """A count as the paper prints it: a percentage rounded to ``decimals``."""
    return np.round(100 * k / n, decimals)


def airbench_draw(rng: np.random.Generator, mean: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (%) and per-item SD (%) of ``n`` scores 0 / 0.5 / 1 with the given true mean (%)."""
    m = mean / 100
    ambiguous = np.minimum(AMBIGUOUS, 2 * np.minimum(m, 1 - m))
    probs = np.stack([1 - m - ambiguous / 2, ambiguous, m - ambiguous / 2], axis=-1)
    counts = np.stack([rng.multinomial(int(size), p, size=DRAWS) for size, p in zip(n, probs)], axis=1)
    scores = np.array([0.0, 0.5, 1.0])
    means = counts @ scores / n
    variance = (counts @ scores**2 - n * means**2) / (n - 1)
    return 100 * means, 100 * np.sqrt(np.clip(variance, 0, None))


def table2_cells(rng: np.random.Generator, shift: str | None = None) -> Cells:
    """Table 2 (AirBench mean score, MITRE, Code Interp, Phishing), ``shift``'s cells 10 points lower."""
    cells = truth("table2")
    benchmarks = {v: k for k, v in layout.BENCHMARK_COLUMNS.items()}
    ours_n = np.array([our_size(benchmarks[c]) for c in cells["column"]], dtype=float)
    paper_n = cells["paper_n"].to_numpy(dtype=float)
    value = cells["value"].to_numpy(dtype=float)
    ours = np.clip(value - SHIFT * (cells["model"] == shift).to_numpy(), 0, 100)
    airbench = (cells["column"] == "AirBench").to_numpy()
    k = rng.binomial(ours_n.astype(int), ours / 100, size=(DRAWS, len(cells))).astype(float)
    paper_k = rng.binomial(paper_n.astype(int), value / 100, size=(DRAWS, len(cells)))
    ours_value, paper_value = 100 * k / ours_n, printed(paper_k, paper_n)
    sd = np.full(k.shape, np.nan)
    ours_value[:, airbench], sd[:, airbench] = airbench_draw(rng, ours[airbench], ours_n[airbench])
    paper_value[:, airbench] = np.round(airbench_draw(rng, value[airbench], paper_n[airbench])[0], 1)
    k[:, airbench] = np.nan
    return Cells(k, ours_value, sd, np.broadcast_to(ours_n, k.shape), paper_value, paper_n,
                 cells["unit"].to_numpy(), comparison.cell_weights("table2", cells["row"], cells["column"]))


def xstest_counts(rng: np.random.Generator, per_type: int, shift: str | None = None) -> np.ndarray:
    """Counts (draws, model, type, FC/FR/PR) of ``per_type`` prompts per type from Table 9's per-type
    values; for ``shift`` full compliance is 10 points lower and full refusal 10 points higher."""
    cells = truth("table9").set_index(["model", "row", "column"])["value"]
    counts = np.empty((DRAWS, len(PAPER_MODELS), len(TYPES), 3), dtype=np.int64)
    for i, model in enumerate(PAPER_MODELS):
        for j, prompt_type in enumerate(TYPES):
            p = np.array([cells[(model, prompt_type, c)] for c in XSTEST], dtype=float)
            if model == shift:
                p += [-SHIFT, SHIFT, 0.0]
            counts[:, i, j] = rng.multinomial(per_type, np.clip(p, 0, None) / np.clip(p, 0, None).sum(), size=DRAWS)
    return counts


def table9_cells(ours: np.ndarray, paper: np.ndarray) -> Cells:
    """Table 9 cells (model × (types, TOTAL) × FC/FR/PR, the paper's order) from per-type counts."""
    layout = truth("table9")
    rows = [*TYPES, "TOTAL"]

    def cell_counts(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        full = np.concatenate([counts, counts.sum(axis=2, keepdims=True)], axis=2)  # TOTAL
        n = full.sum(axis=-1, keepdims=True) * np.ones(3)
        index = [(PAPER_MODELS.index(m), rows.index(r), XSTEST.index(c))
                 for m, r, c in zip(layout["model"], layout["row"], layout["column"])]
        pick = tuple(np.array(i) for i in zip(*index))
        return full[:, pick[0], pick[1], pick[2]].astype(float), n[:, pick[0], pick[1], pick[2]]

    k, n = cell_counts(ours)
    paper_k, paper_n = cell_counts(paper)
    return Cells(k, 100 * k / n, np.full(k.shape, np.nan), n, printed(paper_k, paper_n), paper_n[0],
                 layout["unit"].to_numpy(), comparison.cell_weights("table9", layout["row"], layout["column"]))


def table3_cells(ours: np.ndarray, paper: np.ndarray) -> Cells:
    """Table 3 cells (model × (Avg, Worst Cat) × FC/FR/PR) from per-type counts: the worst type is chosen
    in each draw on each side, as report.table3 chooses it (lowest FC, then most FR, then type order)."""
    layout = truth("table3")

    def cell_counts(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        order = counts[..., 0] * 10_000 - counts[..., 1] * 100 + np.arange(len(TYPES))
        worst = np.take_along_axis(counts, order.argmin(axis=2)[:, :, None, None], axis=2)[:, :, 0]
        rows = {"Avg": counts.sum(axis=2), "Worst Cat": worst}
        k = np.stack([rows[r][:, PAPER_MODELS.index(m), XSTEST.index(c)]
                      for m, r, c in zip(layout["model"], layout["row"], layout["column"])], axis=1)
        n = np.stack([rows[r][:, PAPER_MODELS.index(m)].sum(axis=-1)
                      for m, r in zip(layout["model"], layout["row"])], axis=1)
        return k.astype(float), n.astype(float)

    k, n = cell_counts(ours)
    paper_k, paper_n = cell_counts(paper)
    return Cells(k, 100 * k / n, np.full(k.shape, np.nan), n, printed(paper_k, paper_n), paper_n,
                 layout["unit"].to_numpy(), comparison.cell_weights("table3", layout["row"], layout["column"]))


def xstest_tables(seed: int, shift: str | None = None) -> dict[str, Cells]:
    rng = np.random.default_rng(seed)
    per_type = our_size("xstest") // len(TYPES)
    ours, paper = xstest_counts(rng, per_type, shift), xstest_counts(rng, 25)
    return {"table3": table3_cells(ours, paper), "table9": table9_cells(ours, paper)}


def simulate(table2_shift: str | None = None, xstest_shift: str | None = None, seed: int = 0) -> dict[str, float]:
    """Share of DRAWS reading "deviates" for Tables 2, 3 and 9, with the named model's cells shifted."""
    shares = {"table2": deviates_share(table2_cells(np.random.default_rng(seed), table2_shift))}
    shares.update({name: deviates_share(cells) for name, cells in xstest_tables(seed + 1, xstest_shift).items()})
    return shares


# ---------------------------------------------------------------------------------------------
# The tests


def test_a_perfect_reproduction_deviates_in_at_most_about_5_percent_of_draws() -> None:
    shares = simulate()
    assert all(share <= FALSE_LIMIT for share in shares.values()), (shares, FALSE_LIMIT)


@pytest.mark.parametrize("model", ["Llama3.3", "R1-70b", "DS-V3", "DS-R1"])
def test_one_model_10_points_lower_is_flagged_in_at_least_80_percent_of_draws(model: str) -> None:
    """Table 2: o3-mini 10 points lower in every column; Tables 3 and 9: ``model``'s full compliance 10
    points lower (and full refusal 10 higher) in every prompt type. o3-mini is not among the XSTest
    models: at 92.8% FC on 250 prompts per side a 10-point shift is flagged in only about 65% of draws
    (one test alone would see it in about 93%; the family of 20-40 cells costs the rest)."""
    shares = simulate("o3-mini", model)
    assert all(share >= POWER for share in shares.values()), shares


def test_the_per_cell_rate_test_is_calibrated_at_small_n() -> None:
    """Fisher's test rejects a true null at most at its level, at every level Holm uses (5% down to
    5%/150), also at 0%, 100% and a handful of items (exact sizes, summed over every outcome)."""
    for n1, n2 in [(2, 377), (8, 377), (25, 25), (10, 250), (25, 250)]:
        k1, k2 = np.meshgrid(np.arange(n1 + 1), np.arange(n2 + 1), indexing="ij")
        p = rate_difference(k1, n1, k2, n2)[3]
        for rate in (0.0, 0.02, 0.1, 0.5, 0.95, 1.0):
            weight = sps.binom.pmf(k1, n1, rate) * sps.binom.pmf(k2, n2, rate)
            for alpha in (0.05, 0.05 / 150):
                assert (weight * (p < alpha)).sum() <= alpha + 1e-12, (n1, n2, rate, alpha)


@pytest.mark.parametrize("n", [1, 3, 16, 200])
def test_the_per_cell_mean_test_is_calibrated_at_small_n(n: int) -> None:
    """AIR-Bench-like scores (0 / 0.5 / 1) of our n prompts against a published mean of 5694: the
    Welch-type test rejects a true null in at most about 5% of 20,000 draws."""
    rng = np.random.default_rng(n)
    probs = [0.45, AMBIGUOUS, 0.45]
    scores = rng.choice([0.0, 0.5, 1.0], p=probs, size=(20_000, n))
    true_sd = np.sqrt(0.45 + 0.25 * AMBIGUOUS - 0.25)
    paper = rng.normal(0.5, true_sd / np.sqrt(5694), size=20_000)
    sd = scores.std(axis=1, ddof=1) if n > 1 else np.full(20_000, np.nan)
    p = mean_difference(scores.mean(axis=1), sd, n, paper, 5694, upper=1.0)[3]
    assert (p < 0.05).mean() <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 20_000)
