"""A trace browser: stored records filtered by model, benchmark, trace state and verdict label.

Three views of the same rendering (:mod:`r1lib.viewer.html`):

- :func:`browse` in a kernel with ipywidgets: dropdowns and a pager; each change loads only that
  page of matching records from the store (SQL filters, LIMIT/OFFSET), never the whole store;
- :func:`browse` with ``static=True`` (or without ipywidgets): the first ``limit`` matching records
  with in-page JavaScript filters and pager (:mod:`r1lib.viewer.static`), as HTML output that
  survives in an executed notebook (a widget view does not);
- :func:`write_static_page` (``r1lib browse --html OUT``): one self-contained HTML file with every
  matching record, rendered a page at a time with the in-page filters and pager; no server, no
  network, no Jupyter.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from r1lib.benchmarks.imported.folder import current_run
from r1lib.config.settings import models_registry
from r1lib.store.database import Store
from r1lib.store.files import output_file
from r1lib.viewer.html import page_html
from r1lib.viewer.static import PAGE_SIZE, static_fragment, static_page

ANY = "(any)"
FRAME_COLUMNS = ["model", "benchmark", "prompt_id", "sample", "prompt", "thinking", "answer", "trace_state",
                 "finish_reason", "error", "key"]
#: What :func:`trace_frame` reads of each record (``prompt`` comes with ``messages``) besides the item meta.
_READ = [c for c in FRAME_COLUMNS if c != "prompt"] + ["messages"]


def trace_frame(store: Store, *, model: str | None = None, benchmark: str | None = None,
                judge: str | None = None, label: str | None = None, trace_state: str | None = None,
                limit: int | None = None, offset: int = 0) -> pd.DataFrame:
    """Evaluation records with their latest verdict per (judge, channel), filtered in SQL.

    Columns: model, benchmark, prompt_id, sample, prompt, thinking, answer, trace_state,
    finish_reason, error, key, ``item`` (the item's meta, which says e.g. whether an XSTest prompt is
    safe; None when the record has none) and ``verdicts`` (a list of dicts: judge, channel, label, score, error;
    only ``judge``'s when given). ``label`` keeps records whose latest verdict of some (judge,
    channel) has that label (of ``judge`` when given); ``limit``/``offset`` select one page. The
    ``model`` of an import shows its current version's records only (not its earlier versions').
    """
    run = current_run(model, models_registry())  # an import's current version only
    gens = store.generations_frame(model=model, benchmark=benchmark, trace_state=trace_state, judge=judge,
                                   label=label, limit=limit, offset=offset, columns=_READ,
                                   meta_keys=("item",), run=run)
    verdicts = store.verdicts_frame(judge=judge, gen_keys=gens["key"])
    latest = verdicts.sort_values("created_at").drop_duplicates(["gen_key", "judge", "channel"], keep="last")
    by_key: dict[str, list[dict[str, Any]]] = {}
    for v in latest.sort_values(["judge", "channel"]).itertuples(index=False):
        by_key.setdefault(v.gen_key, []).append({"judge": v.judge, "channel": v.channel, "label": v.label,
                                                 "score": v.score, "error": v.error})
    frame = gens[FRAME_COLUMNS].copy()
    frame["item"] = [m if isinstance(m, dict) else None for m in gens["meta_item"]]
    frame["verdicts"] = [by_key.get(k, []) for k in frame["key"]]
    return frame


def write_static_page(store: str | Path | Store, output: str | Path, *, model: str | None = None,
                      benchmark: str | None = None, judge: str | None = None, label: str | None = None,
                      trace_state: str | None = None, limit: int | None = None, page_size: int = PAGE_SIZE) -> int:
    """Write the matching records as one self-contained HTML page that shows ``page_size`` at a time;
    returns how many it holds."""
    with _opened(store) as db:
        frame = trace_frame(db, model=model, benchmark=benchmark, judge=judge, label=label,
                            trace_state=trace_state, limit=limit)
        title, note = _title(db, frame, model=model, benchmark=benchmark, judge=judge, label=label,
                             trace_state=trace_state)
    output = output_file(output, "HTML page")
    output.write_text(static_page(frame, title=title, note=note, page_size=page_size), encoding="utf-8")
    return len(frame)


def browse(store: str | Path | Store, *, model: str | None = None, benchmark: str | None = None,
           judge: str | None = None, label: str | None = None, page_size: int = 5, static: bool = False,
           limit: int = 100) -> Any:
    """A browser over the store's evaluation records.

    With ipywidgets (and ``static=False``): dropdowns for model, benchmark, verdict label and trace
    state and a pager; each change loads one page of ``page_size`` records from the store. With
    ``static=True``, or without ipywidgets: an ``IPython.display.HTML`` of the first ``limit``
    matching records with in-page filters (kept in executed notebooks, unlike widget views).
    """
    if not static:
        try:
            import ipywidgets as widgets
        except ImportError:
            widgets = None
        if widgets is not None:
            return _widget(widgets, store, model, benchmark, judge, label, page_size)
    from IPython.display import HTML  # IPython: display only
    with _opened(store) as db:
        frame = trace_frame(db, model=model, benchmark=benchmark, judge=judge, label=label, limit=limit)
        title, note = _title(db, frame, model=model, benchmark=benchmark, judge=judge, label=label)
    return HTML(static_fragment(frame, title=title, note=note)[0])


@contextmanager
def _opened(store: str | Path | Store) -> Iterator[Store]:
    """The given store, or the store at that path opened (must exist) and closed afterwards."""
    if isinstance(store, Store):
        yield store
        return
    with Store(store, create=False) as db:
        yield db


def _title(db: Store, frame: pd.DataFrame, **filters: str | None) -> tuple[str, str]:
    """Page title and a note saying which filters were applied and how many records matched."""
    filters = {k: v for k, v in filters.items() if v is not None}
    total = db.count_generations(**filters, run=current_run(filters.get("model"), models_registry()))
    applied = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in filters.items()) or "none"
    shown = f"all {total}" if len(frame) == total else f"the first {len(frame)} of {total}"
    return (f"r1lib traces: {db.path.name}",
            f"Store {db.path}; filters: {applied}; {shown} matching evaluation records.")


def _widget(widgets: Any, store: str | Path | Store, model: str | None, benchmark: str | None, judge: str | None,
            label: str | None, page_size: int) -> Any:
    """Dropdowns for model, benchmark, label and trace state, a page slider and the HTML pane they drive."""
    def options(values: list[str]) -> list[str]:
        return [ANY, *values]

    with _opened(store) as db:
        pick_model = widgets.Dropdown(options=options(db.distinct("model")), value=model or ANY, description="model")
        pick_bench = widgets.Dropdown(options=options(db.distinct("benchmark")), value=benchmark or ANY,
                                      description="benchmark")
        pick_label = widgets.Dropdown(options=options(db.distinct("label", judge=judge)), value=label or ANY,
                                      description="label")
        pick_state = widgets.Dropdown(options=options(db.distinct("trace_state")), value=ANY,
                                      description="trace state")
    pager = widgets.IntSlider(value=0, min=0, max=0, description="page")
    pane = widgets.HTML()

    def refresh(*_: Any) -> None:
        filters = {"model": pick_model.value, "benchmark": pick_bench.value, "label": pick_label.value,
                   "trace_state": pick_state.value}
        filters = {k: (None if v == ANY else v) for k, v in filters.items()}
        with _opened(store) as db:
            total = db.count_generations(judge=judge, **filters, run=current_run(filters["model"], models_registry()))
            pager.max = max(0, (total - 1) // page_size)
            first = min(pager.value, pager.max) * page_size
            frame = trace_frame(db, judge=judge, limit=page_size, offset=first, **filters)
        pane.value = page_html(frame, total=total, first=first)

    for control in (pick_model, pick_bench, pick_label, pick_state, pager):
        control.observe(refresh, names="value")
    refresh()
    return widgets.VBox([widgets.HBox([pick_model, pick_bench, pick_label, pick_state]), pager, pane])
