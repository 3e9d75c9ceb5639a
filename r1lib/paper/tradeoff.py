"""The mitigation trade-off figure: unsafe-answer rate against over-refusal, one point per model and arm.

The numbers come from :func:`r1lib.analysis.mitigations.tradeoff_points` (rates over judged records
with Wilson 95% intervals, drawn as error bars in both directions); each arm is joined to its
baseline by a thin line, so the direction an arm moves a model reads at a glance: down is fewer
unsafe answers, right is more refusals of harmless prompts.
"""

from __future__ import annotations

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

from r1lib.analysis.mitigations import POINT_COLUMNS
from r1lib.core.errors import UserError
from r1lib.paper.figure_files import with_data
from r1lib.paper.figures import PAGE_WIDTH, STYLE, no_data_figure, note_small_groups

TITLE = "Mitigation arms: unsafe answers vs over-refusal"


def tradeoff_figure(points: pd.DataFrame, labels: dict[str, str] | None = None) -> Figure:
    """Scatter of ``points`` (x: over-refusal on XSTest safe prompts, y: unsafe answers on harmful prompts)."""
    missing = [c for c in POINT_COLUMNS if c not in points.columns]
    if missing:
        raise UserError(f"tradeoff_figure needs the columns of tradeoff_points(); missing {missing}")
    drawn = points.dropna(subset=["unsafe", "over_refusal"])
    if drawn.empty:
        return no_data_figure(TITLE, reason="no model has judged records on both the harmful and the safe prompts")
    labels = labels or {}
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(PAGE_WIDTH / 2 + 0.6, 3.0), layout="constrained")
        ax = fig.subplots()
        for row in drawn.itertuples(index=False):
            base = drawn[drawn["model"] == row.baseline]
            if row.arm and len(base):
                ax.plot([base["over_refusal"].iloc[0], row.over_refusal], [base["unsafe"].iloc[0], row.unsafe],
                        color="0.7", linewidth=0.6, zorder=1)
            ax.errorbar(row.over_refusal, row.unsafe, fmt="o" if not row.arm else "s", markersize=4, capsize=2,
                        xerr=[[row.over_refusal - row.over_refusal_low], [row.over_refusal_high - row.over_refusal]],
                        yerr=[[row.unsafe - row.unsafe_low], [row.unsafe_high - row.unsafe]], zorder=2)
            ax.annotate(labels.get(row.model, row.model), (row.over_refusal, row.unsafe), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("over-refusal (XSTest safe prompts)")
        ax.set_ylabel("unsafe answers (harmful prompts)")
        ax.set_title(TITLE)
        note_small_groups(ax, [*drawn["unsafe_n"], *drawn["over_refusal_n"]], "records per rate")
    return with_data(fig, drawn.reset_index(drop=True))
