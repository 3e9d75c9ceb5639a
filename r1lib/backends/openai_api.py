"""Any OpenAI-compatible chat-completions API (OpenAI, Together, DeepSeek, OpenRouter, a vLLM server).

Calls go through the official ``openai.AsyncOpenAI`` client with its own retries switched off:
this module retries itself so that it can count attempts and adapt its concurrency.

- **Concurrency**: at most ``max_concurrency`` calls in flight per model. A 429 halves the limit
  (at most once per second) and the call waits for the server's ``Retry-After`` (capped at
  ``options.retry_after_max_s``, default 120 s; the wait is logged); every ``limit`` successes in
  a row raise it by one again, up to ``max_concurrency`` (AIMD).
- **Retries**: 429, 5xx, timeouts, connection errors and bodies the server sent malformed are
  retried with exponential backoff and full jitter, up to ``options.max_attempts`` (default 6)
  attempts; other 4xx answers (bad request, bad key, unknown model) are not retried. A call that
  fails for good is returned as ``Completion(error=...)`` (the runner stores it as an error and
  retries it next run). Only network, HTTP and provider faults become error records: an exception
  raised by this project's own code (reading a well-formed response) propagates with its traceback.
- **Provider blocks**: a request the provider refuses on policy grounds (OpenAI's 400
  ``invalid_prompt``, Azure's ``content_filter``, DeepSeek's "Content Exists Risk") and a
  ``content_filter`` finish are returned once as ``Completion(blocked=...)``: never retried, never
  an error (see :data:`BLOCK_CODES` and :data:`BLOCK_MESSAGES`).
- **Replicas**: ``base_url`` may list several servers; each call goes to the least busy one. A
  server gets another client (connection pool) whenever its clients all carry ``CALLS_PER_CLIENT``
  calls: httpx's pool costs CPU linear in its size on every request, so small pools cut the
  client's CPU per call by ~25% at high concurrency. The clients share one TLS context (loading
  the CA bundle costs ~25 ms of CPU per client, during which the event loop stands still).
- **Options**: ``timeout`` (seconds per attempt, default 600), ``max_attempts`` (6),
  ``backoff_s`` (first backoff, 1.0), ``backoff_max_s`` (cap, 60), ``retry_after_max_s`` (120).

``params`` and ``extra_body`` are merged into the request body as given (o-series entries simply
carry ``max_completion_tokens`` and no temperature; server-specific ones such as ``top_k`` pass
through). The body is posted with the client's documented ``client.post``, so the client does not
re-walk the messages through its type annotations (a third of its CPU per call). The reasoning is
read from ``reasoning_content``, ``reasoning`` or ``reasoning_details`` (the first non-empty).
``latency_s`` is the duration of the successful attempt.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import random
import ssl
import time
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from email.utils import parsedate_to_datetime
from typing import Any

import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion

from r1lib.backends.base import Backend, Completion
from r1lib.config import ModelConfig
from r1lib.records import Messages

NO_KEY = "EMPTY"
#: Concurrent calls per client (connection pool); see the module docstring.
CALLS_PER_CLIENT = 8
#: Error codes of a 400 reply that mean the provider refused the prompt on policy grounds.
BLOCK_CODES = frozenset({"invalid_prompt", "content_filter", "content_policy_violation"})
#: Phrases of a 400 error message that mean the same where the provider sends no such code.
BLOCK_MESSAGES = ("content exists risk", "flagged as potentially violating", "content management policy")
LOG = logging.getLogger(__name__)


class OpenAIBackend(Backend):
    """Chat completions from one or more OpenAI-compatible servers (see the module docstring)."""

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.api_key = config.api_key() or NO_KEY
        options = config.options
        self.timeout = float(options.get("timeout", 600))
        self.max_attempts = max(1, int(options.get("max_attempts", 6)))
        self.backoff_s = float(options.get("backoff_s", 1.0))
        self.backoff_max_s = float(options.get("backoff_max_s", 60.0))
        self.retry_after_max_s = float(options.get("retry_after_max_s", 120.0))
        self.body: dict[str, Any] = {"model": config.model, **config.params, **config.extra_body}
        self._limits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AdaptiveLimit] = (
            weakref.WeakKeyDictionary())

    async def generate(self, conversations: Sequence[Messages]) -> AsyncIterator[tuple[int, Completion]]:
        """Yield ``(index, completion)`` as calls finish, at most ``limit`` at a time.

        The clients live for one call of this method: an event loop (e.g. one per ``run_sync``)
        must not outlive the connections it opened.
        """
        if not conversations:
            return
        limit = self._limit()
        replicas = Replicas(self.config.base_url or (None,), self._client)
        results: asyncio.Queue[tuple[int, Completion] | BaseException] = asyncio.Queue()
        pending = iter(enumerate(conversations))

        async def worker() -> None:
            try:
                for index, messages in pending:
                    await results.put((index, await self._complete(messages, replicas, limit)))
            except Exception as exc:  # a bug in this project's code: re-raised by the consumer below
                await results.put(exc)

        workers = [asyncio.create_task(worker())
                   for _ in range(min(self.config.max_concurrency, len(conversations)))]
        try:
            for _ in range(len(conversations)):
                result = await results.get()
                if isinstance(result, BaseException):
                    raise result
                yield result
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            await replicas.aclose()

    def _client(self, base_url: str | None) -> AsyncOpenAI:
        http_client = openai.DefaultAsyncHttpxClient(verify=tls_context())
        return AsyncOpenAI(base_url=base_url, api_key=self.api_key, max_retries=0, timeout=self.timeout,
                           http_client=http_client)

    def _limit(self) -> "AdaptiveLimit":
        """The concurrency limit shared by every ``generate`` call in the running event loop."""
        loop = asyncio.get_running_loop()
        if loop not in self._limits:
            self._limits[loop] = AdaptiveLimit(self.config.max_concurrency)
        return self._limits[loop]

    async def _complete(self, messages: Messages, replicas: "Replicas", limit: "AdaptiveLimit") -> Completion:
        """One conversation, retried until it succeeds or ``max_attempts`` is reached.

        Provider faults become ``Completion(error=...)``; an exception from this project's own
        code (e.g. reading a well-formed response) propagates.
        """
        error = ""
        for attempt in range(1, self.max_attempts + 1):
            wait: float | None = None
            async with limit:
                started = time.perf_counter()
                try:
                    replica = replicas.pick()
                    async with replica:
                        response = await replica.client.post(
                            "/chat/completions", cast_to=ChatCompletion,
                            body={**self.body, "messages": messages})
                except openai.RateLimitError as exc:
                    limit.rate_limited()
                    wait = self._retry_wait(exc.response.headers)
                    error = f"rate limited (429): {_message(exc)}"
                except openai.APITimeoutError:
                    error = f"timed out after {self.timeout:g} s (options.timeout)"
                except openai.APIConnectionError as exc:
                    error = (f"cannot connect to {replica.client.base_url} ({_cause(exc)}); check "
                             "base_url and that the server is running")
                except openai.APIStatusError as exc:
                    if exc.status_code == 400 and is_block(exc.code, _message(exc)):
                        return Completion(blocked=f"{exc.code or 'blocked'}: {_message(exc)}", attempts=attempt,
                                          latency_s=time.perf_counter() - started)
                    error = f"HTTP {exc.status_code}: {_message(exc)}"
                    if exc.status_code < 500 and exc.status_code not in (408, 409):
                        return Completion(error=error + _status_hint(exc.status_code, self.config),
                                          attempts=attempt)
                except (openai.APIResponseValidationError, ValueError) as exc:  # body decoding, inside the client
                    error = f"malformed response body ({type(exc).__name__}: {exc})"
                else:
                    if not getattr(response, "choices", None):
                        error = "malformed response body (no choices)"
                    else:
                        completion = parse_response(response)
                        completion.latency_s = time.perf_counter() - started
                        completion.attempts = attempt
                        limit.succeeded()
                        return completion
            if attempt < self.max_attempts:
                await asyncio.sleep(wait if wait is not None else self._backoff(attempt))
        return Completion(error=f"failed after {self.max_attempts} attempts: {error}",
                          attempts=self.max_attempts)

    def _retry_wait(self, headers: Any) -> float | None:
        """The server's Retry-After, capped at ``retry_after_max_s``; the wait is logged."""
        asked = retry_after(headers)
        if asked is None:
            return None
        wait = min(asked, self.retry_after_max_s)
        LOG.info("%s: rate limited; waiting %.2f s (server asked %g s, cap %g s)", self.config.name,
                 wait, asked, self.retry_after_max_s)
        return wait

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter."""
        return random.uniform(0, min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1)))


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


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The HTTP library's default TLS context (honours SSL_CERT_FILE / SSL_CERT_DIR), built once."""
    try:  # openai >= 3 sends through httpx2, older versions through httpx
        from httpx2 import create_ssl_context
    except ImportError:
        from httpx import create_ssl_context
    return create_ssl_context()


def parse_response(response: Any) -> Completion:
    """A completion from a chat-completions response that has at least one choice.

    A ``content_filter`` finish is a provider block (``blocked`` set, text kept if any).
    """
    choice = response.choices[0]
    message = choice.message
    usage = response.usage
    details = getattr(usage, "completion_tokens_details", None) if usage else None
    blocked = "content_filter: the provider filtered the output" if choice.finish_reason == "content_filter" else None
    return Completion(
        text=(message.content or "") if message else "",
        reasoning=reasoning_text(message) if message else None,
        finish_reason=choice.finish_reason,
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
        reasoning_tokens=getattr(details, "reasoning_tokens", None),
        blocked=blocked)


def is_block(code: str | None, message: str) -> bool:
    """True when a 400 error is the provider refusing the prompt on policy grounds."""
    lowered = message.lower()
    return (code or "") in BLOCK_CODES or any(phrase in lowered for phrase in BLOCK_MESSAGES)


def reasoning_text(message: Any) -> str | None:
    """The first non-empty of ``reasoning_content``, ``reasoning`` and ``reasoning_details`` texts."""
    for name in ("reasoning_content", "reasoning"):
        value = getattr(message, name, None)
        if isinstance(value, str) and value.strip():
            return value
    details = getattr(message, "reasoning_details", None)
    if isinstance(details, list):
        texts = [d.get("text") or d.get("summary") or "" for d in details if isinstance(d, dict)]
        joined = "\n".join(t for t in texts if isinstance(t, str) and t)
        if joined.strip():
            return joined
    return None


def retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return max(0.0, float(raw) / scale)
        except ValueError:
            pass
        try:
            return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
        except (TypeError, ValueError):
            pass
    return None


def _message(exc: openai.APIStatusError) -> str:
    """The server's error message (the client already unwrapped ``{"error": {...}}``)."""
    body = exc.body
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])[:300]
    return str(exc)[:300]


def _cause(exc: BaseException) -> str:
    """The innermost cause of a connection error, e.g. 'Connection refused'."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc) or type(exc).__name__


def _status_hint(status: int, config: ModelConfig) -> str:
    if status in (401, 403):
        where = f"the key in {config.api_key_env}" if config.api_key_env else "api_key_env in the models file"
        return f"; check {where}"
    if status == 404:
        return f"; check the model name {config.model!r} and base_url of {config.name!r}"
    return ""
