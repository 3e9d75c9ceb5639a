"""The backend interface: a batch of chat conversations in, one :class:`Completion` per conversation out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from r1lib.config import ModelConfig
from r1lib.records import Messages


@dataclass
class Completion:
    """What a backend returns for one conversation.

    ``text`` is the visible output (``message.content``); ``reasoning`` is a separate reasoning
    field when the API has one. ``error`` is set (and ``text`` empty) when the call failed for good
    after ``attempts`` tries. ``blocked`` says why, when the provider refused the prompt or
    filtered the output on policy grounds (a final outcome, not an error). ``provenance`` says where
    a recorded output came from (repository, commit, file, row; see :mod:`r1lib.backends.recorded`).
    ``meta`` is what the record keeps besides the request's meta: ``interrupted`` (one entry per
    attempt whose stream was cut before it finished: ``attempt``, ``reason``, ``text``,
    ``reasoning``), ``billing`` and ``batch`` (results of the Batch API).
    """

    text: str = ""
    reasoning: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    latency_s: float | None = None
    attempts: int = 1
    error: str | None = None
    blocked: str | None = None
    provenance: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class Backend(ABC):
    """Generates completions for a model config. Subclasses implement :meth:`generate`."""

    def __init__(self, config: ModelConfig):
        self.config = config

    @abstractmethod
    def generate(self, conversations: Sequence[Messages]) -> AsyncIterator[tuple[int, Completion]]:
        """Yield ``(index, completion)`` for every conversation, in completion order.

        API backends run requests concurrently (bounded by ``max_concurrency``); local backends
        batch. Either way each result is yielded as soon as it exists so the runner can store it.
        Errors of individual calls are returned as ``Completion(error=...)``, never raised.
        """

    async def aclose(self) -> None:
        """Release clients, engines or servers held by the backend."""
