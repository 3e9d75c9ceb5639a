"""Pacing calls to a provider's stated requests- and tokens-per-minute limits (client-side token buckets).

Providers (OpenAI, Together, DeepSeek, OpenRouter) enforce requests per minute (RPM) and tokens
per minute (TPM) and state them on every response, success or 429::

    x-ratelimit-limit-requests: 3000        x-ratelimit-limit-tokens: 600000
    x-ratelimit-remaining-requests: 2999    x-ratelimit-remaining-tokens: 598000
    x-ratelimit-reset-requests: 20ms        x-ratelimit-reset-tokens: 200ms

A :class:`RateLimiter` (one per model entry and event loop) keeps one :class:`Bucket` per
dimension. A bucket refills at ``limit / 60`` per second and holds at most :data:`BURST_S` seconds
of it (providers may enforce a minute's budget over shorter periods, e.g. 3,000 RPM as 50 per
second), so a run approaches the allowed rate without bursts of 429s; every response's
``remaining`` lowers the bucket's level to the server's count when that is the stricter view by
more than the header's rounding down to a whole number (another client on the same key, a limit
lowered mid-run), and a changed ``limit`` changes the rate at once. A call's tokens are estimated
before it is sent (prompt characters / 4 plus its ``max_tokens``, as providers count them) and the
estimate is corrected by the usage returned.

Limits come from the headers, or from ``rate_limits: {rpm: N, tpm: N}`` in the models entry for a
provider that sends none (the headers, when present, win). Until the first response says whether
there are limits, one call is sent alone (for at most :data:`PROBE_S` seconds), so that a run
against a rate-limited provider does not open with ``max_concurrency`` calls at once; a provider
that sends no headers and has no ``rate_limits`` is not paced at all (only the concurrency cap
and the backoff on 429 apply). After a 429 every call waits out the server's ``Retry-After``
(:meth:`RateLimiter.hold`), not only the one that got it.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from typing import Any

#: Seconds of the allowed rate a bucket holds (its burst).
BURST_S = 1.0
#: Seconds the first call is sent alone while the limits are unknown.
PROBE_S = 1.0
#: Prompt characters per token, for the estimate made before a call (corrected by the usage returned).
CHARS_PER_TOKEN = 4
DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class Bucket:
    """A token bucket for one dimension (requests or tokens) of a per-minute limit."""

    def __init__(self, per_minute: float):
        self.per_minute = per_minute
        self.level = self.capacity
        self._at = time.monotonic()

    @property
    def rate(self) -> float:
        """Units per second."""
        return self.per_minute / 60.0

    @property
    def capacity(self) -> float:
        """The most the bucket holds: :data:`BURST_S` seconds of the rate, at least one unit."""
        return max(1.0, self.rate * BURST_S)

    def refill(self, now: float) -> None:
        """Add what the rate has earned since the last refill, up to the capacity."""
        self.level = min(self.capacity, self.level + (now - self._at) * self.rate)
        self._at = now

    def wait(self, cost: float) -> float:
        """Seconds until ``cost`` can be taken (a cost above the capacity needs a full bucket)."""
        return max(0.0, min(cost, self.capacity) - self.level) / self.rate

    def set_limit(self, per_minute: float) -> None:
        """A new limit: the rate changes at once and the level stays within the new capacity."""
        self.per_minute = per_minute
        self.level = min(self.level, self.capacity)


class RateLimiter:
    """Requests and tokens buckets for one model entry, fed by the provider's headers (module docstring)."""

    def __init__(self, rpm: float | None = None, tpm: float | None = None):
        self.requests = Bucket(rpm) if rpm else None
        self.tokens = Bucket(tpm) if tpm else None
        self.known = bool(rpm or tpm)  # False until a response (or the config) says what the limits are
        self._probe_sent_at: float | None = None
        self._held_until = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self, tokens: float) -> None:
        """Wait until a call of ``tokens`` estimated tokens may be sent, then take it from the buckets."""
        async with self._lock:  # calls are let through in arrival order
            while True:
                now = time.monotonic()
                wait = self._wait(now, tokens)
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            if self.requests:
                self.requests.level -= 1
            if self.tokens:
                self.tokens.level -= tokens
            if not self.known and self._probe_sent_at is None:
                self._probe_sent_at = now

    def _wait(self, now: float, tokens: float) -> float:
        if now < self._held_until:
            return self._held_until - now
        if not self.known and self._probe_sent_at is not None and now - self._probe_sent_at < PROBE_S:
            return 0.01  # the first response is on its way: it tells whether there are limits
        waits = [0.0]
        for bucket, cost in ((self.requests, 1.0), (self.tokens, tokens)):
            if bucket is not None:
                bucket.refill(now)
                waits.append(bucket.wait(cost))
        return max(waits)

    def observe(self, headers: Mapping[str, str] | None) -> None:
        """Take the limits and remaining budget a response states (no headers: no pacing from them)."""
        self.known = True
        if headers is None:
            return
        now = time.monotonic()
        for name in ("requests", "tokens"):
            limit, remaining = _number(headers.get(f"x-ratelimit-limit-{name}")), \
                _number(headers.get(f"x-ratelimit-remaining-{name}"))
            if not limit:
                continue
            bucket = getattr(self, name)
            if bucket is None:
                bucket = Bucket(limit)
                setattr(self, name, bucket)
            elif bucket.per_minute != limit:
                bucket.refill(now)
                bucket.set_limit(limit)
            if remaining is not None:
                bucket.refill(now)
                if bucket.level > remaining + 1:  # stricter than our count beyond its rounding down
                    bucket.level = remaining

    def correct(self, estimated: float, used: float | None) -> None:
        """Give back (or take) the difference between a call's estimated and used tokens."""
        if self.tokens is not None and used is not None:
            self.tokens.refill(time.monotonic())
            self.tokens.level = min(self.tokens.capacity, self.tokens.level + estimated - used)

    def hold(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (a 429's Retry-After): every call waits, not only the one rejected."""
        self._held_until = max(self._held_until, time.monotonic() + seconds)

    @property
    def paced(self) -> bool:
        """True when a limit is known (from the headers or the config)."""
        return self.requests is not None or self.tokens is not None


def has_limits(headers: Mapping[str, str] | None) -> bool:
    """True when a response states a requests or tokens limit."""
    return headers is not None and any(headers.get(f"x-ratelimit-limit-{n}") for n in ("requests", "tokens"))


def reset_seconds(headers: Mapping[str, str] | None) -> float | None:
    """The longest ``x-ratelimit-reset-*`` of an exhausted dimension (remaining 0), in seconds, or None."""
    if headers is None:
        return None
    resets = [duration(headers.get(f"x-ratelimit-reset-{name}")) for name in ("requests", "tokens")
              if _number(headers.get(f"x-ratelimit-remaining-{name}")) == 0]
    found = [r for r in resets if r is not None]
    return max(found) if found else None


def duration(raw: str | None) -> float | None:
    """Seconds from a reset header: ``20ms``, ``1s``, ``6m0s``, ``1h2m3.5s`` or a plain number of seconds."""
    if not raw:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    parts = DURATION.findall(raw)
    if not parts or "".join(a + b for a, b in parts) != raw:
        return None
    return sum(float(amount) * UNITS[unit] for amount, unit in parts)


def estimate_tokens(body: Mapping[str, Any]) -> float:
    """What a call counts against a tokens-per-minute limit before it runs: the prompt's characters /
    :data:`CHARS_PER_TOKEN` plus the largest output it may produce (``max_tokens`` or
    ``max_completion_tokens``; 0 when unset)."""
    chars = sum(len(str(message.get("content") or "")) for message in body.get("messages") or ())
    budget = max(int(body.get("max_tokens") or 0), int(body.get("max_completion_tokens") or 0))
    return chars / CHARS_PER_TOKEN + budget


def _number(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return None
