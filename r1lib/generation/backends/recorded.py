"""The ``recorded`` backend: answers each conversation with a real model's recorded output.

A model entry ``backend: recorded``, ``model: <source>/<run>`` names one run of
:data:`r1lib.benchmarks.recorded.RUNS` (e.g. ``refusal-direction/DeepSeek-R1-Distill-Llama-8B``).
A conversation is matched as a whole: every message's role and whitespace-normalised text (the
system prompt if any, the earlier turns of a multi-turn attack, the final user message). A
conversation the recording does not hold (another prompt, another system prompt, other turns)
comes back as ``Completion(finish_reason=NOT_RECORDED_FINISH, text="")``:
never a generation, never an error, never counted as safe. Every completion carries
``provenance``: repository, commit, file, row and how the thinking was delimited.

**How each run's text is handed to** :func:`r1lib.core.traces.parse_trace` (decided from the data;
``tests/test_recorded.py`` checks every rule on the real rows). The text is the model's output as
recorded; only tags the source removed or the chat template supplied are put back:

- ``prefilled_think`` (DeepSeek-R1-Distill-Llama-8B, refusal_direction): the chat template
  pre-filled ``<think>``, so outputs start inside the thinking and end it at a bare ``</think>``;
  those go over as recorded (state ``bare_close``). An output without ``</think>`` is one of two
  things. Thinking that never reached ``</think>`` (cut at 512 new tokens, or, for 2 harmless rows,
  stopped while thinking) always opens the way R1 opens its thinking, "Alright, so" or "Okay, so";
  it gets the template's ``<think>`` back in front (``unterminated``). Everything else is a direct
  answer with no thinking: the short refusals ("I'm sorry, but I can't assist with that
  request.") and direct answers to harmless prompts; it goes over as recorded (``no_think``).
  One harmless output cut at the limit ("Sure, I'd be happy to help! Let me think through this
  step by step ...") reads like thinking addressed to the user; by this rule it is an answer.
- ``think_tags`` (DeepSeek-R1, personas): the raw ``answer`` with its ``<think>``, as recorded
  (``closed``, ``empty_think``, or ``unterminated`` when cut at 1,000 tokens).
- ``thinking_only`` (R1-Distill-Qwen-14B, age-bias): the file keeps only the text inside
  ``<think>``; it is wrapped in the tags again with nothing after them, so the thinking is the
  thinking and the answer is empty (``closed``; ``empty_think`` for the empty traces).
- ``answer_only`` (DeepSeek-R1 through cloud APIs, deepseek-api-jailbreak): the providers returned
  the final answer without the thinking; as recorded (``no_think``), and the thinking channel has
  nothing to judge.
- ``no_thinking`` (the instruct models): as recorded (``no_think``).
- Imported outputs (``r1lib import``, runs ``imported/NAME@VERSION``; the shape comes from the
  import's mapping, see :mod:`r1lib.benchmarks.imported.run`): ``prefilled_think`` as above
  (``--opens-thinking``), ``think_tags`` (a raw output), ``joined`` (thinking and answer fields put in
  tags), ``reasoning_parser`` (``--reasoning-parser deepseek_r1``: a text without tags is all
  thinking, as a live output of such a server is read; ``<think>`` is put in front), ``answer_only``
  and ``no_thinking``; an Inspect log's reasoning block goes over as the completion's reasoning
  field (``reasoning_field``, state ``api_field``). Their provenance names the source file, its
  sha256, the row and the mapping.

**Finish reason and tokens.** No tokenizer of these models is available offline, so whether an
output was cut at the source's token limit is estimated: its approximate token count
(:func:`approx_tokens`: words, groups of up to three digits, runs of punctuation and line breaks,
roughly the pieces a BPE pre-tokenizer makes, each at least one token) reaches 85% of the limit
and it stops mid-sentence or inside the thinking. Then ``finish_reason`` is ``length``, else
``stop`` (``stop`` for ``thinking_only``, whose model went on to answer). An import whose source
recorded a finish reason (an Inspect log's stop reason) keeps it, and a ``content_filter`` one is a
provider block. Token counts stay None: the estimate is not a count; it is kept in
``provenance["approx_tokens"]``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

from r1lib.benchmarks.recorded import RecordedRow, RecordedRun, get_run, normalise_text, read_run
from r1lib.benchmarks.sources import DataFiles
from r1lib.config.settings import ModelConfig
from r1lib.core.errors import UserError
from r1lib.core.records import BLOCKED_FINISH, NOT_RECORDED_FINISH, Messages
from r1lib.core.traces import CLOSE_TAG, OPEN_TAG, parse_trace
from r1lib.generation.backends.base import Backend, Completion, register

#: How R1-Distill-Llama-8B opens its thinking (every thinking without ``</think>`` opens so; no answer does).
THINKING_OPENING = re.compile(r"(?:Alright|Okay), so\b")
#: Share of the token limit from which an output that stops mid-sentence counts as cut.
CUT_SHARE = 0.85
_PIECE = re.compile(r"[^\W\d_]+|\d{1,3}|[^\w\s]+|\n+")
_SENTENCE_END = re.compile(r"""[.!?…)\]"'*`:;>|]\s*$""")

DELIMITING = {
    "bare_close": "bare </think>: the chat template pre-filled <think>",
    "prefill_restored": "thinking without </think>; the chat template's pre-filled <think> put back in front",
    "direct_answer": "no thinking: a direct answer without </think>",
    "think_tags": "<think> ... </think> in the raw output",
    "thinking_only": "thinking only: the source kept the text inside <think> and no answer; tags put back",
    "answer_only": "final answer only: the provider returned the reasoning model's answer without its thinking",
    "no_thinking": "no thinking: a non-reasoning model",
    "joined": "thinking and answer fields of the source, put in <think> ... </think> and the answer after it",
    "reasoning_parser": "read as the deepseek_r1 reasoning parser reads a live output: text without tags is thinking",
    "reasoning_field": "the source delivered the thinking apart from the answer (an Inspect reasoning block)",
}


def approx_tokens(text: str) -> int:
    """An approximate token count: the pieces a BPE pre-tokenizer would make (see the module docstring)."""
    return len(_PIECE.findall(text))


ConversationKey = tuple[tuple[str, str], ...]


def conversation_key(messages: Messages) -> ConversationKey | None:
    """Every message's (role, normalised text), or None when the conversation does not end in a user turn."""
    if not messages or messages[-1].get("role") != "user":
        return None
    return tuple((str(m.get("role")), normalise_text(str(m.get("content", "")))) for m in messages)


def hand_over(run: RecordedRun, row: RecordedRow) -> tuple[str, str]:
    """The text to give the trace parser for ``row`` and the :data:`DELIMITING` key saying why."""
    if row.reasoning is not None:
        return row.output, "reasoning_field"
    if run.shape in ("think_tags", "joined"):
        return row.output, run.shape
    if run.shape == "reasoning_parser":
        tagged = OPEN_TAG in row.output or CLOSE_TAG in row.output
        return (row.output if tagged else f"{OPEN_TAG}\n{row.output}"), "reasoning_parser"
    if run.shape == "thinking_only":
        return f"{OPEN_TAG}\n{row.output}\n{CLOSE_TAG}", "thinking_only"
    if run.shape in ("no_thinking", "answer_only"):
        return row.output, run.shape
    if parse_trace(row.output).state != "no_think":
        return row.output, "bare_close"
    if THINKING_OPENING.match(row.output.lstrip()):
        return f"{OPEN_TAG}\n{row.output}", "prefill_restored"
    return row.output, "direct_answer"


def finish_reason(run: RecordedRun, text: str) -> str:
    """``length`` when ``text`` looks cut at the run's token limit, else ``stop`` (see the module docstring)."""
    if run.max_new_tokens is None or approx_tokens(text) < CUT_SHARE * run.max_new_tokens:
        return "stop"
    mid_sentence = not _SENTENCE_END.search(text)
    return "length" if mid_sentence or parse_trace(text).state == "unterminated" else "stop"


def recorded_completion(run: RecordedRun, row: RecordedRow, files: DataFiles | None = None) -> Completion:
    """The completion for one recorded row, with its provenance (``sha256`` of the file ``files`` read)."""
    text, how = hand_over(run, row)
    source = row.file.outputs
    provenance: dict[str, Any] = {
        "run": run.name, "model": run.model, "repo": source.repo, "commit": source.revision, "file": source.path,
        "mirror": source.mirror, "sha256": (files or DataFiles()).pinned_sha256(source), "row": row.index,
        "condition": row.file.condition,
        "delimiting": DELIMITING[how], "approx_tokens": approx_tokens(row.output),
        "max_new_tokens": run.max_new_tokens}
    if row.file.format == "imported":
        extra = dict(row.file.extra)
        provenance.update({"source": source.repo, "sha256": source.sha256, "import_version": source.revision,
                           "row_id": row.fields.get("id"), "format": extra["format"],
                           "mapping": json.loads(extra["mapping"])})
    finish = row.finish_reason or finish_reason(run, text)  # the source's own, when it recorded one
    blocked = "the source's output stopped at a content filter" if finish == BLOCKED_FINISH else None
    return Completion(text=text, reasoning=row.reasoning, finish_reason=finish, blocked=blocked,
                      provenance=provenance)


@register("recorded")
class RecordedBackend(Backend):
    """Looks every conversation up in one recorded run (see the module docstring): its outputs of sample
    index ``sample`` (an import's later epochs or repeats are samples 1, 2, ...; the pinned runs have 0 only)."""

    def __init__(self, config: ModelConfig, sample: int = 0):
        super().__init__(config)
        self.run = get_run(config.model)
        self.files = DataFiles()
        self.rows: dict[ConversationKey, RecordedRow] = {}
        for row in (r for r in read_run(self.run.name, self.files) if r.sample == sample):
            key = conversation_key(row.messages)
            assert key is not None, "a recorded row always ends in its user prompt"
            if key in self.rows:
                raise UserError(f"recorded run {self.run.name}: rows {self.rows[key].index} and {row.index} hold "
                                "the same conversation; matching by conversation would be ambiguous")
            self.rows[key] = row

    async def generate(self, conversations: Sequence[Messages]) -> AsyncIterator[tuple[int, Completion]]:
        """Yield the recorded output of every conversation, or a not-recorded completion."""
        for index, messages in enumerate(conversations):
            yield index, self.complete(messages)

    def complete(self, messages: Messages) -> Completion:
        """The recorded completion for one conversation."""
        key = conversation_key(messages)
        row = self.rows.get(key) if key is not None else None
        if row is None:
            why = ("the conversation does not end in a user turn" if key is None
                   else "the recording holds no output for this conversation")
            source = self.run.files[0].outputs
            return Completion(text="", finish_reason=NOT_RECORDED_FINISH, provenance={
                "run": self.run.name, "model": self.run.model, "repo": source.repo, "commit": source.revision,
                "row": None, "not_recorded": why})
        return recorded_completion(self.run, row, self.files)
