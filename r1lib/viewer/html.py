"""HTML of stored traces: one rendering for the notebook widget and for the self-contained static page.

A record is a block with a header (model, benchmark, prompt id, sample, trace state, finish
reason, error), a line of verdict badges (judge/channel: label score; green when the label is one of
the judge's safe labels, red when not, grey for no output or score-only judges), the prompt, and
the thinking and the answer side by side.

Model output is untrusted: every text goes through :func:`safe_text` (terminal escapes and control
characters removed, then HTML-escaped), in element text and in attribute values alike. The static
page's filter data are ``data-`` attributes escaped the same way, and the page forbids every
script but its own with a Content-Security-Policy hash, so even a rendering bug could not run a
model's markup.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import uuid
from typing import Any

import pandas as pd

from r1lib.core.errors import UserError
from r1lib.judges.registry import judge_class
from r1lib.paper.cases import clean_text, escape_html

#: Option value of the static page's verdict filter that keeps records without a verdict.
NO_VERDICT = "(no verdict)"
#: Option value (and data attribute) of a record that has no trace state (a failed call).
NO_STATE = "-"
_CONTROL_NAMES = {"model": "model", "benchmark": "benchmark", "judge": "judge", "label": "verdict",
                  "trace_state": "trace state"}
STYLE = """<style>
.r1-trace{border:1px solid #ccc;border-radius:4px;margin:8px 0;padding:6px;font:12px sans-serif}
.r1-trace .head{font-weight:bold;margin-bottom:4px}
.r1-trace .head span{font-weight:normal;color:#555}
.r1-trace .panes{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:6px}
.r1-trace pre{white-space:pre-wrap;overflow-wrap:anywhere;max-height:320px;overflow:auto;margin:0;
 background:#f7f7f7;padding:4px;font-size:11px}
.r1-trace .prompt pre{max-height:120px}
.r1-badge{display:inline-block;border-radius:3px;padding:1px 5px;margin:0 4px 4px 0;color:#fff}
.r1-safe{background:#2e7d32}.r1-unsafe{background:#c62828}.r1-none{background:#757575}
.r1-controls{position:sticky;top:0;background:#fff;padding:6px 0;border-bottom:1px solid #ccc;font:13px sans-serif}
.r1-controls label{margin-right:10px}
</style>"""
_SCRIPT = """(function () {
  var root = document.getElementById("%(root)s");
  var controls = root.querySelectorAll("select[data-filter]");
  var records = root.querySelectorAll(".r1-trace");
  var count = root.querySelector(".r1-count");
  function apply() {
    var want = {};
    controls.forEach(function (c) { want[c.getAttribute("data-filter")] = c.value; });
    var shown = 0;
    records.forEach(function (r) {
      var verdicts = JSON.parse(r.getAttribute("data-verdicts"));
      var byJudge = verdicts.filter(function (v) { return !want.judge || v[0] === want.judge; });
      var ok = (!want.model || r.getAttribute("data-model") === want.model)
        && (!want.benchmark || r.getAttribute("data-benchmark") === want.benchmark)
        && (!want.trace_state || r.getAttribute("data-trace-state") === want.trace_state)
        && (!want.judge || byJudge.length > 0 || want.label === "%(no_verdict)s");
      if (want.label === "%(no_verdict)s") { ok = ok && byJudge.length === 0; }
      else if (want.label) { ok = ok && byJudge.some(function (v) { return v[2] === want.label; }); }
      r.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = "showing " + shown + " of " + records.length + " records";
  }
  controls.forEach(function (c) { c.addEventListener("change", apply); });
  apply();
})();"""


def safe_text(text: Any) -> str:
    """Untrusted text made displayable: terminal escapes and control characters removed, HTML escaped."""
    return escape_html(None if text is None else str(text))


def record_html(row: Any) -> str:
    """One record (a row of :func:`r1lib.viewer.widget.trace_frame`) as HTML, with its filter data attributes."""
    badges = "".join(_badge(v) for v in row.verdicts) or '<span class="r1-badge r1-none">no verdicts</span>'
    state = f"trace {safe_text(row.trace_state)}, finish {safe_text(row.finish_reason)}"
    if _present(row.error):
        state += f", ERROR {safe_text(row.error)}"
    thinking = safe_text(row.thinking) if _present(row.thinking) and row.thinking else "<i>(no thinking)</i>"
    answer = safe_text(row.answer) if _present(row.answer) and row.answer else "<i>(no answer)</i>"
    verdicts = json.dumps([[clean_text(v["judge"]), clean_text(v["channel"]), clean_text(_label(v))]
                           for v in row.verdicts])
    attributes = (f'data-model="{safe_text(row.model)}" data-benchmark="{safe_text(row.benchmark)}" '
                  f'data-trace-state="{safe_text(_state(row.trace_state))}" data-verdicts="{html.escape(verdicts)}"')
    return (f'<div class="r1-trace" {attributes}><div class="head">{safe_text(row.model)} · '
            f'{safe_text(row.benchmark)} · {safe_text(row.prompt_id)} · sample {int(row.sample)} <span>({state})'
            f'</span></div><div>{badges}</div><div class="prompt"><b>prompt</b><pre>{safe_text(row.prompt)}</pre>'
            f'</div><div class="panes"><div><b>thinking</b><pre>{thinking}</pre></div>'
            f"<div><b>answer</b><pre>{answer}</pre></div></div></div>")


def page_html(frame: pd.DataFrame, *, total: int, first: int = 0) -> str:
    """One page of records (``frame``, starting at record number ``first`` of ``total``) as an HTML fragment."""
    shown = (f"records {first + 1}–{first + len(frame)} of {total}" if len(frame) else
             f"no records match (of {total})")
    return STYLE + f"<div><i>{shown}</i></div>" + "".join(record_html(r) for r in frame.itertuples(index=False))


def static_fragment(frame: pd.DataFrame, *, title: str, note: str = "") -> tuple[str, str]:
    """Every record of ``frame`` with in-page filters (model, benchmark, judge, verdict label, trace state)
    run by plain JavaScript; returns (HTML fragment, the script's CSP hash source).

    Without JavaScript (e.g. an untrusted notebook) every record is shown and the filters do nothing.
    """
    root = f"r1b-{uuid.uuid4().hex}"
    verdicts = [v for vs in frame["verdicts"] for v in vs]
    choices = {
        "model": _options(frame["model"]),
        "benchmark": _options(frame["benchmark"]),
        "judge": _options(v["judge"] for v in verdicts),
        "label": [*_options(_label(v) for v in verdicts), NO_VERDICT],
        "trace_state": _options(_state(s) for s in frame["trace_state"]),
    }
    selects = "".join(
        f'<label>{_CONTROL_NAMES[name]} <select data-filter="{name}"><option value="">(any)</option>'
        + "".join(f'<option value="{value}">{value}</option>' for value in values) + "</select></label>"
        for name, values in choices.items())
    script = _SCRIPT % {"root": root, "no_verdict": NO_VERDICT}
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    body = (f'<div class="r1-browser" id="{root}">{STYLE}<h3 style="font-family:sans-serif">{safe_text(title)}</h3>'
            + (f'<p style="font-family:sans-serif">{safe_text(note)}</p>' if note else "")
            + f'<div class="r1-controls">{selects}<b class="r1-count">showing {len(frame)} of {len(frame)} records'
            f'</b></div>' + "".join(record_html(r) for r in frame.itertuples(index=False))
            + f"<script>{script}</script></div>")
    return body, f"'sha256-{digest}'"


def static_page(frame: pd.DataFrame, *, title: str, note: str = "") -> str:
    """A complete, self-contained HTML document of :func:`static_fragment`: no network, no server."""
    body, script_hash = static_fragment(frame, title=title, note=note)
    policy = f"default-src 'none'; style-src 'unsafe-inline'; script-src {script_hash}"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
            f"<title>{safe_text(title)}</title></head><body>{body}</body></html>\n")


def _options(values: Any) -> list[str]:
    """Distinct display values, escaped, sorted (the same escaping as the data attributes)."""
    return sorted({safe_text(v) for v in values if _present(v)})


def _label(verdict: dict[str, Any]) -> str:
    """A verdict's label; ``judge_error`` or ``unparsed`` for a verdict without one."""
    if _present(verdict["label"]):
        return verdict["label"]
    return "judge_error" if _present(verdict.get("error")) else "unparsed"


def _state(trace_state: Any) -> str:
    return trace_state if _present(trace_state) else NO_STATE


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and value != value)


def _badge(verdict: dict[str, Any]) -> str:
    label = verdict["label"]
    safe = _safe_labels(verdict["judge"])
    css = ("r1-none" if not _present(label) or label == "no_output" or not safe
           else ("r1-safe" if label in safe else "r1-unsafe"))
    score = "" if not _present(verdict["score"]) else f" {verdict['score']:.2f}"
    return (f'<span class="r1-badge {css}">{safe_text(verdict["judge"])}/{safe_text(verdict["channel"])}: '
            f"{safe_text(_label(verdict))}{score}</span>")


def _safe_labels(judge: str) -> frozenset[str]:
    """The judge's safe labels; empty for score-only judges (reward, harm) and unknown judges."""
    try:
        return frozenset(judge_class(judge).safe_labels)
    except (UserError, ImportError, AttributeError):
        return frozenset()

