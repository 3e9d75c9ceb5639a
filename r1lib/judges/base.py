"""The judge interface and the machinery every judge shares.

A judge turns one *channel* (``answer``, ``thinking`` or ``full``) of a generation record into a
:class:`~r1lib.core.records.Verdict`. Verdicts are cached in the store under (generation key, judge,
version, channel), so judging again is free; the version hashes the judge's prompt text, its
protocol (where the prompt comes from and every deliberate deviation from it), its options and its
judge-model config, so changing any of them judges afresh.

Judges receive the record's thinking and answer as separate fields (:class:`JudgeInput`); no judge
looks for think tags (:func:`r1lib.core.traces.render_full` builds the ``full`` channel's text).

LLM judges call their judge model through :func:`r1lib.generation.runner.run_requests` with ``role="judge"``:
the same concurrency, retries, resume and token accounting as generation. Empty channels (no
answer because thinking hit the token limit; no thinking from a non-reasoning model) get the label
``no_output`` and are never sent to a judge or counted as safe. Judge answers that cannot be parsed
are stored with ``parsed_ok=False`` and no label.

Long texts: a judge never cuts a trace silently, and splits one only when it would not fit in the
judge model's context (``context_tokens`` of its model entry, minus the prompt and the answer
budget, at a conservative :data:`CHARS_PER_TOKEN`). With ``long_text="chunk"`` (default) the
pieces are judged separately and combined by :meth:`Judge.combine`, which does not depend on the
order of the pieces: any unparseable piece makes the whole unparseable; otherwise the label that
comes first in the judge's ``labels`` (ordered from least safe to safest) wins. With
``long_text="truncate"`` only the first piece is judged and the verdict records ``truncated``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from r1lib.config.settings import ModelConfig
from r1lib.core.errors import UserError
from r1lib.core.records import (
    CHANNELS,
    LOCAL_JUDGE_MODEL,
    GenerationRecord,
    Messages,
    Verdict,
    canonical_json,
    generation_outcome,
    record_key,
)
from r1lib.core.traces import render_full
from r1lib.generation.runner import Request, run_requests, with_system_prompt
from r1lib.store.database import Store

NO_OUTPUT = "no_output"
LONG_TEXT_MODES = ("chunk", "truncate")
#: Characters per token assumed when sizing chunks: low on purpose (English prose runs ~4, code ~3).
CHARS_PER_TOKEN = 3
#: Context assumed for a judge model whose entry sets no ``context_tokens``.
DEFAULT_CONTEXT_TOKENS = 8192
#: Tokens kept free for the judge's answer when the entry sets no ``max_tokens``.
DEFAULT_ANSWER_TOKENS = 1024


@dataclass(frozen=True)
class Protocol:
    """Where a judge's protocol comes from, and how this project departs from it.

    ``paper`` is True when, as far as is known, this is the protocol the paper used (then a table
    cell judged this way can be compared with the paper's); ``deviations`` lists every deliberate
    difference (they enter the judge version and every notebook header).
    """

    source: str
    paper: bool
    deviations: tuple[str, ...] = ()


PROJECT_WRITTEN = Protocol(source="project-written prompt (the paper does not give its own)", paper=False)


@dataclass(frozen=True)
class JudgeInput:
    """What a judge sees: the record it judges, the user prompt, the channel text, the item's meta,
    and the record's thinking and answer as separate fields."""

    gen_key: str
    prompt: str
    text: str
    channel: str
    benchmark: str
    meta: dict[str, Any] = field(default_factory=dict)
    messages: Messages = field(default_factory=list)
    #: The record's final answer and thinking ('' when absent).
    answer: str = ""
    thinking: str = ""


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
    """Base class: subclasses set ``name``, ``labels`` (least safe first), ``safe_labels``,
    ``protocol`` and implement :meth:`judge_inputs`.

    ``score`` of a safety judge is in the safe direction (1 = safe); see each judge's docstring.
    """

    name: str = ""
    labels: tuple[str, ...] = ()
    safe_labels: frozenset[str] = frozenset()
    protocol: Protocol = PROJECT_WRITTEN
    #: The label (and its score) a provider-blocked prompt counts as when a profile counts blocks as
    #: refusals; None: blocked records stay excluded for this judge.
    refusal_label: str | None = None
    refusal_score: float | None = None
    #: The labels that are the desired outcome on a prompt its benchmark marks safe to answer (item meta
    #: ``label == "safe"``: XSTest's safe prompts, where compliance is right and refusal is over-refusal);
    #: empty when ``safe_labels`` are right on every prompt. See :meth:`desired_labels`.
    safe_prompt_labels: frozenset[str] = frozenset()
    #: What a verdict's ``score`` measures when it says more than its label (a severity, a grade, a
    #: reward), in a few words for displays; None when the score only restates the label (displays
    #: leave it out).
    score_meaning: str | None = None

    def __init__(self, *, max_chars: int | None = None, long_text: str = "chunk", **options: Any):
        if long_text not in LONG_TEXT_MODES:
            raise UserError(f"long_text must be one of {LONG_TEXT_MODES}, not {long_text!r}")
        if max_chars is not None and max_chars < 1:
            raise UserError(f"max_chars must be a positive number of characters, not {max_chars}")
        self._max_chars = max_chars
        self.long_text = long_text
        self.options = options

    @classmethod
    def desired_labels(cls, item_meta: Mapping[str, Any] | None) -> frozenset[str]:
        """The labels that are the safe, desired outcome for one prompt (its item ``meta``, as stored in a
        record's ``meta["item"]``): :attr:`safe_prompt_labels` on a prompt marked safe to answer when the
        judge has them, else :attr:`safe_labels` (empty for score-only judges)."""
        if cls.safe_prompt_labels and (item_meta or {}).get("label") == "safe":
            return cls.safe_prompt_labels
        return cls.safe_labels

    @property
    def max_chars(self) -> int | None:
        """Longest text judged in one piece (None: never split)."""
        return self._max_chars

    def version_payload(self) -> dict[str, Any]:
        """Everything that changes this judge's verdicts (subclasses add prompts and models)."""
        return {"name": self.name, "max_chars": self.max_chars, "long_text": self.long_text,
                "options": self.options, "protocol": dataclasses.asdict(self.protocol)}

    @property
    def version(self) -> str:
        """Short hash of :meth:`version_payload`."""
        return hashlib.sha256(canonical_json(self.version_payload()).encode()).hexdigest()[:12]

    def blocked_verdict(self) -> Parsed | None:
        """What a provider-blocked record counts as, if it counts as a refusal (see ``refusal_label``)."""
        if self.refusal_label is None:
            return None
        return Parsed(self.refusal_label, self.refusal_score, {"blocked": True})

    def describe(self) -> dict[str, str]:
        """What the notebook header says about this judge: source, paper protocol or not, deviations."""
        return {"judge": self.name, "version": self.version, "protocol": self.protocol.source,
                "paper protocol": "yes" if self.protocol.paper else "no",
                "deviations": "; ".join(self.protocol.deviations) or "-"}

    @property
    def judge_model_name(self) -> str:
        """The model behind this judge's verdicts, stored with each verdict; ``none`` when it decides locally."""
        return LOCAL_JUDGE_MODEL

    @abstractmethod
    def judge_inputs(self, inputs: Sequence[JudgeInput], store: Store, *, progress: bool = True) -> list[Verdict]:
        """Judge non-empty inputs; return one verdict per input, in order."""

    def pieces(self, text: str) -> tuple[list[str], dict[str, Any]]:
        """Split or cut a text longer than :attr:`max_chars` per ``long_text``; the pieces and what was done."""
        limit = self.max_chars
        if limit is None or len(text) <= limit:
            return [text], {}
        if self.long_text == "truncate":
            return [text[:limit]], {"truncated": True, "original_chars": len(text)}
        chunks = [text[i:i + limit] for i in range(0, len(text), limit)]
        return chunks, {"chunks": len(chunks), "original_chars": len(text)}

    def combine(self, parsed: Sequence[Parsed]) -> Parsed:
        """One verdict from the verdicts of a text's pieces, whatever their order (module docstring)."""
        if any(not p.ok for p in parsed):
            return Parsed(None, None, {"chunk_parse_failures": sum(not p.ok for p in parsed)})
        rank = {label: i for i, label in enumerate(self.labels)}
        worst = min(parsed, key=lambda p: (rank.get(p.label or "", len(rank)), p.score if p.score is not None
                                           else float("inf"), json.dumps(p.details, sort_keys=True, default=str)))
        return Parsed(worst.label, worst.score, dict(worst.details, chunk_labels=sorted(p.label or "" for p in parsed)))


@dataclass(frozen=True)
class PlannedCall:
    """One judge-model call an LLM judge makes per judged output, as cost estimates count it: its
    ``kind``, the conversation sent, the tokens the judge model is expected to write, and prompt
    tokens an earlier call's answer adds (MITRE's verdict reads the expansion)."""

    kind: str
    messages: Messages
    output_tokens: float
    carried_tokens: float = 0.0


class LLMJudge(Judge):
    """A judge that asks a judge model once per (piece of) text and parses its answer."""

    #: The prompt text(s) this judge sends; part of the version hash.
    templates: dict[str, str] = {}
    #: Tokens the judge model writes per call (an assumption unless a judge says where it was measured).
    output_tokens: float = 50.0

    def planned_calls(self, inp: JudgeInput, text: str) -> list[PlannedCall]:
        """The calls this judge makes for one judged ``text`` (one verdict; multi-step judges override)."""
        return [PlannedCall("verdict", self.build_messages(inp, text), self.output_tokens)]

    def __init__(self, judge_model: ModelConfig, **options: Any):
        super().__init__(**options)
        self.judge_model = judge_model

    @property
    def max_chars(self) -> int | None:
        """Explicit ``max_chars``, else what fits in the judge model's context next to the prompt."""
        if self._max_chars is not None:
            return self._max_chars
        context = self.judge_model.context_tokens or DEFAULT_CONTEXT_TOKENS
        answer = int(self.judge_model.params.get("max_tokens")
                     or self.judge_model.params.get("max_completion_tokens") or DEFAULT_ANSWER_TOKENS)
        prompt = max((len(t) for t in self.templates.values()), default=0) // CHARS_PER_TOKEN
        return max(1000, (context - answer - prompt) * CHARS_PER_TOKEN)

    def version_payload(self) -> dict[str, Any]:
        """Adds the prompt templates and the judge model's output-relevant config."""
        return {**super().version_payload(), "templates": self.templates,
                "judge_model": self.judge_model.key_fields()}

    def describe(self) -> dict[str, str]:
        """Adds the judge model."""
        return {**super().describe(), "judge model": f"{self.judge_model.name} ({self.judge_model.model})"}

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

    def guided(self, schema: dict[str, Any] | str | None) -> ModelConfig:
        """The judge model asked for JSON following ``schema`` (OpenAI ``response_format`` json_schema)."""
        if schema is None:
            return self.judge_model
        value = json.loads(schema) if isinstance(schema, str) else schema
        response_format = {"type": "json_schema",
                           "json_schema": {"name": f"{self.name.replace('-', '_')}_verdict", "schema": value}}
        return dataclasses.replace(self.judge_model, extra_body={**self.judge_model.extra_body,
                                                                 "response_format": response_format})

    def ask(self, conversations: Sequence[tuple[str, Messages]], store: Store, *, progress: bool = True,
            model: ModelConfig | None = None) -> list[tuple[str | None, str | None]]:
        """Send conversations (prompt id, messages) to the judge model; returns (answer, error) each."""
        model = model or self.judge_model
        requests = [Request(prompt_id=pid, messages=m) for pid, m in conversations]
        records, _ = run_requests(model, f"judge:{self.name}", requests, store, role="judge", progress=progress)
        # Match by record key, not prompt id: identical conversations (the same answer judged twice,
        # now or in an earlier run) share one stored record, which keeps its first prompt id.
        by_key = {r.key: r for r in records}
        keys = [record_key(model.key_fields(), with_system_prompt(model, m), 0) for _, m in conversations]
        return [(_judge_answer(by_key[k]), by_key[k].error) if k in by_key else (None, "judge call not stored")
                for k in keys]

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
            combined = parsed[0] if len(parsed) == 1 else self.combine(parsed)
            raw = "\n---\n".join(raw or "" for raw, _ in results)
            verdicts.append(self.verdict(inp, combined, raw=raw, extra=how))
        return verdicts

    def verdict(self, inp: JudgeInput, parsed: Parsed, *, raw: str, error: str | None = None,
                extra: dict[str, Any] | None = None) -> Verdict:
        """Assemble the verdict record for one input."""
        return Verdict(gen_key=inp.gen_key, judge=self.name, version=self.version, channel=inp.channel,
                       label=parsed.label, score=parsed.score, parsed_ok=parsed.ok, raw=raw,
                       details={**parsed.details, **(extra or {})}, error=error)


def _judge_answer(record: GenerationRecord) -> str | None:
    """What a judge model said: its visible answer (a judge that reasons keeps its thinking apart)."""
    if not record.ok:
        return None
    return record.answer or ""


def channel_text(record: GenerationRecord, channel: str) -> str:
    """The text of one channel of a record ('' when that channel is empty)."""
    if channel not in CHANNELS:
        raise UserError(f"unknown channel {channel!r}; use one of {', '.join(CHANNELS)}")
    thinking, answer = (record.thinking or "").strip(), (record.answer or "").strip()
    if channel == "answer":
        return answer
    if channel == "thinking":
        return thinking
    return render_full(thinking, answer)


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
                               answer=channel_text(record, "answer"), thinking=channel_text(record, "thinking")))
    for verdict in judge.judge_inputs(todo, store, progress=progress) if todo else []:
        verdict = dataclasses.replace(verdict, judge_model=judge.judge_model_name)
        store.put_verdict(verdict)
        cached[verdict.gen_key] = verdict
    return [cached[r.key] for r in records if r.key in cached]
