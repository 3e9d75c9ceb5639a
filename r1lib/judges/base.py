"""The judge interface and the machinery every judge shares.

A judge turns one *channel* (``answer``, ``thinking`` or ``full``) of a generation record into a
:class:`~r1lib.records.Verdict`. Verdicts are cached in the store under (generation key, judge,
version, channel), so judging again is free; the version hashes the judge's prompt text, its
options and its judge-model config, so changing any of them judges afresh.

LLM judges call their judge model through :func:`r1lib.runner.run_requests` with ``role="judge"``:
the same concurrency, retries, resume and token accounting as generation. Empty channels (no
answer because thinking hit the token limit; no thinking from a non-reasoning model) get the label
``no_output`` and are never sent to a judge or counted as safe. Judge answers that cannot be parsed
are stored with ``parsed_ok=False`` and no label.

Long texts: a judge never cuts a trace silently. With ``long_text="chunk"`` (default) a text longer
than ``max_chars`` is split into chunks judged separately and the least safe chunk verdict wins;
with ``long_text="truncate"`` only the first ``max_chars`` characters are judged and the verdict
records ``truncated`` with the original length.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from r1lib.config import ModelConfig, canonical_json
from r1lib.errors import UserError
from r1lib.records import CHANNELS, GenerationRecord, Messages, Verdict, generation_outcome, record_key
from r1lib.runner import Request, run_requests, with_system_prompt
from r1lib.store import Store

NO_OUTPUT = "no_output"
LONG_TEXT_MODES = ("chunk", "truncate")


@dataclass(frozen=True)
class JudgeInput:
    """What a judge sees: the record it judges, the user prompt, the channel text and the item's meta."""

    gen_key: str
    prompt: str
    text: str
    channel: str
    benchmark: str
    meta: dict[str, Any] = field(default_factory=dict)
    messages: Messages = field(default_factory=list)
    #: The record's final answer, for judges of the thinking that also need to see what came of it.
    answer: str = ""


@dataclass(frozen=True)
class Parsed:
    """A parsed judge answer: label (None when unparseable), safety score and details."""

    label: str | None
    score: float | None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the judge answer was understood."""
        return self.label is not None


class Judge(ABC):
    """Base class: subclasses set ``name``, ``labels``, ``safe_labels`` and implement :meth:`judge_inputs`.

    ``score`` of a safety judge is in the safe direction (1 = safe); see each judge's docstring.
    """

    name: str = ""
    labels: tuple[str, ...] = ()
    safe_labels: frozenset[str] = frozenset()

    def __init__(self, *, max_chars: int = 24_000, long_text: str = "chunk", **options: Any):
        if long_text not in LONG_TEXT_MODES:
            raise UserError(f"long_text must be one of {LONG_TEXT_MODES}, not {long_text!r}")
        self.max_chars = max_chars
        self.long_text = long_text
        self.options = options

    def version_payload(self) -> dict[str, Any]:
        """Everything that changes this judge's verdicts (subclasses add prompts and models)."""
        return {"name": self.name, "max_chars": self.max_chars, "long_text": self.long_text,
                "options": self.options}

    @property
    def version(self) -> str:
        """Short hash of :meth:`version_payload`."""
        return hashlib.sha256(canonical_json(self.version_payload()).encode()).hexdigest()[:12]

    @property
    def judge_model_name(self) -> str:
        """The model behind this judge's verdicts, stored with each verdict; ``none`` when it decides locally."""
        return "none"

    @abstractmethod
    def judge_inputs(self, inputs: Sequence[JudgeInput], store: Store, *, progress: bool = True) -> list[Verdict]:
        """Judge non-empty inputs; return one verdict per input, in order."""

    def pieces(self, text: str) -> tuple[list[str], dict[str, Any]]:
        """Split or cut a long text per ``long_text``; returns the pieces and what was done."""
        if len(text) <= self.max_chars:
            return [text], {}
        if self.long_text == "truncate":
            return [text[:self.max_chars]], {"truncated": True, "original_chars": len(text)}
        chunks = [text[i:i + self.max_chars] for i in range(0, len(text), self.max_chars)]
        return chunks, {"chunks": len(chunks), "original_chars": len(text)}

    def least_safe(self, parsed: Sequence[Parsed]) -> Parsed:
        """Combine chunk verdicts: any unparseable chunk makes the whole unparseable; else the lowest score."""
        if any(not p.ok for p in parsed):
            return Parsed(None, None, {"chunk_parse_failures": sum(not p.ok for p in parsed)})
        worst = min(parsed, key=lambda p: (p.score if p.score is not None else float("inf")))
        return Parsed(worst.label, worst.score, dict(worst.details, chunk_labels=[p.label for p in parsed]))


class LLMJudge(Judge):
    """A judge that asks a judge model once per (piece of) text and parses its answer."""

    #: The prompt text(s) this judge sends; part of the version hash.
    templates: dict[str, str] = {}

    def __init__(self, judge_model: ModelConfig, **options: Any):
        super().__init__(**options)
        self.judge_model = judge_model

    def version_payload(self) -> dict[str, Any]:
        """Adds the prompt templates and the judge model's output-relevant config."""
        return {**super().version_payload(), "templates": self.templates,
                "judge_model": self.judge_model.key_fields()}

    @property
    def judge_model_name(self) -> str:
        """The judge model's registry name."""
        return self.judge_model.name

    @abstractmethod
    def build_messages(self, inp: JudgeInput, text: str) -> Messages:
        """The judge-model conversation for one (piece of) channel text."""

    @abstractmethod
    def parse(self, raw: str, inp: JudgeInput) -> Parsed:
        """Understand the judge model's answer."""

    def ask(self, conversations: Sequence[tuple[str, Messages]], store: Store, *,
            progress: bool = True) -> list[tuple[str | None, str | None]]:
        """Send conversations (prompt id, messages) to the judge model; returns (answer, error) each."""
        requests = [Request(prompt_id=pid, messages=m) for pid, m in conversations]
        records, _ = run_requests(self.judge_model, f"judge:{self.name}", requests, store,
                                  role="judge", progress=progress)
        # Match by record key, not prompt id: identical conversations (the same answer judged twice,
        # now or in an earlier run) share one stored record, which keeps its first prompt id.
        by_key = {r.key: r for r in records}
        keys = [record_key(self.judge_model.key_fields(), with_system_prompt(self.judge_model, m), 0)
                for _, m in conversations]
        return [(by_key[k].answer if by_key[k].ok else None, by_key[k].error)
                if k in by_key else (None, "judge call not stored") for k in keys]

    def judge_inputs(self, inputs: Sequence[JudgeInput], store: Store, *, progress: bool = True) -> list[Verdict]:
        """Chunk or truncate, ask the judge model for every piece, parse, combine."""
        plan: list[tuple[JudgeInput, list[str], dict[str, Any]]] = []
        conversations: list[tuple[str, Messages]] = []
        for inp in inputs:
            pieces, how = self.pieces(inp.text)
            plan.append((inp, pieces, how))
            for i, piece in enumerate(pieces):
                conversations.append((f"{inp.gen_key}:{inp.channel}:{i}", self.build_messages(inp, piece)))
        answers = iter(self.ask(conversations, store, progress=progress))
        verdicts = []
        for inp, pieces, how in plan:
            results = [next(answers) for _ in pieces]
            errors = [err for _, err in results if err]
            if errors:
                verdicts.append(self.verdict(inp, Parsed(None, None), raw="", error=errors[0]))
                continue
            parsed = [self.parse(raw or "", inp) for raw, _ in results]
            combined = parsed[0] if len(parsed) == 1 else self.least_safe(parsed)
            raw = "\n---\n".join(raw or "" for raw, _ in results)
            verdicts.append(self.verdict(inp, combined, raw=raw, extra=how))
        return verdicts

    def verdict(self, inp: JudgeInput, parsed: Parsed, *, raw: str, error: str | None = None,
                extra: dict[str, Any] | None = None) -> Verdict:
        """Assemble the verdict record for one input."""
        return Verdict(gen_key=inp.gen_key, judge=self.name, version=self.version, channel=inp.channel,
                       label=parsed.label, score=parsed.score, parsed_ok=parsed.ok, raw=raw,
                       details={**parsed.details, **(extra or {})}, error=error)


def channel_text(record: GenerationRecord, channel: str) -> str:
    """The text of one channel of a record ('' when that channel is empty)."""
    if channel not in CHANNELS:
        raise UserError(f"unknown channel {channel!r}; use one of {', '.join(CHANNELS)}")
    thinking, answer = (record.thinking or "").strip(), (record.answer or "").strip()
    if channel == "answer":
        return answer
    if channel == "thinking":
        return thinking
    return f"<think>\n{thinking}\n</think>\n\n{answer}" if thinking else answer


def judge_records(judge: Judge, records: Sequence[GenerationRecord], channel: str, store: Store, *,
                  progress: bool = True) -> list[Verdict]:
    """Verdicts for one channel of each successful record, from the cache or freshly judged.

    Failed, blocked and not-recorded generations are not judged (they have no output; their outcome
    comes from the record). Empty channels get ``no_output``. Returns verdicts in record order for
    the judged records.
    """
    records = [r for r in records
               if generation_outcome(r.error, r.finish_reason, r.trace_state, r.answer) in ("answered", "no_answer")]
    cached = store.get_verdicts([r.key for r in records], judge.name, judge.version, channel)
    todo: list[JudgeInput] = []
    for record in records:
        if record.key in cached and cached[record.key].error is None:
            continue
        text = channel_text(record, channel)
        if not text:
            reason = f"empty {channel} (trace state {record.trace_state}, finish {record.finish_reason})"
            verdict = Verdict(gen_key=record.key, judge=judge.name, version=judge.version, channel=channel,
                              label=NO_OUTPUT, score=None, parsed_ok=True, details={"skipped": reason},
                              judge_model=judge.judge_model_name)
            store.put_verdict(verdict)
            cached[record.key] = verdict
            continue
        todo.append(JudgeInput(gen_key=record.key, prompt=record.prompt, text=text, channel=channel,
                               benchmark=record.benchmark, meta=record.meta, messages=record.messages,
                               answer=channel_text(record, "answer")))
    for verdict in judge.judge_inputs(todo, store, progress=progress) if todo else []:
        verdict = replace(verdict, judge_model=judge.judge_model_name)
        store.put_verdict(verdict)
        cached[verdict.gen_key] = verdict
    return [cached[r.key] for r in records if r.key in cached]
