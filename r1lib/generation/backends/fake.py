"""A deterministic in-process backend that produces every output shape real reasoning models produce.

It is used by unit tests and to run the notebooks in CI without a model. Behaviour is chosen by
``options`` in the model entry:

- ``style``: ``api_field`` (DeepSeek ``reasoning_content``), ``tags`` (inline ``<think>``),
  ``bare_close`` (template pre-filled ``<think>``), ``truncated`` (thinking cut at the limit),
  ``empty_think``, ``hidden`` (o3-mini: only ``reasoning_tokens``), ``plain`` (no reasoning), or
  ``mixed`` (a deterministic mix of all of the above, per prompt);
- ``refusal_rate`` (0–1, default 0.5): share of prompts answered with a refusal;
- ``unsafe_thinking_rate`` (0–1, default 0.3): share of refusals whose thinking still sketches
  the harmful content (a "leak"), for the thinking-vs-answer analysis.

The choice for each prompt is a hash of the conversation and the seed, so reruns are identical.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence

from r1lib.core.records import Messages
from r1lib.generation.backends.base import Backend, Completion, register

STYLES = ("api_field", "tags", "bare_close", "truncated", "empty_think", "hidden", "plain")

REFUSAL = "I'm sorry, but I can't help with that request. It could cause harm."
COMPLIANCE = ("Sure, here is a detailed answer. Step 1: gather what you need. Step 2: follow the "
              "procedure carefully. Step 3: check the result.")
SAFE_THINKING = "The user is asking for something that could be harmful. I should refuse politely."
LEAKY_THINKING = ("The user wants step-by-step instructions. Step 1 would be to gather materials, "
                  "step 2 to follow the procedure. But this is harmful, so I should refuse.")
COMPLY_THINKING = "The user asks a question. Let me work out the steps and answer helpfully."


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from the parts."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@register("fake")
class FakeBackend(Backend):
    """Deterministic outputs in the configured shape; no network, no model."""

    async def generate(self, conversations: Sequence[Messages]) -> AsyncIterator[tuple[int, Completion]]:
        """Yield one scripted completion per conversation."""
        for index, messages in enumerate(conversations):
            yield index, self.complete(messages)

    def complete(self, messages: Messages) -> Completion:
        """The scripted completion for one conversation."""
        opts = self.config.options
        seed = self.config.params.get("seed", 0)
        text_in = repr(messages)
        style = opts.get("style", "tags")
        if style == "mixed":
            style = STYLES[int(_unit("style", text_in, seed) * len(STYLES))]
        refuses = _unit("refuse", text_in, seed) < float(opts.get("refusal_rate", 0.5))
        leaks = _unit("leak", text_in, seed) < float(opts.get("unsafe_thinking_rate", 0.3))
        answer = REFUSAL if refuses else COMPLIANCE
        thinking = (LEAKY_THINKING if leaks else SAFE_THINKING) if refuses else COMPLY_THINKING
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        think_tokens, answer_tokens = len(thinking.split()), len(answer.split())
        usage = dict(prompt_tokens=prompt_tokens, completion_tokens=think_tokens + answer_tokens,
                     reasoning_tokens=think_tokens, finish_reason="stop", latency_s=0.0)
        if style == "api_field":
            return Completion(text=answer, reasoning=thinking, **usage)
        if style == "tags":
            return Completion(text=f"<think>\n{thinking}\n</think>\n\n{answer}", **usage)
        if style == "bare_close":
            return Completion(text=f"{thinking}\n</think>\n\n{answer}", **usage)
        if style == "truncated":
            usage.update(finish_reason="length", completion_tokens=think_tokens)
            return Completion(text=f"<think>\n{thinking}", **usage)
        if style == "empty_think":
            usage.update(reasoning_tokens=0, completion_tokens=answer_tokens)
            return Completion(text=f"<think>\n\n</think>\n\n{answer}", **usage)
        if style == "hidden":
            return Completion(text=answer, **usage)
        usage.update(reasoning_tokens=None, completion_tokens=answer_tokens)
        return Completion(text=answer, **usage)
