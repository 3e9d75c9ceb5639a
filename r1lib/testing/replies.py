"""The loopback server's HTTP replies: a status, headers and a JSON body (or a stream), and OpenAI-style errors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests",
           500: "Internal Server Error"}


def word_count(text: str | None) -> int:
    return len((text or "").split())


@dataclass
class Reply:
    """One HTTP reply: status, headers and body parts.

    ``chunked`` sends the parts with chunked transfer encoding (a stream); ``ending`` is ``end``,
    ``cut`` (close after the parts) or ``stall`` (wait, then close); ``pace_s`` is the wait between
    two parts.
    """

    status: int
    parts: list[bytes]
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    chunked: bool = False
    ending: str = "end"
    pace_s: float = 0.0
    length: int | None = None


def error_body(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "loopback_error", "code": code}}


def json_reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, [json.dumps(body).encode()], headers=headers or {})


def error_reply(status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None) -> Reply:
    return json_reply(status, error_body(message, code or str(status)), headers)
