"""Why calls failed: error messages grouped by cause, so a summary can name each cause once.

Two messages have the same cause when they are equal once numbers (ports, counts, seconds,
status codes) and long hexadecimal ids are blanked: ``cannot connect to http://127.0.0.1:9/v1/``
and ``... :8000/v1/`` are one cause, shown with its first message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_HEX_ID = re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
#: How much of a first message a summary line shows.
MESSAGE_CHARS = 300


@dataclass(frozen=True)
class Cause:
    """One cause of failure: its normalised ``key``, how many failures it explains and its first message."""

    key: str
    count: int
    first: str


def cause_key(message: str) -> str:
    """The normalised cause of an error message (ids and numbers blanked, whitespace collapsed)."""
    text = _NUMBER.sub("N", _HEX_ID.sub("ID", message))
    return " ".join(text.split())


def failure_causes(messages: Iterable[str | None]) -> list[Cause]:
    """The causes of the given error messages (None and blank ones skipped), most frequent first."""
    counts: dict[str, int] = {}
    first: dict[str, str] = {}
    for message in messages:
        if not isinstance(message, str) or not message.strip():
            continue
        key = cause_key(message)
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, message.strip())
    return sorted((Cause(k, n, first[k]) for k, n in counts.items()), key=lambda c: (-c.count, c.key))


def merge_causes(*groups: Iterable[Cause]) -> list[Cause]:
    """Causes of several runs added up (the first message of the earliest group is kept)."""
    counts: dict[str, int] = {}
    first: dict[str, str] = {}
    for group in groups:
        for cause in group:
            counts[cause.key] = counts.get(cause.key, 0) + cause.count
            first.setdefault(cause.key, cause.first)
    return sorted((Cause(k, n, first[k]) for k, n in counts.items()), key=lambda c: (-c.count, c.key))


def cause_lines(causes: Iterable[Cause], indent: str = "  ") -> list[str]:
    """One line per cause: ``N × first message`` (cut at :data:`MESSAGE_CHARS` characters)."""
    lines = []
    for cause in causes:
        message = cause.first if len(cause.first) <= MESSAGE_CHARS else cause.first[:MESSAGE_CHARS] + " …"
        lines.append(f"{indent}{cause.count} × {message}")
    return lines
