"""What the in-process backends (transformers, vLLM offline) share: chat rendering, thinking
elicitation and budget forcing, on top of one engine-specific method that completes prompt strings.

Both engines see exactly the same prompt text: the tokenizer's chat template (or the entry's
``chat_template``), plus ``<think>\\n`` when ``prefill_think`` is set, tokenized without extra
special tokens. Without ``think_budget`` one step generates at most ``max_tokens`` tokens. With
``think_budget`` the output is made in two steps (budget forcing):

1. generate at most ``think_budget`` tokens, stopping early at ``</think>``;
2. if the model did not close its thinking, append ``\\n</think>\\n\\n``; then generate the answer
   (at most ``max_tokens`` tokens) continuing from prompt + thinking.

The returned text is ``thinking + "\\n</think>\\n\\n" + answer`` without the prefilled opening tag,
which :func:`r1lib.core.traces.parse_trace` splits with ``prefilled_think=config.prefill_think``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from abc import abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from r1lib.config.settings import ModelConfig
from r1lib.core.errors import UserError
from r1lib.core.records import Messages
from r1lib.core.traces import CLOSE_TAG, OPEN_TAG
from r1lib.generation.backends.base import Backend, Completion

PREFILL = OPEN_TAG + "\n"
FORCED_CLOSE = "\n" + CLOSE_TAG + "\n\n"
#: Answer budget when an entry sets no ``max_tokens``.
DEFAULT_MAX_TOKENS = 1024


@dataclass(frozen=True)
class Piece:
    """One prompt's continuation from an engine: text, token counts and why it ended."""

    text: str
    prompt_tokens: int
    tokens: int
    finish_reason: str  # "stop" (end of sequence or a stop string) or "length"


class LocalBackend(Backend):
    """A backend that runs the model in this process. Subclasses load the engine and complete prompts."""

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        if config.think_budget is not None and config.think_budget < 1:
            raise UserError(f"model {config.name!r}: think_budget is {config.think_budget}; set it to a "
                            "positive number of thinking tokens, or remove it to let the model stop by itself")
        self.max_tokens = int(config.params.get("max_tokens", DEFAULT_MAX_TOKENS))
        self._lock = threading.Lock()

    @abstractmethod
    def load(self) -> None:
        """Load the engine and tokenizer once (blocking); failures here stop the run."""

    @property
    @abstractmethod
    def tokenizer(self) -> Any:
        """The Hugging Face tokenizer of the loaded model (loads it on first use)."""

    @abstractmethod
    def complete(self, prompts: list[str], max_tokens: int, stop: list[str]) -> list[Piece]:
        """Continue each prompt string (blocking). Generation ends at the end-of-sequence token, at
        ``max_tokens`` new tokens, or right after any string in ``stop`` (kept in the text)."""

    def batches(self, conversations: Sequence[Messages]) -> list[list[int]]:
        """How to split the conversations into engine calls (lists of indices); default: all at once."""
        return [list(range(len(conversations)))] if conversations else []

    async def generate(self, conversations: Sequence[Messages]) -> AsyncIterator[tuple[int, Completion]]:
        """Yield one completion per conversation, batch by batch; generation runs in a worker thread."""
        for batch in self.batches(conversations):
            chosen = [conversations[i] for i in batch]
            completions = await asyncio.to_thread(self.complete_conversations, chosen)
            for index, completion in zip(batch, completions):
                yield index, completion

    def complete_conversations(self, conversations: Sequence[Messages]) -> list[Completion]:
        """Generate for a list of conversations (blocking).

        When the engine fails on a batch, each conversation is retried alone, so one bad item
        becomes one error record (retried on the next run) instead of failing its whole batch.
        Loading the engine is not retried: a failure there stops the run.
        """
        started = time.perf_counter()
        with self._lock:
            self.load()
            try:
                completions = self._generate([self.render(messages) for messages in conversations])
            except Exception:
                completions = [self._alone(messages) for messages in conversations]
        latency = time.perf_counter() - started
        for completion in completions:
            completion.latency_s = completion.latency_s or latency
        return completions

    def _generate(self, prompts: list[str]) -> list[Completion]:
        """Completions for rendered prompts, with budget forcing when ``think_budget`` is set."""
        if self.config.think_budget:
            return self._budget_forced(prompts)
        return [self._single(piece) for piece in self.complete(prompts, self.max_tokens, [])]

    def _alone(self, messages: Messages) -> Completion:
        """One conversation on its own; an engine failure becomes its error record."""
        started = time.perf_counter()
        try:
            return self._generate([self.render(messages)])[0]
        except Exception as exc:
            return Completion(error=f"{type(exc).__name__}: {exc}", latency_s=time.perf_counter() - started)

    def render(self, messages: Messages) -> str:
        """The prompt string: chat template with the generation prompt, plus ``<think>\\n`` if prefilled;
        a mitigation arm's pre-fill (a thinking prefix, or ZeroThink's empty think block) replaces that."""
        text = self.tokenizer.apply_chat_template(messages, chat_template=self.config.chat_template,
                                                  tokenize=False, add_generation_prompt=True)
        if self.config.prefill_think and not text.endswith(PREFILL):
            text += PREFILL
        prefill = self.config.mitigation.prefill if self.config.mitigation is not None else None
        return text if prefill is None else text.removesuffix(PREFILL) + prefill

    def count_tokens(self, text: str) -> int:
        """Number of tokens of ``text`` (no special tokens added)."""
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def _single(self, piece: Piece) -> Completion:
        """A one-step completion; reasoning tokens are those up to the last ``</think>`` (all of an
        unterminated thinking block, none when there is no thinking)."""
        close_at = piece.text.rfind(CLOSE_TAG)
        if close_at >= 0:
            reasoning = min(piece.tokens, self.count_tokens(piece.text[:close_at + len(CLOSE_TAG)]))
        elif self.config.opens_thinking or OPEN_TAG in piece.text:
            reasoning = piece.tokens
        else:
            reasoning = None
        return Completion(text=piece.text, finish_reason=piece.finish_reason, prompt_tokens=piece.prompt_tokens,
                          completion_tokens=piece.tokens, reasoning_tokens=reasoning)

    def _budget_forced(self, prompts: list[str]) -> list[Completion]:
        """Two-step generation: thinking up to ``think_budget`` tokens, then the answer after ``</think>``."""
        thoughts = self.complete(prompts, int(self.config.think_budget or 0), [CLOSE_TAG])
        heads = []
        for thought in thoughts:
            close_at = thought.text.find(CLOSE_TAG)
            heads.append(thought.text[:close_at + len(CLOSE_TAG)] if close_at >= 0 else thought.text + FORCED_CLOSE)
        answers = self.complete([p + h for p, h in zip(prompts, heads)], self.max_tokens, [])
        return [Completion(text=head + answer.text, finish_reason=answer.finish_reason,
                           prompt_tokens=thought.prompt_tokens, completion_tokens=thought.tokens + answer.tokens,
                           reasoning_tokens=thought.tokens)
                for head, thought, answer in zip(heads, thoughts, answers)]
