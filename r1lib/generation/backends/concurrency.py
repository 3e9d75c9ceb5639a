"""How many calls go out at once and to which server: replicas of one deployment (the least busy first) and
the adaptive limit that halves on overload and grows back by one (AIMD).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence

from openai import AsyncOpenAI

#: Concurrent calls per client (connection pool); see the module docstring.
CALLS_PER_CLIENT = 8


class Replicas:
    """The clients of one ``generate`` call: one per server at first, more as calls pile up."""

    def __init__(self, urls: Sequence[str | None], open_client: Callable[[str | None], AsyncOpenAI]):
        self._open = open_client
        self.replicas = [Replica(url, open_client(url)) for url in urls]

    def pick(self) -> "Replica":
        """The least busy client; a new client for the least served server when all are full."""
        best = min(self.replicas, key=Replica.load)
        if best.in_flight >= CALLS_PER_CLIENT:
            urls = [r.url for r in self.replicas]
            url = min(dict.fromkeys(urls), key=urls.count)
            best = Replica(url, self._open(url))
            self.replicas.append(best)
        return best

    async def aclose(self) -> None:
        """Close every client."""
        await asyncio.gather(*(r.client.close() for r in self.replicas), return_exceptions=True)


class Replica:
    """One client (a connection pool to one server) and how many calls it has in flight."""

    _order = itertools.count()

    def __init__(self, url: str | None, client: AsyncOpenAI):
        self.url = url
        self.client = client
        self.in_flight = 0
        self.last_used = 0

    def load(self) -> tuple[int, int]:
        """Sort key: fewest calls in flight, then least recently used (round-robin among equals)."""
        return self.in_flight, self.last_used

    async def __aenter__(self) -> "Replica":
        self.in_flight += 1
        self.last_used = next(self._order)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.in_flight -= 1


class AdaptiveLimit:
    """An async concurrency limit that halves on rate limiting and grows back one step at a time."""

    def __init__(self, maximum: int):
        self.maximum = max(1, maximum)
        self.limit = self.maximum
        self.active = 0
        self._successes = 0
        self._last_cut = 0.0
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> "AdaptiveLimit":
        async with self._changed:
            await self._changed.wait_for(lambda: self.active < self.limit)
            self.active += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.active -= 1  # before any await: a cancelled task still gives its slot back
        async with self._changed:
            self._changed.notify_all()

    def rate_limited(self) -> None:
        """Halve the limit (at most once per second, so one burst of 429s counts once)."""
        now = time.monotonic()
        if now - self._last_cut >= 1.0:
            self.limit = max(1, self.limit // 2)
            self._last_cut = now
        self._successes = 0

    def succeeded(self) -> None:
        """Count a success; after ``limit`` in a row, allow one more call in flight."""
        self._successes += 1
        if self.limit < self.maximum and self._successes >= self.limit:
            self.limit += 1
            self._successes = 0
