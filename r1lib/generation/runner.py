"""Turn (model, requests) into stored generation records: keys, resume, leases, progress, summary.

A request whose record already holds an output is reused without touching the backend (that is
how runs resume); a stored error is retried. Each finished output is written at once, so Ctrl-C
or SIGKILL loses only calls in flight. Concurrent runners on one store split nothing twice: each
claims a lease on the keys it works on and waits for keys another live runner holds.

A model entry with ``batch: true`` sends its pending requests through the provider's Batch API
(:mod:`r1lib.generation.backends.openai_batch`) instead of its backend; the records are built and stored the
same way. Cut streams an earlier run stored on an error record (``meta["interrupted"]``) stay
with the record that replaces it.

With a budget active (:mod:`r1lib.cost.budget`) every call of a billed model reserves its worst case
right before it is sent; requests the budget refuses are neither sent nor stored, and the run
raises :class:`~r1lib.cost.budget.BudgetExhausted` once the calls in flight are stored.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from tqdm.auto import tqdm

from r1lib.benchmarks.base import Item
from r1lib.benchmarks.sources import fixture_mode
from r1lib.config.settings import ModelConfig
from r1lib.core.failures import Cause, cause_lines, failure_causes
from r1lib.core.records import BLOCKED_FINISH, GenerationRecord, Messages, canonical_json, record_key
from r1lib.core.traces import parse_trace
from r1lib.cost import budget as budgets
from r1lib.cost.pricing import call_usd, check_bounded, costs_money, worst_case_usd
from r1lib.generation.backends import Backend, Completion, make_backend
from r1lib.generation.backends.base import admit_first
from r1lib.store.database import Store
from r1lib.store.leases import owner_id

T = TypeVar("T")
_BACKENDS: dict[str, Backend] = {}


@dataclass(frozen=True)
class Request:
    """One conversation to send: its prompt id within the benchmark, messages and sample index;
    ``benchmark`` names the request's own benchmark when one run mixes several (else the run's)."""

    prompt_id: str
    messages: Messages
    sample: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    benchmark: str | None = None


@dataclass
class RunSummary:
    """Counts and token totals of one run."""

    model: str
    benchmark: str
    total: int = 0
    new: int = 0
    reused: int = 0
    failed: int = 0
    not_sent: int = 0
    prompt_tokens: int = 0
    reasoning_tokens: int = 0
    answer_tokens: int = 0
    wall_s: float = 0.0
    #: Why the failed calls failed, by cause (:mod:`r1lib.core.failures`).
    causes: list[Cause] = field(default_factory=list)

    def line(self) -> str:
        """The summary printed at the end of a run: one line, then one line per failure cause."""
        head = (f"{self.model} × {self.benchmark}: {self.total} records — {self.new} new, "
                f"{self.reused} reused, {self.failed} failed; tokens in {self.prompt_tokens:,} / "
                f"reasoning {self.reasoning_tokens:,} / answer {self.answer_tokens:,}; "
                f"{self.wall_s:.1f} s")
        if not self.causes:
            return head
        return "\n".join([head, "failed calls by cause (count × first message; re-run to retry them):",
                          *cause_lines(self.causes)])


def requests_for(items: Sequence[Item], samples: int = 1) -> list[Request]:
    """One request per item and sample; the item's category and meta travel in the record's meta."""
    return [Request(item.id, item.messages, sample, {"category": item.category, "item": item.meta})
            for item in items for sample in range(samples)]


def with_system_prompt(config: ModelConfig, messages: Messages) -> Messages:
    """Prepend the model's configured system prompt unless the conversation already has one; then
    apply a mitigation arm's system prompt and user template (:meth:`Mitigation.apply`)."""
    if config.system_prompt and not any(m.get("role") == "system" for m in messages):
        messages = [{"role": "system", "content": config.system_prompt}, *messages]
    return list(messages) if config.mitigation is None else config.mitigation.apply(messages)


def get_backend(config: ModelConfig) -> Backend:
    """One backend per model config and process, created on first use (models load once).

    A ``recorded`` backend holds rows read from benchmark files, so the fixture mode is part of the key:
    fixtures and real files never share a backend."""
    cache_key = canonical_json({"config": asdict(config), "fixtures": fixture_mode()})
    if cache_key not in _BACKENDS:
        _BACKENDS[cache_key] = make_backend(config)
    return _BACKENDS[cache_key]


def build_record(config: ModelConfig, benchmark: str, request: Request, messages: Messages,
                 key: str, completion: Completion, role: str) -> GenerationRecord:
    """A generation record from a completion: parse the trace and split the token counts."""
    record = GenerationRecord(
        key=key, model=config.name, benchmark=request.benchmark or benchmark, prompt_id=request.prompt_id,
        sample=request.sample, messages=messages, config=config.key_fields(), role=role,
        finish_reason=completion.finish_reason, prompt_tokens=completion.prompt_tokens,
        reasoning_tokens=completion.reasoning_tokens, latency_s=completion.latency_s,
        attempts=completion.attempts, error=completion.error, meta=dict(request.meta))
    record.meta.update(completion.meta)
    if completion.blocked is not None:
        record.finish_reason = BLOCKED_FINISH
        record.meta["blocked"] = completion.blocked
    if completion.provenance is not None:
        record.meta["provenance"] = completion.provenance
    if completion.error is None:
        trace = parse_trace(completion.text, completion.reasoning, prefilled_think=opens_thinking(config, completion))
        record.raw_text = completion.text
        record.reasoning_field = completion.reasoning
        record.thinking, record.answer = trace.thinking, trace.answer
        record.trace_state, record.trace_source = trace.state, trace.source
        if completion.completion_tokens is not None:
            record.answer_tokens = completion.completion_tokens - (completion.reasoning_tokens or 0)
    return record


def opens_thinking(config: ModelConfig, completion: Completion) -> bool:
    """Whether an output without ``</think>`` is all thinking (``unterminated``), not an answer.

    It is when the output starts inside a think block (:attr:`ModelConfig.opens_thinking`), and, on
    every route, when a reasoning model stopped at the token limit (``finish_reason`` ``length``):
    a provider that does not split R1's thinking (e.g. Together) returns it without its opening
    tag, and thinking cut there never reached ``</think>``. A recorded output is handed over
    already delimited from its data, its finish reason an estimate (:mod:`r1lib.generation.backends.recorded`).
    Under a ZeroThink arm the thinking was closed before the output began: a cut output is a cut answer.
    """
    if config.mitigation is not None and config.mitigation.opens_thinking is False:
        return False
    cut = config.reasoning and completion.finish_reason == "length" and completion.provenance is None
    return config.opens_thinking or cut


async def run_requests_async(config: ModelConfig, benchmark: str, requests: Sequence[Request],
                             store: Store, *, role: str = "eval", progress: bool = True,
                             backend: Backend | None = None) -> tuple[list[GenerationRecord], RunSummary]:
    """Generate every request not yet stored; return all records (in request order) and a summary."""
    started = time.perf_counter()
    summary = RunSummary(model=config.name, benchmark=benchmark, total=len(requests))
    budget = budgets.active() if costs_money(config) else None
    if budget is not None:
        check_bounded(config)  # before any call: a budget needs every call's worst case
    conversations = [with_system_prompt(config, r.messages) for r in requests]
    fields = config.key_fields()
    keys = [record_key(fields, m, r.sample) for m, r in zip(conversations, requests)]
    index_of = {k: i for i, k in enumerate(keys)}
    done = store.done_keys(keys)
    summary.reused = len(done)
    earlier = _interruptions(store, [k for k in dict.fromkeys(keys) if k not in done])
    owner = owner_id()
    attempted: set[str] = set()
    errors: list[str | None] = []
    bar = tqdm(total=len(set(keys)), initial=len(done), desc=f"{config.name} × {benchmark}",
               disable=not progress, unit="rec", dynamic_ncols=True)
    try:
        while True:
            todo = [k for k in dict.fromkeys(keys) if k not in done and k not in attempted]
            if not todo:
                break
            claimed = store.claim(todo, owner)
            if not claimed:  # another live runner holds them: wait for its results
                await asyncio.sleep(0.5)
                newly = store.done_keys(todo)
                bar.update(len(newly))
                done |= newly
                continue
            attempted.update(claimed)
            batch = [index_of[k] for k in claimed]
            spending = None if budget is None else _Reservations(budget, config, [conversations[i] for i in batch])
            if config.batch:
                from r1lib.generation.backends.openai_batch import batch_generate

                def submit(chosen: list[int], batch: list[int] = batch, claimed: list[str] = claimed) -> Any:
                    return batch_generate(config, [conversations[batch[j]] for j in chosen],
                                          [claimed[j] for j in chosen], store)
                completions = submit(list(range(len(batch)))) if spending is None else \
                    admit_first(len(batch), spending.admit, submit)
            else:
                backend = backend or get_backend(config)
                sent = [conversations[i] for i in batch]
                completions = backend.generate(sent) if spending is None else \
                    backend.generate_admitted(sent, spending.admit)
            async for j, completion in completions:
                if completion is None:  # refused by the budget: not sent, not stored
                    summary.not_sent += 1
                    continue
                if spending is not None:
                    spending.settle(j, completion)
                i = batch[j]
                record = build_record(config, benchmark, requests[i], conversations[i], keys[i],
                                      completion, role)
                if keys[i] in earlier:  # cut streams of earlier runs stay with the record
                    record.meta["interrupted"] = earlier[keys[i]] + record.meta.get("interrupted", [])
                store.put_generation(record)
                bar.update(1)
                if record.ok:
                    done.add(keys[i])
                    summary.new += 1
                    summary.prompt_tokens += record.prompt_tokens or 0
                    summary.reasoning_tokens += record.reasoning_tokens or 0
                    summary.answer_tokens += record.answer_tokens or 0
                else:
                    summary.failed += 1
                    errors.append(record.error)
                bar.set_postfix(errors=summary.failed, tokens=summary.reasoning_tokens + summary.answer_tokens)
    finally:
        store.release([k for k in attempted if k not in done], owner)
        bar.close()
    if summary.not_sent:
        assert budget is not None, "only a budget leaves requests unsent"
        raise budgets.BudgetExhausted(budget.report())
    summary.causes = failure_causes(errors)
    stored = store.get_generations(keys)
    summary.wall_s = time.perf_counter() - started
    return [stored[k] for k in keys if k in stored], summary


class _Reservations:
    """The budget reservations of the calls of one backend call, by their index in it."""

    def __init__(self, budget: budgets.Budget, config: ModelConfig, conversations: Sequence[Messages]):
        self.budget, self.config, self.conversations = budget, config, conversations
        self.held: dict[int, float] = {}

    def admit(self, index: int) -> bool:
        """Reserve the worst case of call ``index``; False when the budget refuses it."""
        usd = worst_case_usd(self.config, self.conversations[index])
        if not self.budget.reserve(usd):
            return False
        self.held[index] = usd
        return True

    def settle(self, index: int, completion: Completion) -> None:
        """Call ``index`` ended: charge what its reported usage costs instead of its reservation."""
        self.budget.settle(self.held.pop(index, 0.0),
                           call_usd(self.config, completion.prompt_tokens, completion.completion_tokens))


def _interruptions(store: Store, keys: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The cut-stream attempts stored on the error records among ``keys`` (see INTERRUPTED_FINISH)."""
    return {key: record.meta["interrupted"] for key, record in store.get_generations(keys).items()
            if record.meta.get("interrupted")}


def run_requests(config: ModelConfig, benchmark: str, requests: Sequence[Request], store: Store,
                 **kwargs: Any) -> tuple[list[GenerationRecord], RunSummary]:
    """Synchronous :func:`run_requests_async`, usable from scripts and from notebooks."""
    return run_sync(run_requests_async(config, benchmark, requests, store, **kwargs))


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion, also inside Jupyter (where an event loop is already running)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]
