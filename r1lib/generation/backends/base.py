"""The backend interface: a batch of chat conversations in, one :class:`Completion` per conversation out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from r1lib.config.settings import ModelConfig
from r1lib.core.errors import UserError
from r1lib.core.records import Messages

#: Registered backend classes by the name a models entry gives as ``backend:`` (see :func:`register`).
REGISTERED: dict[str, type[Backend]] = {}


@dataclass
class Completion:
    """What a backend returns for one conversation.

    ``text`` is the visible output (``message.content``); ``reasoning`` is a separate reasoning
    field when the API has one. ``error`` is set (and ``text`` empty) when the call failed for good
    after ``attempts`` tries. ``blocked`` says why, when the provider refused the prompt or
    filtered the output on policy grounds (a final outcome, not an error). ``provenance`` says where
    a recorded output came from (repository, commit, file, row; see :mod:`r1lib.generation.backends.recorded`).
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

    def generate_admitted(self, conversations: Sequence[Messages],
                          admit: Callable[[int], bool]) -> AsyncIterator[tuple[int, Completion | None]]:
        """:meth:`generate` for the conversations ``admit(index)`` lets through, asked before each is sent.

        A conversation refused is not sent and is yielded as ``(index, None)``. This default asks
        for every conversation first (right for backends that batch); API backends that send one
        call at a time ask right before each call.
        """
        return admit_first(len(conversations), admit,
                           lambda chosen: self.generate([conversations[i] for i in chosen]))

    async def aclose(self) -> None:  # noqa: B027 (a default that does nothing, not an abstract method)
        """Release clients, engines or servers held by the backend."""


async def admit_first(count: int, admit: Callable[[int], bool],
                      generate: Callable[[list[int]], AsyncIterator[tuple[int, Completion]]]
                      ) -> AsyncIterator[tuple[int, Completion | None]]:
    """Ask ``admit`` for each of ``count`` requests, yield ``(index, None)`` for those refused, then
    ``generate(admitted indices)``'s results with their indices mapped back."""
    chosen = []
    for index in range(count):
        if admit(index):
            chosen.append(index)
        else:
            yield index, None
    if chosen:
        async for j, completion in generate(chosen):
            yield chosen[j], completion


B = TypeVar("B", bound=type[Backend])


def register(name: str) -> Callable[[B], B]:
    """Class decorator: make a backend known as ``name`` (the value of ``backend:`` in a models entry).

    Registering the same class again (a re-imported module) replaces it; a name another class
    registered already is a :class:`UserError`.
    """
    def add(cls: B) -> B:
        known = REGISTERED.get(name)
        if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
            raise UserError(f"backend {name!r} of {cls.__module__} is already registered by {known.__module__}; "
                            "give yours another name")
        REGISTERED[name] = cls
        return cls
    return add
