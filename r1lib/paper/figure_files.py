"""A figure's numbers attached to it, the caption above it saying what made it, and its PNG, PDF and CSV
files (the CSV holds the numbers it draws).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure


def with_data(fig: Figure, data: pd.DataFrame) -> Figure:
    """Attach the numbers ``fig`` draws (one row per plotted value), for :func:`save_figure`."""
    fig.r1lib_data = data
    return fig


def figure_data(fig: Figure) -> pd.DataFrame | None:
    """The numbers attached to ``fig`` by :func:`with_data`, or None (e.g. a no-data figure)."""
    return getattr(fig, "r1lib_data", None)


def save_figure(fig: Figure, name: str, out_dir: str | Path) -> list[Path]:
    """Write ``name.png`` (200 dpi) and ``name.pdf`` into ``out_dir`` (caption included), and the
    figure's numbers as ``name.csv`` when it carries them; returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    fig.savefig(paths[0], dpi=200, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    data = figure_data(fig)
    stale = out / f"{name}.csv"
    stale.unlink(missing_ok=True)  # a no-data figure must not leave an earlier run's numbers beside it
    if data is not None:
        data.to_csv(stale, index=False)
        paths.append(stale)
    return paths


def caption_figure(fig: Figure, text: str) -> Figure:
    """Write ``text`` (what made the figure: profile, models, judges) in small grey type above it."""
    for artist in [t for t in fig.texts if t.get_gid() == "r1lib-caption"]:
        artist.remove()
    width = int(fig.get_figwidth() * 24)  # characters per line at 6 pt
    fig.text(0.0, 1.0, textwrap.fill(text, width), fontsize=6, color="0.35", ha="left", va="bottom",
             parse_math=False, gid="r1lib-caption")
    return fig
