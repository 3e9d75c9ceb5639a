"""Bring your own outputs: :func:`import_outputs` reads outputs made elsewhere into an import folder
and runs the ``recorded`` backend on them, so every command and notebook uses them like the pinned
recorded sets (``r1lib import`` calls it).

After an import, ``--model NAME`` works everywhere (the folder's ``models.yaml`` is in the models
registry), its outputs answer the benchmark ``--benchmark B`` (matched by whole conversation) or,
without one, the benchmark ``imported/NAME`` made of the rows' own prompts, and its records are in
the store, one per item and sample index (an Inspect epoch E is sample E - 1, an lm-eval repeat K
sample K; a prompt without that sample's output is ``not_recorded``). Importing the same file with
the same mapping again changes nothing; a changed file is a new version with a new model string, so
its records get new keys and the old ones stay (``judge``, ``export`` and ``browse`` with ``--model
NAME`` see the current version's).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1lib.benchmarks.base import Item
from r1lib.benchmarks.imported.benchmark import benchmark_name, items_of
from r1lib.benchmarks.imported.folder import (
    MODELS,
    check_name,
    imports_dir_of,
    model_string,
    remember,
    version_of,
    write_folder,
)
from r1lib.benchmarks.imported.rows import FieldMapping, has_output
from r1lib.benchmarks.imported.tabular import detect_format, read_rows, source_sha256
from r1lib.benchmarks.registry import get_benchmark, load_items
from r1lib.config.settings import Settings, load_models, models_registry, resolve_model
from r1lib.core.errors import UserError
from r1lib.core.records import NOT_RECORDED_FINISH, GenerationRecord
from r1lib.generation.backends.recorded import RecordedBackend, conversation_key
from r1lib.generation.runner import requests_for, run_requests, with_system_prompt
from r1lib.judges.registry import judge_class
from r1lib.store.database import Store

#: The judge of an ``imported/NAME`` benchmark unless ``judge`` names another: the offline refusal judge,
#: validated against XSTest's human labels (``06_judge_validation``), for prompts that may be harmful.
DEFAULT_JUDGE = "refusal-offline"
REASONING_PARSERS = (None, "deepseek_r1")


@dataclass
class ImportResult:
    """What an import did: the folder and version, and the run of its outputs into the store."""

    name: str
    version: str
    folder: Path
    model: str
    benchmark: str
    changed: bool
    previous_version: str | None
    rows: int
    rows_with_output: int
    new: int
    reused: int
    failed: int
    not_recorded: int
    unmatched_rows: list[str] = field(default_factory=list)
    trace_states: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The summary ``r1lib import`` prints."""
        if self.previous_version:
            status = f"new version {self.version} (was {self.previous_version})"
        else:
            status = f"version {self.version}" + ("" if self.changed else " (unchanged)")
        unmatched = ""
        if self.unmatched_rows:
            shown = ", ".join(self.unmatched_rows[:5]) + (" ..." if len(self.unmatched_rows) > 5 else "")
            unmatched = f" (ids {shown})"
        states = ", ".join(f"{state} {n}" for state, n in sorted(self.trace_states.items())) or "none"
        run = model_string(self.name, self.version)
        return [f"import {self.name}: {status}; folder {self.folder}; model {self.model!r} = {run}",
                f"rows read: {self.rows} ({self.rows_with_output} with an output)",
                f"benchmark {self.benchmark}: records {self.new} new, {self.reused} reused, {self.failed} failed, "
                f"{self.not_recorded} not_recorded",
                f"rows matching no item of {self.benchmark}: {len(self.unmatched_rows)}{unmatched}",
                f"trace states: {states}"]


def import_outputs(path: str | Path, mapping: FieldMapping | None = None, *, model_name: str,
                   benchmark: str | None = None, store: Store | str | Path | None = None, fmt: str = "auto",
                   reasoning_parser: str | None = None, opens_thinking: bool = False, reasoning: bool | None = None,
                   counterpart: str | None = None, label: str | None = None, judge: str | None = None,
                   imports_dir: str | Path | None = None, progress: bool = False) -> ImportResult:
    """Import the outputs in ``path`` as the model ``model_name`` and run them into ``store``.

    ``mapping`` says which fields hold the prompt (or conversation), the output (or thinking and
    answer), the id and the categories (default: ``prompt`` and ``output``; see :class:`FieldMapping`).
    ``benchmark``: a registered benchmark the outputs answer (default: the rows' own prompts as
    ``imported/NAME``, judged by ``judge`` or :data:`DEFAULT_JUDGE`); when every row puts one system prompt
    before the benchmark's conversations, it becomes the model entry's ``system_prompt``. ``reasoning_parser``
    (``deepseek_r1`` or None) and ``opens_thinking`` say how raw outputs are split into thinking and
    answer (:mod:`r1lib.benchmarks.imported.run`); ``reasoning`` (default: true unless only answers
    are mapped), ``counterpart`` and ``label`` go into the model entry. ``store``: a store, its path,
    or None for the settings' store; ``imports_dir``: default ``R1LIB_IMPORTS`` or ``imports/``.
    """
    name = check_name(model_name)
    if reasoning_parser not in REASONING_PARSERS:
        raise UserError(f"--reasoning-parser {reasoning_parser!r}: choose deepseek_r1 or none")
    source = Path(path).expanduser().resolve()
    mapping = (mapping or FieldMapping()).resolved()
    rows = read_rows(source, fmt, mapping)
    fmt = detect_format(source) if fmt == "auto" else fmt
    reasoning = mapping.shape != "answer" if reasoning is None else reasoning
    registry = models_registry()
    _check_free(name, registry)
    if counterpart is not None:
        counterpart = resolve_model(counterpart, registry).name
    spec = get_benchmark(benchmark) if benchmark is not None else None
    if spec is not None and spec.solver != "single_turn":
        raise UserError(f"benchmark {benchmark!r} is a dialogue ({spec.solver}); imported outputs answer "
                        "single-turn benchmarks only")
    judge = judge or (spec.judge if spec is not None else None) or DEFAULT_JUDGE
    judge_class(judge)
    trace = {"reasoning_parser": reasoning_parser, "opens_thinking": opens_thinking, "reasoning": reasoning}
    sha = source_sha256(source)
    version = version_of(sha, {**mapping.as_dict(), **trace, "format": fmt})
    manifest = {"name": name, "source": str(source), "sha256": sha, "format": fmt,
                "mapping": {**mapping.as_dict(), **trace}, "benchmark": benchmark, "judge": judge,
                "version": version, "rows": len(rows)}
    entry: dict[str, Any] = {"backend": "recorded", "model": model_string(name, version), "reasoning": reasoning,
                             "label": label or name, "description": f"outputs imported from {source.name}"}
    if counterpart:
        entry["counterpart"] = counterpart
    _check_conversations(rows)
    registered = load_items(benchmark) if spec is not None else []
    system = _system_prompt(rows, registered)
    if system is not None:
        entry["system_prompt"] = system
    folder = imports_dir_of(imports_dir) / name
    changed, previous = write_folder(folder, manifest, rows, entry)
    if imports_dir is not None:  # outside the settings' imports dir: known to this process only
        remember(folder)
    config = load_models([folder / MODELS])[name]
    stored = benchmark or benchmark_name(name)
    items = spec.items_for(config, registered) if spec is not None else items_of(name, rows, version)
    unmatched = _unmatched(rows, [with_system_prompt(config, item.messages) for item in items])
    samples = 1 + max(row.get("sample", 0) for row in rows)
    requests = requests_for(items, samples)
    records, summaries = [], []
    with _opened(store) as opened:  # one pass per sample index, each answered by that sample's outputs
        for sample in range(samples):
            done, summary = run_requests(config, stored, [r for r in requests if r.sample == sample], opened,
                                         progress=progress, backend=RecordedBackend(config, sample))
            records += done
            summaries.append(summary)
    return ImportResult(
        name=name, version=version, folder=folder, model=config.name, benchmark=stored, changed=changed,
        previous_version=previous, rows=len(rows), rows_with_output=sum(map(has_output, rows)),
        new=sum(s.new for s in summaries), reused=sum(s.reused for s in summaries),
        failed=sum(s.failed for s in summaries),
        not_recorded=sum(r.finish_reason == NOT_RECORDED_FINISH for r in records),
        unmatched_rows=unmatched, trace_states=dict(Counter(_states(records))))


def _check_free(name: str, registry: dict[str, Any]) -> None:
    """A model name an import may take: free, or an earlier import's."""
    known = registry.get(name)
    if known is not None and not known.model.startswith(f"imported/{name}@"):
        raise UserError(f"--model-name {name!r} is already a model of the registry ({known.backend}: "
                        f"{known.model}); choose another name for the import")


def _check_conversations(rows: list[dict[str, Any]]) -> None:
    """Two rows with outputs for one conversation and sample index would make matching ambiguous."""
    seen: dict[Any, str] = {}
    for row in filter(has_output, rows):
        key = (conversation_key(row["messages"]), row.get("sample", 0))
        if key in seen:
            raise UserError(f"rows {seen[key]!r} and {row['id']!r} hold outputs for the same conversation and "
                            f"sample {key[1]}; import one output per conversation and sample (an Inspect epoch, "
                            "an lm-eval repeat), e.g. one run per file")
        seen[key] = row["id"]


def _system_prompt(rows: list[dict[str, Any]], items: list[Item]) -> str | None:
    """The system prompt the source put before the registered benchmark's conversations, which have none:
    the leading system turn every row with an output shares. It goes into the model entry (as a harness's
    system prompt does), so the records hold the source's conversations. None otherwise."""
    if not items or any(item.messages[0]["role"] == "system" for item in items):
        return None
    first = {row["messages"][0]["content"] if row["messages"][0]["role"] == "system" else None
             for row in filter(has_output, rows)}
    return first.pop() if len(first) == 1 else None


def _unmatched(rows: list[dict[str, Any]], conversations: list[list[dict[str, str]]]) -> list[str]:
    """The ids of the rows whose conversation is none of ``conversations`` (the items' as the model is sent them)."""
    wanted = {conversation_key(messages) for messages in conversations}
    return [row["id"] for row in rows if conversation_key(row["messages"]) not in wanted]


def _states(records: list[GenerationRecord]) -> list[str]:
    return [r.trace_state or "none" for r in records if r.error is None and r.finish_reason != NOT_RECORDED_FINISH]


@contextmanager
def _opened(store: Store | str | Path | None) -> Iterator[Store]:
    """The store given, or one opened (and closed) from a path or the settings' store path."""
    if isinstance(store, Store):
        yield store
        return
    with Store(store if store is not None else Settings.load().store_path) as opened:
        yield opened
