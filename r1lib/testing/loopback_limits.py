"""The loopback server's rate limits: requests-per-minute and tokens-per-minute buckets that answer with
OpenAI's 429 body and ``x-ratelimit-*`` headers, changeable mid-run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from r1lib.testing.replies import Reply, word_count


@dataclass
class RateBucket:
    """A server-side per-minute limit: ``per_minute`` units refilled continuously, ``burst_s`` seconds held."""

    per_minute: float
    burst_s: float
    level: float = -1.0  # -1: full
    at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.level < 0:
            self.level = self.capacity

    @property
    def capacity(self) -> float:
        return max(1.0, self.per_minute / 60.0 * self.burst_s)

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.at) * self.per_minute / 60.0)
        self.at = now

    def seconds_until(self, amount: float) -> float:
        """Seconds until ``amount`` fits (an amount above the capacity: until the bucket is full)."""
        return max(0.0, min(amount, self.capacity) - self.level) * 60.0 / self.per_minute


def reset_text(seconds: float) -> str:
    """A duration as OpenAI's ``x-ratelimit-reset-*`` headers write it: ``20ms``, ``1.5s``, ``2m3s``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    return (f"{int(minutes)}m" if minutes else "") + f"{rest:.3g}s"


def reserved_tokens(request: dict[str, Any]) -> float:
    """The tokens a request reserves on arrival: its prompt's words plus its output budget."""
    prompt = sum(word_count(str(m.get("content") or "")) for m in request.get("messages") or [])
    return prompt + max(int(request.get("max_tokens") or 0), int(request.get("max_completion_tokens") or 0))


def used_tokens(reply: Reply) -> float:
    """Prompt plus completion tokens of a successful reply, from its usage (the last usage chunk of a stream)."""
    for part in reversed(reply.parts[-3:]):  # a stream ends with its usage chunk and [DONE]
        text = part[len(b"data: "):] if part.startswith(b"data: ") else part
        try:
            usage = json.loads(text).get("usage")
        except ValueError:
            continue
        if usage:
            return float(usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0))
    return 0.0


class RateLimits:
    """RPM / TPM limits of :class:`~r1lib.testing.loopback.LoopbackServer` (it holds the buckets and lock)."""

    def set_limits(self, *, rpm: float | None = None, tpm: float | None = None) -> None:
        """Set (or, with None, remove) the requests- and tokens-per-minute limits; safe to call while serving.

        A bucket that stays keeps its level, within the new capacity."""
        with self._lock:
            now = time.monotonic()
            for name, per_minute in (("requests", rpm), ("tokens", tpm)):
                bucket = self._buckets.get(name)
                if not per_minute:
                    self._buckets.pop(name, None)
                elif bucket is None:
                    self._buckets[name] = RateBucket(per_minute, self.burst_s)
                else:
                    bucket.refill(now)
                    bucket.per_minute = per_minute
                    bucket.level = min(bucket.level, bucket.capacity)

    def _reserve(self, tokens: float) -> tuple[str | None, float, dict[str, str]]:
        """Take one request and ``tokens`` from the buckets, or name the one that is short.

        Returns (the exhausted bucket or None, seconds until the request would fit, rate-limit headers)."""
        with self._lock:
            now = time.monotonic()
            costs = {"requests": 1.0, "tokens": tokens}
            for bucket in self._buckets.values():
                bucket.refill(now)
            short = [(name, b.seconds_until(costs[name])) for name, b in self._buckets.items()
                     if b.level < min(costs[name], b.capacity)]
            if not short:
                for name, bucket in self._buckets.items():
                    bucket.level -= costs[name]
            headers = self._limit_headers()
        if short:
            name, wait = max(short, key=lambda item: item[1])
            return name, wait, headers
        return None, 0.0, headers

    def _settle(self, reserved: float, used: float) -> None:
        """Give back the reserved tokens a reply did not use."""
        with self._lock:
            bucket = self._buckets.get("tokens")
            if bucket is not None:
                bucket.refill(time.monotonic())
                bucket.level = min(bucket.capacity, bucket.level + reserved - used)
            self._counts["tokens_used"] += int(used)

    def _limit_headers(self) -> dict[str, str]:
        """OpenAI's ``x-ratelimit-*`` headers for the buckets as they are (call with the lock held)."""
        if not self.limit_headers:
            return {}
        headers: dict[str, str] = {}
        for name, bucket in self._buckets.items():
            headers[f"x-ratelimit-limit-{name}"] = f"{bucket.per_minute:g}"
            headers[f"x-ratelimit-remaining-{name}"] = str(max(0, int(bucket.level)))
            headers[f"x-ratelimit-reset-{name}"] = reset_text(bucket.seconds_until(bucket.capacity))
        return headers
