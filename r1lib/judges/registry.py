"""Judges by name. Judge modules are imported only when their judge is asked for."""

from __future__ import annotations

import importlib
from typing import Any

from r1lib.config import ModelConfig, models_registry, resolve_model
from r1lib.errors import UserError
from r1lib.judges.base import Judge, LLMJudge

#: name -> "module:Class". LLM judges take a judge model (default: their ``default_judge_model``);
#: ``judge_model="offline"`` selects an LLM judge's offline stand-in where it has one.
JUDGES: dict[str, str] = {
    "airbench": "r1lib.judges.airbench:AirBenchJudge",
    "mitre": "r1lib.judges.mitre:MitreJudge",
    "interpreter": "r1lib.judges.interpreter:InterpreterJudge",
    "phishing": "r1lib.judges.phishing:PhishingJudge",
    "xstest": "r1lib.judges.xstest:XSTestJudge",
    "jailbreak": "r1lib.judges.jailbreak:JailbreakJudge",
    "prompt-injection": "r1lib.judges.prompt_injection:PromptInjectionJudge",
    "safety-thinking": "r1lib.judges.safety_thinking:SafetyThinkingJudge",
    "llama-guard": "r1lib.judges.guard:LlamaGuardJudge",
    "reward": "r1lib.judges.reward:RewardJudge",
    "refusal-strmatch": "r1lib.judges.refusal:StringMatchRefusalJudge",
    "refusal-offline": "r1lib.judges.refusal:OfflineRefusalJudge",
    "harm-offline": "r1lib.judges.harm_offline:OfflineHarmJudge",
    "recorded-llamaguard": "r1lib.judges.recorded:RecordedGuardJudge",
    "recorded-strmatch": "r1lib.judges.recorded:RecordedStringMatchJudge",
    "recorded-v3-harm": "r1lib.judges.recorded:RecordedHarmJudge",
    "recorded-human": "r1lib.judges.recorded:RecordedHumanJudge",
}


def judge_class(name: str) -> type[Judge]:
    """The class registered under ``name``; unknown names list the known ones."""
    if name not in JUDGES:
        raise UserError(f"unknown judge {name!r}; known judges: {', '.join(sorted(JUDGES))}")
    module, _, cls = JUDGES[name].partition(":")
    return getattr(importlib.import_module(module), cls)


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
