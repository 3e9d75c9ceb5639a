"""Evaluation records as Inspect (UK AISI's ``inspect_ai``) eval logs: `r1lib export --format inspect`.

One ``.eval`` log per (model, benchmark), written with inspect_ai's own types and
``write_eval_log``, so ``inspect view`` and every tool that reads Inspect logs can open r1lib runs.
In each log:

- the eval spec names the model (``eval.model``) and the benchmark (``eval.task`` and the dataset);
- each evaluation record is a sample: ``id`` the prompt id, ``epoch`` the sample index + 1, ``input``
  the conversation, ``output`` an assistant message whose content is a ``ContentReasoning`` block (the
  thinking; none when the record has no thinking) and a ``ContentText`` block (the answer; none when
  the record has no answer). A failed record has no output and carries its error as the sample's
  error; a ``not_recorded`` record (a recorded or imported run without this conversation) has no
  output either: neither is ever an empty, safe-looking answer;
- every latest verdict (per judge and channel) is a ``Score`` named ``<judge>/<channel>``: value the
  label (the outcome, e.g. ``judge_error`` or ``unparsed``, when the verdict has no label), metadata
  score, judge version, judge model, parsed_ok, error and outcome;
- sample metadata: ``category`` (the item's category fields) and ``r1lib`` (record key, prompt id,
  sample index, trace state, trace source, finish reason, generation outcome, token counts, latency
  and the rest of the record's meta).

Two records of one model, benchmark, prompt and sample (the model's config changed between runs)
would be the same Inspect sample: the later ones get the record key's first 12 characters appended
to their id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from r1lib.core.errors import UserError
from r1lib.core.records import NOT_RECORDED_FINISH, GenerationRecord, Verdict, generation_outcome, verdict_outcome
from r1lib.store.database import Store
from r1lib.store.export import JUDGE_MODEL_NOT_RECORDED

_INSTALL = 'pip install -e ".[inspect]"'
#: Inspect's stop reasons, from the finish reasons providers give.
_STOP_REASONS = {"stop": "stop", "length": "max_tokens", "content_filter": "content_filter", "tool_calls": "tool_calls"}


def write_inspect_logs(store: Store, output_dir: str | Path, *, model: str | None = None,
                       benchmark: str | None = None, run: str | None = None) -> tuple[list[Path], int]:
    """Write one Inspect eval log per (model, benchmark) of the store's evaluation records into
    ``output_dir`` (``<model>__<benchmark>.eval``, unsafe characters replaced by ``_``); returns the
    paths and the number of samples written. ``run`` keeps the records whose config's model string it
    is (one version of an import). No matching record is a UserError."""
    inspect = _inspect_ai()
    groups: dict[tuple[str, str], list[GenerationRecord]] = {}
    for record in store.iter_generations(model=model, benchmark=benchmark, run=run):
        groups.setdefault((record.model, record.benchmark), []).append(record)
    if not groups:
        raise UserError("no evaluation records match the filters; check --model and --benchmark "
                        "(`r1lib status` lists what the store holds)")
    scores = _latest_scores(store, model=model, benchmark=benchmark)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for (model_name, benchmark_name), records in sorted(groups.items()):
        path = output_dir / f"{_safe(model_name)}__{_safe(benchmark_name)}.eval"
        if path in paths:
            raise UserError(f"models/benchmarks {model_name!r}/{benchmark_name!r} and another pair give the same "
                            f"file name {path.name}; export them one at a time with --model and --benchmark")
        log = _eval_log(inspect, model_name, benchmark_name, records, scores, store)
        inspect.log.write_eval_log(log, str(path), format="eval")
        paths.append(path)
    return paths, sum(len(records) for records in groups.values())


def _inspect_ai() -> Any:
    """The inspect_ai package (with its ``log``, ``model`` and ``scorer`` modules), or a UserError."""
    try:  # optional dependency, only this export needs it
        import inspect_ai
        import inspect_ai.log
        import inspect_ai.model
        import inspect_ai.scorer
    except ImportError as exc:
        raise UserError(f"exporting Inspect logs needs inspect_ai, which is not installed ({exc}); "
                        f"install it with `{_INSTALL}`") from exc
    return inspect_ai


def _latest_scores(store: Store, *, model: str | None, benchmark: str | None) -> dict[str, list[Verdict]]:
    """Per generation key, its latest verdict of every (judge, channel), in judge and channel order."""
    verdicts = store.verdicts_frame(model=model, benchmark=benchmark, role="eval")
    latest = verdicts.sort_values("created_at", kind="stable").drop_duplicates(
        ["gen_key", "judge", "channel"], keep="last")
    by_key: dict[str, list[Verdict]] = {}
    for v in latest.sort_values(["judge", "channel"], kind="stable").itertuples(index=False):
        by_key.setdefault(v.gen_key, []).append(Verdict(
            gen_key=v.gen_key, judge=v.judge, version=v.version, channel=v.channel, label=_text(v.label),
            score=_number(v.score), parsed_ok=bool(v.parsed_ok), error=_text(v.error),
            judge_model=_text(v.judge_model) or JUDGE_MODEL_NOT_RECORDED))
    return by_key


def _eval_log(inspect: Any, model: str, benchmark: str, records: list[GenerationRecord],
              scores: dict[str, list[Verdict]], store: Store) -> Any:
    """The Inspect EvalLog of one model's records on one benchmark."""
    log = inspect.log
    samples = [_sample(inspect, record, sample_id, scores.get(record.key, []))
               for record, sample_id in zip(records, _sample_ids(records))]
    now = datetime.now(timezone.utc).isoformat()
    answered = sum(1 for s in samples if s.error is None)
    spec = log.EvalSpec(
        created=now, task=benchmark, model=model,
        dataset=log.EvalDataset(name=benchmark, samples=len({s.id for s in samples}),
                                sample_ids=sorted({s.id for s in samples}, key=str)),
        config=log.EvalConfig(epochs=max(s.epoch for s in samples)),
        metadata={"r1lib": {"store": str(store.path), "store_schema_version": store.schema_version,
                            "exported_at": now}})
    return log.EvalLog(status="success", eval=spec, samples=samples,
                       results=log.EvalResults(total_samples=len(samples), completed_samples=answered),
                       stats=log.EvalStats(started_at=_iso(min(r.created_at for r in records)), completed_at=now))


def _sample_ids(records: Iterable[GenerationRecord]) -> list[str]:
    """The prompt id of each record, made unique per (prompt id, sample) with the record key."""
    seen: set[tuple[str, int]] = set()
    ids = []
    for record in records:
        duplicate = (record.prompt_id, record.sample) in seen
        seen.add((record.prompt_id, record.sample))
        ids.append(f"{record.prompt_id}-{record.key[:12]}" if duplicate else record.prompt_id)
    return ids


def _sample(inspect: Any, record: GenerationRecord, sample_id: str, verdicts: list[Verdict]) -> Any:
    """One record as an Inspect EvalSample."""
    log, chat = inspect.log, inspect.model
    conversation = [_message(chat, m) for m in record.messages]
    outcome = generation_outcome(record.error, record.finish_reason, record.trace_state, record.answer)
    metadata = {"category": dict(record.meta.get("category") or {}),
                "r1lib": {"key": record.key, "prompt_id": record.prompt_id, "sample": record.sample,
                          "trace_state": record.trace_state, "trace_source": record.trace_source,
                          "finish_reason": record.finish_reason, "generation_outcome": outcome,
                          "prompt_tokens": record.prompt_tokens, "reasoning_tokens": record.reasoning_tokens,
                          "answer_tokens": record.answer_tokens, "latency_s": record.latency_s,
                          "meta": {k: v for k, v in record.meta.items() if k != "category"}}}
    fields: dict[str, Any] = {}
    if record.error is not None:
        fields["error"] = log.EvalError(message=record.error, traceback="", traceback_ansi="")
        fields["output"] = chat.ModelOutput(model=record.model, error=record.error)
        messages = conversation
    elif record.finish_reason == NOT_RECORDED_FINISH:  # no output to show: never an empty, safe-looking answer
        fields["output"] = chat.ModelOutput(model=record.model)
        messages = conversation
    else:
        content: list[Any] = []
        if record.thinking is not None:
            content.append(chat.ContentReasoning(reasoning=record.thinking))
        if record.answer is not None:
            content.append(chat.ContentText(text=record.answer))
        reply = chat.ChatMessageAssistant(content=content, model=record.model, source="generate")
        stop = _STOP_REASONS.get(record.finish_reason or "", "unknown")
        fields["output"] = chat.ModelOutput(model=record.model, usage=_usage(chat, record),
                                            choices=[chat.ChatCompletionChoice(message=reply, stop_reason=stop)])
        messages = [*conversation, reply]
    scores = {f"{v.judge}/{v.channel}": _score(inspect, v, outcome) for v in verdicts}
    return log.EvalSample(id=sample_id, epoch=record.sample + 1, input=conversation, target="", messages=messages,
                          scores=scores or None, metadata=metadata, completed_at=_iso(record.created_at),
                          total_time=record.latency_s, **fields)


def _message(chat: Any, message: dict[str, Any]) -> Any:
    """A stored ``{"role", "content"}`` turn as an Inspect chat message."""
    kinds = {"system": chat.ChatMessageSystem, "user": chat.ChatMessageUser, "assistant": chat.ChatMessageAssistant}
    role = message.get("role")
    if role not in kinds:
        raise UserError(f"a stored conversation has a {role!r} turn, which the Inspect export cannot write "
                        "(it writes system, user and assistant turns)")
    return kinds[role](content=str(message.get("content") or ""))


def _score(inspect: Any, verdict: Verdict, generation: str) -> Any:
    """One verdict as an Inspect Score (value: the label, else the verdict's outcome)."""
    outcome = verdict_outcome(generation, verdict)
    return inspect.scorer.Score(
        value=verdict.label if verdict.label is not None else outcome,
        metadata={"score": verdict.score, "judge_version": verdict.version, "judge_model": verdict.judge_model,
                  "parsed_ok": verdict.parsed_ok, "error": verdict.error, "outcome": outcome})


def _usage(chat: Any, record: GenerationRecord) -> Any:
    """The record's token counts as Inspect ModelUsage (None when it has none)."""
    if record.prompt_tokens is None and record.answer_tokens is None:
        return None
    output = (record.reasoning_tokens or 0) + (record.answer_tokens or 0)
    return chat.ModelUsage(input_tokens=record.prompt_tokens or 0, output_tokens=output,
                           total_tokens=(record.prompt_tokens or 0) + output, reasoning_tokens=record.reasoning_tokens)


def _text(value: Any) -> str | None:
    """A text field of a frame row, None for a missing one (pandas gives NaN)."""
    return value if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    """A score as a float, None for a missing one (pandas gives NaN)."""
    return None if value is None or value != value else float(value)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat()


def _safe(name: str) -> str:
    """A model or benchmark name as a file-name part."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "_"
