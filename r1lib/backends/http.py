"""A lean HTTP client for OpenAI-compatible JSON APIs: POST a JSON body, read a JSON reply or a stream
of server-sent events. Built on ``httpcore2`` (the transport under the ``openai`` client), it is what
:class:`~r1lib.backends.openai_api.OpenAIBackend` sends chat completions with.

Why not the ``openai`` client: importing it builds every response model of the API (1–3 s before
the first request of a command) and every call goes through its request builder and ``httpx2``;
for a loop of chat-completion posts that is half of the client's CPU (see PERFORMANCE.md).

Faults are raised as this module's exceptions: :class:`Timeout` (no byte for the read timeout, or
no connection in time), :class:`ConnectionFailed` (refused, reset, closed mid-reply),
:class:`StatusError` (an HTTP status of 400 or more, with the server's error message and code as
OpenAI-style bodies carry them, and its headers for ``Retry-After``), :class:`MalformedBody` (a
reply that is not JSON) and :class:`StreamError` (an error event inside a stream). Proxies come
from the standard environment variables (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``).
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpcore2

from r1lib import __version__

#: Where requests go when an entry names no base_url (the OpenAI API).
DEFAULT_BASE_URL = "https://api.openai.com/v1"


class HTTPError(Exception):
    """A fault of one request (the base of this module's exceptions)."""


class Timeout(HTTPError):
    """No byte (or no connection) within the timeout."""


class ConnectionFailed(HTTPError):
    """The connection could not be made or was lost."""


class MalformedBody(HTTPError):
    """A reply body that could not be decoded."""


class StatusError(HTTPError):
    """An HTTP error status with the server's message, error code and headers."""

    def __init__(self, status: int, message: str, code: str | None, headers: dict[str, str]):
        super().__init__(f"HTTP {status}: {message}")
        self.status, self.message, self.code, self.headers = status, message, code, headers


class StreamError(HTTPError):
    """An error event inside a stream of server-sent events."""

    def __init__(self, message: str, code: str | None):
        super().__init__(message)
        self.message, self.code = message, code


class JSONClient:
    """One connection pool to one server: JSON posts and event streams under ``base_url``."""

    def __init__(self, base_url: str | None, api_key: str, *, timeout: float, ssl_context: ssl.SSLContext,
                 max_connections: int):
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.timeout = timeout
        self.headers = [(b"Authorization", f"Bearer {api_key}".encode()), (b"Content-Type", b"application/json"),
                        (b"Accept-Encoding", b"identity"), (b"User-Agent", f"r1lib/{__version__}".encode())]
        self.pool = httpcore2.AsyncConnectionPool(ssl_context=ssl_context, proxy=proxy_for(self.base_url),
                                                  max_connections=max_connections)

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST ``body`` as JSON to ``base_url + path``; the reply's JSON (faults raise, see the module)."""
        async with self._open(path, body, b"application/json") as response:
            content = await _read(response)
        try:
            return json.loads(content)
        except ValueError as exc:
            raise MalformedBody(f"malformed response body ({type(exc).__name__}: {exc})") from None

    @asynccontextmanager
    async def events(self, path: str, body: dict[str, Any]) -> AsyncIterator[AsyncIterator[Any]]:
        """POST ``body`` and iterate the JSON ``data`` of the server-sent events of the reply.

        The stream ends at ``data: [DONE]`` or when the server closes it; an error event raises
        :class:`StreamError`, an event whose data is not JSON :class:`MalformedBody`.
        """
        async with self._open(path, body, b"text/event-stream") as response:
            yield _events(response, self.timeout)

    async def aclose(self) -> None:
        """Close every connection of the pool."""
        await self.pool.aclose()

    @asynccontextmanager
    async def _open(self, path: str, body: dict[str, Any], accept: bytes) -> AsyncIterator[Any]:
        timeouts = {"connect": self.timeout, "read": self.timeout, "write": self.timeout, "pool": self.timeout}
        try:
            async with self.pool.stream(b"POST", self.base_url + path, headers=[*self.headers, (b"Accept", accept)],
                                        content=json.dumps(body).encode(), extensions={"timeout": timeouts}) as response:
                if response.status >= 400:
                    raise _status_error(response, await _read(response))
                yield response
        except httpcore2.TimeoutException as exc:
            raise Timeout(f"no reply for {self.timeout:g} s ({type(exc).__name__})") from None
        except (httpcore2.NetworkError, httpcore2.ProtocolError, httpcore2.UnsupportedProtocol) as exc:
            raise ConnectionFailed(_cause(exc)) from None


async def _read(response: Any) -> bytes:
    """The whole body of a response (faults surface as httpcore2's exceptions, mapped by the caller)."""
    return b"".join([chunk async for chunk in response.aiter_stream()])


async def _events(response: Any, timeout: float) -> AsyncIterator[Any]:
    """The JSON data of each server-sent event of ``response`` (see :meth:`JSONClient.events`)."""
    buffer = b""
    event, data = "", []
    try:
        async for chunk in response.aiter_stream():
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for raw in lines:
                line = raw.rstrip(b"\r").decode("utf-8")
                if line:
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "data":
                        data.append(value)
                    elif field == "event":
                        event = value
                    continue
                if not data:
                    event = ""
                    continue
                text = "\n".join(data)
                event, data, name = "", [], event
                if text.startswith("[DONE]"):
                    return
                try:
                    parsed = json.loads(text)
                except ValueError as exc:
                    raise MalformedBody(f"malformed event ({type(exc).__name__}: {exc})") from None
                error = parsed.get("error") if isinstance(parsed, dict) else None
                if name == "error" or error:
                    detail = error if isinstance(error, dict) else {"message": str(error or parsed)}
                    raise StreamError(str(detail.get("message") or "error event"), _code(detail))
                yield parsed
    except httpcore2.TimeoutException:
        raise Timeout(f"no bytes for {timeout:g} s") from None
    except (httpcore2.NetworkError, httpcore2.ProtocolError) as exc:
        raise ConnectionFailed(_cause(exc)) from None


def _status_error(response: Any, content: bytes) -> StatusError:
    """The :class:`StatusError` of an error reply, with the message and code of an OpenAI-style body."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers}
    message, code = content.decode("utf-8", "replace")[:300] or f"HTTP {response.status}", None
    try:
        body = json.loads(content)
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = body.get("error", body)
        if isinstance(detail, dict):
            message = str(detail.get("message") or message)[:300]
            code = _code(detail)
        elif isinstance(detail, str):
            message = detail[:300]
    return StatusError(response.status, message, code, headers)


def _code(detail: dict[str, Any]) -> str | None:
    code = detail.get("code")
    return None if code is None else str(code)


def _cause(exc: BaseException) -> str:
    """The innermost cause of a transport error, e.g. 'Connection refused'."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc) or type(exc).__name__


def proxy_for(url: str) -> httpcore2.Proxy | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY`` / ``HTTP_PROXY``, unless ``NO_PROXY``)."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    chosen = proxies.get(parts.scheme) or proxies.get("all")
    if not chosen or urllib.request.proxy_bypass_environment(parts.hostname or "", proxies):
        return None
    return httpcore2.Proxy(chosen)


def ssl_context() -> ssl.SSLContext:
    """httpcore2's default TLS context, the one the ``openai`` client verifies with: ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR`` when set, else the system's trust store."""
    return httpcore2.default_ssl_context()
