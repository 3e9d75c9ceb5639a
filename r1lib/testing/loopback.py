"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests and performance scripts.

It speaks just enough HTTP/1.1 (keep-alive, ``Content-Length`` request bodies, chunked streaming
replies) to serve the official ``openai`` client, from an asyncio event loop in a background
thread: ``POST /v1/chat/completions`` (plain or streamed), ``GET /v1/models``, and the Batch API
(``POST /v1/files``, ``GET /v1/files/ID/content``, ``POST /v1/batches``, ``GET /v1/batches[/ID]``).
Start it as a context manager::

    from r1lib.testing import LoopbackServer, loopback_model

    with LoopbackServer(behaviour="deepseek", fault_rate=0.2, seed=1) as server:
        config = loopback_model(server.base_url)  # a models entry pointing at the server
        ...
        server.counts["ok"]          # successful responses sent

**Behaviours** (how a successful reply looks). The behaviour of a request is, in order: a marker
``[[behaviour:NAME]]`` anywhere in its messages, else the request's ``model`` when it is a behaviour
name, else the behaviour ``routes`` gives the request's ``model`` (a mapping of served model ids to
behaviours, e.g. :data:`~r1lib.testing.loopback_chat.MODEL_ROUTES`), else the server's ``behaviour``
argument; a request whose ``chat_template_kwargs`` set ``enable_thinking: false`` gets ``plain``
instead of a thinking behaviour (Qwen3 on vLLM with thinking switched off). Thinking and answer
texts are :func:`scripted_thinking` / :func:`scripted_answer` of the last user message, so tests can check the
split exactly.

- ``deepseek``: answer in ``content``, thinking in ``message.reasoning_content``;
- ``vllm``: thinking in ``message.reasoning``;
- ``reasoning_details``: thinking in ``message.reasoning_details`` (a list of ``{"type", "text"}``);
- ``tags``: ``<think>\\nTHINKING\\n</think>\\n\\nANSWER`` in ``content``;
- ``bare_close``: ``THINKING\\n</think>\\n\\nANSWER`` (the template opened the block);
- ``truncated``: ``<think>\\nTHINKING`` with ``finish_reason: length``;
- ``empty_think``: ``<think>\\n\\n</think>\\n\\nANSWER``;
- ``hidden``: only ``ANSWER``, with ``usage.completion_tokens_details.reasoning_tokens`` (o3-mini);
- ``content_filter``: ``content: null`` and ``finish_reason: content_filter``;
- ``prompt_filter``: status 400 with error code ``content_filter`` (Azure's prompt filter);
- ``invalid_prompt``: status 400 with error code ``invalid_prompt`` (OpenAI blocking a prompt, as
  o3-mini does for some unsafe prompts);
- ``plain``: only ``ANSWER``, no reasoning.

**Custom responder.** ``LoopbackServer(responder=fn)`` calls ``fn(request_json)`` for every
request that is not faulted; it returns the assistant ``content`` as a string, or a dict with any
of ``content``, ``reasoning_content``, ``reasoning``, ``reasoning_details`` (message fields) and
``finish_reason`` / ``reasoning_tokens`` (placed in the choice and in usage), or a dict
``{"error": {"status": 400, "code": ..., "message": ...}}`` for an error reply (e.g. a provider
refusing the prompt). Use it to script a judge model from the request's messages. An exception in
the responder becomes a 500 reply.

**Streaming.** A request with ``stream: true`` gets the same reply as server-sent events: a role
chunk, one chunk per token (a word with its following whitespace) of each reasoning field, then
of the content, a finish chunk, a usage chunk when ``stream_options.include_usage`` is set, and
``data: [DONE]``. ``stream_tps`` paces the chunks (tokens per second; None sends them at once).

**Faults.** With ``fault_rate`` r, each request is faulted with probability r, the kind drawn
uniformly from ``faults``. The draw is a hash of ``seed``, the last user message and how many times
that message was received before, so a run's faults do not depend on arrival order. A marker
``[[fault:KIND]]`` in the messages faults every request carrying it; ``[[fault:KIND:N]]`` only the
first N receipts of that message. Kinds:

- ``429``: status 429 with ``Retry-After: <retry_after seconds>`` (a decimal number);
- ``500``: status 500 with an OpenAI-style error body;
- ``slow``: waits ``slow_s`` seconds before answering (past the client's timeout);
- ``drop``: closes the connection after reading the request, without a reply;
- ``malformed``: status 200 with a truncated JSON body (streamed: a truncated JSON chunk);
- ``cut`` (in :data:`STREAM_FAULTS`): sends the first half of the reply (of its chunks when
  streamed, of its bytes otherwise), then closes the connection;
- ``stall`` (in :data:`STREAM_FAULTS`): sends the first half, then nothing for ``slow_s`` seconds
  without closing, then closes.

The default ``faults`` are :data:`FAULTS`; the stream faults are used only when asked for.

**Batch API.** An uploaded JSONL file (``purpose=batch``) of chat-completions lines becomes a batch
that stays ``in_progress`` for ``batch_delay`` seconds, then runs every line as a non-streamed
request (same behaviours, markers and faults; a fault other than 429 becomes a 500 line) and
completes, with successful lines in the output file and failed ones (status not 200) in the error
file. The next ``expire_batches`` batches created expire instead: only their first half runs, the
other lines go to the error file with code ``batch_expired``. ``server.batches`` lists the batches.

**Load shaping.** ``latency`` seconds are added to every reply (or, when ``latency`` is a function,
what it returns for the request's JSON: e.g. a duration drawn per model and output length); at
most ``max_concurrent`` replies are in preparation at once (the others queue), so throughput is
capped at ``max_concurrent / latency`` requests per second.

**Rate limits.** ``rpm`` and ``tpm`` set requests- and tokens-per-minute limits, enforced as
OpenAI does: token buckets refilled at ``limit / 60`` per second holding ``burst_s`` seconds of it
(default 1 s: 3,000 RPM is 50 requests at once, then 50 per second). A request reserves one
request and its tokens (prompt words plus its ``max_tokens`` or ``max_completion_tokens``) when it
arrives; the reply settles the reservation to the tokens it used (prompt plus completion, as its
``usage`` says; a fault gives it all back). A request over the budget gets OpenAI's 429 body
(``code: rate_limit_exceeded``, ``type: requests`` or ``tokens``) with ``Retry-After`` (seconds
until it would fit). Every chat reply, success or 429, carries
``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` (reset as OpenAI writes it, e.g.
``20ms``, ``1.5s``) for each limit set; ``limit_headers=False`` sends none of these headers and no
``Retry-After`` (a provider that states nothing). :meth:`LoopbackServer.set_limits` changes the
limits mid-run; rejected requests are counted as ``rate_limited``.

**Counters.** ``server.counts`` (a :class:`collections.Counter` snapshot) holds ``requests`` (every
chat request read, batch lines included), ``ok`` (successful replies, a prompt filter included),
``behaviour:NAME`` per successful reply (``behaviour:custom`` for the responder), ``fault:KIND``
per fault (``fault:responder`` when the responder raised), ``streamed`` per streamed request, and
``files:upload``, ``files:content``, ``batches:create``, ``batches:retrieve``, ``batches:list``
per Batch API call, ``rate_limited`` per request rejected by ``rpm`` / ``tpm`` and, with a limit set,
``tokens_used`` (the prompt and completion tokens of the replies, as the tokens bucket counts them).
``server.answered`` counts successful replies per last user message. With ``keep_requests=True``,
``server.requests`` lists the JSON body of every chat request read, in arrival order (e.g. to check
the ``extra_body`` an entry sends).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qs

from r1lib.core.errors import UserError
from r1lib.testing.loopback_batch import BatchImitation
from r1lib.testing.loopback_chat import BEHAVIOURS, FAULTS, STREAM_FAULTS, ChatImitation
from r1lib.testing.loopback_limits import RateBucket, RateLimits
from r1lib.testing.replies import REASONS, Reply, error_reply, json_reply

Responder = Callable[[dict[str, Any]], "str | dict[str, Any]"]


class LoopbackServer(ChatImitation, BatchImitation, RateLimits):
    """An OpenAI-compatible chat-completions and Batch API server on 127.0.0.1 (a free port, or ``port``).

    See the module docstring for behaviours, streaming, faults, batches, the custom responder and
    counters.
    """

    def __init__(self, *, behaviour: str = "deepseek", responder: Responder | None = None,
                 fault_rate: float = 0.0, faults: Sequence[str] = FAULTS, seed: int = 0,
                 latency: float | Callable[[dict[str, Any]], float] = 0.0, max_concurrent: int | None = None,
                 retry_after: float = 0.2, slow_s: float = 5.0, stream_tps: float | None = None,
                 batch_delay: float = 0.0, expire_batches: int = 0, rpm: float | None = None,
                 tpm: float | None = None, burst_s: float = 1.0, limit_headers: bool = True,
                 routes: dict[str, str] | None = None, keep_requests: bool = False, port: int = 0):
        for name in (behaviour, *(routes or {}).values()):
            if name not in BEHAVIOURS:
                raise UserError(f"unknown loopback behaviour {name!r}; choose one of {', '.join(BEHAVIOURS)}")
        unknown = set(faults) - set(FAULTS + STREAM_FAULTS)
        if unknown:
            raise UserError(f"unknown loopback faults {sorted(unknown)}; choose from "
                            f"{', '.join(FAULTS + STREAM_FAULTS)}")
        self.behaviour = behaviour
        self.routes = dict(routes or {})
        self.keep_requests = keep_requests
        self._requests: list[dict[str, Any]] = []
        self.responder = responder
        self.fault_rate = fault_rate
        self.faults = tuple(faults)
        self.seed = seed
        self.latency = latency
        self.max_concurrent = max_concurrent
        self.retry_after = retry_after
        self.slow_s = slow_s
        self.stream_tps = stream_tps
        self.batch_delay = batch_delay
        self.expire_batches = expire_batches
        self.burst_s = burst_s
        self.limit_headers = limit_headers
        self._buckets: dict[str, RateBucket] = {}
        self._bind_port = port  # 0: a free port chosen by the system
        self.port: int | None = None
        self._counts: Counter[str] = Counter()
        self._answered: Counter[str] = Counter()
        self._seen: Counter[str] = Counter()
        self._files: dict[str, bytes] = {}
        self._batches: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.set_limits(rpm=rpm, tpm=tpm)
        self._gate: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The URL to give an OpenAI client (``http://127.0.0.1:PORT/v1``)."""
        if self.port is None:
            raise RuntimeError("the loopback server is not running; use it as a context manager or call start()")
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "LoopbackServer":
        """Start serving in a background thread; returns once the port is bound."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            try:
                asyncio.run(self._serve(ready))
            except BaseException as exc:  # reported to start() when binding failed
                failure.append(exc)
                ready.set()

        self._thread = threading.Thread(target=serve, name="loopback-server", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop serving and join the thread (pending replies are cancelled)."""
        if self._loop and self._stopped and self._thread and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> "LoopbackServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- counters ----------------------------------------------------------------------------
    @property
    def counts(self) -> Counter[str]:
        """A snapshot of the request counters."""
        with self._lock:
            return Counter(self._counts)

    @property
    def answered(self) -> Counter[str]:
        """A snapshot of successful replies per last user message."""
        with self._lock:
            return Counter(self._answered)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """A snapshot of the chat request bodies read (only with ``keep_requests=True``)."""
        with self._lock:
            return list(self._requests)

    def reset_counts(self) -> None:
        """Zero every counter (fault draws restart too)."""
        with self._lock:
            self._counts.clear()
            self._answered.clear()
            self._seen.clear()

    def _count(self, *keys: str) -> None:
        with self._lock:
            self._counts.update(keys)

    # -- serving -----------------------------------------------------------------------------
    async def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self._gate = asyncio.Semaphore(self.max_concurrent) if self.max_concurrent else None
        connections: set[asyncio.Task[None]] = set()

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            connections.add(task)
            try:
                await self._connection(reader, writer)
            except (ConnectionError, ValueError, asyncio.IncompleteReadError, asyncio.CancelledError):
                pass
            finally:
                connections.discard(task)
                writer.close()

        server = await asyncio.start_server(on_connect, "127.0.0.1", self._bind_port, backlog=1024)
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        async with server:
            await self._stopped.wait()
            server.close()
            for task in list(connections):
                task.cancel()
            await asyncio.gather(*connections, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve requests on one keep-alive connection until the client closes it."""
        while True:
            request_line = await reader.readline()
            if not request_line:
                return
            method, target, _ = request_line.decode("latin-1").split(" ", 2)
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            path, _, query = target.partition("?")
            reply = await self._route(method, path.rstrip("/"), parse_qs(query), headers, body)
            if reply is None or not await self._send(writer, reply):  # 'drop', 'cut', 'stall'
                return

    async def _send(self, writer: asyncio.StreamWriter, reply: Reply) -> bool:
        """Write one reply; False when the connection must be closed after it."""
        length = reply.length if reply.length is not None else sum(map(len, reply.parts))
        framing = "Transfer-Encoding: chunked" if reply.chunked else f"Content-Length: {length}"
        head = [f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Error')}",
                f"Content-Type: {reply.content_type}", framing, "Connection: keep-alive",
                *(f"{k}: {v}" for k, v in reply.headers.items())]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        started = time.perf_counter()
        for i, part in enumerate(reply.parts):
            if reply.pace_s:
                await asyncio.sleep(max(0.0, started + i * reply.pace_s - time.perf_counter()))
            writer.write(b"%x\r\n%s\r\n" % (len(part), part) if reply.chunked else part)
            if reply.pace_s or i % 64 == 63:
                await writer.drain()
        await writer.drain()
        if reply.ending == "stall":
            await asyncio.sleep(self.slow_s)
        if reply.ending != "end":
            return False
        if reply.chunked:
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        return True

    async def _route(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
                     body: bytes) -> Reply | None:
        if method == "GET" and path == "/v1/models":
            data = [{"id": name, "object": "model", "created": 0, "owned_by": "loopback"}
                    for name in ("loopback", *BEHAVIOURS)]
            return json_reply(200, {"object": "list", "data": data})
        if method == "POST" and path == "/v1/chat/completions":
            try:
                request = json.loads(body)
            except ValueError:
                return error_reply(400, "request body is not valid JSON")
            if self.keep_requests:
                with self._lock:
                    self._requests.append(request)
            return await self._chat(request)
        if method == "POST" and path == "/v1/files":
            return self._upload(headers.get("content-type", ""), body)
        if method == "GET" and (found := re.fullmatch(r"/v1/files/([\w-]+)/content", path)):
            self._count("files:content")
            content = self._files.get(found.group(1))
            if content is None:
                return error_reply(404, f"no file {found.group(1)}")
            return Reply(200, [content], content_type="application/octet-stream")
        if method == "POST" and path == "/v1/batches":
            return self._create_batch(json.loads(body or b"{}"))
        if method == "GET" and path == "/v1/batches":
            return self._list_batches(query)
        if method == "GET" and (found := re.fullmatch(r"/v1/batches/([\w-]+)", path)):
            self._count("batches:retrieve")
            batch = self._advance(found.group(1))
            return json_reply(200, batch) if batch else error_reply(404, f"no batch {found.group(1)}")
        return error_reply(404, f"no route for {method} {path}")


if __name__ == "__main__":  # python -m r1lib.testing.loopback: serve until Ctrl-C (r1lib/testing/serve.py)
    from r1lib.testing.serve import main
    raise SystemExit(main())
