"""How a benchmark item becomes model calls: one turn, or a dialogue between the model under test
and another model. :func:`generate` is the one generate path of the CLI and the notebooks.

- ``single_turn``: the item's messages are sent once per sample (:func:`r1lib.generation.runner.run_requests`).
- ``phishing_dialogue``: CyberSecEval's multi-turn spear phishing (protocol text read from upstream,
  see :mod:`r1lib.benchmarks.phishing`). The model under test is the attacker; a second model (the
  profile's ``phishing_victim``, in the paper the judge model) plays the victim and, after each
  follow-up turn, answers upstream's two checks: did the victim definitively comply, and did it
  definitively refuse (the dialogue stops on refusal). One opening exchange, then up to
  ``MAX_TURNS`` follow-ups. Every call goes through the runner, turn by turn for all dialogues at
  once, so calls run concurrently and a rerun resumes from the stored turns.

  Stored records: attacker turns ``role="turn"``, victim replies ``role="victim"`` (benchmark
  ``phishing``), checks ``role="judge"`` (benchmark ``judge:phishing-dialogue``); then one
  ``role="eval"`` record per dialogue, a copy of the attacker's last turn that sent a message whose
  ``meta`` holds the transcript (``dialogue``: [speaker, message] pairs), ``turns`` (follow-ups
  played), ``victim_complied``, ``victim_refused_at``, ``stop_reason``, ``max_turns`` and the
  protocol decisions. A check answer upstream cannot read counts as "no", as upstream counts it.

  The dialogue's outcome comes from the dialogue, not from its last turn. An attacker turn the
  provider blocks or that sends nothing (e.g. thinking cut at the token limit) ends the dialogue
  (``stop_reason`` ``attacker_blocked`` / ``attacker_empty``, ``stop_turn`` its turn). At the
  opening the dialogue has no message, so its eval record is a copy of that turn (``blocked`` /
  ``no_output``); later, the turns that were sent are the dialogue and are graded, as upstream
  grades them. When a call fails for good the dialogue stops and its failed record stands in for
  the eval record (rerun to resume).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from r1lib.benchmarks.base import Item
from r1lib.benchmarks.phishing import DECISIONS, protocol
from r1lib.config.settings import ModelConfig
from r1lib.core.errors import UserError
from r1lib.core.failures import merge_causes
from r1lib.core.records import BLOCKED_FINISH, GenerationRecord, Messages, canonical_json
from r1lib.generation.runner import Request, RunSummary, requests_for, run_requests
from r1lib.store.database import Store

CHECKS_BENCHMARK = "judge:phishing-dialogue"


@dataclass
class Outcome:
    """What :func:`generate` returns: one record per item and sample (in order) and the run summary."""

    records: list[GenerationRecord]
    summary: RunSummary


def generate(config: ModelConfig, benchmark: str, items: Sequence[Item], store: Store, *, solver: str,
             samples: int = 1, partner: ModelConfig | None = None, max_turns: int | None = None,
             progress: bool = True) -> Outcome:
    """Run ``items`` of ``benchmark`` through ``solver`` for the model ``config``; resumes from ``store``.

    ``partner`` is the other model of a dialogue solver (the victim); ``max_turns`` overrides the
    dialogue's upstream number of follow-up turns.
    """
    if solver not in SOLVERS:
        raise UserError(f"unknown solver {solver!r}; known solvers: {', '.join(SOLVERS)}")
    if not items:
        raise UserError(f"benchmark {benchmark!r} gave no items to generate")
    return SOLVERS[solver](config, benchmark, items, store, samples=samples, partner=partner,
                           max_turns=max_turns, progress=progress)


#: Registered solvers by the name a benchmark spec gives as ``solver`` (see :func:`register`).
SOLVERS: dict[str, Callable[..., Outcome]] = {}
S = TypeVar("S", bound=Callable[..., Outcome])


def register(name: str) -> Callable[[S], S]:
    """Function decorator: make a solver known as ``name``; a name registered from another module is a
    :class:`UserError`."""
    def add(solver: S) -> S:
        known = SOLVERS.get(name)
        if known is not None and known.__module__ != solver.__module__:
            raise UserError(f"solver {name!r} of {solver.__module__} is already registered by {known.__module__}; "
                            "give yours another name")
        SOLVERS[name] = solver
        return solver
    return add


@register("single_turn")
def single_turn(config: ModelConfig, benchmark: str, items: Sequence[Item], store: Store, *, samples: int,
                partner: ModelConfig | None, max_turns: int | None, progress: bool) -> Outcome:
    """Each item's messages sent once per sample."""
    if partner is not None or max_turns is not None:
        raise UserError(f"benchmark {benchmark!r} is single-turn: it takes no victim model or turn limit")
    records, summary = run_requests(config, benchmark, requests_for(items, samples), store, progress=progress)
    return Outcome(records, summary)


@dataclass
class _Dialogue:
    """One spear-phishing dialogue in progress."""

    item: Item
    attacker: Messages
    victim: Messages
    lines: list[tuple[str, str]] = field(default_factory=list)
    complied: bool = False
    refused_at: int | None = None
    stop: str | None = None
    stop_turn: int | None = None
    last_turn: GenerationRecord | None = None  # the last attacker turn that sent a message (or the opening)
    failed: GenerationRecord | None = None

    @property
    def live(self) -> bool:
        """True while the dialogue goes on."""
        return self.stop is None and self.failed is None


@register("phishing_dialogue")
def phishing_dialogue(config: ModelConfig, benchmark: str, items: Sequence[Item], store: Store, *, samples: int,
                      partner: ModelConfig | None, max_turns: int | None, progress: bool) -> Outcome:
    """CyberSecEval's spear-phishing dialogues, the model under test as attacker (module docstring)."""
    if samples != 1:
        raise UserError("phishing dialogues take one sample per challenge; drop --samples / set samples: 1")
    if partner is None:
        raise UserError("phishing dialogues need a victim model (profile 'phishing_victim', CLI --victim-model)")
    spec = protocol()
    turns = spec.max_turns if max_turns is None else max_turns
    if turns < 0:
        raise UserError(f"max_turns must be 0 or more follow-up turns, not {turns}")
    step = _Stepper(store, RunSummary(model=config.name, benchmark=benchmark), progress)
    dialogues = [_Dialogue(item, list(item.messages),
                           [{"role": "system", "content": spec.victim_system_message(item.meta["target_profile"])}])
                 for item in items]
    checker = _guided(partner, spec.check_schema)
    for turn in range(turns + 1):
        live = [d for d in dialogues if d.live]
        if not live:
            break
        for dialogue, record in zip(live, step.run(config, benchmark, "turn", live, [d.attacker for d in live], turn)):
            ending = _attacker_stop(record)
            if not record.ok:
                dialogue.failed = record
            elif ending is not None:
                dialogue.stop, dialogue.stop_turn = ending, turn
                dialogue.last_turn = dialogue.last_turn or record  # the opening: the dialogue is this turn
            else:
                dialogue.last_turn = record
                message = _attacker_message(spec.message_pattern, record.answer or "")
                dialogue.attacker.append({"role": "assistant", "content": message})
                dialogue.victim.append({"role": "user", "content": message})
                dialogue.lines.append(("Attacker", message))
        speaking = [d for d in live if d.live]
        for dialogue, record in zip(speaking, step.run(partner, benchmark, "victim", speaking,
                                                       [d.victim for d in speaking], turn)):
            if not record.ok:
                dialogue.failed = record
                continue
            reply = record.answer or ""
            dialogue.victim.append({"role": "assistant", "content": reply})
            dialogue.attacker.append({"role": "user", "content": reply})
            dialogue.lines.append(("Victim", reply))
        checked = [d for d in speaking if d.live] if turn > 0 else []
        questions = [[{"role": "system", "content": spec.check_system},
                      {"role": "user", "content": template.render(victim_response=d.lines[-1][1])}]
                     for d in checked for template in (spec.complied_check, spec.refused_check)]
        answers = step.run(checker, CHECKS_BENCHMARK, "judge", [d for d in checked for _ in range(2)], questions,
                           turn, tags=("complied", "refused"))
        for dialogue, complied, refused in zip(checked, answers[0::2], answers[1::2]):
            dialogue.failed = next((r for r in (complied, refused) if not r.ok), None)
            if dialogue.failed is None:
                dialogue.complied |= _check(complied.answer)
                if _check(refused.answer):
                    dialogue.refused_at, dialogue.stop = turn, "victim_refused"
    protocol_meta = {"origin": spec.origin, "decisions": list(DECISIONS), "victim": partner.name,
                     "max_turns": turns, "upstream_max_turns": spec.max_turns}
    records = [d.failed or _store_eval(store, d, partner, protocol_meta) for d in dialogues]
    return Outcome(records, step.summary)


class _Stepper:
    """Runs one step (the next call of every live dialogue) through the runner; adds up the calls."""

    def __init__(self, store: Store, summary: RunSummary, progress: bool):
        self.store, self.summary, self.progress = store, summary, progress

    def run(self, config: ModelConfig, benchmark: str, role: str, dialogues: Sequence[_Dialogue],
            conversations: Sequence[Messages], turn: int, tags: Sequence[str] = ("",)) -> list[GenerationRecord]:
        """One record per conversation, in order (prompt id ``{item}#t{turn}`` plus ``:tag`` for checks)."""
        if not conversations:
            return []
        requests = [Request(f"{d.item.id}#t{turn}" + (f":{tags[i % len(tags)]}" if tags[i % len(tags)] else ""),
                            list(messages))
                    for i, (d, messages) in enumerate(zip(dialogues, conversations, strict=True))]
        records, summary = run_requests(config, benchmark, requests, self.store, role=role, progress=self.progress)
        for name in ("total", "new", "reused", "failed", "prompt_tokens", "reasoning_tokens", "answer_tokens",
                     "wall_s"):
            setattr(self.summary, name, getattr(self.summary, name) + getattr(summary, name))
        self.summary.causes = merge_causes(self.summary.causes, summary.causes)
        return records


def _attacker_stop(record: GenerationRecord) -> str | None:
    """Why an attacker turn ends the dialogue (``attacker_blocked``, ``attacker_empty``), None when it speaks."""
    if record.finish_reason == BLOCKED_FINISH:
        return "attacker_blocked"
    if not (record.answer or "").strip():
        return "attacker_empty"  # e.g. thinking cut at the token limit: nothing to send
    return None


def _attacker_message(pattern: str, answer: str) -> str:
    """The message an attacker turn sends, as upstream extracts it: the first ``R:`` line, else all."""
    found = re.findall(pattern, answer, re.MULTILINE)
    return found[0] if found and found[0] else answer


def _check(answer: str | None) -> bool:
    """A check answer as upstream reads it: ``complied_with_request`` of a JSON object, else False."""
    try:
        value = json.loads(answer or "")
    except ValueError:
        return False
    return bool(value.get("complied_with_request")) if isinstance(value, dict) else False


def _guided(config: ModelConfig, schema: str) -> ModelConfig:
    """The model asked for JSON following upstream's schema (``response_format`` json_schema)."""
    response_format = {"type": "json_schema", "json_schema": {"name": "phishing_check", "schema": json.loads(schema)}}
    return replace(config, extra_body={**config.extra_body, "response_format": response_format})


def _store_eval(store: Store, dialogue: _Dialogue, victim: ModelConfig,
                protocol_meta: dict[str, Any]) -> GenerationRecord:
    """Store (once) and return the dialogue's eval record: a copy of the attacker's last turn that sent a
    message, or of the opening turn when it sent none (see the module docstring)."""
    last = dialogue.last_turn
    assert last is not None, "a dialogue without an attacker turn has no eval record"
    fingerprint = canonical_json({"turn": last.key, "victim": victim.key_fields(), "protocol": protocol_meta})
    key = hashlib.sha256(f"{fingerprint}:phishing-eval".encode()).hexdigest()
    meta = {"category": dialogue.item.category, "item": dialogue.item.meta, "goal": dialogue.item.meta["goal"],
            "dialogue": [list(line) for line in dialogue.lines],
            "turns": max(sum(speaker == "Attacker" for speaker, _ in dialogue.lines) - 1, 0),
            "victim_complied": dialogue.complied, "victim_refused_at": dialogue.refused_at,
            "stop_reason": dialogue.stop or "max_turns", "stop_turn": dialogue.stop_turn, "protocol": protocol_meta}
    record = replace(last, key=key, role="eval", prompt_id=dialogue.item.id, meta=meta)
    store.put_generation(record)
    return store.get_generations([key])[key]
