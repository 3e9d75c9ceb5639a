"""The checks of a profile's keys (:mod:`r1lib.app.profiles`): every model, pair, reference, judge model,
scorer, models file and concurrency a profile names must exist; a mistake raises
:class:`~r1lib.core.errors.UserError` naming the key (``where``) and the fix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from r1lib.config.settings import ModelConfig, resolve_model
from r1lib.core.errors import UserError
from r1lib.judges.registry import judge_names

OFFLINE = "offline"
#: Fig. 3's scorers when a profile names none: the offline severity proxy (no reward model needed).
DEFAULT_SCORERS = {"severity": {"judge": "harm-offline"}}


def models_files(value: Sequence[str], base: Path, where: str) -> tuple[Path, ...]:
    """The profile's own models files, resolved against ``base`` (the profile file's folder); each must exist."""
    files = tuple((base / Path(f).expanduser()).resolve() for f in value)
    for given, resolved in zip(value, files):
        if not resolved.is_file():
            raise UserError(f"{where}: models_files names {given!r}, but {resolved} does not exist; give a "
                            "models file's path relative to the profile file, or drop it from 'models_files'")
    return files


def baseline_of(model: str, arms: Mapping[str, Any]) -> str:
    """The baseline of an arm's name ``<model>+<arm>`` (a name that is no arm's stays as it is)."""
    base, plus, arm = model.rpartition("+")
    return base if plus and arm in arms else model


def keep_models(plan: Any, models: Sequence[str]) -> Any:
    """A benchmark plan with its own ``models`` narrowed to ``models`` (a notebook's override)."""
    if not isinstance(plan, dict) or plan.get("models") is None:
        return plan
    return {**plan, "models": [m for m in plan["models"] if m in models]}


def model_names(value: Sequence[str], registry: Mapping[str, ModelConfig], where: str) -> list[str]:
    """The registry names of the models ``value`` names (aliases resolved, duplicates dropped); none is an error."""
    if not value:
        raise UserError(f"{where}: 'models' must be a non-empty list of model names; "
                        f"known models: {', '.join(sorted(registry))}")
    names = []
    for name in value:
        try:
            names.append(resolve_model(name, dict(registry)).name)
        except UserError as exc:
            raise UserError(f"{where}: {exc}") from None
    return list(dict.fromkeys(names))


def model_pairs(value: Sequence[Sequence[str]] | None, models: tuple[str, ...], registry: Mapping[str, ModelConfig],
           where: str) -> tuple[tuple[str, str], ...]:
    """The (reasoning model, counterpart) pairs: ``value``'s, or the registry's counterparts among ``models``."""
    if value is None:
        return tuple((m, registry[m].counterpart) for m in models
                     if registry[m].counterpart and registry[m].counterpart in models)
    pairs = []
    for pair in value:
        resolved = tuple(model_names([p], registry, where)[0] for p in pair)
        missing = [p for p in resolved if p not in models]
        if missing:
            raise UserError(f"{where}: pair {list(pair)} names {missing}, which are not in 'models'; "
                            "add them to 'models' or drop the pair")
        pairs.append(resolved)
    return tuple(pairs)


def scorers(value: Mapping[str, Mapping[str, Any]] | None, where: str) -> dict[str, dict[str, Any]]:
    """Fig. 3's scorers: ``value`` checked (each names a known judge), or :data:`DEFAULT_SCORERS`."""
    if value is None:
        return dict(DEFAULT_SCORERS)
    if not value:
        raise UserError(f"{where}: 'scorers' must map a name to {{judge: JUDGE, ...options}}, "
                        f"e.g. {DEFAULT_SCORERS}")
    for name, spec in value.items():
        if spec.get("judge") not in judge_names():
            raise UserError(f"{where}: scorer {name!r} needs 'judge' set to one of {', '.join(judge_names())}, "
                            f"got {spec!r}")
    return {name: dict(spec) for name, spec in value.items()}


def reference_model(value: str | None, models: tuple[str, ...], registry: Mapping[str, ModelConfig],
               where: str) -> str | None:
    """The reference model of finding 1 (one of ``models``), or None."""
    if value is None:
        return None
    name = model_names([value], registry, where)[0]
    if name not in models:
        raise UserError(f"{where}: reference {value!r} is not in 'models'; add it there or drop 'reference'")
    return name


def judge_models(value: Mapping[str, str], registry: Mapping[str, ModelConfig], where: str) -> dict[str, str]:
    """Judge name (or ``default``) → its judge model, each a registry model or ``offline``."""
    resolved = {}
    for judge, model in value.items():
        if judge != "default" and judge not in judge_names():
            raise UserError(f"{where}: judge_models: unknown judge {judge!r}; known judges: default, "
                            f"{', '.join(judge_names())}")
        if model == OFFLINE:
            resolved[judge] = OFFLINE
            continue
        try:
            resolved[judge] = resolve_model(model, dict(registry)).name
        except UserError as exc:
            raise UserError(f"{where}: judge_models.{judge}: {exc}; or use 'offline'") from None
    return resolved


def concurrency(value: Mapping[str, int], models: tuple[str, ...], where: str) -> dict[str, int]:
    """Model → calls in flight, for models of the profile only."""
    for model in value:
        if model not in models:
            raise UserError(f"{where}: max_concurrency names {model!r}, which is not in 'models' "
                            f"({', '.join(models)})")
    return dict(value)

