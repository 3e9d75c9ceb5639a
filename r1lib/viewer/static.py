"""The self-contained static page of stored traces (``r1lib browse --html OUT``, ``browse(static=True)``).

The page holds the records once, as compact JSON (:func:`page_data`: texts cleaned of terminal
escapes and control characters; the model, benchmark, prompt and badge strings each stored once and
referred to by number), gzipped and base64-encoded in a non-executable data block (the records are
almost all model text, which gzip shrinks about threefold; the browser unpacks it with its
``DecompressionStream``). Its one script renders
:data:`PAGE_SIZE` records at a time from it, with filters (model, benchmark, judge, verdict label,
trace state) that run over every record and a pager, so the page's DOM stays one page long
whatever the store holds. The first page is also written as HTML, so it shows without JavaScript
(e.g. in an untrusted notebook), with a note that filters and pager need it.

Model output is untrusted: the script puts every text into the page with ``textContent``, never as
markup; the data block is base64, so no model text can close it; and the page
forbids every script but its own with a Content-Security-Policy hash.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import uuid
from typing import Any

import pandas as pd

from r1lib.paper.cases import clean_text
from r1lib.viewer.html import LEGEND, NO_VERDICT, STYLE, Badge, badges, record_html, safe_text, state_text, trace_state

#: Records the static page renders at a time.
PAGE_SIZE = 50
_CONTROL_NAMES = {"model": "model", "benchmark": "benchmark", "judge": "judge", "label": "verdict",
                  "trace_state": "trace state"}
_PAGER = ('<button type="button" class="r1-prev">previous</button> <b class="r1-page"></b> '
          '<button type="button" class="r1-next">next</button>')
_SCRIPT = """(function () {
  var root = document.getElementById("%(root)s");
  var count = root.querySelector(".r1-count");
  if (typeof DecompressionStream === "undefined") {
    count.textContent = "this browser cannot unpack the records (no DecompressionStream): the first page only";
    return;
  }
  var raw = atob(root.querySelector("script.r1-data").textContent), bytes = new Uint8Array(raw.length);
  for (var i = 0; i < raw.length; i += 1) { bytes[i] = raw.charCodeAt(i); }
  new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).text()
    .then(function (text) { start(JSON.parse(text)); });
  function start(data) {
    var S = data.strings, B = data.badges, R = data.records, size = data.page_size;
    var controls = root.querySelectorAll("select[data-filter]");
    var list = root.querySelector(".r1-records");
    var where = root.querySelector(".r1-page");
    var prev = root.querySelector(".r1-prev"), next = root.querySelector(".r1-next");
    var matching = [], page = 0;
    function el(tag, cls, text) {
      var e = document.createElement(tag);
      if (cls) { e.className = cls; }
      if (text !== undefined) { e.textContent = text; }
      return e;
    }
    function keep(r, want) {
      var byJudge = r[9].map(function (i) { return B[i]; })
        .filter(function (v) { return !want.judge || v[0] === want.judge; });
      if ((want.model && S[r[0]] !== want.model) || (want.benchmark && S[r[1]] !== want.benchmark)
          || (want.trace_state && S[r[4]] !== want.trace_state)) { return false; }
      if (want.label === "%(no_verdict)s") { return byJudge.length === 0; }
      if (want.judge && byJudge.length === 0) { return false; }
      return !want.label || byJudge.some(function (v) { return v[2] === want.label; });
    }
    function text(name, value) {
      var box = el("div"), pre = el("pre");
      box.appendChild(el("b", null, name));
      if (value) { pre.textContent = value; } else { pre.appendChild(el("i", null, "(no " + name + ")")); }
      box.appendChild(pre);
      return box;
    }
    function record(r) {
      var box = el("div", "r1-trace"), head = el("div", "head", S[r[0]] + " · " + S[r[1]] + " · " + S[r[2]]
        + " · sample " + r[3] + " "), line = el("div"), prompt = text("prompt", S[r[6]]), panes = el("div", "panes");
      head.appendChild(el("span", null, "(" + S[r[5]] + ")"));
      if (!r[9].length) { line.appendChild(el("span", "r1-badge r1-none", "no verdicts")); }
      r[9].forEach(function (i) {
        var badge = el("span", "r1-badge " + B[i][3], B[i][4]);
        badge.title = B[i][5];
        line.appendChild(badge);
      });
      prompt.className = "prompt";
      panes.appendChild(text("thinking", r[7]));
      panes.appendChild(text("answer", r[8]));
      [head, line, prompt, panes].forEach(function (part) { box.appendChild(part); });
      return box;
    }
    function show() {
      var pages = Math.max(1, Math.ceil(matching.length / size));
      page = Math.min(Math.max(page, 0), pages - 1);
      var first = page * size, shown = matching.slice(first, first + size);
      while (list.firstChild) { list.removeChild(list.firstChild); }
      shown.forEach(function (r) { list.appendChild(record(r)); });
      count.textContent = matching.length + " of " + R.length + " records match";
      where.textContent = matching.length ? "page " + (page + 1) + " of " + pages + " (records " + (first + 1)
        + "–" + (first + shown.length) + ")" : "no records match";
      prev.disabled = page === 0;
      next.disabled = page >= pages - 1;
    }
    function apply() {
      var want = {};
      controls.forEach(function (c) { want[c.getAttribute("data-filter")] = c.value; });
      matching = R.filter(function (r) { return keep(r, want); });
      page = 0;
      show();
    }
    controls.forEach(function (c) { c.addEventListener("change", apply); });
    prev.addEventListener("click", function () { page -= 1; show(); });
    next.addEventListener("click", function () { page += 1; show(); });
    apply();
    root.setAttribute("data-ready", "true");
  }
})();"""


def page_data(frame: pd.DataFrame, *, page_size: int = PAGE_SIZE) -> dict[str, Any]:
    """The records of ``frame`` as the page's JSON: ``strings`` and ``badges`` tables, and per record
    [model, benchmark, prompt id, sample, trace state, header state, prompt (string numbers), thinking,
    answer, badge numbers]; badges are [judge, channel, label, colour class, text, tooltip]."""
    strings: dict[str, int] = {}
    table: dict[Badge, int] = {}

    def number(text: Any) -> int:
        return strings.setdefault(clean_text(str(text)), len(strings))

    records = []
    for row in frame.itertuples(index=False):
        shown = [table.setdefault(b, len(table)) for b in badges(row)]
        records.append([number(row.model), number(row.benchmark), number(row.prompt_id), int(row.sample),
                        number(trace_state(row.trace_state)), number(state_text(row)), number(row.prompt or ""),
                        clean_text(row.thinking if isinstance(row.thinking, str) else ""),
                        clean_text(row.answer if isinstance(row.answer, str) else ""), shown])
    return {"page_size": page_size, "strings": list(strings),
            "badges": [[b.judge, b.channel, b.label, b.css, b.text, b.title] for b in table], "records": records}


def static_fragment(frame: pd.DataFrame, *, title: str, note: str = "",
                    page_size: int = PAGE_SIZE) -> tuple[str, str]:
    """Every record of ``frame`` with in-page filters and a pager run by plain JavaScript (module
    docstring); returns (HTML fragment, the script's CSP hash source)."""
    root = f"r1b-{uuid.uuid4().hex}"
    data = page_data(frame, page_size=page_size)
    shown = [data["badges"][i] for record in data["records"] for i in record[9]]
    choices = {
        "model": _options(frame["model"]),
        "benchmark": _options(frame["benchmark"]),
        "judge": _options(b[0] for b in shown),
        "label": [*_options(b[2] for b in shown), NO_VERDICT],
        "trace_state": _options(trace_state(s) for s in frame["trace_state"]),
    }
    selects = "".join(
        f'<label>{_CONTROL_NAMES[name]} <select data-filter="{name}"><option value="">(any)</option>'
        + "".join(f'<option value="{value}">{value}</option>' for value in values) + "</select></label>"
        for name, values in choices.items())
    script = _SCRIPT % {"root": root, "no_verdict": NO_VERDICT}
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    payload = base64.b64encode(gzip.compress(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode(),
                                             mtime=0)).decode()
    first = frame.head(page_size)
    body = (f'<div class="r1-browser" id="{root}">{STYLE}<h3 style="font-family:sans-serif">{safe_text(title)}</h3>'
            + (f'<p style="font-family:sans-serif">{safe_text(note)}</p>' if note else "")
            + f'<div class="r1-controls">{selects}<b class="r1-count">the first {len(first)} of {len(frame)} '
            f'records (the filters and the pager need JavaScript)</b> {_PAGER}<div><small>{LEGEND}</small></div>'
            f'</div><div class="r1-records">' + "".join(record_html(r) for r in first.itertuples(index=False))
            + f'</div><script type="application/gzip" class="r1-data">{payload}</script>'
            f"<script>{script}</script></div>")
    return body, f"'sha256-{digest}'"


def static_page(frame: pd.DataFrame, *, title: str, note: str = "", page_size: int = PAGE_SIZE) -> str:
    """A complete, self-contained HTML document of :func:`static_fragment`: no network, no server."""
    body, script_hash = static_fragment(frame, title=title, note=note, page_size=page_size)
    policy = f"default-src 'none'; style-src 'unsafe-inline'; script-src {script_hash}"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
            f"<title>{safe_text(title)}</title></head><body>{body}</body></html>\n")


def _options(values: Any) -> list[str]:
    """Distinct display values, cleaned and escaped, sorted (they match the JSON's cleaned strings)."""
    return sorted({safe_text(v) for v in values if isinstance(v, str)})
