"""A trace browser: stored records filtered by model, benchmark and verdict label, shown side by side.

Each record is one row of three panes — prompt, thinking, answer — under a line of verdict badges
(judge, channel, label, score; green when the label is one of the judge's safe labels). In a
kernel with ipywidgets, :func:`browse` returns dropdowns and a pager that re-filter live; without
it, a static HTML page of the first records.

Model output is untrusted: every text is stripped of terminal escape sequences and HTML-escaped
before display, so nothing a model wrote is ever rendered as markup or run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from r1lib.cases import escape_html
from r1lib.store import Store

ANY = "(any)"
_STYLE = """<style>
.r1-trace{border:1px solid #ccc;border-radius:4px;margin:8px 0;padding:6px;font-size:12px}
.r1-trace .head{font-weight:bold;margin-bottom:4px}
.r1-trace .panes{display:grid;grid-template-columns:1fr 1fr 1fr;gap:6px}
.r1-trace pre{white-space:pre-wrap;word-break:break-word;max-height:320px;overflow:auto;margin:0;
 background:#f7f7f7;padding:4px;font-size:11px}
.r1-badge{display:inline-block;border-radius:3px;padding:1px 5px;margin:0 4px 4px 0;color:#fff}
.r1-safe{background:#2e7d32}.r1-unsafe{background:#c62828}.r1-none{background:#757575}
</style>"""


def safe_text(text: Any) -> str:
    """Untrusted text made displayable: terminal escapes and control characters removed, HTML escaped."""
    return escape_html(None if text is None else str(text))


def trace_frame(store: Store, *, model: str | None = None, benchmark: str | None = None,
                judge: str | None = None, label: str | None = None) -> pd.DataFrame:
    """Evaluation records with their latest verdict per (judge, channel), filtered.

    Columns: model, benchmark, prompt_id, sample, prompt, thinking, answer, trace_state,
    finish_reason, error, key and ``verdicts`` (a list of dicts: judge, channel, label, score).
    ``label`` keeps records with at least one verdict of that label (of ``judge`` when given).
    """
    gens = store.generations_frame(model=model, benchmark=benchmark)
    verdicts = store.verdicts_frame(judge=judge)
    verdicts = verdicts[verdicts["gen_key"].isin(gens["key"])]
    latest = verdicts.sort_values("created_at").drop_duplicates(["gen_key", "judge", "channel"], keep="last")
    by_key: dict[str, list[dict[str, Any]]] = {}
    for v in latest.itertuples(index=False):
        by_key.setdefault(v.gen_key, []).append({"judge": v.judge, "channel": v.channel, "label": v.label,
                                                 "score": v.score})
    frame = gens[["model", "benchmark", "prompt_id", "sample", "prompt", "thinking", "answer", "trace_state",
                  "finish_reason", "error", "key"]].copy()
    frame["verdicts"] = [by_key.get(k, []) for k in frame["key"]]
    if label is not None:
        frame = frame[[any(v["label"] == label for v in vs) for vs in frame["verdicts"]]]
    return frame.reset_index(drop=True)


def record_html(row: Any) -> str:
    """One record as HTML: a header, verdict badges and the prompt / thinking / answer panes."""
    badges = "".join(_badge(v) for v in row.verdicts) or '<span class="r1-badge r1-none">no verdicts</span>'
    state = f"trace {safe_text(row.trace_state)}, finish {safe_text(row.finish_reason)}"
    if row.error:
        state += f", ERROR {safe_text(row.error)}"
    thinking = safe_text(row.thinking) if row.thinking else "<i>(no thinking)</i>"
    answer = safe_text(row.answer) if row.answer else "<i>(no answer)</i>"
    return (f'<div class="r1-trace"><div class="head">{safe_text(row.model)} · {safe_text(row.benchmark)} · '
            f'{safe_text(row.prompt_id)} · sample {int(row.sample)} <span style="font-weight:normal">({state})'
            f'</span></div><div>{badges}</div><div class="panes">'
            f"<div><b>prompt</b><pre>{safe_text(row.prompt)}</pre></div>"
            f"<div><b>thinking</b><pre>{thinking}</pre></div>"
            f"<div><b>answer</b><pre>{answer}</pre></div></div></div>")


def page_html(frame: pd.DataFrame, *, page: int = 0, page_size: int = 5) -> str:
    """The records of one page as an HTML fragment (with its style sheet and a count line)."""
    rows = frame.iloc[page * page_size:(page + 1) * page_size]
    shown = f"records {page * page_size + 1}–{page * page_size + len(rows)} of {len(frame)}" if len(rows) else \
        f"no records match (of {len(frame)})"
    return _STYLE + f"<div><i>{shown}</i></div>" + "".join(record_html(r) for r in rows.itertuples(index=False))


def browse(store: str | Path | Store, *, model: str | None = None, benchmark: str | None = None,
           judge: str | None = None, label: str | None = None, page_size: int = 5, static: bool = False) -> Any:
    """An interactive browser (ipywidgets) over the store's records; static HTML with ``static`` (an
    executed notebook keeps no widget state) or without ipywidgets."""
    owned = not isinstance(store, Store)
    db = Store(store) if owned else store
    try:
        frame = trace_frame(db, judge=judge)
    finally:
        if owned:
            db.close()
    try:
        import ipywidgets as widgets
    except ImportError:
        static = True
    if static:
        from IPython.display import HTML
        return HTML(page_html(_filter(frame, model, benchmark, label), page_size=page_size))
    return _widget(widgets, frame, model, benchmark, label, page_size)


def _filter(frame: pd.DataFrame, model: str | None, benchmark: str | None, label: str | None) -> pd.DataFrame:
    keep = pd.Series(True, index=frame.index)
    if model not in (None, ANY):
        keep &= frame["model"] == model
    if benchmark not in (None, ANY):
        keep &= frame["benchmark"] == benchmark
    if label not in (None, ANY):
        keep &= frame["verdicts"].map(lambda vs: any(v["label"] == label for v in vs)).astype(bool)
    return frame[keep]


def _widget(widgets: Any, frame: pd.DataFrame, model: str | None, benchmark: str | None, label: str | None,
            page_size: int) -> Any:
    """Dropdowns for model, benchmark and label, a page slider and the HTML pane they drive."""
    def options(values: Sequence[Any]) -> list[str]:
        return [ANY, *sorted({str(v) for v in values if v is not None})]

    labels = [v["label"] for vs in frame["verdicts"] for v in vs]
    pick_model = widgets.Dropdown(options=options(frame["model"]), value=model or ANY, description="model")
    pick_bench = widgets.Dropdown(options=options(frame["benchmark"]), value=benchmark or ANY,
                                  description="benchmark")
    pick_label = widgets.Dropdown(options=options(labels), value=label or ANY, description="label")
    pager = widgets.IntSlider(value=0, min=0, max=0, description="page")
    pane = widgets.HTML()

    def refresh(*_: Any) -> None:
        shown = _filter(frame, pick_model.value, pick_bench.value, pick_label.value)
        pager.max = max(0, (len(shown) - 1) // page_size)
        pane.value = page_html(shown, page=min(pager.value, pager.max), page_size=page_size)

    for control in (pick_model, pick_bench, pick_label, pager):
        control.observe(refresh, names="value")
    refresh()
    return widgets.VBox([widgets.HBox([pick_model, pick_bench, pick_label]), pager, pane])


def _badge(verdict: dict[str, Any]) -> str:
    label = verdict["label"]
    safe = _safe_labels(verdict["judge"])
    css = "r1-none" if label in (None, "no_output") or not safe else ("r1-safe" if label in safe else "r1-unsafe")
    score = "" if verdict["score"] is None or pd.isna(verdict["score"]) else f" {verdict['score']:.2f}"
    return (f'<span class="r1-badge {css}">{safe_text(verdict["judge"])}/{safe_text(verdict["channel"])}: '
            f"{safe_text(label)}{score}</span>")


def _safe_labels(judge: str) -> frozenset[str]:
    """The judge's safe labels; empty for score-only judges (reward, harm) and unknown judges."""
    from r1lib.errors import UserError
    from r1lib.judges.registry import judge_class
    try:
        return frozenset(judge_class(judge).safe_labels)
    except (UserError, ImportError, AttributeError):
        return frozenset()
