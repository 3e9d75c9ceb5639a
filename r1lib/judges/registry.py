"""Judges by name. A judge module registers its judge classes with :func:`register`; the shipped
modules (:data:`SHIPPED`) and the plugins (:mod:`r1lib.config.plugins`) are imported on the first lookup."""

from __future__ import annotations

import importlib
from typing import Any, TypeVar

from r1lib.config.plugins import load_plugins
from r1lib.config.settings import ModelConfig, models_registry, resolve_model
from r1lib.core.errors import UserError
from r1lib.judges.base import Judge, LLMJudge

J = TypeVar("J", bound=type[Judge])

#: The shipped judge modules under ``r1lib.judges``. Judges of your own live in a plugin; nothing here
#: needs an edit.
SHIPPED = ("airbench", "mitre", "interpreter", "phishing", "xstest", "jailbreak", "prompt_injection",
           "safety_thinking", "guard", "reward", "refusal", "harm_offline", "recorded")
#: Registered judge classes by name. LLM judges take a judge model (default: their
#: ``default_judge_model``); ``judge_model="offline"`` selects an LLM judge's offline stand-in where it has one.
REGISTERED: dict[str, type[Judge]] = {}


def register(cls: J) -> J:
    """Class decorator: make a judge known by its ``name``.

    Registering the same class again (a re-imported module) replaces it; a name another class
    registered already is a :class:`UserError`.
    """
    if not cls.name:
        raise UserError(f"judge class {cls.__qualname__} has no name; set the class attribute name = '...'")
    known = REGISTERED.get(cls.name)
    if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
        raise UserError(f"judge {cls.name!r} of {cls.__module__} is already registered by {known.__module__}; "
                        "give yours another name")
    REGISTERED[cls.name] = cls
    return cls


def judges() -> dict[str, type[Judge]]:
    """Every registered judge class by name (the shipped modules and the plugins imported first)."""
    for module in SHIPPED:
        importlib.import_module(f"r1lib.judges.{module}")
    load_plugins()
    return REGISTERED


def judge_names() -> list[str]:
    """The names of every registered judge, sorted."""
    return sorted(judges())


def safe_labels() -> dict[str, frozenset[str]]:
    """Every registered judge's safe labels by judge name (what the per-sample export's ``safe`` reads)."""
    return {name: cls.safe_labels for name, cls in judges().items()}


def judge_class(name: str) -> type[Judge]:
    """The class registered under ``name``; unknown names list the known ones."""
    known = judges()
    if name not in known:
        raise UserError(f"unknown judge {name!r}; known judges: {', '.join(sorted(known))} (your own judge "
                        "module goes in R1LIB_PLUGINS)")
    return known[name]


def get_judge(name: str, *, judge_model: str | ModelConfig | None = None,
              models: dict[str, ModelConfig] | None = None, **options: Any) -> Judge:
    """Build a judge. LLM judges resolve ``judge_model`` (a registry name, alias or config)."""
    cls = judge_class(name)
    if not issubclass(cls, LLMJudge):
        return cls(**options)
    if judge_model == "offline":
        offline = getattr(cls, "offline", None)
        if offline is None:
            raise UserError(f"judge {name!r} has no offline stand-in; give a judge model (--judge-model)")
        return offline(**options)
    if not isinstance(judge_model, ModelConfig):
        judge_model = resolve_model(judge_model or getattr(cls, "default_judge_model", "gpt-4o"),
                                    models if models is not None else models_registry())
    return cls(judge_model, **options)
