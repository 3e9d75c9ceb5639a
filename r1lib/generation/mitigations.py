"""Mitigation arms: a profile's ``mitigations:`` section applied to its models without editing their entries.

Each arm is one change, applied as a derived :class:`ModelConfig` (``dataclasses.replace``) named
``<model>+<arm>`` and labelled ``<label>+<arm>``; the arm enters the record key (see
:mod:`r1lib.config.arms`), so arms never share records with the baseline or with each other, and
a run of an arm resumes like any run. The kinds (one per arm)::

    mitigations:
      safety-prompt: {system_prompt: {file: configs/mitigations/safety-system-prompt.txt,
                                      source: "r1lib project default (written for this project)"}}
      llama2-prompt: {system_prompt: {published: llama2-default}}
      self-reminder: {system_prompt: {published: self-reminder, template: 0}}
      reminder: {think_prefix: "I must keep this safe and refuse harmful help."}
      zerothink: {thinking: off}
      lessthink: {thinking_budget: 32}
      low-effort: {reasoning_effort: low, models: [o3-mini]}

- ``system_prompt``: text from a project file (``file``, relative to the project root, with its
  ``source``), or a published prompt read at run time from its pinned upstream file (mirror first,
  checksum verified; :data:`PUBLISHED`): ``llama2-default`` is Llama 2's ``DEFAULT_SYSTEM_PROMPT``,
  put before the conversation's system message (or as it); ``self-reminder`` is one of Self-Reminder's
  ``defense_templates`` (``template``: 0 = "Remind", the paper's main one, to 6), which wrap the user
  query as its code applies them (``template.format(query)``), naming "ChatGPT" as written.
- ``think_prefix``: text put at the start of the thinking (after ``<think>\\n``): pre-filled by the
  local backends (transformers, vLLM), sent as an assistant prefix by routes that accept one
  (``options.assistant_prefix``, see :mod:`r1lib.generation.backends.prefill`); refused elsewhere.
  The record's thinking is what the model generated after it (the prefix is in the record's config).
- ``thinking: off`` (ZeroThink): an empty think block pre-filled the same way; for Qwen3-style
  entries (``extra_body.chat_template_kwargs.enable_thinking``) ``enable_thinking: false`` instead.
- ``thinking_budget: N`` (LessThink by budget forcing): at most N thinking tokens, then ``</think>``
  is forced; local backends only, which control decoding. The thinking is cut, never extended:
  MoreThink is not implemented. SafeChain's own code (``uw-nsl/SafeChain``) could not be pinned, so
  ZeroThink and LessThink here follow the paper's description, not its code.
- ``reasoning_effort``: ``minimal``/``low``/``medium``/``high`` sent as the request's ``reasoning_effort``
  (o-series, gpt-oss); OpenAI-compatible routes of reasoning models only.

An arm applies to every model of the profile unless it names ``models``; an arm a model's route
cannot honour is a :class:`UserError` when the profile is read, before any call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from r1lib.benchmarks.sources import DataFiles, FileSource
from r1lib.benchmarks.upstream import UpstreamModule
from r1lib.config.arms import Mitigation
from r1lib.config.settings import ModelConfig, Settings
from r1lib.config.validation import field_hints, validate
from r1lib.core.errors import UserError
from r1lib.generation.backends.prefill import STYLES, prefix_style

LOCAL_BACKENDS = ("transformers", "vllm")
#: The published prompts: their pinned file (mirror path, sha256 of /work/shared/data/mitigations/MANIFEST.md)
#: and the module constant that holds the text.
PUBLISHED: dict[str, tuple[FileSource, str]] = {
    "llama2-default": (FileSource(
        dataset="Llama 2 default system prompt", benchmark="mitigations", host="github", repo="meta-llama/llama",
        revision="6d4c0c290aeec1fa4399694fefb864be5a153bb6", path="llama/generation.py",
        sha256="b61c6e3e29a3674369a5b827103de91beda2028465ad6e58c3aacd8e837bb1ef", rows=None,
        mirror="mitigations/llama2-system-prompt/llama/generation.py", license="Llama 2 Community License",
        name="llama2-generation.py"), "DEFAULT_SYSTEM_PROMPT"),
    "self-reminder": (FileSource(
        dataset="Self-Reminder defense templates", benchmark="mitigations", host="github",
        repo="yjw1029/Self-Reminder", revision="fb17fbfd84689d2380e5e664c266473b5793cb6d", path="src/pia_defense.py",
        sha256="c600b82b4ba8a4e4458f8830ac1f22d68c9a2b647dba786217f132f0cbe1ccb2", rows=None,
        mirror="mitigations/self-reminder/src/pia_defense.py", license="GPL-3.0",
        name="self-reminder-pia_defense.py"), "defense_templates"),
}


class PromptText(BaseModel):
    """Where a ``system_prompt`` arm's text comes from: a project ``file`` with its ``source``, or
    a ``published`` prompt."""

    model_config = ConfigDict(extra="forbid", strict=True)

    file: str | None = Field(None, description="a text file, relative to the project root, e.g. "
                                               "configs/mitigations/safety-system-prompt.txt")
    source: str | None = Field(None, description="where the file's text comes from (required with 'file')")
    published: Literal["llama2-default", "self-reminder"] | None = Field(
        None, description="a published prompt read from its pinned file: llama2-default or self-reminder")
    template: Annotated[int, Field(ge=0, le=6)] | None = Field(
        None, description="which Self-Reminder template, 0 (Remind, default) to 6")


class ArmSpec(BaseModel):
    """One arm under ``mitigations:``: exactly one kind, and optionally the models it applies to."""

    model_config = ConfigDict(extra="forbid", strict=True)

    system_prompt: PromptText | None = Field(None, description="{file: F, source: S} or {published: NAME}")
    think_prefix: Annotated[str, Field(min_length=1)] | None = Field(
        None, description="text put at the start of the thinking, e.g. 'I must keep this safe.'")
    thinking: Literal["off"] | None = Field(None, description="off (ZeroThink: an empty think block)")
    thinking_budget: Annotated[int, Field(ge=1)] | None = Field(
        None, description="thinking tokens before </think> is forced, e.g. 32")
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = Field(
        None, description="minimal, low, medium or high (o-series, gpt-oss)")
    models: list[str] | None = Field(None, description="the models of the profile this arm applies to "
                                                       "(default: all of them)")


ARMS = TypeAdapter(dict[str, ArmSpec])
KINDS = ("system_prompt", "think_prefix", "thinking", "thinking_budget", "reasoning_effort")


def parse_arms(doc: Mapping[str, Any], where: str) -> dict[str, ArmSpec]:
    """Validate a ``mitigations:`` mapping (arm name -> spec); every mistake names the arm and the fix."""
    arms = validate(ARMS, dict(doc), source=where, hints=field_hints(ArmSpec), prefix=("mitigations",))
    for name, spec in arms.items():
        if not name or "+" in name:
            raise UserError(f"{where}: mitigations: arm name {name!r} must be non-empty and without '+'; rename it")
        given = [kind for kind in KINDS if getattr(spec, kind) is not None]
        if len(given) != 1:
            raise UserError(f"{where}: mitigations.{name}: give exactly one of {', '.join(KINDS)} "
                            f"(found {', '.join(given) or 'none'}); make one arm per change")
    return arms


def arm_configs(arms: Mapping[str, ArmSpec], models: Sequence[str], registry: Mapping[str, ModelConfig],
                settings: Settings, where: str) -> dict[str, ModelConfig]:
    """The derived config of every (model, arm) pair, by its name ``<model>+<arm>``."""
    derived: dict[str, ModelConfig] = {}
    for arm, spec in arms.items():
        chosen = spec.models if spec.models is not None else list(models)
        outside = [m for m in chosen if m not in models]
        if outside:
            raise UserError(f"{where}: mitigations.{arm}: models {outside} are not in 'models'; add them there "
                            "or drop them here")
        for model in chosen:
            config = apply_arm(registry[model], arm, spec, settings)
            derived[config.name] = config
    return derived


def apply_arm(config: ModelConfig, arm: str, spec: ArmSpec, settings: Settings | None = None) -> ModelConfig:
    """``config`` with one arm applied; an arm its route cannot honour is a :class:`UserError` (no call made)."""
    settings = settings or Settings.load()
    changes: dict[str, Any] = {}
    mitigation = Mitigation(arm=arm)
    if spec.system_prompt is not None:
        mitigation = _prompt_arm(arm, spec.system_prompt, settings)
    elif spec.think_prefix is not None:
        _needs_prefill(config, arm, "a thinking prefix")
        mitigation = Mitigation(arm=arm, think_prefix=spec.think_prefix, source="profile text")
    elif spec.thinking == "off":
        kwargs = config.extra_body.get("chat_template_kwargs")
        if isinstance(kwargs, dict) and "enable_thinking" in kwargs:
            changes["extra_body"] = {**config.extra_body, "chat_template_kwargs": {**kwargs, "enable_thinking": False}}
        else:
            _needs_prefill(config, arm, "an empty think block (ZeroThink)")
            if config.reasoning_parser is not None and config.backend not in LOCAL_BACKENDS:
                _refuse(config, arm, f"the server's reasoning parser ({config.reasoning_parser}) would read the "
                                     "answer after a pre-filled empty think block as thinking")
            mitigation = Mitigation(arm=arm, zero_think=True)
            changes["think_budget"] = None
    elif spec.thinking_budget is not None:
        if config.backend not in LOCAL_BACKENDS:
            _refuse(config, arm, "a thinking budget needs a backend that controls decoding "
                                 f"({', '.join(LOCAL_BACKENDS)})")
        if not config.opens_thinking:
            _refuse(config, arm, "a thinking budget needs an entry whose output starts in its thinking "
                                 "(prefill_think: true)")
        changes["think_budget"] = spec.thinking_budget
    elif spec.reasoning_effort is not None:
        if config.backend != "openai" or not config.reasoning:
            _refuse(config, arm, "reasoning_effort is a request field of OpenAI-compatible reasoning models "
                                 "(o-series, gpt-oss)")
        changes["params"] = {**config.params, "reasoning_effort": spec.reasoning_effort}
    return dataclasses.replace(config, name=f"{config.name}+{arm}", label=f"{config.display_name()}+{arm}",
                               aliases=(), mitigation=mitigation, **changes)


def published_text(name: str, template: int | None = None, files: DataFiles | None = None) -> tuple[str, str]:
    """A published prompt's text and its citation, read from its pinned file (checksum verified)."""
    source, constant = PUBLISHED[name]
    module = UpstreamModule(source, files)
    value = module.constant(constant)
    if isinstance(value, list):
        value = value[0 if template is None else template]
        constant = f"{constant}[{0 if template is None else template}]"
    if not isinstance(value, str):
        raise UserError(f"{module.origin}:{constant} is not a text; the file is not the pinned upstream version")
    return value, f"{module.origin}:{constant} ({source.license})"


def _prompt_arm(arm: str, text: PromptText, settings: Settings) -> Mitigation:
    """A ``system_prompt`` arm from a project file or a published prompt."""
    if (text.file is None) == (text.published is None):
        raise UserError(f"mitigations.{arm}.system_prompt: give either 'file' (with 'source') or 'published' "
                        "(llama2-default, self-reminder)")
    if text.template is not None and text.published != "self-reminder":
        raise UserError(f"mitigations.{arm}.system_prompt: 'template' picks a Self-Reminder template; use it "
                        "with published: self-reminder, or remove it")
    if text.published is not None:
        value, cited = published_text(text.published, text.template, DataFiles(settings))
        if text.published == "self-reminder":
            return Mitigation(arm=arm, user_template=value, source=cited)
        return Mitigation(arm=arm, system_prompt=value, source=cited)
    if not text.source:
        raise UserError(f"mitigations.{arm}.system_prompt: 'file' needs 'source' saying where its text comes from")
    path = Path(str(text.file))
    path = path if path.is_absolute() else settings.root / path
    if not path.is_file():
        raise UserError(f"mitigations.{arm}.system_prompt: file {path} does not exist; check the path "
                        "(relative paths start at the project root)")
    body = path.read_text(encoding="utf-8").strip()
    if not body:
        raise UserError(f"mitigations.{arm}.system_prompt: file {path} is empty; write the prompt in it")
    return Mitigation(arm=arm, system_prompt=body, source=str(text.source))


def _needs_prefill(config: ModelConfig, arm: str, what: str) -> None:
    """Refuse an arm that pre-fills the thinking on a model without thinking or a route without a prefix."""
    if not config.reasoning:
        _refuse(config, arm, f"{what} needs a model that thinks (reasoning: true)")
    if config.backend in LOCAL_BACKENDS:
        return
    if config.backend != "openai" or prefix_style(config) is None:
        _refuse(config, arm, f"{what} is pre-filled in the assistant turn, and this route accepts no assistant "
                             f"prefix (set options.assistant_prefix to one of {', '.join(STYLES)} if it does)")


def _refuse(config: ModelConfig, arm: str, why: str) -> None:
    raise UserError(f"mitigation arm {arm!r} cannot be applied to model {config.name!r} "
                    f"(backend {config.backend}): {why}; drop the model from the arm with "
                    f"'models: [...]' under mitigations.{arm}")
