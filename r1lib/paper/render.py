"""What a reader sees of a table: estimates with their interval and n at a sensible precision, the
paper's wide layout, and the files (``.csv`` in full precision, ``.md`` and ``.tex`` as read).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from r1lib.core.errors import UserError

#: Units of a cell: percentages and the 0-5 phishing grades.
PERCENT, GRADE = "%", "score 0-5"
#: Decimals a rendered estimate is shown with, per unit (other units, e.g. scores: 2).
DECIMALS = {PERCENT: 1, GRADE: 2}

def format_estimate(value: float, low: float = np.nan, high: float = np.nan, n: float | None = None, *,
                    decimals: int = 1, excluded: float = 0) -> str:
    """An estimate as a reader sees it: ``"11.0 [5.9, 19.6] n=82"``, rounded to ``decimals``.

    The interval is left out when it is unknown, ``n`` when it is None; ``excluded`` > 0 adds
    ``" (18 excl.)"``. A missing value is ``"–"`` (with its n, e.g. ``"– n=0"``). Every rendered
    table of estimates (:func:`wide`, :func:`readable`) formats its cells with this function.
    """
    text = "–" if pd.isna(value) else f"{value:.{decimals}f}"
    if not (pd.isna(value) or pd.isna(low) or pd.isna(high)):
        text += f" [{low:.{decimals}f}, {high:.{decimals}f}]"
    if n is not None and not pd.isna(n):
        text += f" n={int(n)}"
    if not pd.isna(excluded) and excluded > 0:
        text += f" ({int(excluded)} excl.)"
    return text


def wide(table: pd.DataFrame, *, show: str = "both", decimals: int | None = None) -> pd.DataFrame:
    """The paper's layout: one row per model (and sub-row), one column per paper column.

    ``show`` is ``"both"`` (ours as value [95% interval] n, then the paper's value and ✓ reproduced /
    ✗ deviates: ``"31.8 [27.3, 36.7] n=377 · paper 7.4 ✗"``), ``"ours"`` (without the paper) or
    ``"paper"`` (the paper's value alone). Cells with excluded records say how many. ``decimals``
    defaults to 2 for Tables 4–6 and to :data:`DECIMALS` of each cell's unit otherwise.
    """
    if show not in ("both", "ours", "paper"):
        raise UserError(f"show must be 'both', 'ours' or 'paper', not {show!r}")
    if decimals is None and table["table"].isin(["table4", "table5", "table6"]).any():
        decimals = 2
    marks = {"reproduced": " ✓", "deviates": " ✗", "not comparable": ""}

    def cell(r: pd.Series) -> str:
        places = decimals if decimals is not None else DECIMALS.get(r["unit"], 2)
        if show == "paper":
            return format_estimate(r["paper"], decimals=places)
        ours = format_estimate(r["value"], r["ci_low"], r["ci_high"], r["n"], decimals=places,
                               excluded=r["n_excluded"])
        if show == "ours":
            return ours
        paper = "" if pd.isna(r["paper"]) else f" · paper {format_estimate(r['paper'], decimals=places)}"
        return f"{ours}{paper}{marks[r['status']]}"

    text = table.assign(cell=table.apply(cell, axis=1))
    index = ["label", "row"] if (table["row"] != "all").any() else ["label"]
    out = text.pivot_table(index=index, columns="column", values="cell", aggfunc="first", sort=False)
    out = out.reindex(columns=list(dict.fromkeys(table["column"])))
    out.columns.name = None
    return out


def readable(table: pd.DataFrame, *, decimals: int | None = None, value: str = "value", low: str = "ci_low",
             high: str = "ci_high") -> pd.DataFrame:
    """A frame of estimates as a reader sees it (notebook display, ``.md``, ``.tex``).

    When the frame has the columns ``value``, ``low`` and ``high`` (e.g. :func:`rates`,
    :func:`r1lib.paper.figures.fig3_data`), they and ``n`` (and ``k``) become one text column ``"<value>
    [95% CI] n"`` formatted by :func:`format_estimate` with ``decimals`` (default: :data:`DECIMALS`
    of the ``unit`` column, else 1); every other float is shown by :func:`format_number`. The
    CSV of a table keeps the full-precision frame; this is only its view.
    """
    out = table.copy()
    if {value, low, high} <= set(out.columns):
        units = out["unit"] if "unit" in out.columns else pd.Series(PERCENT, index=out.index)
        places = [decimals if decimals is not None else DECIMALS.get(unit, 2) for unit in units]
        n = out["n"] if "n" in out.columns else pd.Series(None, index=out.index, dtype=object)
        text = [format_estimate(v, lo, hi, size, decimals=d)
                for v, lo, hi, size, d in zip(out[value], out[low], out[high], n, places)]
        position = out.columns.get_loc(value)
        out = out.drop(columns=[c for c in (value, low, high, "n", "k") if c in out.columns])
        out.insert(min(position, len(out.columns)), f"{value} [95% CI] n", text)
    for column in out.columns:
        if pd.api.types.is_float_dtype(out[column]):
            out[column] = [format_number(x) for x in out[column]]
    return out


def format_number(x: float) -> str:
    """A number without an interval, rounded for reading: whole numbers as they are, others with 3
    significant digits (``10.9756`` → ``"11.0"``, ``5.88271`` → ``"5.88"``, ``0.0391`` → ``"0.0391"``)."""
    if pd.isna(x):
        return "–"
    if float(x).is_integer():
        return f"{int(x)}"
    if abs(x) < 1:
        return f"{x:.3g}"
    return f"{x:.{max(0, 2 - int(math.floor(math.log10(abs(x)))))}f}"


def save_table(table: pd.DataFrame, name: str, out_dir: str | Path, *, caption: str = "") -> list[Path]:
    """Write ``name.csv`` (the tidy cells, full precision), ``name.md`` and ``name.tex`` (what a reader
    sees: the paper's layout, :func:`wide`, for a paper table with a ``status`` column, else
    :func:`readable`); returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    view = wide(table).reset_index() if "status" in table.columns else readable(table)
    paths = [out / f"{name}.csv", out / f"{name}.md", out / f"{name}.tex"]
    table.to_csv(paths[0], index=False)
    heading = f"{caption}\n\n" if caption else ""
    paths[1].write_text(heading + view.to_markdown(index=False) + "\n", encoding="utf-8")
    latex = view.to_latex(index=False, caption=_latex_escape(caption) or None, label=f"tab:{name}", escape=True)
    paths[2].write_text(latex, encoding="utf-8")
    return paths


def _latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped (for a caption)."""
    specials = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
    return "".join(specials.get(c, c) for c in text)
