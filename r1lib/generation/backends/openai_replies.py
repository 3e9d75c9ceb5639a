"""How an OpenAI-compatible reply is read: a completion from a response body, the outcome of an error status
(blocked by the provider, retry, fail), the reasoning field, Retry-After and a hint for each status.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

from r1lib.config.settings import ModelConfig
from r1lib.generation.backends.base import Completion

#: Error codes of a 400 reply that mean the provider refused the prompt on policy grounds.
BLOCK_CODES = frozenset({"invalid_prompt", "content_filter", "content_policy_violation"})


#: Phrases of a 400 error message that mean the same where the provider sends no such code.
BLOCK_MESSAGES = ("content exists risk", "flagged as potentially violating", "content management policy")


#: Body fields a streamed reasoning delta may arrive in (``reasoning_details`` is a list, handled apart).
REASONING_FIELDS = ("reasoning_content", "reasoning")


def well_formed(body: Any) -> bool:
    """True when a reply body has a first choice whose message (if any) is an object."""
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list) or not body["choices"]:
        return False
    choice = body["choices"][0]
    return isinstance(choice, dict) and isinstance(choice.get("message") or {}, dict)


def parse_response(body: dict[str, Any]) -> Completion:
    """A completion from a chat-completions body (plain JSON) that is :func:`well_formed`.

    A ``content_filter`` finish is a provider block (``blocked`` set, text kept if any).
    """
    choice = body["choices"][0]
    message = choice.get("message") or {}
    usage = body.get("usage") or {}
    details = usage.get("completion_tokens_details") or {}
    filtered = choice.get("finish_reason") == "content_filter"
    blocked = "content_filter: the provider filtered the output" if filtered else None
    return Completion(
        text=message.get("content") or "",
        reasoning=reasoning_text(message),
        finish_reason=choice.get("finish_reason"),
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        reasoning_tokens=details.get("reasoning_tokens"),
        blocked=blocked)


def status_outcome(status: int, code: str | None, message: str, config: ModelConfig) -> Completion | None:
    """What an error status means for good: a block, a final error, or None when it is worth retrying.

    A 400 that :func:`is_block` recognises is ``Completion(blocked=...)``; 429, 408, 409 and 5xx are
    retried (None); any other 4xx is a final ``Completion(error=...)`` with a hint.
    """
    if status == 400 and is_block(code, message):
        return Completion(blocked=f"{code or 'blocked'}: {message}")
    if status < 500 and status not in (408, 409, 429):
        return Completion(error=f"HTTP {status}: {message}" + status_hint(status, config))
    return None


def is_block(code: str | None, message: str) -> bool:
    """True when a 400 error is the provider refusing the prompt on policy grounds."""
    lowered = message.lower()
    return (code or "") in BLOCK_CODES or any(phrase in lowered for phrase in BLOCK_MESSAGES)


def reasoning_text(message: dict[str, Any]) -> str | None:
    """The first non-empty of ``reasoning_content``, ``reasoning`` and ``reasoning_details`` texts."""
    for name in REASONING_FIELDS:
        value = message.get(name)
        if isinstance(value, str) and value.strip():
            return value
    details = message.get("reasoning_details")
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


def status_hint(status: int, config: ModelConfig) -> str:
    """What to check after a 401/403 (the key) or a 404 (model name and base_url); else ''."""
    if status in (401, 403):
        where = f"the key in {config.api_key_env}" if config.api_key_env else "api_key_env in the models file"
        return f"; check {where}"
    if status == 404:
        return f"; check the model name {config.model!r} and base_url of {config.name!r}"
    return ""
