"""The item schema shared by every benchmark."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from r1lib.core.records import Messages


@dataclass(frozen=True)
class Item:
    """One benchmark prompt, ready to send.

    ``category`` holds the benchmark's category fields (e.g. ``{"l2": ..., "l3": ..., "l4": ...}``
    for AIR-Bench, ``{"attack_type": ...}`` for the interpreter); ``meta`` holds what its judge
    needs (e.g. ``judge_question`` for prompt injection, ``cate_idx`` for AIR-Bench).
    """

    benchmark: str
    id: str
    messages: Messages
    category: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
