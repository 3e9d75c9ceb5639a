"""Our cells against the paper's: the paper's published values, each comparable cell's two-sample test with
both sides' sampling error (the paper's n per cell from data/paper_reference/cell_sizes.csv), weighted
Holm over a table's cells, and the table's status (reproduced / deviates / not comparable).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from functools import cache

import numpy as np
import pandas as pd

from r1lib.analysis.stats import adjust_family, compare_cells, deviating
from r1lib.analysis.stats.compare import ALPHA
from r1lib.config.settings import Settings, models_registry, resolve_model
from r1lib.core.errors import UserError
from r1lib.paper.cells import (
    PAPER_MODELS,
)
from r1lib.paper.layout import PAPER_TABLES, PHISHING_GRADES, XSTEST_TYPES
from r1lib.paper.render import GRADE

STATUSES = ("reproduced", "deviates", "not comparable")


COLUMNS = ["table", "model", "label", "row", "column", "value", "ci_low", "ci_high", "k", "n", "n_excluded",
           "n_blocked", "unit", "paper", "diff", "status", "note"]


#: What a cell's and a table's status mean, in one sentence (status.md and the README say it).
MEANING = ("A cell is *reproduced* when our value is consistent with the paper's given both sides' sampling error "
           "(a two-sample test per cell with the paper's n, data/paper_reference/cell_sizes.csv); a table *deviates* "
           "only when a (weighted) Holm-adjusted cell test is significant at 5%.")


#: The per-cell test columns added to ``COLUMNS`` (see the module docstring).
TEST_COLUMNS = ["paper_n", "diff_ci_low", "diff_ci_high", "p", "p_adj", "counted", "weight"]


#: The per-cell test, as named in a table's status detail.
TEST = ("two-sample test per cell with both sides' sampling error (Fisher exact for rates, Welch-type t for "
        "means; the paper's n from data/paper_reference/cell_sizes.csv)")


def paper_reference() -> dict[str, pd.DataFrame]:
    """The paper's tables (``table1`` … ``table10``, no Table 8), ``typos`` and the paper's n per cell
    (``cell_sizes``), as printed."""
    return {name: frame.copy() for name, frame in paper_reference_frames().items()}


@cache
def paper_reference_frames() -> dict[str, pd.DataFrame]:
    folder = Settings.load().root / "data" / "paper_reference"
    if not folder.is_dir():
        raise UserError(f"the paper's reference tables are missing ({folder}); restore data/paper_reference "
                        "from the repository")
    return {name: pd.read_csv(folder / f"{name}.csv", dtype={"row": str, "column": str})
            for name in (*PAPER_TABLES, "typos", "cell_sizes")}


def model_labels(models: Collection[str]) -> dict[str, str]:
    """Display label of each model from the models registry (the paper label when there is one)."""
    registry = models_registry()
    return {model: resolve_model(model, registry).display_name() for model in models}


def finish_table(name: str, rows: list[dict]) -> pd.DataFrame:
    """Add the paper's value and n, the difference with its interval and p, the status and the notes."""
    extra = [c for c in dict.fromkeys(k for r in rows for k in r)
             if c not in COLUMNS and c not in ("comparable", "reason", "sd")]
    table = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("table", "paper", "diff", "status", "note")]
                         + ["comparable", "reason", "sd"] + extra)
    table.insert(0, "table", name)
    reference = paper_reference_frames()
    paper = reference[name].set_index(["model", "row", "column"])["value"]
    keys = list(zip(table["label"], table["row"], table["column"]))
    table["paper"] = [float(paper.get(key, np.nan)) for key in keys]
    typos = reference["typos"]
    typos = typos[typos["table"] == name].set_index(["model", "row", "column"])
    corrected = [float(typos.loc[key, "corrected"]) if key in typos.index and not pd.isna(typos.loc[key, "corrected"])
                 else np.nan for key in keys]
    compared = np.array([c if not pd.isna(c) else p for c, p in zip(corrected, table["paper"])], dtype=float)
    table["diff"] = table["value"] - compared
    notes = []
    for key, fixed, reason, ok in zip(keys, corrected, table["reason"], table["comparable"]):
        parts = []
        if key in typos.index:
            typo = typos.loc[key]
            parts.append(f"{typo['kind']}: {typo['reason']}"
                         + (f"; compared with the corrected value {fixed:g}" if not pd.isna(fixed) else ""))
        if not ok and reason:
            parts.append(f"not comparable: {reason}")
        notes.append("; ".join(parts))
    table["note"] = notes
    table["paper_n"] = [paper_cell_size(name, *key) for key in keys]
    table["weight"] = cell_weights(name, table["row"], table["column"])
    table["counted"] = table["weight"] > 0
    testable = np.array([_comparable(r, c) for r, c in zip(table.itertuples(index=False), compared)], dtype=bool)
    low, high, p = _compare(table, compared, testable)
    table["diff_ci_low"], table["diff_ci_high"], table["p"] = low, high, p
    table["p_adj"] = adjust_family(p, np.where(testable, table["weight"], 0.0))
    table["status"] = [_status(ok, q) for ok, q in zip(testable, table["p_adj"])]
    return table.drop(columns=["comparable", "reason", "sd"])[[*COLUMNS, *TEST_COLUMNS, *extra]]


def paper_cell_size(table: str, label: str, row: str, column: str) -> float:
    """The paper's n behind one cell (``data/paper_reference/cell_sizes.csv``: the most specific matching
    line, ``*`` matching anything; its ``source`` says whether the n is known or assumed); NaN if none."""
    sizes = paper_reference_frames()["cell_sizes"]
    sizes = sizes[sizes["table"] == table]
    best, found = -1, np.nan
    for line in sizes.itertuples(index=False):
        fields = (line.model, line.row, line.column)
        if all(f == "*" or f == v for f, v in zip(fields, (label, row, column))):
            specific = sum(f != "*" for f in fields)
            if specific > best:
                best, found = specific, float(line.n)
    return found


def cell_weights(name: str, rows: Sequence[str] | pd.Series, columns: Sequence[str] | pd.Series) -> np.ndarray:
    """Each cell's weight in its table's family of tests (weighted Holm,
    :func:`r1lib.analysis.stats.compare.adjust_family`).

    A cell weighs 1, except: partial refusal (Tables 3 and 9) weighs 0, since PR = 100 − FC − FR on the
    same prompts (shown, not counted); a summary cell weighs as many cells as it summarises, so the
    summary and its parts share the 5% equally: Table 9's TOTAL 10 (its ten types, where a shift too
    small to see in 25 prompts shows in 250), Table 6's ALL 2 (Direct + Indirect, or Security + Logic),
    Table 4's Avg Score 3 (the mean of the three grades).
    """
    rows, columns = np.asarray(rows, dtype=object), np.asarray(columns, dtype=object)
    weights = np.ones(len(rows))
    if name in ("table3", "table9"):
        weights[columns == "PR"] = 0.0
    if name == "table9":
        weights[(rows == "TOTAL") & (columns != "PR")] = len(XSTEST_TYPES)
    if name == "table6":
        weights[columns == "ALL"] = 2.0
    if name == "table4":
        weights[columns == "Avg Score"] = float(len(PHISHING_GRADES))
    return weights


def _compare(table: pd.DataFrame, paper: np.ndarray, testable: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per cell: the 95% interval of our value − the paper's and the two-sided p (NaN where not testable),
    by :func:`r1lib.analysis.stats.compare.compare_cells` (rates: Fisher exact and Newcombe; means: the paper's
    SE assumed from our per-item SD at the paper's n)."""
    column = {name: table[name].to_numpy(dtype=float) for name in ("k", "value", "sd", "n", "paper_n")}
    low, high, p = compare_cells(column["k"], column["value"], column["sd"], np.where(testable, column["n"], np.nan),
                                 paper, column["paper_n"], upper=unit_upper(table["unit"]))
    return low, high, p


def unit_upper(units: Sequence[str] | pd.Series) -> np.ndarray:
    """The largest value a cell of each unit can take: 100 for percentages, 5 for the 0–5 grades."""
    return np.where(np.asarray(units) == GRADE, 5.0, 100.0)


def _comparable(cell, paper: float) -> bool:
    return bool(cell.comparable and cell.label in PAPER_MODELS and not pd.isna(paper) and cell.n > 0
                and not pd.isna(cell.value) and not pd.isna(cell.paper_n))


def _status(testable: bool, p_adjusted: float) -> str:
    if not testable:
        return "not comparable"
    return "deviates" if p_adjusted < ALPHA else "reproduced"


def table_status(table: pd.DataFrame) -> tuple[str, str]:
    """A table's status from its cells: ``deviates`` when at least one counted cell's adjusted p (``p_adj``,
    weighted Holm over the table's counted comparable cells) is below 5%, else ``reproduced``; ``not
    comparable`` when no cell is comparable. The detail names the deviating cells (label, row, column,
    diff, p_adj) and the test."""
    missing = [c for c in ("status", "counted", "p_adj") if c not in table.columns]
    if missing:
        raise UserError(f"the table lacks the columns {missing}; build it with an r1lib.paper.tables tableN function "
                        "(a table saved by an older version: rerun its notebook)")
    comparable = table["status"] != "not comparable"
    if not comparable.any():
        return "not comparable", f"{len(table)} cells, none comparable to the paper"
    counted = comparable & table["counted"].astype(bool)
    family = int(counted.sum())
    p_adj = table["p_adj"].to_numpy(dtype=float)
    significant = table[counted & (p_adj < ALPHA)]
    test = (f"{TEST}; Holm over {family} counted of {int(comparable.sum())} comparable cells (a summary cell "
            f"weighted as the cells it summarises); "
            f"{int((~comparable).sum())} not comparable")
    if not deviating(p_adj, counted.to_numpy()):
        best = table[counted]["p_adj"].min() if family else np.nan
        return "reproduced", f"no counted cell differs at 5% (smallest adjusted p {best:.3g}); {test}"
    cells = "; ".join(f"{r.label} {'' if r.row == 'all' else str(r.row) + ' '}{r.column}: diff {r.diff:+.2f}, "
                      f"p_adj {r.p_adj:.2g}" for r in significant.itertuples(index=False))
    return "deviates", f"{len(significant)} cell(s) differ at 5%: {cells}; {test}"
