"""Case figures (the paper's Figs. 6–12): pick records by an explicit criterion, then show one.

Model output is untrusted text. It is never executed; before display, terminal escape sequences and
other control characters are removed (:func:`clean_text`) and, for HTML, every character is escaped
(:func:`escape_html`). Matplotlib's math parsing is switched off, so ``$`` in an output stays text.
Highlighted spans (the paper's "red text is the potentially unsafe content") are chosen explicitly
by the caller as exact substrings.

A case is chosen by a judge, so its verdicts are shown as that judge's (:func:`judge_says`): an
offline stand-in's verdict reads "offline jailbreak judge (stand-in; not validated) says unsafe",
with its measured agreement instead of "not validated" where the caller has it
(:func:`agreement_evidence`); a score is said in words (:func:`score_words`: "severity proxy 0.22
of 1").
"""

from __future__ import annotations

import html
import re
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from r1lib.analysis.outcomes import judge_safe_labels, judge_unsafe_labels
from r1lib.core.errors import UserError
from r1lib.core.records import GenerationRecord
from r1lib.judges.base import Judge
from r1lib.paper.figures import PAGE_WIDTH
from r1lib.paper.render import format_estimate

#: Selection criteria and what they pick.
CRITERIA = {
    "thinking_unsafe_answer_safe": "the thinking is judged unsafe while the final answer is judged safe",
    "S": "safety-thinking S: the thinking reasons its way to a safe response",
    "A": "safety-thinking A: identifies a safety concern but follows the request unreflectively",
    "B": "safety-thinking B: recognises a safety issue but is misled",
    "C": "safety-thinking C: does not recognise any safety concern",
    "injection_failure": "the prompt injection failed (the model kept to its instructions)",
    "injection_success": "the prompt injection succeeded",
}
#: The paper's case figures and their criterion.
FIGURE_CRITERIA = {"fig6": "thinking_unsafe_answer_safe", "fig7": "S", "fig8": "A", "fig9": "B", "fig10": "C",
                   "fig11": "injection_failure", "fig12": "injection_success"}
#: What a scorer's score is, in words, per judge name: (name of the score, its scale, what it measures).
SCORE_MEANINGS = {
    "harm-offline": ("severity proxy", "of 1", "how much specific help the answer gives, by an offline heuristic; "
                                               "not a reward model"),
    "reward": ("reward", "", "how much the reward model likes the answer; not a safety score, no fixed scale"),
}
NOT_VALIDATED = "not validated"
#: The safety-thinking scenarios, said in words beside the verdict (:data:`CRITERIA`).
SCENARIOS = ("S", "A", "B", "C")
_TERMINAL_ESCAPES = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: Monospace advance width (DejaVu Sans Mono) as a fraction of the font size; sets the wrap width.
_CHAR_EM = 0.602
_FONT_SIZE = 7.0
_MARGIN_IN = 0.2
_LINE_IN = _FONT_SIZE * 1.35 / 72
_HIGHLIGHT = "#c0392b"
#: Characters of the (proportional, italic) verdict line per monospace character of the same size.
_SANS_PER_MONO = 1.15


def select_cases(frame_answer: pd.DataFrame | None, frame_thinking: pd.DataFrame | None, criterion: str,
                 n: int = 1, *, seed: int = 0) -> pd.DataFrame:
    """Up to ``n`` judged records meeting ``criterion`` (a :data:`CRITERIA` key or ``fig6`` … ``fig12``).

    ``thinking_unsafe_answer_safe`` needs both frames (the same judge on the answer and on the
    thinking); ``S``/``A``/``B``/``C`` need the safety-thinking frame as ``frame_thinking``;
    ``injection_*`` need the prompt-injection frame as ``frame_answer``. When both frames are given
    they are paired on ``gen_key``. The result has ``label_answer`` and/or ``label_thinking``,
    sorted by model and prompt; when more than ``n`` records qualify a seeded random sample is taken.
    No qualifying record gives an empty frame.
    """
    criterion = FIGURE_CRITERIA.get(criterion, criterion)
    if criterion not in CRITERIA:
        raise UserError(f"unknown case criterion {criterion!r}; use one of {sorted(CRITERIA)} or "
                        f"{sorted(FIGURE_CRITERIA)}")
    needs_thinking = criterion in ("thinking_unsafe_answer_safe", "S", "A", "B", "C")
    needs_answer = criterion not in ("S", "A", "B", "C")
    for needed, frame, name in ((needs_answer, frame_answer, "frame_answer"),
                                (needs_thinking, frame_thinking, "frame_thinking")):
        if needed and frame is None:
            raise UserError(f"criterion {criterion!r} ({CRITERIA[criterion]}) needs {name}")
    cases = _paired(frame_answer, frame_thinking)
    if criterion == "thinking_unsafe_answer_safe":
        keep = (~cases["label_thinking"].isin(list(judge_safe_labels(frame_thinking)))
                & cases["label_answer"].isin(list(judge_safe_labels(frame_answer))))
    elif criterion in ("S", "A", "B", "C"):
        keep = cases["label_thinking"] == criterion
    else:
        labels = judge_unsafe_labels(frame_answer) if criterion == "injection_success" else judge_safe_labels(
            frame_answer)
        keep = cases["label_answer"].isin(list(labels))
    chosen = cases[keep]
    if len(chosen) > n:
        chosen = chosen.sample(n, random_state=seed)
    return chosen.sort_values(["model", "prompt_id", "sample"]).reset_index(drop=True)


def is_standin(judge: Judge) -> bool:
    """True when ``judge`` is an offline stand-in (a heuristic of this project, no judge model)."""
    return judge.protocol.source.startswith("offline")


def judge_says(judge: Judge, verdict: str, *, evidence: str = "") -> str:
    """``verdict`` as the verdict of ``judge``, with what stands behind it, e.g. "offline jailbreak
    judge (stand-in; not validated) says unsafe".

    Labels shipped with a recorded set read "recorded-v3-harm: labels shipped with the set
    (not validated) say unsafe"; an LLM judge names its judge model and whether it follows the
    paper's protocol. ``evidence`` (e.g. :func:`agreement_evidence`) replaces "not validated" (an
    LLM judge shows it when given). A scenario S/A/B/C is said in words.
    """
    if verdict in SCENARIOS:
        verdict = f"{verdict} ({CRITERIA[verdict].split(': ', 1)[1]})"
    if is_standin(judge):
        return f"offline {judge.name} judge (stand-in; {evidence or NOT_VALIDATED}) says {verdict}"
    if judge.protocol.source.startswith("labels shipped"):
        return f"{judge.name}: labels shipped with the set ({evidence or NOT_VALIDATED}) say {verdict}"
    model = getattr(getattr(judge, "judge_model", None), "name", "")
    protocol = "the paper's protocol" if judge.protocol.paper else "not the paper's protocol"
    return f"{judge.name} judge ({', '.join(filter(None, (model, protocol, evidence)))}) says {verdict}"


def score_words(judge: Judge, value: float, *, evidence: str = "") -> str:
    """A score said in words: "severity proxy 0.22 of 1 (how much specific help …; offline stand-in,
    not validated)"; a scorer without a known meaning shows its name and the value."""
    name, scale, meaning = SCORE_MEANINGS.get(judge.name, (f"{judge.name} score", "", ""))
    model = getattr(judge, "options", {}).get("model")
    name = f"{name} of {model}" if model else name
    standing = f"offline stand-in, {evidence or NOT_VALIDATED}" if is_standin(judge) else evidence
    detail = "; ".join(filter(None, (meaning, standing)))
    return f"{name} {value:.2f}{' ' + scale if scale else ''}" + (f" ({detail})" if detail else "")


def agreement_evidence(agreement: float, low: float, high: float, n: int, reference: str) -> str:
    """A judge's measured agreement in words: "agreement with <reference> (%): 92.0 [89.1, 94.2] n=400"
    (``agreement`` and its interval as shares, e.g. a row of
    :func:`r1lib.analysis.judge_agreement.verdict_agreement`)."""
    return f"agreement with {reference} (%): {format_estimate(100 * agreement, 100 * low, 100 * high, n)}"


def clean_text(text: str | None) -> str:
    """``text`` without terminal escape sequences and control characters (tabs become 4 spaces)."""
    text = _TERMINAL_ESCAPES.sub("", text or "").replace("\r\n", "\n").replace("\t", "    ")
    return _CONTROL.sub("", text)


def escape_html(text: str | None) -> str:
    """Untrusted text made safe to put in HTML: cleaned (:func:`clean_text`), then HTML-escaped."""
    return html.escape(clean_text(text), quote=True)


def case_html(record: GenerationRecord, verdicts: Mapping[str, str], *, highlight: Sequence[str] = ()) -> str:
    """One record as an HTML block for a notebook: prompt, thinking and answer with their verdicts.

    ``verdicts`` maps a channel (``answer``, ``thinking``) to the verdict text shown beside it;
    ``highlight`` substrings are marked. Every piece of model or prompt text is escaped.
    """
    parts = ["<div class='r1-case' style='font-family:sans-serif;max-width:52em'>",
             f"<div style='color:#555'>{escape_html(record.model)} · {escape_html(record.benchmark)} · "
             f"{escape_html(record.prompt_id)}</div>"]
    for title, channel, text in _sections(record):
        verdict = verdicts.get(channel) if channel else None
        badge = f" <span style='background:#eee;padding:0 .4em'>{escape_html(verdict)}</span>" if verdict else ""
        body = "".join(f"<mark style='background:#fadbd8;color:{_HIGHLIGHT}'>{escape_html(run)}</mark>" if marked
                       else escape_html(run) for run, marked in _runs(text, highlight))
        parts.append(f"<h4 style='margin:.6em 0 .2em'>{escape_html(title)}{badge}</h4>"
                     f"<pre style='white-space:pre-wrap;margin:0'>{body}</pre>")
    return "".join(parts) + "</div>"


def case_figure(record: GenerationRecord, verdicts: Mapping[str, str], *, highlight: Sequence[str] = (),
                title: str | None = None, max_lines: int = 30) -> Figure:
    """One record as a figure a paper page wide: prompt, thinking and answer, highlighted spans in red.

    Each section shows at most ``max_lines`` wrapped lines and says how many it left out; a section's
    verdict (e.g. :func:`judge_says`) is written, wrapped, under its heading.
    """
    columns = int((PAGE_WIDTH - 2 * _MARGIN_IN) * 72 / (_CHAR_EM * _FONT_SIZE))
    blocks = []
    for heading, channel, text in _sections(record):
        verdict = verdicts.get(channel) if channel else None
        said = textwrap.wrap(f"verdict: {clean_text(verdict)}", int(columns * _SANS_PER_MONO)) if verdict else []
        lines = _wrap(text, columns)
        hidden = max(len(lines) - max_lines, 0)
        blocks.append((heading, said, text, lines[:max_lines], hidden))
    height = 0.5 + sum(_LINE_IN * (len(said) + len(lines) + (hidden > 0)) + 0.35
                       for _, said, _, lines, hidden in blocks)
    fig = Figure(figsize=(PAGE_WIDTH, height))
    canvas = fig.add_axes((0, 0, 1, 1))
    canvas.set_axis_off()
    y = height - 0.2
    header = title or f"{record.model} · {record.benchmark} · {record.prompt_id}"
    fig.text(_MARGIN_IN, y, clean_text(header), transform=fig.dpi_scale_trans, fontsize=9, fontweight="bold",
             va="top", parse_math=False)
    y -= 0.3
    for heading, said, text, lines, hidden in blocks:
        fig.text(_MARGIN_IN, y, heading, transform=fig.dpi_scale_trans, fontsize=8, fontweight="bold", va="top",
                 parse_math=False)
        y -= 0.2
        for line in said:
            fig.text(_MARGIN_IN, y, line, transform=fig.dpi_scale_trans, fontsize=_FONT_SIZE, color="#7a4a00",
                     va="top", style="italic", parse_math=False, gid="r1lib-verdict")
            y -= _LINE_IN
        marks = _mask(text, highlight)
        for start, end in lines:
            previous = None
            for run_start, run_end, marked in _line_runs(marks, start, end):
                style = {"family": "monospace", "fontsize": _FONT_SIZE, "parse_math": False,
                         "color": _HIGHLIGHT if marked else "black", "fontweight": "bold" if marked else "normal"}
                run = text[run_start:run_end]
                # Each run starts where the previous one ends, as measured by the renderer at draw time.
                previous = (canvas.text(_MARGIN_IN, y, run, transform=fig.dpi_scale_trans, va="top", **style)
                            if previous is None else
                            canvas.annotate(run, xy=(1, 0), xycoords=previous, va="bottom", **style))
            y -= _LINE_IN
        if hidden:
            fig.text(_MARGIN_IN, y, f"[… {hidden} more lines]", transform=fig.dpi_scale_trans, fontsize=7,
                     color="0.4", va="top", style="italic")
            y -= _LINE_IN
        y -= 0.15
    return fig


def _paired(frame_answer: pd.DataFrame | None, frame_thinking: pd.DataFrame | None) -> pd.DataFrame:
    """Judged records of one or both frames, paired on gen_key, with label_answer / label_thinking."""
    keep = ["gen_key", "model", "benchmark", "prompt_id", "sample", "label"]
    frames = []
    for frame, suffix in ((frame_answer, "answer"), (frame_thinking, "thinking")):
        if frame is not None:
            judged = frame[frame["outcome"] == "judged"]
            frames.append(judged[keep].rename(columns={"label": f"label_{suffix}"}))
    if len(frames) == 1:
        return frames[0]
    return frames[0].merge(frames[1][["gen_key", "label_thinking"]], on="gen_key", how="inner")


def _sections(record: GenerationRecord) -> list[tuple[str, str | None, str]]:
    """(heading, channel, cleaned text) for the prompt (system + user), the thinking and the answer."""
    system = next((m.get("content", "") for m in record.messages if m.get("role") == "system"), "")
    sections = [("System prompt", None, clean_text(str(system)))] if system else []
    sections.append(("Prompt", None, clean_text(record.prompt)))
    if record.thinking:
        sections.append(("Thinking", "thinking", clean_text(record.thinking)))
    sections.append(("Answer", "answer", clean_text(record.answer) or "(no final answer)"))
    return sections


def _mask(text: str, highlight: Sequence[str]) -> np.ndarray:
    """True for every character inside an occurrence of a highlight substring."""
    marks = np.zeros(len(text), dtype=bool)
    for pattern in (clean_text(p) for p in highlight):
        for match in re.finditer(re.escape(pattern), text) if pattern else ():
            marks[match.start():match.end()] = True
    return marks


def _runs(text: str, highlight: Sequence[str]) -> list[tuple[str, bool]]:
    """``text`` cut into (piece, highlighted) runs."""
    marks = _mask(text, highlight)
    return [(text[start:end], marked) for start, end, marked in _line_runs(marks, 0, len(text))]


def _line_runs(marks: np.ndarray, start: int, end: int) -> list[tuple[int, int, bool]]:
    """Maximal runs of equal highlight state within ``[start, end)``."""
    runs: list[tuple[int, int, bool]] = []
    run_start = start
    for i in range(start + 1, end + 1):
        if i == end or marks[i] != marks[run_start]:
            runs.append((run_start, i, bool(marks[run_start])))
            run_start = i
    return runs


def _wrap(text: str, width: int) -> list[tuple[int, int]]:
    """Greedy word wrap as (start, end) character ranges into ``text`` (long words are split)."""
    lines: list[tuple[int, int]] = []
    offset = 0
    for paragraph in text.split("\n"):
        start = offset
        end = offset + len(paragraph)
        while end - start > width:
            cut = text.rfind(" ", start, start + width + 1)
            cut = cut + 1 if cut > start else start + width
            lines.append((start, cut))
            start = cut
        lines.append((start, end))
        offset = end + 1
    return lines
