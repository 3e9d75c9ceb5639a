"""A mitigation arm as a derived model config carries it: what the arm changes in every request.

Built by :mod:`r1lib.generation.mitigations` from a profile's ``mitigations:`` section; a models
file never sets it. Every field but ``source`` enters the record key (``ModelConfig.key_fields``),
so an arm never shares records with its baseline or with another arm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from r1lib.core.errors import UserError
from r1lib.core.records import Messages
from r1lib.core.traces import CLOSE_TAG, OPEN_TAG

#: The opening of the thinking every prefill starts with (as the local backends pre-fill it).
THINK_OPEN = OPEN_TAG + "\n"
#: ZeroThink's empty think block: the answer follows at once.
EMPTY_THINK = THINK_OPEN + "\n" + CLOSE_TAG + "\n\n"


@dataclass(frozen=True)
class Mitigation:
    """One arm: ``system_prompt`` goes before the conversation's system message (or is its system
    message); ``user_template`` wraps the last user message (``{}`` marks the message, as Self-Reminder
    applies its templates); ``think_prefix`` is put at the start of the thinking; ``zero_think``
    pre-fills an empty think block. ``source`` says where the text comes from."""

    arm: str
    system_prompt: str | None = None
    user_template: str | None = None
    think_prefix: str | None = None
    zero_think: bool = False
    source: str = ""

    def key_fields(self) -> dict[str, Any]:
        """What enters the record key: the arm's name and everything it changes (not its citation)."""
        return {"arm": self.arm, "system_prompt": self.system_prompt, "user_template": self.user_template,
                "think_prefix": self.think_prefix, "zero_think": self.zero_think}

    @property
    def prefill(self) -> str | None:
        """The start of the assistant turn the arm pre-fills, or None."""
        if self.zero_think:
            return EMPTY_THINK
        return THINK_OPEN + self.think_prefix if self.think_prefix else None

    @property
    def opens_thinking(self) -> bool | None:
        """Whether the output starts inside a think block under this arm (None: as the entry says)."""
        if self.zero_think:
            return False
        return True if self.think_prefix else None

    def apply(self, messages: Messages) -> Messages:
        """The conversation with the arm's system prompt and user template applied."""
        out = [dict(m) for m in messages]
        if self.user_template is not None:
            last = max((i for i, m in enumerate(out) if m.get("role") == "user"), default=None)
            if last is None or not isinstance(out[last].get("content"), str):
                raise UserError(f"mitigation {self.arm!r} wraps the user message, but this conversation has no "
                                "text user message; run the arm on single-turn text benchmarks")
            out[last]["content"] = self.user_template.format(out[last]["content"])
        if self.system_prompt is not None:
            if out and out[0].get("role") == "system":
                out[0]["content"] = f"{self.system_prompt}\n\n{out[0]['content']}"
            else:
                out.insert(0, {"role": "system", "content": self.system_prompt})
        return out
