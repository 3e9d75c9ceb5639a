"""Typed checks of YAML input (models files, profiles) with pydantic, reported as :class:`UserError`.

:func:`validate` runs a pydantic ``TypeAdapter`` over a mapping read from a YAML file and turns every
validation error into one line naming the file, the line of the offending key (see :func:`key_lines`),
the key, the problem and the fix: the ``description`` of the top-level field, which states what the
field holds with an example. Types are strict where YAML makes a mistake easy: ``"32"`` (quoted) is
text, not a number; ``yes please`` is not true.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from r1lib.core.errors import UserError

T = TypeVar("T")
Loc = tuple[str, ...]

#: What a value of each pydantic type error had to be.
KINDS = {"int_type": "an integer", "bool_type": "true or false", "string_type": "a text",
         "float_type": "a number", "dict_type": "a mapping ({key: value, ...})", "list_type": "a list ([a, b])",
         "tuple_type": "a list ([a, b])"}


def key_lines(path: Path) -> dict[Loc, int]:
    """The line (1-based) of every key and list item of a YAML file, by its path of keys/indices."""
    try:
        root = yaml.compose(path.read_text())
    except yaml.YAMLError:
        return {}
    lines: dict[Loc, int] = {}

    def walk(node: yaml.Node, loc: Loc) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                lines[(*loc, str(key.value))] = key.start_mark.line + 1
                walk(value, (*loc, str(key.value)))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines[(*loc, str(index))] = item.start_mark.line + 1
                walk(item, (*loc, str(index)))

    if root is not None:
        walk(root, ())
    return lines


def field_hints(cls: type) -> dict[str, str]:
    """Every field name -> its ``Field(description=...)`` ('' without one), for a pydantic model or an
    annotated dataclass. The keys are the allowed keys; the descriptions are the fixes."""
    if issubclass(cls, BaseModel):
        return {name: f.description or "" for name, f in cls.model_fields.items()}
    hints = typing.get_type_hints(cls, include_extras=True)
    return {name: next((meta.description or "" for meta in getattr(hint, "__metadata__", ())
                        if isinstance(meta, FieldInfo)), "") for name, hint in hints.items()}


def validate(adapter: TypeAdapter[T], data: Any, *, source: str, hints: Mapping[str, str], entry: str = "",
             lines: Mapping[Loc, int] | None = None, prefix: Loc = ()) -> T:
    """``adapter.validate_python(data)``; every error becomes a line of one :class:`UserError`.

    Each line reads ``{source} line N{entry}: ...``: ``source`` names the file (e.g. ``models file
    PATH``), ``entry`` the part of it (e.g. `` (model 'x')``). ``lines`` maps key paths to file lines,
    ``prefix`` is the key path of ``data`` inside the file, ``hints`` maps each allowed top-level key to its fix
    (:func:`field_hints`).
    """
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        explained = sorted((_explain(error, source, entry, hints, lines or {}, prefix) for error in exc.errors()),
                           key=lambda found: found[0])  # in file order
        messages, hinted = [], set()
        for _, message, field_name in explained:
            if hints.get(field_name) and field_name not in hinted:  # each field's fix once
                hinted.add(field_name)
                message += f". {field_name}: {hints[field_name]}"
            messages.append(message)
        raise UserError("\n".join(messages)) from None


def _explain(error: Any, source: str, entry: str, hints: Mapping[str, str], lines: Mapping[Loc, int],
             prefix: Loc) -> tuple[int, str, str]:
    """One error as ``(file line or 0, message without the fix, the top-level field it is about)``."""
    loc = tuple(str(part) for part in error["loc"])
    line = next((lines[(*prefix, *loc[:n])] for n in range(len(loc), -1, -1) if (*prefix, *loc[:n]) in lines),
                None)
    place = (f"{source} line {line}" if line is not None else source) + entry
    key = ".".join(loc)
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    if kind == "missing":
        problem = f"missing required key {loc[-1]!r}"
        key = ".".join(loc[:-1])
    elif kind in ("extra_forbidden", "unexpected_keyword_argument"):
        problem = f"unknown key {loc[-1]!r}"
        key = ".".join(loc[:-1])
        if len(loc) == 1:
            close = difflib.get_close_matches(loc[0], list(hints), n=1, cutoff=0.75)
            problem += (f" (did you mean {close[0]!r}?)" if close else "") + f"; allowed keys: {', '.join(hints)}"
    elif kind in KINDS:
        problem = f"must be {KINDS[kind]}, not {value!r}{_quoted(kind, value)}"
    elif kind == "literal_error":
        problem = f"must be one of {ctx['expected']}, not {value!r}"
    elif kind in ("greater_than_equal", "greater_than", "less_than", "less_than_equal"):
        bound = {"greater_than_equal": "at least", "greater_than": "more than", "less_than": "less than",
                 "less_than_equal": "at most"}[kind]
        problem = f"must be {bound} {next(iter(ctx.values()))}, not {value!r}"
    elif kind in ("too_short", "too_long"):
        wanted = f"at least {ctx['min_length']}" if kind == "too_short" else f"at most {ctx['max_length']}"
        problem = f"has {ctx.get('actual_length')} entries; it must have {wanted}"
    elif kind == "string_too_short":
        problem = "must not be empty"
    elif kind == "value_error":
        problem = str(ctx.get("error", error["msg"]))
    else:
        problem = error["msg"]
    subject = f"{key}: " if key and kind in ("missing", "extra_forbidden", "unexpected_keyword_argument") \
        else (f"{key} " if key else "")
    return line or 0, f"{place}: {subject}{problem}", loc[0] if loc else ""


def _quoted(kind: str, value: Any) -> str:
    """A note when a text would have been the wanted type without its quotes."""
    if not isinstance(value, str):
        return ""
    text = value.strip()
    looks = {"int_type": text.lstrip("-").isdigit(), "bool_type": text.lower() in ("true", "false"),
             "float_type": text.replace(".", "", 1).lstrip("-").isdigit()}.get(kind, False)
    return " (quoted, so YAML reads it as text: remove the quotes)" if looks else ""
