"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests and performance scripts.

It speaks just enough HTTP/1.1 (keep-alive, ``Content-Length`` bodies, no streaming) to serve
``POST /v1/chat/completions`` and ``GET /v1/models`` to the official ``openai`` client, from an
asyncio event loop in a background thread. Start it as a context manager::

    from r1lib.testing import LoopbackServer

    with LoopbackServer(behaviour="deepseek", fault_rate=0.2, seed=1) as server:
        config = ModelConfig(name="m", backend="openai", model="loopback", base_url=(server.base_url,))
        ...
        server.counts["ok"]          # successful responses sent

**Behaviours** (how a successful reply looks). The behaviour of a request is, in order: a marker
``[[behaviour:NAME]]`` anywhere in its messages, else the request's ``model`` when it is a behaviour
name, else the server's ``behaviour`` argument. Thinking and answer texts are
:func:`scripted_thinking` / :func:`scripted_answer` of the last user message, so tests can check the
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

**Faults.** With ``fault_rate`` r, each request is faulted with probability r, the kind drawn
uniformly from ``faults``. The draw is a hash of ``seed``, the last user message and how many times
that message was received before, so a run's faults do not depend on arrival order. A marker
``[[fault:KIND]]`` in the messages faults every request carrying it. Kinds:

- ``429``: status 429 with ``Retry-After: <retry_after seconds>`` (a decimal number);
- ``500``: status 500 with an OpenAI-style error body;
- ``slow``: waits ``slow_s`` seconds before answering (past the client's timeout);
- ``drop``: closes the connection after reading the request, without a reply;
- ``malformed``: status 200 with a truncated JSON body.

**Load shaping.** ``latency`` seconds are added to every reply; at most ``max_concurrent`` replies
are in preparation at once (the others queue), so throughput is capped at
``max_concurrent / latency`` requests per second.

**Counters.** ``server.counts`` (a :class:`collections.Counter` snapshot) holds ``requests`` (every
chat request read), ``ok`` (successful replies, a prompt filter included), ``behaviour:NAME`` per
successful reply (``behaviour:custom`` for the responder), and ``fault:KIND`` per fault
(``fault:responder`` when the responder raised). ``server.answered`` counts successful replies per last user message.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from r1lib.errors import UserError

BEHAVIOURS = ("deepseek", "vllm", "reasoning_details", "tags", "bare_close", "truncated",
              "empty_think", "hidden", "content_filter", "prompt_filter", "invalid_prompt", "plain")
FAULTS = ("429", "500", "slow", "drop", "malformed")
MARKER = re.compile(r"\[\[(behaviour|fault):([a-z_0-9]+)\]\]")
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests",
           500: "Internal Server Error"}

Responder = Callable[[dict[str, Any]], "str | dict[str, Any]"]


def scripted_thinking(prompt: str) -> str:
    """The thinking the built-in behaviours produce for a last user message ``prompt``."""
    return f"Reasoning about request {_digest(prompt)}: weigh it, then decide."


def scripted_answer(prompt: str) -> str:
    """The answer the built-in behaviours produce for a last user message ``prompt``."""
    return f"Final answer for request {_digest(prompt)}."


def last_user_message(messages: Sequence[dict[str, Any]]) -> str:
    """The content of the last user message ('' when there is none)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return str(message.get("content") or "")
    return ""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from the parts."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _words(text: str | None) -> int:
    return len((text or "").split())


class LoopbackServer:
    """An OpenAI-compatible chat-completions server on a random free port of 127.0.0.1.

    See the module docstring for behaviours, faults, the custom responder and counters.
    """

    def __init__(self, *, behaviour: str = "deepseek", responder: Responder | None = None,
                 fault_rate: float = 0.0, faults: Sequence[str] = FAULTS, seed: int = 0,
                 latency: float = 0.0, max_concurrent: int | None = None,
                 retry_after: float = 0.2, slow_s: float = 5.0):
        if behaviour not in BEHAVIOURS:
            raise UserError(f"unknown loopback behaviour {behaviour!r}; choose one of {', '.join(BEHAVIOURS)}")
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise UserError(f"unknown loopback faults {sorted(unknown)}; choose from {', '.join(FAULTS)}")
        self.behaviour = behaviour
        self.responder = responder
        self.fault_rate = fault_rate
        self.faults = tuple(faults)
        self.seed = seed
        self.latency = latency
        self.max_concurrent = max_concurrent
        self.retry_after = retry_after
        self.slow_s = slow_s
        self.port: int | None = None
        self._counts: Counter[str] = Counter()
        self._answered: Counter[str] = Counter()
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()
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

        server = await asyncio.start_server(on_connect, "127.0.0.1", 0, backlog=1024)
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
            method, path, _ = request_line.decode("latin-1").split(" ", 2)
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            reply = await self._route(method, path.split("?")[0], body)
            if reply is None:  # the 'drop' fault
                return
            status, extra_headers, payload = reply
            head = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}",
                    "Content-Type: application/json", f"Content-Length: {len(payload)}",
                    "Connection: keep-alive", *(f"{k}: {v}" for k, v in extra_headers.items())]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)
            await writer.drain()

    async def _route(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes] | None:
        if method == "GET" and path.rstrip("/") == "/v1/models":
            data = [{"id": name, "object": "model", "created": 0, "owned_by": "loopback"}
                    for name in ("loopback", *BEHAVIOURS)]
            return 200, {}, json.dumps({"object": "list", "data": data}).encode()
        if method == "POST" and path.rstrip("/") == "/v1/chat/completions":
            try:
                request = json.loads(body)
            except ValueError:
                return _error(400, "request body is not valid JSON")
            if request.get("stream"):
                return _error(400, "the loopback server does not stream; send stream=false")
            return await self._chat(request)
        return _error(404, f"no route for {method} {path}")

    async def _chat(self, request: dict[str, Any]) -> tuple[int, dict[str, str], bytes] | None:
        messages = request.get("messages") or []
        prompt = last_user_message(messages)
        markers = dict(MARKER.findall(" ".join(str(m.get("content") or "") for m in messages)))
        with self._lock:
            self._counts["requests"] += 1
            seen = self._seen[prompt]
            self._seen[prompt] += 1
        fault = markers.get("fault") or self._draw_fault(prompt, seen)
        if self._gate:
            async with self._gate:
                await asyncio.sleep(self.latency)
        elif self.latency:
            await asyncio.sleep(self.latency)
        if fault:
            self._count(f"fault:{fault}")
            return await self._fault(fault)
        behaviour = markers.get("behaviour") or (
            request.get("model") if request.get("model") in BEHAVIOURS else self.behaviour)
        if self.responder:
            behaviour = "custom"
        try:
            reply = self._reply(request, prompt, behaviour)
        except Exception as exc:  # a broken custom responder: tell the client, keep serving
            self._count("fault:responder")
            return _error(500, f"responder failed: {type(exc).__name__}: {exc}")
        if isinstance(reply, dict):  # the responder asked for an error reply
            self._count("ok", "behaviour:custom")
            return _error(int(reply["status"]), str(reply.get("message", "")), code=reply.get("code"))
        message, finish, reasoning_tokens = reply
        with self._lock:
            self._counts.update(("ok", f"behaviour:{behaviour}"))
            self._answered[prompt] += 1
        if behaviour == "prompt_filter":
            return _error(400, "the prompt was filtered by the content policy", code="content_filter")
        if behaviour == "invalid_prompt":
            return _error(400, "Invalid prompt: your prompt was flagged as potentially violating our usage policy",
                          code="invalid_prompt")
        completion_tokens = _words(message.get("content")) + reasoning_tokens
        usage = {"prompt_tokens": sum(_words(str(m.get("content") or "")) for m in messages),
                 "completion_tokens": completion_tokens,
                 "total_tokens": 0,
                 "completion_tokens_details": {"reasoning_tokens": reasoning_tokens}}
        usage["total_tokens"] = usage["prompt_tokens"] + completion_tokens
        body = {"id": f"chatcmpl-{_digest(prompt + str(time.time()))}", "object": "chat.completion",
                "created": int(time.time()), "model": request.get("model", "loopback"),
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                "usage": usage}
        return 200, {}, json.dumps(body).encode()

    def _draw_fault(self, prompt: str, seen: int) -> str | None:
        if not self.fault_rate or not self.faults:
            return None
        if _unit("fault", self.seed, prompt, seen) >= self.fault_rate:
            return None
        return self.faults[int(_unit("kind", self.seed, prompt, seen) * len(self.faults))]

    async def _fault(self, kind: str) -> tuple[int, dict[str, str], bytes] | None:
        if kind == "429":
            status, headers, body = _error(429, "rate limit reached; retry later")
            return status, {"Retry-After": f"{self.retry_after:g}"}, body
        if kind == "500":
            return _error(500, "the server had an error while processing your request")
        if kind == "slow":
            await asyncio.sleep(self.slow_s)
            return _error(500, "slow reply: the client should have timed out")
        if kind == "drop":
            return None
        if kind == "malformed":
            return 200, {}, b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"ind'
        return _error(400, f"unknown fault {kind!r}; known: {', '.join(FAULTS)}")

    def _reply(self, request: dict[str, Any], prompt: str,
               behaviour: str) -> tuple[dict[str, Any], str, int] | dict[str, Any]:
        """The assistant message, finish reason and reasoning token count of a successful reply (or a
        responder's error reply)."""
        if self.responder is not None:
            answer = self.responder(request)
            if isinstance(answer, dict) and "error" in answer:
                return dict(answer["error"])
            return _custom_message(answer)
        thinking, answer = scripted_thinking(prompt), scripted_answer(prompt)
        think_tokens = _words(thinking)
        message: dict[str, Any] = {"role": "assistant", "content": answer}
        if behaviour == "deepseek":
            message["reasoning_content"] = thinking
        elif behaviour == "vllm":
            message["reasoning"] = thinking
        elif behaviour == "reasoning_details":
            message["reasoning_details"] = [{"type": "reasoning.text", "text": thinking}]
        elif behaviour == "tags":
            message["content"] = f"<think>\n{thinking}\n</think>\n\n{answer}"
        elif behaviour == "bare_close":
            message["content"] = f"{thinking}\n</think>\n\n{answer}"
        elif behaviour == "truncated":
            message["content"] = f"<think>\n{thinking}"
            return message, "length", think_tokens
        elif behaviour == "empty_think":
            message["content"] = f"<think>\n\n</think>\n\n{answer}"
            return message, "stop", 0
        elif behaviour == "content_filter":
            message["content"] = None
            return message, "content_filter", 0
        elif behaviour in ("plain", "prompt_filter", "invalid_prompt"):  # a block's reply is replaced by a 400
            return message, "stop", 0
        # "hidden" and the reasoning-field styles report the thinking as reasoning tokens
        return message, "stop", think_tokens


def _custom_message(reply: str | dict[str, Any]) -> tuple[dict[str, Any], str, int]:
    if isinstance(reply, str):
        return {"role": "assistant", "content": reply}, "stop", 0
    reply = dict(reply)
    finish = reply.pop("finish_reason", "stop")
    reasoning_tokens = int(reply.pop("reasoning_tokens", 0))
    return {"role": "assistant", "content": "", **reply}, finish, reasoning_tokens


def _error(status: int, message: str, code: str | None = None) -> tuple[int, dict[str, str], bytes]:
    body = {"error": {"message": message, "type": "loopback_error", "code": code or str(status)}}
    return status, {}, json.dumps(body).encode()
