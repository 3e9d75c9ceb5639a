"""The normalised row of an import and the field mapping that makes rows from a table's records.

A normalised row is a dict, one per output::

    {"id": str, "messages": [{"role": "system"|"user"|"assistant", "content": str}, ...],  # ends with a user turn
     "output": str | None,     # raw text for the trace parser, may hold inline <think> tags
     "thinking": str | None, "answer": str | None,   # already split; used when output is None
     "category": {str: str}, "meta": {str: JSON}, "model": str | None, "row": int,
     "sample": int}            # optional, default 0: the generation's index among the prompt's (an epoch, a repeat)

Every reader returns such rows (the tabular ones through :meth:`FieldMapping.rows`, the Inspect and
lm-eval readers directly); :func:`check_rows` checks them all the same way. A missing value (JSON
null, an empty CSV cell, a NaN) is no output: the item becomes ``not_recorded``, never an empty answer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from r1lib.core.errors import UserError

ROLES = ("system", "user", "assistant")
ROW_KEYS = ("id", "messages", "output", "thinking", "answer", "category", "meta", "model", "row")


@dataclass(frozen=True)
class FieldMapping:
    """Which field of a source record holds what (the ``--*-field`` options of ``r1lib import``).

    ``prompt`` (default ``prompt``) and ``system`` make a single-turn conversation; ``messages`` names
    a conversation list of ``{role, content}`` that replaces them. ``output`` (raw text, inline
    ``<think>`` tags allowed; default ``output`` when neither ``thinking`` nor ``answer`` is given) or
    ``thinking`` and/or ``answer`` (already split). ``id`` (default: the row index) and ``category``
    (fields copied into the item's category). ``model`` names a field with the source's model name.
    """

    prompt: str | None = None
    system: str | None = None
    messages: str | None = None
    output: str | None = None
    thinking: str | None = None
    answer: str | None = None
    id: str | None = None
    category: tuple[str, ...] = ()
    model: str | None = None

    def resolved(self) -> FieldMapping:
        """The mapping with its defaults filled in, checked for options that exclude each other."""
        if self.messages and (self.prompt or self.system):
            raise UserError("--messages-field replaces --prompt-field and --system-field; give one or the other")
        if self.output and (self.thinking or self.answer):
            raise UserError("give --output-field (raw text with inline <think> tags) or --thinking-field and "
                            "--answer-field (already split), not both")
        prompt = None if self.messages else (self.prompt or "prompt")
        output = None if (self.thinking or self.answer) else (self.output or "output")
        return FieldMapping(prompt=prompt, system=self.system, messages=self.messages, output=output,
                            thinking=self.thinking, answer=self.answer, id=self.id, category=tuple(self.category),
                            model=self.model)

    def as_dict(self) -> dict[str, Any]:
        """The mapping as JSON (for the manifest and the version hash)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @property
    def shape(self) -> str:
        """How the outputs show the thinking: ``raw`` (one text), ``split`` (thinking and answer) or
        ``answer`` (an answer field only)."""
        return "raw" if self.output else ("split" if self.thinking else "answer")

    def rows(self, records: Sequence[dict[str, Any]], source: str) -> list[dict[str, Any]]:
        """Normalised rows from a table's records; a mapped field that no record has is a UserError."""
        fields = list(dict.fromkeys(k for record in records for k in record))
        options = {"--prompt-field": self.prompt, "--system-field": self.system, "--messages-field": self.messages,
                   "--output-field": self.output, "--thinking-field": self.thinking,
                   "--answer-field": self.answer, "--id-field": self.id, "--model-field": self.model}
        for option, name in options.items():
            if name is not None and name not in fields:
                raise UserError(f"{option} {name!r} is not a field of {source}; fields: {', '.join(fields)}")
        for name in self.category:
            if name not in fields:
                raise UserError(f"--category-field {name!r} is not a field of {source}; fields: {', '.join(fields)}")
        used = {v for v in (self.prompt, self.system, self.messages, self.output, self.thinking, self.answer,
                            self.id, self.model) if v} | set(self.category)
        return [self._row(plain(record), index, used, f"{source} row {index}") for index, record in enumerate(records)]

    def _row(self, record: dict[str, Any], index: int, used: set[str], where: str) -> dict[str, Any]:
        if self.messages:
            messages = conversation(record.get(self.messages), where, f"--messages-field {self.messages!r}")
        else:
            prompt = text_or_none(record.get(self.prompt or ""))
            if prompt is None:
                raise UserError(f"{where}: --prompt-field {self.prompt!r} is empty; every row needs its prompt")
            system = text_or_none(record.get(self.system)) if self.system else None
            messages = ([{"role": "system", "content": system}] if system else []) + [
                {"role": "user", "content": prompt}]
        row_id = record.get(self.id) if self.id else index
        if row_id is None or (isinstance(row_id, str) and not row_id.strip()):
            raise UserError(f"{where}: --id-field {self.id!r} is empty; give every row an id")
        model = text_or_none(record.get(self.model)) if self.model else None
        return {"id": str(row_id), "messages": messages,
                "output": text_or_none(record.get(self.output)) if self.output else None,
                "thinking": text_or_none(record.get(self.thinking)) if self.thinking else None,
                "answer": text_or_none(record.get(self.answer)) if self.answer else None,
                "category": {name: "" if record.get(name) is None else str(record[name]) for name in self.category},
                "meta": {k: v for k, v in record.items() if k not in used}, "model": model, "row": index}


def plain(value: Any) -> Any:
    """``value`` as plain JSON: numpy/arrow values and arrays as Python ones, NaN as None."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def text_or_none(value: Any) -> str | None:
    """A text value; None, an empty string and NaN are no value (a CSV cannot tell them apart)."""
    value = plain(value)
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def conversation(value: Any, where: str, what: str) -> list[dict[str, str]]:
    """A conversation list of ``{role, content}`` ending in a user turn (JSON text is parsed, as CSV stores it)."""
    value = plain(value)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise UserError(f"{where}: {what} is text that is not a JSON list of {{role, content}}") from None
    valid = isinstance(value, list) and value and all(
        isinstance(m, dict) and m.get("role") in ROLES and isinstance(m.get("content"), str) for m in value)
    if not valid:
        raise UserError(f"{where}: {what} must be a non-empty list of {{'role': system|user|assistant, "
                        "'content': text}}")
    if value[-1]["role"] != "user":
        raise UserError(f"{where}: {what} must end with the user turn the output answers; it ends with "
                        f"{value[-1]['role']!r} (drop the answered assistant turn and map it as the output)")
    return [{"role": m["role"], "content": m["content"]} for m in value]


def check_rows(rows: Sequence[dict[str, Any]], source: str) -> list[dict[str, Any]]:
    """Check normalised rows (from any reader): keys, conversation, texts, unique (id, sample); at least one row."""
    if not rows:
        raise UserError(f"{source} holds no rows; nothing to import")
    seen: dict[tuple[str, int], int] = {}
    checked = []
    for index, row in enumerate(rows):
        where = f"{source} row {row.get('row', index)}"
        missing = [k for k in ROW_KEYS if k not in row]
        if missing:
            raise UserError(f"{where}: the reader gave a row without {missing}; fix the reader")
        conversation(row["messages"], where, "messages")
        for key in ("output", "thinking", "answer", "model"):
            if row[key] is not None and not isinstance(row[key], str):
                raise UserError(f"{where}: {key} must be text or null, not {type(row[key]).__name__}")
        sample = row.get("sample", 0)
        if not isinstance(sample, int) or isinstance(sample, bool) or sample < 0:
            raise UserError(f"{where}: sample must be a whole number from 0, not {sample!r}; fix the reader")
        if (row["id"], sample) in seen:
            raise UserError(f"{where}: id {row['id']!r} is also the id of row {seen[row['id'], sample]}; "
                            "give --id-field a field with a unique value per row")
        seen[row["id"], sample] = row["row"]
        checked.append({**row, "category": {str(k): str(v) for k, v in row["category"].items()},
                        "meta": plain(row["meta"])})
    return checked


def has_output(row: dict[str, Any]) -> bool:
    """Whether the row holds an output (raw text, or thinking or an answer)."""
    return any(row.get(key) is not None for key in ("output", "thinking", "answer"))
