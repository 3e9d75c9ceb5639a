"""HTML of stored traces: one rendering of a record for the notebook widget and for the static page.

A record is a block with a header (model, benchmark, prompt id, sample, trace state, finish
reason, error), a line of verdict badges, the prompt, and the thinking and the answer side by side.

A badge (:func:`badge`) is coloured by whether its label is the desired outcome *for that prompt*:
the judge's :meth:`~r1lib.judges.base.Judge.desired_labels` of the record's item meta (on XSTest's
safe prompts compliance is desired and refusal is over-refusal; on its unsafe contrast prompts, and
for every other judge, the judge's safe labels). Green: desired; red: not; grey: no output, no label,
or a score-only judge. Its tooltip says which outcome was desired and why; its score is shown, with
what it measures (:attr:`~r1lib.judges.base.Judge.score_meaning`), only when the judge's score says
more than its label.

Model output is untrusted: every text goes through :func:`safe_text` (terminal escapes and control
characters removed, then HTML-escaped), in element text and in attribute values alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from r1lib.core.errors import UserError
from r1lib.judges.base import Judge
from r1lib.judges.registry import judge_class
from r1lib.paper.cases import clean_text, escape_html

#: Option value of the static page's verdict filter that keeps records without a verdict.
NO_VERDICT = "(no verdict)"
#: Option value (and data attribute) of a record that has no trace state (a failed call).
NO_STATE = "-"
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
LEGEND = ("badge colours: green = the desired outcome for this prompt (refusing a harmful prompt; answering a "
          "prompt the benchmark marks safe, e.g. XSTest's safe prompts), red = not (harmful compliance, or "
          "over-refusal of a safe prompt), grey = no output, no label or a score-only judge; hover a badge for why")


@dataclass(frozen=True)
class Badge:
    """One verdict as shown: its filter values (judge, channel, label), colour class, text and tooltip."""

    judge: str
    channel: str
    label: str
    css: str
    text: str
    title: str

    def html(self) -> str:
        """The badge as a ``span`` (every part escaped)."""
        return (f'<span class="r1-badge {self.css}" title="{safe_text(self.title)}">{safe_text(self.text)}'
                "</span>")


def safe_text(text: Any) -> str:
    """Untrusted text made displayable: terminal escapes and control characters removed, HTML escaped."""
    return escape_html(None if text is None else str(text))


def badge(verdict: dict[str, Any], item_meta: dict[str, Any] | None) -> Badge:
    """How one verdict (judge, channel, label, score, error) of a record with item meta ``item_meta`` is shown."""
    judge, label = _judge(verdict["judge"]), verdict["label"]
    desired = judge.desired_labels(item_meta) if judge is not None else frozenset()
    if not _present(label) or label == "no_output":
        css, why = "r1-none", "no label: nothing to colour"
    elif not desired:
        css, why = "r1-none", "this judge has no safe labels (a score or an unknown judge): not coloured"
    else:
        css = "r1-safe" if label in desired else "r1-unsafe"
        prompt = ("a prompt marked safe to answer (compliance is right, refusal is over-refusal)"
                  if judge is not None and desired == judge.safe_prompt_labels != judge.safe_labels
                  else "this prompt")
        why = (f"{'the' if label in desired else 'not the'} desired outcome for {prompt}; desired: "
               f"{', '.join(sorted(desired))}")
    text = f"{clean_text(verdict['judge'])}/{clean_text(verdict['channel'])}: {clean_text(_label(verdict))}"
    title = why
    meaning = judge.score_meaning if judge is not None else None
    if meaning and _present(verdict["score"]):
        text += f" · {meaning.split(' (')[0]} = {verdict['score']:.2f}"
        title += f"; score = {meaning}"
    elif _present(verdict["score"]):
        title += "; the score only restates the label, so it is not shown"
    return Badge(clean_text(verdict["judge"]), clean_text(verdict["channel"]), clean_text(_label(verdict)), css,
                 text, title)


def badges(row: Any) -> list[Badge]:
    """The badges of one record (a row of :func:`r1lib.viewer.widget.trace_frame`)."""
    item = row.item if isinstance(getattr(row, "item", None), dict) else None
    return [badge(v, item) for v in row.verdicts]


def state_text(row: Any) -> str:
    """The header's trace state, finish reason and error of one record (not escaped)."""
    state = f"trace {clean_text(str(row.trace_state))}, finish {clean_text(str(row.finish_reason))}"
    return state + (f", ERROR {clean_text(str(row.error))}" if _present(row.error) else "")


def record_html(row: Any) -> str:
    """One record (a row of :func:`r1lib.viewer.widget.trace_frame`) as HTML."""
    line = "".join(b.html() for b in badges(row)) or '<span class="r1-badge r1-none">no verdicts</span>'
    thinking = safe_text(row.thinking) if _present(row.thinking) and row.thinking else "<i>(no thinking)</i>"
    answer = safe_text(row.answer) if _present(row.answer) and row.answer else "<i>(no answer)</i>"
    return (f'<div class="r1-trace"><div class="head">{safe_text(row.model)} · '
            f'{safe_text(row.benchmark)} · {safe_text(row.prompt_id)} · sample {int(row.sample)} <span>('
            f'{safe_text(state_text(row))})</span></div><div>{line}</div><div class="prompt"><b>prompt</b><pre>'
            f'{safe_text(row.prompt)}</pre></div><div class="panes"><div><b>thinking</b><pre>{thinking}</pre></div>'
            f"<div><b>answer</b><pre>{answer}</pre></div></div></div>")


def page_html(frame: pd.DataFrame, *, total: int, first: int = 0) -> str:
    """One page of records (``frame``, starting at record number ``first`` of ``total``) as an HTML fragment."""
    shown = (f"records {first + 1}–{first + len(frame)} of {total}" if len(frame) else
             f"no records match (of {total})")
    return (STYLE + f"<div><i>{shown}</i></div><div><small>{LEGEND}</small></div>"
            + "".join(record_html(r) for r in frame.itertuples(index=False)))


def trace_state(value: Any) -> str:
    """A record's trace state as the filters see it (:data:`NO_STATE` for none)."""
    return value if _present(value) else NO_STATE


def _label(verdict: dict[str, Any]) -> str:
    """A verdict's label; ``judge_error`` or ``unparsed`` for a verdict without one."""
    if _present(verdict["label"]):
        return verdict["label"]
    return "judge_error" if _present(verdict.get("error")) else "unparsed"


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and value != value)


#: Judge classes by name, as found (:func:`judge_class` reads the plugin entry points on every call,
#: 40 ms each, which a page of thousands of badges cannot afford).
_KNOWN: dict[str, type[Judge]] = {}


def _judge(name: str) -> type[Judge] | None:
    """The judge's class; None for an unknown judge (a verdict of a plugin not loaded, or a hostile name),
    looked up again next time, so a plugin loaded later is found."""
    if name not in _KNOWN:
        try:
            _KNOWN[name] = judge_class(name)
        except (UserError, ImportError, AttributeError):
            return None
    return _KNOWN[name]
