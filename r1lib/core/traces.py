"""Split a reasoning model's output into its thinking and its final answer.

Reasoning models deliver their chain of thought in many shapes: a separate API field (DeepSeek's
``reasoning_content``, vLLM's ``reasoning``), inline ``<think>…</think>`` tags, a bare ``</think>``
when the chat template already opened the block, an unterminated block when generation hit the
token limit, or nothing at all. :func:`parse_trace` maps every shape to one :class:`Trace` and says
which shape it saw (``state``) and where the thinking came from (``source``), so that no output is
silently mis-split.

Several think blocks: the split is made at the *last* ``</think>``. Everything before it (minus a
leading ``<think>``) is thinking, with any inner tags kept verbatim; only text after the last
closing tag is the answer. This keeps reasoning out of the judged answer, which is the safe error.
"""

from __future__ import annotations

from dataclasses import dataclass

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"

#: Trace states, in the precedence order of :func:`parse_trace`.
STATES = ("api_field", "closed", "bare_close", "empty_think", "unterminated", "no_think")
#: Where the thinking text came from.
SOURCES = ("api_field", "tags", "none")


@dataclass(frozen=True)
class Trace:
    """A parsed output: ``thinking`` (None when the model showed none), ``answer``, ``state``, ``source``."""

    thinking: str | None
    answer: str
    state: str
    source: str

    @property
    def has_answer(self) -> bool:
        """True when there is a non-empty final answer (False e.g. when thinking was truncated)."""
        return bool(self.answer)


def parse_trace(text: str, reasoning: str | None = None, *, prefilled_think: bool = False) -> Trace:
    """Parse ``text`` (and an API reasoning field, if any) into thinking and answer.

    Rules, in precedence order:

    - ``api_field``: ``reasoning`` is non-empty after stripping; thinking = it, answer = ``text``.
    - ``closed``: ``<think>`` … ``</think>``; thinking = inside, answer = after the last close tag.
    - ``bare_close``: ``</think>`` without an opening tag (template pre-filled ``<think>``).
    - ``empty_think``: either of the two previous cases with empty thinking.
    - ``unterminated``: ``<think>`` without ``</think>`` (truncated), or no tags at all when
      ``prefilled_think``; thinking = text after the tag (or all of it), answer = "".
    - ``no_think``: no tags, no reasoning field, not prefilled; thinking = None, answer = text.

    Both channels are stripped of surrounding whitespace.
    """
    text = text or ""
    if reasoning is not None and reasoning.strip():
        return Trace(reasoning.strip(), _strip_stray_close(text).strip(), "api_field", "api_field")

    close_at = text.rfind(CLOSE_TAG)
    if close_at >= 0:
        before, answer = text[:close_at], text[close_at + len(CLOSE_TAG):]
        open_at = before.find(OPEN_TAG)
        if open_at >= 0:
            thinking, state = before[open_at + len(OPEN_TAG):], "closed"
        else:
            thinking, state = before, "bare_close"
        thinking = thinking.strip()
        if not thinking:
            state = "empty_think"
        return Trace(thinking, answer.strip(), state, "tags")

    open_at = text.find(OPEN_TAG)
    if open_at >= 0:
        return Trace(text[open_at + len(OPEN_TAG):].strip(), "", "unterminated", "tags")
    if prefilled_think:
        return Trace(text.strip(), "", "unterminated", "tags")
    return Trace(None, text.strip(), "no_think", "none")


def _strip_stray_close(text: str) -> str:
    """Drop a leading ``</think>`` that some servers leave in ``content`` next to a reasoning field."""
    stripped = text.lstrip()
    return stripped[len(CLOSE_TAG):] if stripped.startswith(CLOSE_TAG) else text


def render_full(thinking: str | None, answer: str) -> str:
    """Thinking and answer as one text (the ``full`` channel): ``<think>`` block, then the answer."""
    thinking = (thinking or "").strip()
    return f"{OPEN_TAG}\n{thinking}\n{CLOSE_TAG}\n\n{answer}" if thinking else answer


def tagged_text(thinking: str | None, answer: str, state: str) -> str:
    """A text that :func:`parse_trace` (without a reasoning field) parses into this thinking, answer and
    tag state (``closed``, ``bare_close``, ``empty_think``, ``unterminated``; ``no_think``: the answer);
    the inverse of the split, for outputs stored already split (e.g. an Inspect log's reasoning block)."""
    if state == "no_think" or thinking is None:
        return answer
    if state == "unterminated":
        return f"{OPEN_TAG}\n{thinking}"
    opening = "" if state == "bare_close" else f"{OPEN_TAG}\n"
    return f"{opening}{thinking}\n{CLOSE_TAG}\n\n{answer}"
