"""Pre-filling the assistant turn through an OpenAI-compatible route, for the mitigation arms that
start the thinking (a thinking prefix, ZeroThink's empty think block; :mod:`r1lib.config.arms`).

A route says how it accepts an assistant prefix in ``options.assistant_prefix`` (an option that does
not change a baseline's output, so it is not in the record key; the arm's pre-fill is):

- ``continue_final_message``: a vLLM (or SGLang) server's chat-completions extension: the last message
  is the assistant's prefix, with ``continue_final_message: true`` and ``add_generation_prompt: false``;
- ``deepseek_prefix``: DeepSeek's chat prefix completion (beta base URL): the last message is
  ``{"role": "assistant", "content": PREFIX, "prefix": true}``.

A route without it cannot honour such an arm; :mod:`r1lib.generation.mitigations` refuses the arm
before any call. The pre-filled text is not part of the output the server returns.
"""

from __future__ import annotations

from typing import Any

from r1lib.config.settings import ModelConfig
from r1lib.core.errors import UserError
from r1lib.core.records import Messages

#: The values of ``options.assistant_prefix`` and what each sends.
STYLES = ("continue_final_message", "deepseek_prefix")


def prefix_style(config: ModelConfig) -> str | None:
    """The entry's ``options.assistant_prefix`` (None when the route accepts no assistant prefix)."""
    style = config.options.get("assistant_prefix")
    if style is not None and style not in STYLES:
        raise UserError(f"model {config.name!r}: options.assistant_prefix is {style!r}; use one of "
                        f"{', '.join(STYLES)}, or remove it when the route accepts no assistant prefix")
    return style


def prefilled_body(config: ModelConfig, messages: Messages) -> dict[str, Any]:
    """The ``messages`` of a request body, with the arm's assistant pre-fill and the fields it needs."""
    mitigation = config.mitigation
    prefill = mitigation.prefill if mitigation is not None else None
    if mitigation is None or prefill is None:
        return {"messages": messages}
    style = prefix_style(config)
    if style == "continue_final_message":
        return {"messages": [*messages, {"role": "assistant", "content": prefill}],
                "continue_final_message": True, "add_generation_prompt": False}
    if style == "deepseek_prefix":
        return {"messages": [*messages, {"role": "assistant", "content": prefill, "prefix": True}]}
    raise UserError(f"model {config.name!r}: arm {mitigation.arm!r} pre-fills the assistant turn, "
                    "but the route accepts no assistant prefix; set options.assistant_prefix "
                    f"({', '.join(STYLES)}) if it does, or drop the arm for this model")
