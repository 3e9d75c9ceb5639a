"""Reassembling a streamed chat completion, and what a cut or malformed stream raises.
"""

from __future__ import annotations

from typing import Any

from r1lib.generation.backends.openai_replies import REASONING_FIELDS, reasoning_text


class StreamedReply:
    """The deltas of one streamed chat completion (choice 0), joined as they arrive."""

    __slots__ = ("chunks", "content", "reasoning", "details", "finish_reason", "usage")

    def __init__(self) -> None:
        self.chunks = 0
        self.content: list[str] = []
        self.reasoning: dict[str, list[str]] = {name: [] for name in REASONING_FIELDS}
        self.details: dict[int, list[str]] = {}
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None

    def add(self, chunk: dict[str, Any]) -> None:
        """Take one ``chat.completion.chunk``."""
        self.chunks += 1
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                self.content.append(delta["content"])
            for name in REASONING_FIELDS:
                if delta.get(name):
                    self.reasoning[name].append(delta[name])
            for detail in delta.get("reasoning_details") or ():
                text = detail.get("text") or detail.get("summary")
                if text:
                    self.details.setdefault(detail.get("index", 0), []).append(text)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def message(self) -> dict[str, Any]:
        """The assistant message so far, shaped like a non-streamed reply's."""
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.content) if self.content else None}
        for name, parts in self.reasoning.items():
            if parts:
                message[name] = "".join(parts)
        if self.details:
            message["reasoning_details"] = [{"type": "reasoning.text", "text": "".join(parts)}
                                            for _, parts in sorted(self.details.items())]
        return message

    def body(self) -> dict[str, Any]:
        """The whole reply as the body of a non-streamed chat completion."""
        return {"choices": [{"index": 0, "message": self.message(), "finish_reason": self.finish_reason}],
                "usage": self.usage}


class MalformedBody(Exception):
    """A reply body the client could not decode (a provider fault, retried)."""


class Interrupted(Exception):
    """A stream that stopped before its finish reason, with what had arrived.

    ``blocked`` is set when it stopped because the provider blocked the output.
    """

    def __init__(self, reason: str, reply: StreamedReply, *, blocked: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.message = reply.message()
        self.arrived = reply.chunks > 0
        self.blocked = blocked

    def entry(self, attempt: int) -> dict[str, Any]:
        """What a record keeps of this attempt in ``meta["interrupted"]``."""
        return {"attempt": attempt, "reason": self.reason, "text": self.message["content"] or "",
                "reasoning": reasoning_text(self.message)}


def interrupted_meta(interrupted: list[dict[str, Any]]) -> dict[str, Any]:
    """A completion's meta: the cut streams of its attempts, if any."""
    return {"interrupted": interrupted} if interrupted else {}
