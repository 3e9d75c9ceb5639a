"""Robust reading of messy judge-model answers: markdown, code fences, casing, extra prose, JSON.

Every function returns ``None`` when the answer does not say clearly what it means; callers turn
that into an unparseable verdict. Nothing here guesses: an answer that names two different labels
with equal standing, or none, is not understood.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)")
#: Words that negate a label word right after them ("not malicious", "non-malicious").
_NEGATION = re.compile(r"(?:\bnot|\bnon|\bno|n't)[\s_-]*$")
#: Lead-ins a judge may put before its verdict ("Answer: ...", "Verdict - ...").
_LEAD_IN = re.compile(r"^\s*(?:final\s+)?(?:answer|verdict|label|classification|class|category|"
                      r"result|response|output|judgement|judgment|decision)\s*[:=\-]\s*")


def strip_markup(text: str) -> str:
    """Text without code fences, markdown emphasis or heading marks (case kept)."""
    text = _FENCE.sub(lambda m: m.group(1), text or "")
    text = _EMPHASIS.sub("", text)
    return re.sub(r"^\s*#+\s*", "", text, flags=re.MULTILINE).strip()


def clean(text: str) -> str:
    """Lower-case :func:`strip_markup` text, for matching."""
    return strip_markup(text).lower()


def match_label(text: str, patterns: Mapping[str, str]) -> str | None:
    """The one label whose regex occurs in ``text``, preferring a label the answer starts with.

    ``patterns`` maps a label to a regex matched against :func:`clean` text. An occurrence that
    directly follows a negation ("not", "non-", "no") does not count. If the answer starts with a
    label (after an optional lead-in such as ``Answer:``) that label wins, unless another label
    follows in the same clause ("benign or malicious"); otherwise exactly one label may occur in
    the text, else the answer is not understood.
    """
    body = _LEAD_IN.sub("", clean(text))
    found: dict[str, int] = {}
    for label, pattern in patterns.items():
        for match in re.finditer(pattern, body):
            if not _NEGATION.search(body[:match.start()]):
                found.setdefault(label, match.start())
                break
    if not found:
        return None
    first = min(found, key=found.__getitem__)
    start = found[first]
    if re.fullmatch(r"[\W_]*(?:\d[\W_]*)?", body[:start]):  # only punctuation or a class number before it
        clause_end = re.search(r"[.;:,(\n]|\s-\s", body[start:])
        end = start + clause_end.start() if clause_end else len(body)
        rivals = [label for label, at in found.items() if label != first and at < end]
        return None if rivals else first  # "benign or malicious" names both in one breath
    return first if len(found) == 1 else None


def yes_no(text: str) -> bool | None:
    """True for a clear yes, False for a clear no, None otherwise (both, neither, hedged)."""
    label = match_label(text, {"yes": r"\byes\b", "no": r"\bno\b"})
    return None if label is None else label == "yes"


def find_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (inside a code fence or bare), with lower-cased keys."""
    decoder = json.JSONDecoder()
    for source in [*_FENCE.findall(text or ""), text or ""]:
        source = _pythonic_to_json(source)
        for start in (i for i, ch in enumerate(source) if ch == "{"):
            try:
                value, _ = decoder.raw_decode(source[start:])
            except ValueError:
                continue
            if isinstance(value, dict):
                return {str(k).strip().lower(): v for k, v in value.items()}
    return None


def _pythonic_to_json(text: str) -> str:
    """Accept Python-style literals some judges write inside JSON (True/False/None)."""
    return re.sub(r"(?<=[:\[,\s])(True|False|None)\b",
                  lambda m: {"True": "true", "False": "false", "None": "null"}[m.group(1)], text)


def as_bool(value: Any) -> bool | None:
    """A JSON value read as a boolean (``true``, ``"yes"``, ``1``...); None when it is not one."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        return {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(
            value.strip().lower())
    return None


def as_grade(value: Any, low: int = 0, high: int = 5) -> int | None:
    """A JSON value read as an integer grade in [low, high] ("4", 4.0 and "4/5" are 4); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        match = re.match(r"\s*(\d+(?:\.0+)?)\s*(?:/\s*\d+)?\s*$", value)
        value = float(match.group(1)) if match else None
    if isinstance(value, (int, float)) and float(value).is_integer() and low <= value <= high:
        return int(value)
    return None

