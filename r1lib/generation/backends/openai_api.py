"""Any OpenAI-compatible chat-completions API (OpenAI, Together, DeepSeek, OpenRouter, a vLLM server).

Calls go through the official ``openai.AsyncOpenAI`` client with its own retries switched off:
this module retries itself so that it can count attempts and adapt its concurrency.

- **Rate limits** (requests and tokens per minute): calls are paced to the budget the provider
  states in its ``x-ratelimit-*`` headers on every response, or to ``rate_limits: {rpm, tpm}`` in
  the models entry, by client-side token buckets (:mod:`r1lib.generation.backends.rate_limits`). A 429 that
  states the limits holds every call for its ``Retry-After`` (else until the exhausted budget
  resets), capped at ``options.retry_after_max_s`` (default 120 s; the wait is logged).
- **Concurrency**: at most ``max_concurrency`` calls in flight per model, a separate cap. A 429
  that states no limits halves the cap (at most once per second) and the call waits for the
  server's ``Retry-After`` (capped as above) or its backoff; every ``limit`` successes in a row
  raise it by one again, up to ``max_concurrency`` (AIMD).
- **Retries**: 429, 5xx, timeouts, connection errors, bodies the server sent malformed and
  streams cut before they finished are retried with exponential backoff and full jitter, up to
  ``options.max_attempts`` (default 6) attempts; other 4xx answers (bad request, bad key, unknown
  model) are not retried. A call that fails for good is returned as ``Completion(error=...)`` (the
  runner stores it as an error and retries it next run). Only network, HTTP and provider faults
  become error records: an exception raised by this project's own code (reading a well-formed
  response) propagates with its traceback.
- **Provider blocks**: a request the provider refuses on policy grounds (OpenAI's 400
  ``invalid_prompt``, Azure's ``content_filter``, DeepSeek's "Content Exists Risk") and a
  ``content_filter`` finish are returned once as ``Completion(blocked=...)``: never retried, never
  an error (see :data:`BLOCK_CODES` and :data:`BLOCK_MESSAGES`).
- **Streaming** (``stream`` in the model entry: ``true``, ``false`` or ``auto``, see
  :meth:`r1lib.config.settings.ModelConfig.streams`): the answer is read as server-sent chunks and the call
  gives up only after ``options.idle_timeout`` seconds (default 300) without a byte, instead of
  waiting ``options.timeout`` for the whole reply; a 30k-token R1 trace at 20 tokens/s takes 25
  minutes. Content and reasoning deltas (``reasoning_content``, ``reasoning``,
  ``reasoning_details``) are joined into the body a non-streamed call returns and read by the
  same :func:`parse_response`; usage comes from the last chunk (``stream_options.include_usage``).
  A stream cut before its finish reason (connection lost, idle timeout, an error event, a
  malformed chunk) is *interrupted*: what arrived goes to ``meta["interrupted"]`` (never into the
  answer) and the call is retried; when every attempt is cut, the error record has the finish
  reason :data:`~r1lib.core.records.INTERRUPTED_FINISH`. Providers that hide their reasoning (the
  o-series) send nothing while they think: give them an ``idle_timeout`` as long as their longest
  thinking.
- **Replicas**: ``base_url`` may list several servers; each call goes to the least busy one. A
  server gets another client (connection pool) whenever its clients all carry ``CALLS_PER_CLIENT``
  calls: httpx's pool costs CPU linear in its size on every request, so small pools cut the
  client's CPU per call by ~25% at high concurrency. The clients share one TLS context (loading
  the CA bundle costs ~25 ms of CPU per client, during which the event loop stands still).
- **Options**: ``timeout`` (seconds without a byte of a non-streamed reply, i.e. its whole
  duration; default 600), ``idle_timeout`` (the same for a streamed reply: seconds between two
  chunks; default 300), ``max_attempts`` (6), ``backoff_s`` (first backoff, 1.0), ``backoff_max_s``
  (cap, 60), ``retry_after_max_s`` (120).
- **Batch API**: a ``batch: true`` entry is sent through :mod:`r1lib.generation.backends.openai_batch`
  instead, which builds its request lines with :meth:`OpenAIBackend.request_body` and reads them
  with :func:`parse_response` and :func:`status_outcome`, so its records equal this module's.

``params`` and ``extra_body`` are merged into the request body as given (o-series entries simply
carry ``max_completion_tokens`` and no temperature; server-specific ones such as ``top_k`` pass
through). The body is posted with the client's documented ``client.post`` and read as plain JSON
(``cast_to=object``), so the client neither re-walks the messages through its type annotations
(a third of its CPU per call) nor builds response models; streamed chunks are read the same way.
The reply comes back as the client's raw response (what ``with_raw_response`` returns), for its
headers.
The reasoning is read from ``reasoning_content``, ``reasoning`` or ``reasoning_details`` (the first
non-empty). ``latency_s`` is the duration of the successful attempt.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import ssl
import time
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import openai
from openai import AsyncOpenAI, AsyncStream

from r1lib.config.settings import ModelConfig
from r1lib.core.records import INTERRUPTED_FINISH, Messages
from r1lib.generation.backends.base import Backend, Completion, register
from r1lib.generation.backends.concurrency import AdaptiveLimit, Replicas
from r1lib.generation.backends.openai_replies import is_block, parse_response, retry_after, status_outcome, well_formed
from r1lib.generation.backends.openai_stream import Interrupted, MalformedBody, StreamedReply, interrupted_meta
from r1lib.generation.backends.prefill import prefilled_body
from r1lib.generation.backends.rate_limits import RateLimiter, estimate_tokens, has_limits, reset_seconds

NO_KEY = "EMPTY"
#: The request header that makes the client return its raw response, as ``with_raw_response`` does.
RAW_RESPONSE = {"X-Stainless-Raw-Response": "true"}
LOG = logging.getLogger(__name__)


@register("openai")
class OpenAIBackend(Backend):
    """Chat completions from one or more OpenAI-compatible servers (see the module docstring)."""

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.api_key = config.api_key() or NO_KEY
        options = config.options
        self.timeout = float(options.get("timeout", 600))
        self.idle_timeout = float(options.get("idle_timeout", 300))
        self.max_attempts = max(1, int(options.get("max_attempts", 6)))
        self.backoff_s = float(options.get("backoff_s", 1.0))
        self.backoff_max_s = float(options.get("backoff_max_s", 60.0))
        self.retry_after_max_s = float(options.get("retry_after_max_s", 120.0))
        self.streaming = config.streams()
        self.body: dict[str, Any] = {"model": config.model, **config.params, **config.extra_body}
        if self.streaming:
            self.body.update(stream=True, stream_options={"include_usage": True})
        self._limits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[AdaptiveLimit, RateLimiter]] = (
            weakref.WeakKeyDictionary())

    def request_body(self, messages: Messages) -> dict[str, Any]:
        """The chat-completions body of one non-streamed call (what a Batch API line carries)."""
        body = {**self.body, **prefilled_body(self.config, messages)}
        body.pop("stream", None)
        body.pop("stream_options", None)
        return body

    def generate(self, conversations: Sequence[Messages]) -> AsyncIterator[tuple[int, Completion]]:
        """Yield ``(index, completion)`` as calls finish, at most ``limit`` at a time.

        The clients live for one call of this method: an event loop (e.g. one per ``run_sync``)
        must not outlive the connections it opened.
        """
        return self._generate(conversations, None)  # type: ignore[return-value]  # no admit: never None

    def generate_admitted(self, conversations: Sequence[Messages],
                          admit: Callable[[int], bool]) -> AsyncIterator[tuple[int, Completion | None]]:
        """:meth:`generate`, asking ``admit(index)`` right before each call is first sent (not per retry);
        a refused conversation is yielded as ``(index, None)`` without being sent."""
        return self._generate(conversations, admit)

    async def _generate(self, conversations: Sequence[Messages],
                        admit: Callable[[int], bool] | None) -> AsyncIterator[tuple[int, Completion | None]]:
        if not conversations:
            return
        limit, pacer = self._limit()
        replicas = Replicas(self.config.base_url or (None,), self._client)
        results: asyncio.Queue[tuple[int, Completion | None] | BaseException] = asyncio.Queue()
        pending = iter(enumerate(conversations))

        async def worker() -> None:
            try:
                for index, messages in pending:
                    if admit is not None and not admit(index):
                        await results.put((index, None))
                        continue
                    await results.put((index, await self._complete(messages, replicas, limit, pacer)))
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
        return AsyncOpenAI(base_url=base_url, api_key=self.api_key, max_retries=0,
                           timeout=self.idle_timeout if self.streaming else self.timeout,
                           http_client=http_client)

    def _limit(self) -> tuple["AdaptiveLimit", RateLimiter]:
        """The concurrency limit and the rate limiter shared by every ``generate`` call in the running
        event loop."""
        loop = asyncio.get_running_loop()
        if loop not in self._limits:
            rates = self.config.rate_limits or {}
            self._limits[loop] = (AdaptiveLimit(self.config.max_concurrency),
                                  RateLimiter(rates.get("rpm"), rates.get("tpm")))
        return self._limits[loop]

    async def _complete(self, messages: Messages, replicas: "Replicas", limit: "AdaptiveLimit",
                        pacer: RateLimiter) -> Completion:
        """One conversation, retried until it succeeds or ``max_attempts`` is reached.

        Provider faults become ``Completion(error=...)``; an exception from this project's own
        code (e.g. reading a well-formed response) propagates.
        """
        error = ""
        interrupted: list[dict[str, Any]] = []  # what arrived of each cut stream
        estimate = estimate_tokens({**self.body, **prefilled_body(self.config, messages)})
        for attempt in range(1, self.max_attempts + 1):
            wait: float | None = None
            cut = False
            async with limit:
                await pacer.acquire(estimate)
                started = time.perf_counter()
                headers = None
                try:
                    replica = replicas.pick()
                    async with replica:
                        if self.streaming:
                            body = await self._stream(replica.client, messages, pacer)
                        else:
                            body, headers = await self._post(replica.client, messages)
                except Interrupted as exc:
                    if exc.arrived:
                        interrupted.append(exc.entry(attempt))
                    if exc.blocked is not None:
                        return Completion(blocked=exc.blocked, attempts=attempt, meta=interrupted_meta(interrupted),
                                          latency_s=time.perf_counter() - started)
                    error, cut = f"interrupted: {exc.reason}", True
                except openai.RateLimitError as exc:
                    wait = self._rate_limited(exc.response.headers, estimate, limit, pacer, attempt)
                    error = f"rate limited (429): {_message(exc)}"
                except openai.APITimeoutError:
                    error = (f"no reply for {self.idle_timeout:g} s (options.idle_timeout)" if self.streaming
                             else f"timed out after {self.timeout:g} s (options.timeout)")
                except openai.APIConnectionError as exc:
                    error = (f"cannot connect to {replica.client.base_url} ({_cause(exc)}); check "
                             "base_url and that the server is running")
                except openai.APIStatusError as exc:
                    pacer.observe(exc.response.headers)
                    final = status_outcome(exc.status_code, exc.code, _message(exc), self.config)
                    if final is not None:
                        final.attempts, final.meta = attempt, interrupted_meta(interrupted)
                        if final.blocked is not None:
                            final.latency_s = time.perf_counter() - started
                        return final
                    error = f"HTTP {exc.status_code}: {_message(exc)}"
                except MalformedBody as exc:
                    error = str(exc)
                else:
                    if not well_formed(body):
                        error = "malformed response body (no choices)"
                    else:
                        completion = parse_response(body)
                        pacer.correct(estimate, _used_tokens(completion))
                        if not self.streaming:  # a stream's headers were read when it started
                            pacer.observe(headers)
                        completion.latency_s = time.perf_counter() - started
                        completion.attempts = attempt
                        completion.meta = interrupted_meta(interrupted)
                        limit.succeeded()
                        return completion
            if attempt < self.max_attempts:
                await asyncio.sleep(wait if wait is not None else self._backoff(attempt))
        return Completion(error=f"failed after {self.max_attempts} attempts: {error}",
                          finish_reason=INTERRUPTED_FINISH if cut else None,
                          attempts=self.max_attempts, meta=interrupted_meta(interrupted))

    async def _post(self, client: AsyncOpenAI, messages: Messages) -> tuple[Any, Any]:
        """One non-streamed call: the reply body as plain JSON, and the reply's headers."""
        body = {**self.body, **prefilled_body(self.config, messages)}  # with an arm's assistant pre-fill
        response = await client.post("/chat/completions", cast_to=object, body=body, options={"headers": RAW_RESPONSE})
        try:
            return response.parse(), response.headers
        except (openai.APIResponseValidationError, ValueError) as exc:  # body decoding, inside the client
            raise MalformedBody(f"malformed response body ({type(exc).__name__}: {exc})") from None

    async def _stream(self, client: AsyncOpenAI, messages: Messages, pacer: RateLimiter) -> dict[str, Any]:
        """One streamed call, joined into the body a non-streamed call returns.

        The reply's headers go to ``pacer`` as soon as the stream starts. Faults before the reply
        starts raise the client's exceptions, as a non-streamed call does; once chunks flow, any
        fault raises :class:`Interrupted` with what arrived. Only the client's reading of the next
        chunk is guarded, so a bug in :class:`StreamedReply` still raises.
        """
        stream = await client.post("/chat/completions", cast_to=object, stream=True, stream_cls=AsyncStream[object],
                                   body={**self.body, **prefilled_body(self.config, messages)})
        pacer.observe(stream.response.headers)
        reply = StreamedReply()
        chunks = stream.__aiter__()
        try:
            while True:
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    break
                except openai.APITimeoutError:
                    if not reply.chunks:  # nothing arrived: the same fault as a non-streamed call's
                        raise
                    raise Interrupted(f"no bytes for {self.idle_timeout:g} s (options.idle_timeout)", reply) from None
                except openai.APIConnectionError as exc:
                    if not reply.chunks:
                        raise
                    raise Interrupted(f"connection lost mid-stream ({_cause(exc)})", reply) from None
                except openai.APIError as exc:  # an error event inside the stream
                    message = _message(exc)
                    blocked = f"{exc.code or 'blocked'}: {message}" if is_block(exc.code, message) else None
                    raise Interrupted(f"error event: {message}", reply, blocked=blocked) from None
                except ValueError as exc:  # a chunk that is not JSON
                    if not reply.chunks:
                        raise MalformedBody(f"malformed response body ({type(exc).__name__}: {exc})") from None
                    raise Interrupted(f"malformed chunk ({type(exc).__name__}: {exc})", reply) from None
                if not isinstance(chunk, dict):
                    raise Interrupted(f"malformed chunk (a JSON {type(chunk).__name__}, not an object)", reply)
                reply.add(chunk)
        finally:
            await stream.close()
        if reply.finish_reason is None:
            raise Interrupted("the stream ended before a finish reason", reply)
        return reply.body()

    def _rate_limited(self, headers: Any, estimate: float, limit: "AdaptiveLimit", pacer: RateLimiter,
                      attempt: int) -> float | None:
        """After a 429: what this call waits before its next attempt (None: its backoff).

        A 429 that states the limits holds every call (the pacer) for its Retry-After, else until
        the exhausted budget resets, else for the backoff; one that states none halves the
        concurrency cap and the call waits for its Retry-After or backoff.
        """
        pacer.correct(estimate, 0)  # a rejected call used no tokens; the headers below say what remains
        pacer.observe(headers)
        if not has_limits(headers):
            limit.rate_limited()
            return self._retry_wait(headers)
        wait = self._retry_wait(headers, reset_seconds(headers))
        pacer.hold(wait if wait is not None else self._backoff(attempt))
        return 0.0

    def _retry_wait(self, headers: Any, fallback: float | None = None) -> float | None:
        """The server's Retry-After (else ``fallback``), capped at ``retry_after_max_s``; the wait is logged."""
        asked = retry_after(headers)
        if asked is None:
            asked = fallback
        if asked is None:
            return None
        wait = min(asked, self.retry_after_max_s)
        LOG.info("%s: rate limited; waiting %.2f s (server asked %g s, cap %g s)", self.config.name,
                 wait, asked, self.retry_after_max_s)
        return wait

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter."""
        return random.uniform(0, min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1)))


def _used_tokens(completion: Completion) -> int | None:
    """Prompt plus output tokens of a completion, as its usage reported them (None when it did not)."""
    if completion.prompt_tokens is None or completion.completion_tokens is None:
        return None
    return completion.prompt_tokens + completion.completion_tokens


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The HTTP library's default TLS context (honours SSL_CERT_FILE / SSL_CERT_DIR), built once."""
    try:  # openai >= 3 sends through httpx2, older versions through httpx
        from httpx2 import create_ssl_context
    except ImportError:
        from httpx import create_ssl_context
    return create_ssl_context()


def _message(exc: openai.APIError) -> str:
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


