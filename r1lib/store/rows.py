"""Rows and SQL of the store: record fields to columns and back (JSON columns encoded), WHERE clauses from
filters, the generation filter of the frames, and key chunks that fit SQLite's parameter limit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

JSON_FIELDS = ("messages", "config", "meta", "details")


def last_user_message(messages: list[dict[str, Any]]) -> str:
    return next((str(m.get("content", "")) for m in reversed(messages) if m.get("role") == "user"), "")


def chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def generation_filter(*, model: str | None, benchmark: str | None, role: str | None, trace_state: str | None = None,
                      judge: str | None = None, label: str | None = None,
                      run: str | None = None) -> tuple[str, list[Any]]:
    """WHERE clause over ``generations g``; ``run`` matches the config's model string (``imported/NAME@VERSION``:
    one version of an import); ``label`` matches the latest verdict per (judge, channel)."""
    where, args = where_clause(prefix="g.", model=model, benchmark=benchmark, role=role, trace_state=trace_state,
                               **{"config ->> '$.model'": run})
    if label is None:
        return where, args
    latest = ("EXISTS (SELECT 1 FROM verdicts v WHERE v.gen_key = g.key AND v.label = ?"
              + (" AND v.judge = ?" if judge is not None else "")
              + " AND NOT EXISTS (SELECT 1 FROM verdicts w WHERE w.gen_key = v.gen_key AND w.judge = v.judge"
                " AND w.channel = v.channel AND w.created_at > v.created_at))")
    args += [label] + ([judge] if judge is not None else [])
    return (f"{where} AND {latest}" if where else f"WHERE {latest}"), args


def where_clause(prefix: str = "", **filters: Any) -> tuple[str, list[Any]]:
    parts, args = [], []
    for column, value in filters.items():
        if value is not None:
            parts.append(f"{prefix}{column} = ?")
            args.append(value)
    return ("WHERE " + " AND ".join(parts)) if parts else "", args


def has_text(value: Any) -> int:
    """1 when ``value`` is a string with more than whitespace (SQL function ``has_text``)."""
    return int(isinstance(value, str) and bool(value.strip()))


def to_row(values: dict[str, Any], columns: tuple[str, ...]) -> list[Any]:
    return [json.dumps(values[c], ensure_ascii=False, default=str) if c in JSON_FIELDS else values[c]
            for c in columns]


def from_row(row: tuple[Any, ...], columns: tuple[str, ...]) -> dict[str, Any]:
    return {c: (json.loads(v) if c in JSON_FIELDS and v is not None else v) for c, v in zip(columns, row)}
