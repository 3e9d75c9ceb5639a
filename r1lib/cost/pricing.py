"""What a model's calls cost: its prices, one call's worst case and what a finished call cost.

Prices come from the ``pricing`` of the model's entry in the models registry (USD per million
input / output tokens; reasoning tokens bill as output, as the providers do; ``batch_discount`` is
what the provider's Batch API takes off both). This module imports nothing heavy: the runner uses
it on every call when a budget is set (:mod:`r1lib.cost.budget`); :mod:`r1lib.cost.spent` (stored records)
and :mod:`r1lib.app.estimate` (a run not yet made) price with the same functions.

A call's *worst case* bounds what the provider can bill for it: every prompt byte counted as one
token (the tokenizers of every priced model here are byte-level BPE, so a text never has more
tokens than UTF-8 bytes) plus :data:`MESSAGE_OVERHEAD_TOKENS` per message for the chat template, at
the input price, and the whole output budget (``max_tokens`` / ``max_completion_tokens``) at the
output price. It needs no tokenizer, so it costs nothing per call; it overstates the prompt about
fourfold for English text, which only makes a budget stop a little early.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from r1lib.config.settings import ModelConfig
from r1lib.core.errors import UserError

UNPRICED = "no pricing in the models registry"
UNKNOWN_MODEL = "model not in the models registry"
NO_CHARGE = "no charge: the model runs here, replays recorded outputs or is a fake"
BILLINGS = ("standard", "batch")
#: Tokens a chat template may add per message (role markers, separators); generous on purpose.
MESSAGE_OVERHEAD_TOKENS = 16
#: Backends whose calls cost nothing (they run here, replay recordings or are deterministic fakes).
FREE_BACKENDS = frozenset({"transformers", "vllm", "fake", "recorded"})


class Price(NamedTuple):
    """USD per million input and output tokens (NaN when unpriced), where they come from, and their date."""

    input: float
    output: float
    source: str
    as_of: str | None

    def usd(self, prompt_tokens: int, output_tokens: int) -> float:
        """Dollars for ``prompt_tokens`` in and ``output_tokens`` out (NaN when unpriced)."""
        return (prompt_tokens * self.input + output_tokens * self.output) / 1e6


def price(config: ModelConfig | None, billing: str = "standard") -> Price:
    """A model's standard or batch price; zero for an unpriced model that costs nothing
    (:data:`FREE_BACKENDS`); NaN prices when an API model has no pricing (or, for ``batch``, when its
    entry gives no ``batch_discount``), with the reason in ``source``."""
    if billing not in BILLINGS:
        raise UserError(f"billing must be one of {', '.join(BILLINGS)}, not {billing!r}")
    if config is None:
        return Price(float("nan"), float("nan"), UNKNOWN_MODEL, None)
    pricing = config.pricing
    if not pricing and config.backend in FREE_BACKENDS:
        return Price(0.0, 0.0, NO_CHARGE, None)
    if not pricing:
        return Price(float("nan"), float("nan"), UNPRICED, None)
    source = str(pricing.get("source") or "not stated")
    factor = 1.0
    if billing == "batch":
        discount = pricing.get("batch_discount")
        if discount is None:
            return Price(float("nan"), float("nan"), f"{source}; no batch_discount in the entry", pricing.get("as_of"))
        factor, source = 1.0 - float(discount), f"{source}; batch price ({float(discount):g} off)"
    return Price(factor * float(pricing["input"]), factor * float(pricing["output"]), source, pricing.get("as_of"))


def billed_price(config: ModelConfig) -> Price:
    """The price the model's calls are billed at: the batch price for a ``batch: true`` entry with a
    known discount, else the standard price."""
    if config.batch and config.pricing.get("batch_discount") is not None:
        return price(config, "batch")
    return price(config)


def costs_money(config: ModelConfig) -> bool:
    """True for a model reached over a provider's API (its calls may be billed)."""
    return config.backend not in FREE_BACKENDS


def max_output_tokens(config: ModelConfig) -> int | None:
    """The output budget of one call (``max_tokens`` or ``max_completion_tokens``), None when unset."""
    values = [int(config.params[name]) for name in ("max_tokens", "max_completion_tokens")
              if config.params.get(name) is not None]
    return max(values) if values else None


def prompt_bytes(messages: Sequence[dict[str, Any]]) -> int:
    """UTF-8 bytes of every message's content (a bound on its tokens, see the module docstring)."""
    return sum(len(str(m.get("content") or "").encode("utf-8")) for m in messages)


def check_bounded(config: ModelConfig) -> None:
    """Raise :class:`UserError` unless every call of ``config`` has a known worst case (a budget needs it)."""
    if not costs_money(config):
        return
    if not config.pricing:
        raise UserError(f"model {config.name!r} has no pricing, so a budget (--max-cost) cannot bound its calls; "
                        "add pricing: {input: USD/1M, output: USD/1M, batch_discount, source, as_of} to its entry "
                        "(input: 0, output: 0 for a server you do not pay per token)")
    if max_output_tokens(config) is None:
        raise UserError(f"model {config.name!r} sets no max_tokens (or max_completion_tokens) in params, so a "
                        "budget (--max-cost) cannot bound its output; add one to its entry")


def worst_case_usd(config: ModelConfig, messages: Sequence[dict[str, Any]]) -> float:
    """The most one call of ``config`` with ``messages`` can cost (module docstring); 0 for free backends.

    Call :func:`check_bounded` first: an unpriced API model raises here too.
    """
    if not costs_money(config):
        return 0.0
    check_bounded(config)
    prompt = prompt_bytes(messages) + MESSAGE_OVERHEAD_TOKENS * len(messages)
    return billed_price(config).usd(prompt, max_output_tokens(config) or 0)


def call_usd(config: ModelConfig, prompt_tokens: int | None, completion_tokens: int | None) -> float:
    """What a finished call cost from the usage the provider reported (0 for what it did not report,
    as :mod:`r1lib.cost.spent` counts it); 0 for free backends."""
    if not costs_money(config) or not config.pricing:
        return 0.0
    return billed_price(config).usd(prompt_tokens or 0, completion_tokens or 0)
