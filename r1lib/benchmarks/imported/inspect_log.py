"""Inspect (UK AISI's ``inspect_ai``) evaluation logs, ``.eval`` or ``.json``, as normalised imported rows.

One row per sample and epoch (epoch E is r1lib's sample index E - 1). The conversation is the
sample's messages before the model's last output (system, user and earlier assistant turns); the
last output is the final assistant message (the last message when it is the assistant's, else
``sample.output``). Its reasoning blocks (``ContentReasoning``) become ``thinking`` and its text
blocks ``answer``; a final message without
reasoning blocks also gives its text as ``output``, so that inline ``<think>`` tags still reach the
trace parser. A sample written by ``r1lib export --format inspect`` whose thinking came from tags
(``metadata["r1lib"]["trace_source"] == "tags"``) also gives ``output``: the thinking and answer put
back in tags the way its trace state says (:func:`r1lib.core.traces.tagged_text`), so a round trip
keeps the state; other reasoning blocks were delivered apart from the text, and are imported as a
separate reasoning field (trace state ``api_field``). A sample without any output (an errored
sample, or a record r1lib had no recording for) has ``output``, ``thinking`` and ``answer`` None
and its error, if any, in ``meta["inspect"]["error"]``: it is imported as not answered, never as
safe. Redacted reasoning (encrypted by the provider) is not readable: its summary, when the
provider gave one, stands for it and ``meta["inspect"]["thinking_redacted"]`` says so.

Tool calls and non-text content (images, audio, documents) are refused with a UserError rather
than dropped: r1lib judges text conversations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from r1lib.core.errors import UserError
from r1lib.core.traces import tagged_text

_INSTALL = 'pip install -e ".[inspect]"'
_TEXT_ROLES = ("system", "user", "assistant")


def read_inspect_log(path: str | Path) -> list[dict[str, Any]]:
    """The samples of the Inspect log at ``path`` as normalised rows (see the module docstring).

    ``id`` is the sample id and ``sample`` its epoch - 1 (r1lib's sample index, which the export wrote as the epoch);
    ``meta`` is the sample's metadata plus ``meta["inspect"]`` (the log's task, model, eval id and
    run id, the sample's epoch, target, stop reason, scores and error); ``category`` is the
    sample metadata's ``category`` mapping when it has one (the shape ``r1lib export --format
    inspect`` writes), else its string-valued entries; ``model`` is the log's model.
    """
    read_eval_log = _read_eval_log()
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no Inspect log at {path}; give the path of a .eval or .json log written by `inspect eval`")
    try:
        log = read_eval_log(str(path))
    except Exception as exc:  # a zip, JSON or schema error: inspect_ai raises several kinds
        raise UserError(f"{path} is not a readable Inspect eval log ({type(exc).__name__}: {exc}); "
                        "give a .eval or .json log written by `inspect eval`") from exc
    if not log.samples:
        raise UserError(f"the Inspect log {path} holds no samples (status {log.status}); "
                        "give a log of a finished evaluation, not a header-only one")
    header = {"task": log.eval.task, "model": log.eval.model, "eval_id": log.eval.eval_id,
              "run_id": log.eval.run_id}
    return [_row(sample, index, header) for index, sample in enumerate(log.samples)]


def _read_eval_log() -> Any:
    """``inspect_ai.log.read_eval_log``, or a UserError naming the extra to install."""
    try:
        from inspect_ai.log import read_eval_log  # optional dependency: only this reader needs it
    except ImportError as exc:
        raise UserError(f"reading Inspect logs needs inspect_ai, which is not installed ({exc}); "
                        f"install it with `{_INSTALL}`") from exc
    return read_eval_log


def _row(sample: Any, index: int, header: dict[str, Any]) -> dict[str, Any]:
    """One normalised row of one sample."""
    sample_id = f"{sample.id}#{sample.epoch}"  # names the sample in error messages
    conversation, final = _split(sample)
    messages, earlier_thinking = _conversation(conversation, sample_id)
    metadata = dict(sample.metadata or {})
    inspect_meta: dict[str, Any] = {
        **header, "epoch": sample.epoch, "target": sample.target,
        "stop_reason": sample.output.stop_reason if sample.output and sample.output.choices else None,
        "scores": {name: score.value for name, score in (sample.scores or {}).items()},
        "error": sample.error.message if sample.error else None}
    if earlier_thinking:
        inspect_meta["earlier_thinking"] = earlier_thinking
    output = thinking = answer = None
    if final is not None:
        _no_tools(final, sample_id)
        thinking, redacted = _reasoning(final)
        text = _text(final, sample_id)
        answer = text if _has_text(final) else None
        output = None if thinking is not None else (answer or "")
        r1lib = metadata.get("r1lib") if isinstance(metadata.get("r1lib"), dict) else {}
        if thinking is not None and r1lib.get("trace_source") == "tags":  # r1lib's export of a tagged output
            output = tagged_text(thinking, answer or "", str(r1lib.get("trace_state")))
        if redacted:
            inspect_meta["thinking_redacted"] = True
    return {"id": str(sample.id), "sample": sample.epoch - 1, "messages": messages, "output": output,
            "thinking": thinking, "answer": answer, "category": _category(metadata),
            "meta": {**metadata, "inspect": inspect_meta}, "model": header["model"], "row": index}


def _split(sample: Any) -> tuple[list[Any], Any]:
    """The conversation before the model's last output, and that output (None when there is none)."""
    conversation = list(sample.messages) or _input_messages(sample.input)
    if conversation and conversation[-1].role == "assistant":
        return conversation[:-1], conversation[-1]
    if sample.output is not None and sample.output.choices:
        return conversation, sample.output.message
    return conversation, None


def _input_messages(value: Any) -> list[Any]:
    """A sample's ``input`` (a string or a list of chat messages) as chat messages."""
    if isinstance(value, str):
        from inspect_ai.model import ChatMessageUser  # inspect_ai is importable: the log was read with it
        return [ChatMessageUser(content=value)]
    return list(value)


def _conversation(conversation: list[Any], sample_id: str) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The turns as ``{"role", "content"}`` dicts, and the reasoning of earlier assistant turns by turn index."""
    messages, earlier_thinking = [], {}
    for turn, message in enumerate(conversation):
        _no_tools(message, sample_id)
        if message.role == "assistant":
            thinking, _ = _reasoning(message)
            if thinking is not None:
                earlier_thinking[str(turn)] = thinking
        messages.append({"role": message.role, "content": _text(message, sample_id)})
    if not messages or messages[-1]["role"] != "user":
        last = messages[-1]["role"] if messages else "nothing"
        raise UserError(f"Inspect sample {sample_id}: the conversation before the model's output ends with "
                        f"{last}, not a user turn; r1lib imports chat samples whose last input is the user's")
    return messages, earlier_thinking


def _no_tools(message: Any, sample_id: str) -> None:
    """A UserError for a tool result or a message with tool calls: r1lib does not judge tool use."""
    if message.role not in _TEXT_ROLES or getattr(message, "tool_calls", None):
        raise UserError(f"Inspect sample {sample_id} uses tools (a {message.role} turn with tool calls or "
                        "results); r1lib imports chat conversations without tools")


def _blocks(message: Any) -> list[Any]:
    """A message's content as a list of content blocks (a plain string is one text block)."""
    return [] if isinstance(message.content, str) else list(message.content)


def _has_text(message: Any) -> bool:
    return isinstance(message.content, str) or any(block.type == "text" for block in message.content)


def _text(message: Any, sample_id: str) -> str:
    """The text of a message; content other than text and reasoning is a UserError, not dropped."""
    other = sorted({block.type for block in _blocks(message)} - {"text", "reasoning"})
    if other:
        raise UserError(f"Inspect sample {sample_id}: a {message.role} turn holds {', '.join(other)} content; "
                        "r1lib imports text conversations only")
    return message.text


def _reasoning(message: Any) -> tuple[str | None, bool]:
    """The reasoning blocks of a message joined by blank lines (None without any), and whether one was redacted."""
    blocks = [block for block in _blocks(message) if block.type == "reasoning"]
    if not blocks:
        return None, False
    texts = [(block.summary or "") if block.redacted else block.reasoning for block in blocks]
    return "\n\n".join(texts), any(block.redacted for block in blocks)


def _category(metadata: dict[str, Any]) -> dict[str, str]:
    """The ``category`` mapping of the metadata when it is one of strings, else its string-valued entries."""
    nested = metadata.get("category")
    if isinstance(nested, dict) and all(isinstance(v, str) for v in nested.values()):
        return {str(k): v for k, v in nested.items()}
    return {str(k): v for k, v in metadata.items() if isinstance(v, str)}
