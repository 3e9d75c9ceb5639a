"""The loopback server's chat completions: scripted thinking and answers in each provider's shape (the
behaviours), streamed as server-sent events, with seeded faults and a custom responder (see
:mod:`r1lib.testing.loopback`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import Sequence
from typing import Any

from r1lib.testing.loopback_limits import reserved_tokens, reset_text, used_tokens
from r1lib.testing.replies import Reply, error_body, error_reply, json_reply, word_count

BEHAVIOURS = ("deepseek", "vllm", "reasoning_details", "tags", "bare_close", "truncated",
              "empty_think", "hidden", "content_filter", "prompt_filter", "invalid_prompt", "plain")


FAULTS = ("429", "500", "slow", "drop", "malformed")


#: How each provider route of the newer reasoning models (configs/models.yaml) returns a reply, as a
#: behaviour per served model id, for ``LoopbackServer(routes=MODEL_ROUTES)``: the DeepSeek API puts the
#: thinking in ``reasoning_content``; vLLM's ``qwen3`` parser in ``reasoning_content`` (vLLM before 0.11)
#: and its gpt-oss harmony parser in ``reasoning`` (the field's newer name); QwQ-32B on a server without
#: a reasoning parser leaves ``THINKING</think>ANSWER`` in the content (its template opens the block);
#: OpenAI hides o4-mini's reasoning and reports only ``reasoning_tokens``.
MODEL_ROUTES = {"deepseek-reasoner": "deepseek", "deepseek-chat": "plain", "Qwen/Qwen3-32B": "deepseek",
                "Qwen/QwQ-32B": "bare_close", "Qwen/Qwen2.5-32B-Instruct": "plain", "openai/gpt-oss-20b": "vllm",
                "openai/gpt-oss-120b": "vllm", "o4-mini-2025-04-16": "hidden"}


#: Behaviours whose thinking is inside ``content`` (their reasoning tokens are counted there).
IN_CONTENT = frozenset({"tags", "bare_close", "truncated"})


#: Behaviours that show thinking; a request with ``chat_template_kwargs.enable_thinking: false`` gets
#: ``plain`` instead, as Qwen3's template then closes an empty think block in the prompt.
THINKING_BEHAVIOURS = frozenset({"deepseek", "vllm", "reasoning_details", "tags", "bare_close", "truncated",
                                 "empty_think", "hidden"})


#: Faults that cut a reply half-way; not among the default ``faults``.
STREAM_FAULTS = ("cut", "stall")


MARKER = re.compile(r"\[\[(behaviour|fault):([a-z_0-9]+)(?::(\d+))?\]\]")


TOKEN_START = re.compile(r"(?<=\s)(?=\S)")


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


def tokens(text: str) -> list[str]:
    """``text`` cut before every word that follows whitespace; the pieces join back to ``text``."""
    return [piece for piece in TOKEN_START.split(text) if piece]


def _text(messages: Sequence[dict[str, Any]]) -> str:
    return " ".join(str(m.get("content") or "") for m in messages)


def _custom_message(reply: str | dict[str, Any]) -> tuple[dict[str, Any], str, int]:
    if isinstance(reply, str):
        return {"role": "assistant", "content": reply}, "stop", 0
    reply = dict(reply)
    finish = reply.pop("finish_reason", "stop")
    reasoning_tokens = int(reply.pop("reasoning_tokens", 0))
    return {"role": "assistant", "content": "", **reply}, finish, reasoning_tokens


class ChatImitation:
    """Chat-completion replies of :class:`~r1lib.testing.loopback.LoopbackServer` (it holds the settings,
    counters and lock)."""

    # -- chat completions --------------------------------------------------------------------
    async def _chat(self, request: dict[str, Any]) -> Reply | None:
        reserved = reserved_tokens(request) if self._buckets else 0.0
        exhausted, wait, limit_headers = self._reserve(reserved) if self._buckets else (None, 0.0, {})
        if exhausted:
            self._count("requests", "rate_limited")
            if self.limit_headers:
                limit_headers["Retry-After"] = f"{max(wait, 0.001):.3f}"
            bucket = self._buckets.get(exhausted)
            message = (f"Rate limit reached for {exhausted} per min (RPM/TPM): Limit "
                       f"{bucket.per_minute if bucket else 0:g}. Please try again in {reset_text(wait)}.")
            return json_reply(429, {"error": {"message": message, "type": exhausted, "param": None,
                                         "code": "rate_limit_exceeded"}}, headers=limit_headers)
        reply = await self._answer(request)
        if self._buckets:
            self._settle(reserved, used_tokens(reply) if reply is not None and reply.status == 200 else 0.0)
            if reply is not None:
                reply.headers.update(self._limit_headers())
        return reply

    async def _answer(self, request: dict[str, Any]) -> Reply | None:
        fault, prompt = self._draw(request)
        delay = self.latency(request) if callable(self.latency) else self.latency
        if self._gate:
            async with self._gate:
                await asyncio.sleep(delay)
        elif delay:
            await asyncio.sleep(delay)
        streamed = bool(request.get("stream"))
        if streamed:
            self._count("streamed")
        if fault in ("cut", "stall"):
            self._count(f"fault:{fault}")
            status, body = self._completion(request, prompt, count=False)
            if status != 200:
                return json_reply(status, body)
            reply = self._stream(request, body) if streamed else json_reply(200, body)
            whole = b"".join(reply.parts)
            reply.parts = reply.parts[:len(reply.parts) // 2] if streamed else [whole[:len(whole) // 2]]
            reply.length, reply.ending = (None if streamed else len(whole)), fault
            return reply
        if fault:
            self._count(f"fault:{fault}")
            return await self._fault(fault, streamed)
        status, body = self._completion(request, prompt)
        if status == 200 and streamed:
            return self._stream(request, body)
        return json_reply(status, body, headers=None)

    def _draw(self, request: dict[str, Any]) -> tuple[str | None, str]:
        """Count the request and choose its fault (None for none); also returns its prompt."""
        messages = request.get("messages") or []
        prompt = last_user_message(messages)
        with self._lock:
            self._counts["requests"] += 1
            seen = self._seen[prompt]
            self._seen[prompt] += 1
        for kind, name, times in MARKER.findall(_text(messages)):
            if kind == "fault" and (not times or seen < int(times)):
                return name, prompt
        if not self.fault_rate or not self.faults or _unit("fault", self.seed, prompt, seen) >= self.fault_rate:
            return None, prompt
        return self.faults[int(_unit("kind", self.seed, prompt, seen) * len(self.faults))], prompt

    def _completion(self, request: dict[str, Any], prompt: str, *, count: bool = True) -> tuple[int, dict[str, Any]]:
        """Status and JSON body of a request that is not faulted (``count``: count it as answered)."""
        markers = {name: value for name, value, _ in MARKER.findall(_text(request.get("messages") or []))}
        model = request.get("model")
        behaviour = markers.get("behaviour") or (
            model if model in BEHAVIOURS else self.routes.get(str(model), self.behaviour))
        if behaviour in THINKING_BEHAVIOURS and (request.get("chat_template_kwargs") or {}).get(
                "enable_thinking") is False:
            behaviour = "plain"
        if self.responder:
            behaviour = "custom"
        try:
            reply = self._reply(request, prompt, behaviour)
        except Exception as exc:  # a broken custom responder: tell the client, keep serving
            self._count("fault:responder")
            return 500, error_body(f"responder failed: {type(exc).__name__}: {exc}", "500")
        if isinstance(reply, dict):  # the responder asked for an error reply
            if count:
                self._count("ok", "behaviour:custom")
            return int(reply["status"]), error_body(str(reply.get("message", "")), reply.get("code"))
        message, finish, reasoning_tokens = reply
        if count:
            with self._lock:
                self._counts.update(("ok", f"behaviour:{behaviour}"))
                self._answered[prompt] += 1
        if behaviour == "prompt_filter":
            return 400, error_body("the prompt was filtered by the content policy", "content_filter")
        if behaviour == "invalid_prompt":
            return 400, error_body("Invalid prompt: your prompt was flagged as potentially violating our "
                                    "usage policy", "invalid_prompt")
        messages = request.get("messages") or []
        # reasoning tokens are part of the completion tokens; in the tag shapes they are already in the content
        completion_tokens = word_count(message.get("content")) + (0 if behaviour in IN_CONTENT else reasoning_tokens)
        usage = {"prompt_tokens": sum(word_count(str(m.get("content") or "")) for m in messages),
                 "completion_tokens": completion_tokens,
                 "total_tokens": 0,
                 "completion_tokens_details": {"reasoning_tokens": reasoning_tokens}}
        usage["total_tokens"] = usage["prompt_tokens"] + completion_tokens
        return 200, {"id": f"chatcmpl-{_digest(prompt + str(time.time()))}", "object": "chat.completion",
                     "created": int(time.time()), "model": request.get("model", "loopback"),
                     "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                     "usage": usage}

    def _stream(self, request: dict[str, Any], body: dict[str, Any]) -> Reply:
        """A completion body as server-sent events (see the module docstring)."""
        head = {"id": body["id"], "object": "chat.completion.chunk", "created": body["created"],
                "model": body["model"]}
        choice = body["choices"][0]
        message = choice["message"]

        def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
            chunk = {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
            return b"data: " + json.dumps(chunk).encode() + b"\n\n"

        events = [event({"role": "assistant", "content": ""})]
        for name in ("reasoning_content", "reasoning"):
            events += [event({name: piece}) for piece in tokens(message.get(name) or "")]
        for index, detail in enumerate(message.get("reasoning_details") or []):
            events += [event({"reasoning_details": [{"type": detail.get("type"), "text": piece, "index": index}]})
                       for piece in tokens(detail.get("text") or "")]
        events += [event({"content": piece}) for piece in tokens(message.get("content") or "")]
        events.append(event({}, choice["finish_reason"]))
        if (request.get("stream_options") or {}).get("include_usage"):
            events.append(b"data: " + json.dumps({**head, "choices": [], "usage": body["usage"]}).encode() + b"\n\n")
        events.append(b"data: [DONE]\n\n")
        return Reply(200, events, content_type="text/event-stream", chunked=True,
                     pace_s=1.0 / self.stream_tps if self.stream_tps else 0.0)

    async def _fault(self, kind: str, streamed: bool) -> Reply | None:
        if kind == "429":
            return error_reply(429, "rate limit reached; retry later", headers={"Retry-After": f"{self.retry_after:g}"})
        if kind == "500":
            return error_reply(500, "the server had an error while processing your request")
        if kind == "slow":
            await asyncio.sleep(self.slow_s)
            return error_reply(500, "slow reply: the client should have timed out")
        if kind == "drop":
            return None
        if kind == "malformed":
            if streamed:
                return Reply(200, [b'data: {"id": "chatcmpl-broken", "choices": [{"ind\n\n'],
                             content_type="text/event-stream", chunked=True)
            return Reply(200, [b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"ind'])
        return error_reply(400, f"unknown fault {kind!r}; known: {', '.join(FAULTS + STREAM_FAULTS)}")

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
        think_tokens = word_count(thinking)
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
