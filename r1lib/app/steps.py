"""The steps behind :meth:`r1lib.app.run.Run.evaluate`: choose a profile's items, generate the outputs
(batched for in-process models), judge each channel and return the outcome frames of this run's records.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from r1lib.analysis.outcomes import count_blocked, outcome_frame
from r1lib.app.profiles import Profile
from r1lib.benchmarks.base import Item
from r1lib.benchmarks.registry import get_benchmark, load_items
from r1lib.config.settings import ModelConfig
from r1lib.core.errors import UserError
from r1lib.core.failures import Cause, failure_causes, merge_causes
from r1lib.core.records import CHANNELS
from r1lib.generation.runner import requests_for, run_requests
from r1lib.generation.solvers import generate as solve
from r1lib.judges.base import judge_records
from r1lib.store.database import Store


@dataclass
class Evaluation:
    """What :func:`evaluate` returns: outcome frames per channel and the failed calls behind them."""

    frames: dict[str, pd.DataFrame]
    failed_generations: int = 0
    failed_judgements: int = 0
    first_error: str = ""
    #: The failed calls by cause (:mod:`r1lib.core.failures`).
    causes: list[Cause] = field(default_factory=list)


def select_items(profile: Profile, benchmark: str, *, split: str | None = None,
                 keep: Callable[[Item], bool] | None = None, limit: int | None = None) -> list[Item]:
    """The items a profile runs: its stratified sample (``limit``, ``seed``), ``limit`` overriding the
    plan's, or with ``keep`` every item of the split that ``keep`` accepts."""
    plan = profile.plan(benchmark)
    split = split or plan.split
    if keep is None:
        items = load_items(benchmark, limit=limit or plan.limit, seed=profile.seed, split=split)
    else:
        items = [item for item in load_items(benchmark, split=split) if keep(item)]
    if not items:
        raise UserError(f"benchmark {benchmark!r} gave no items (split {split!r}); check the split name and "
                        "that the data mirror (R1LIB_DATA_MIRROR) holds it")
    return items


#: Backends that run in this process and batch every prompt they are given (see :func:`prefetch`).
IN_PROCESS_BACKENDS = ("transformers", "vllm")


def prefetch_requests(profile: Profile, model: str) -> list[Any]:
    """The requests of the default sample of every single-turn benchmark of the profile that ``model``
    runs, each carrying its own benchmark name."""

    config = profile.config(model)
    requests = []
    for benchmark, plan in profile.benchmarks.items():
        spec = get_benchmark(benchmark)
        if spec.solver != "single_turn" or (plan.models is not None and model not in plan.models):
            continue
        items = spec.items_for(config, select_items(profile, benchmark))
        requests += [dataclasses.replace(request, benchmark=benchmark)
                     for request in requests_for(items, profile.samples_for(benchmark))]
    return requests


def prefetch(profile: Profile, store: Store, *, progress: bool = True) -> list[Any]:
    """Generate, in one batched call per in-process model (transformers, vLLM offline), the default
    sample of every single-turn benchmark of the profile that the model runs.

    A local engine's time goes by decoding steps, not by prompts: one call over all benchmarks costs
    about as much as one call per benchmark (see PERFORMANCE.md). API models are left to
    :func:`generate`. Returns the run summaries; what is stored already is not generated again.
    """

    summaries = []
    for model in profile.models:
        config = profile.config(model)
        requests = prefetch_requests(profile, model) if config.backend in IN_PROCESS_BACKENDS else []
        if requests:
            summaries.append(run_requests(config, "all benchmarks", requests, store, progress=progress)[1])
    return summaries


def generate(profile: Profile, benchmark: str, store: Store, *, models: Sequence[str] | None = None,
             split: str | None = None, keep: Callable[[Item], bool] | None = None, limit: int | None = None,
             progress: bool = True) -> dict[str, Any]:
    """Generate (or reuse from ``store``) ``benchmark``'s outputs for each model through its solver.

    Each model gets the items its benchmark's ``runs_item`` gives it (every item by default); a
    recorded run that holds none of the selected items is left out of the result.
    Returns ``{model: r1lib.generation.solvers.Outcome}`` (records in item order and the run summary). Spear
    phishing is a dialogue: the model under test attacks the profile's victim model, and the record
    of each dialogue is its final attacker turn.
    """

    spec = get_benchmark(benchmark)
    items = select_items(profile, benchmark, split=split, keep=keep, limit=limit)
    partner: ModelConfig | None = None
    if spec.solver == "phishing_dialogue":
        partner = profile.config(profile.phishing_victim)
        partner.api_key()
    outcomes = {}
    for model in _select(profile, models, benchmark):
        config = profile.config(model)
        config.api_key()  # fail before any request when a key is missing
        own = spec.items_for(config, items)
        if not own:
            continue  # none of the selected items is this recorded run's (e.g. under a small --limit)
        outcomes[model] = solve(config, items[0].benchmark, own, store, solver=spec.solver,
                                samples=profile.samples_for(benchmark), partner=partner,
                                max_turns=profile.phishing_turns if partner else None, progress=progress)
    return outcomes


def evaluate(profile: Profile, benchmark: str, store: Store, *, judge: Any = None,
             channels: Sequence[str] = ("answer",), models: Sequence[str] | None = None, split: str | None = None,
             keep: Callable[[Item], bool] | None = None, limit: int | None = None,
             judge_options: Mapping[str, Any] | None = None, progress: bool = True) -> Evaluation:
    """Generate, judge and return the outcome frames of this run's records only.

    ``judge`` is a judge object or name (default: the benchmark's own judge); ``judge_options`` go
    to its constructor (e.g. a reward model). The ``thinking`` channel is judged only for
    reasoning models (the others have no thinking to judge). Each frame holds exactly the records
    of this run (the profile's items × models × the benchmark's samples), whatever else the store holds, with
    every record's outcome (judged, blocked, no_output, failed, ...). Provider-blocked records
    count as the judge's refusal label when the profile's ``blocked_as`` is ``refusal``, except on
    the thinking channel, where a block left no thinking (:func:`r1lib.analysis.outcomes.count_blocked`).
    """

    bad = [c for c in channels if c not in CHANNELS]
    if bad:
        raise UserError(f"unknown channels {bad}; use some of {', '.join(CHANNELS)}")
    if judge is None or isinstance(judge, str):
        judge = profile.judge(judge or profile.default_judge(benchmark), **(judge_options or {}))
    outcomes = generate(profile, benchmark, store, models=models, split=split, keep=keep, limit=limit,
                        progress=progress)
    result = Evaluation(frames={})
    errors = [r.error for o in outcomes.values() for r in o.records if r.error]
    result.failed_generations = sum(o.summary.failed for o in outcomes.values())
    result.first_error = errors[0] if errors else ""
    result.causes = failure_causes(errors)
    for channel in channels:
        judged = {m: o.records for m, o in outcomes.items() if channel != "thinking" or profile.config(m).reasoning}
        batch = [r for recs in judged.values() for r in recs]
        verdicts = judge_records(judge, batch, channel, store, progress=progress)
        failed_verdicts = [v for v in verdicts if v.error]
        result.failed_judgements += len(failed_verdicts)
        result.causes = merge_causes(result.causes, failure_causes(v.error for v in failed_verdicts))
        if failed_verdicts and not result.first_error:
            result.first_error = str(failed_verdicts[0].error)
        keys = {r.key for r in batch}
        parts = [outcome_frame(store, benchmark=name, judge=judge.name, version=judge.version, channel=channel,
                               models=list(judged))
                 for name in sorted({r.benchmark for r in batch})]
        frame = pd.concat(parts, ignore_index=True) if parts else outcome_frame(
            store, benchmark=benchmark, judge=judge.name, version=judge.version, channel=channel, models=[])
        frame = frame[frame["gen_key"].isin(keys)].reset_index(drop=True)
        if profile.blocked_as == "refusal":
            frame = count_blocked(frame, judge)
        result.frames[channel] = frame
    return result


def _select(profile: Profile, models: Sequence[str] | None, benchmark: str) -> tuple[str, ...]:
    """The models that run ``benchmark``: the requested ones (all by default) that its plan allows."""
    if models is not None:
        unknown = [m for m in models if m not in profile.models]
        if unknown:
            raise UserError(f"models {unknown} are not in profile {profile.name!r} ({', '.join(profile.models)}); "
                            "add them to the profile or pass MODELS to the notebook")
    allowed = profile.plan(benchmark).models
    chosen = tuple(m for m in (models or profile.models) if allowed is None or m in allowed)
    if not chosen:
        raise UserError(f"no model of this run runs benchmark {benchmark!r} (its plan allows {list(allowed or ())})")
    return chosen
