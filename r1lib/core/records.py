"""The two kinds of record the project keeps: one per model output, one per judge verdict.

Records are plain data. A generation record is never mutated once it holds an answer; a failed
call is stored with its ``error`` and replaced when a later run succeeds. A verdict is a new row
keyed by (generation key, judge, judge version, channel) and never touches its generation.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any


def canonical_json(value: Any) -> str:
    """Deterministic JSON used for hashing record keys."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


CHANNELS = ("answer", "thinking", "full")

#: Finish reason of a record the provider blocked (a refused prompt or a filtered output).
BLOCKED_FINISH = "content_filter"
#: Finish reason of a record a recorded-output backend has no recording for.
NOT_RECORDED_FINISH = "not_recorded"
#: Finish reason of an error record whose last attempt was a stream cut before it finished. What
#: arrived is kept in ``meta["interrupted"]`` (one entry per cut attempt: attempt, reason, text,
#: reasoning), never in ``answer`` or ``thinking``; as an error the record counts as ``failed`` and
#: is sent again by the next run. A record answered after cut attempts keeps them there too.
INTERRUPTED_FINISH = "interrupted"
#: What happened to a generation, before any judge (the statistics' view of a record).
GENERATION_OUTCOMES = ("answered", "no_answer", "blocked", "not_recorded", "failed")
#: What happened to a record under one judge and channel: the ``outcome`` of every frame. A record
#: the provider blocked, that failed or that was never recorded keeps that outcome on every channel.
OUTCOMES = ("judged", "blocked", "no_output", "unparsed", "judge_error", "failed", "not_recorded", "unjudged")
#: Roles of a generation record: an output of the model under test (one per item and sample), a call
#: made by a judge, an intermediate turn of a multi-turn dialogue, or a simulated victim's reply.
ROLES = ("eval", "judge", "turn", "victim")
#: The ``judge_model`` stored with a verdict of a judge that decides locally, without a model.
LOCAL_JUDGE_MODEL = "none"

Messages = list[dict[str, Any]]


def generation_outcome(error: object, finish_reason: object, trace_state: object, answer: object) -> str:
    """One of :data:`GENERATION_OUTCOMES`: failed, not_recorded, blocked, no_answer (thinking cut
    at the limit, or an empty answer) or answered, in that precedence."""
    if _present(error):
        return "failed"
    if finish_reason == NOT_RECORDED_FINISH:
        return "not_recorded"
    if finish_reason == BLOCKED_FINISH:
        return "blocked"
    if trace_state == "unterminated" or not (answer if isinstance(answer, str) else "").strip():
        return "no_answer"
    return "answered"


def verdict_outcome(generation: str, verdict: "Verdict | None") -> str:
    """One of :data:`OUTCOMES` for a record whose :func:`generation_outcome` is ``generation``."""
    if generation in ("failed", "blocked", "not_recorded"):
        return generation
    if verdict is None:
        return "unjudged"
    if _present(verdict.error):
        return "judge_error"
    if verdict.label == "no_output":
        return "no_output"
    return "judged" if verdict.parsed_ok else "unparsed"


def _present(value: object) -> bool:
    """True for a real value (pandas gives NaN, not None, for missing strings)."""
    return value is not None and not (isinstance(value, float) and value != value)


def record_key(config_fields: dict[str, Any], messages: Messages, sample: int) -> str:
    """Content-addressed key: hash of everything that changes the output, the messages and the sample index."""
    payload = canonical_json({"config": config_fields, "messages": messages, "sample": sample})
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class GenerationRecord:
    """One model output (or one failed attempt at it) for one (config, benchmark, prompt, sample)."""

    key: str
    model: str
    benchmark: str
    prompt_id: str
    sample: int
    messages: Messages
    config: dict[str, Any]
    role: str = "eval"
    raw_text: str | None = None
    reasoning_field: str | None = None
    thinking: str | None = None
    answer: str | None = None
    trace_state: str | None = None
    trace_source: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    reasoning_tokens: int | None = None
    answer_tokens: int | None = None
    latency_s: float | None = None
    attempts: int = 1
    error: str | None = None
    created_at: float = field(default_factory=time.time)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the call succeeded (the record holds an output, possibly an empty one)."""
        return self.error is None

    @property
    def prompt(self) -> str:
        """The last user message, the usual 'prompt' of a single-turn item."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return str(message.get("content", ""))
        return ""

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of every field."""
        return asdict(self)


@dataclass
class Verdict:
    """A judge's verdict on one channel of one generation record."""

    gen_key: str
    judge: str
    version: str
    channel: str
    label: str | None
    score: float | None
    parsed_ok: bool
    raw: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    created_at: float = field(default_factory=time.time)
    #: The model behind the verdict: a judge model's registry name, a reward model's id, or ``none`` for a
    #: judge that decides locally. None in verdicts stored before store schema version 1 (not recorded).
    judge_model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of every field."""
        return asdict(self)
