"""The scorecard page: sections of text, tables and figures as one self-contained HTML page and its
Markdown twin. What goes into the sections is decided in :mod:`r1lib.app.scorecard`; this module only
renders (no script, no external resource: the figures are inlined as PNG data).
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

#: The paper's four findings, as the findings panel names them.
FINDINGS = {
    1: "1. open reasoning models lag the proprietary reference (and their counterparts)",
    2: "2. the stronger the reasoning, the more harmful the compliant answers",
    3: "3. safety thinking emerges but often fails under attack",
    4: "4. the thinking is less safe than the final answer",
}
STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:80em;color:#222;line-height:1.4}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .5em;
text-align:left;vertical-align:top}th{background:#f4f4f4}tr.holds td{background:#fdecea}
p.intro{color:#555;white-space:pre-line}img{max-width:100%;margin:.5em 0;border:1px solid #eee}
"""


@dataclass
class Section:
    """One part of the scorecard: a title, a paragraph (lines kept), an optional table and figures."""

    title: str
    intro: str = ""
    table: pd.DataFrame | None = None
    figures: list[Path] = field(default_factory=list)


def html_page(title: str, sections: Sequence[Section]) -> str:
    """The self-contained HTML page of ``sections``."""
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    for section in sections:
        slug = "".join(c if c.isalnum() else "-" for c in section.title.lower()).strip("-")
        parts.append(f"<section id='{slug}'><h2>{html.escape(section.title)}</h2>")
        if section.intro:
            parts.append(f"<p class='intro'>{html.escape(section.intro)}</p>")
        if section.table is not None:
            parts.append(_html_table(section.table))
        for figure in section.figures:
            data = base64.b64encode(figure.read_bytes()).decode("ascii")
            parts.append(f"<img alt='{html.escape(figure.stem)}' src='data:image/png;base64,{data}'>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def markdown_page(title: str, sections: Sequence[Section], *, relative_to: Path) -> str:
    """The Markdown twin of :func:`html_page`; figures are linked relative to ``relative_to``."""
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        if section.intro:
            lines += [*(f"{line}  " for line in section.intro.splitlines()), ""]
        if section.table is not None:
            lines += [_shown(section.table).to_markdown(index=False) if len(section.table) else "(no rows)", ""]
        lines += [f"![{f.stem}]({Path(os.path.relpath(f, relative_to)).as_posix()})" for f in section.figures]
        if section.figures:
            lines.append("")
    return "\n".join(lines)


def _html_table(table: pd.DataFrame) -> str:
    if not len(table):
        return "<p>(no rows)</p>"
    shown = _shown(table)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    rows = []
    for (_, row), holds in zip(shown.iterrows(), table.get("holds", pd.Series([None] * len(table)))):
        css = " class='holds'" if holds is True or holds == "True" else ""
        rows.append(f"<tr{css}>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _shown(table: pd.DataFrame) -> pd.DataFrame:
    """Numbers rounded for reading (3 significant decimals), missing values as '-'."""
    def cell(value: object) -> str:
        if value is None or (isinstance(value, float) and value != value):
            return "-"
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 1e-3 and value else f"{value:.3f}".rstrip("0").rstrip(".")
        return str(value)
    return table.map(cell)
