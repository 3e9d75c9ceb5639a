"""Settings (paths from environment variables and an optional YAML file), the models registry and profiles.

Secrets never live here: a model entry names the environment variable that holds its API key
(``api_key_env``) and the key is read from the environment only when a request is about to be sent.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    TypeAdapter,
    with_config,
)
from typing_extensions import NotRequired, TypedDict

from r1lib.config.arms import Mitigation
from r1lib.config.validation import field_hints, key_lines, validate
from r1lib.core.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: libyaml's safe loader where PyYAML was built with it (~8x faster than the pure-Python one).
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Settings:
    """Where things live. Every path can be overridden by an environment variable or ``R1LIB_CONFIG``.

    ``fixtures_dir`` (only from the env ``R1LIB_FIXTURES``; never set by default) switches every
    benchmark file to the project-written test fixtures in that folder (see
    :mod:`r1lib.benchmarks.sources`). ``imports_dir`` (env ``R1LIB_IMPORTS``, default ``imports/``)
    holds the ``r1lib import`` folders; every ``<imports_dir>/*/models.yaml`` is a models file.
    """

    root: Path
    data_dir: Path
    mirror_dir: Path | None
    store_path: Path
    runs_dir: Path
    tables_dir: Path
    figures_dir: Path
    models_files: tuple[Path, ...]
    fixtures_dir: Path | None = None
    imports_dir: Path | None = None

    @classmethod
    def load(cls, config_file: str | Path | None = None) -> "Settings":
        """Build settings from defaults, then ``R1LIB_CONFIG`` (or ``config_file``) YAML, then env vars."""
        root = PROJECT_ROOT
        values: dict[str, Any] = {}
        config_file = config_file or os.environ.get("R1LIB_CONFIG")
        if config_file:
            values = _read_yaml(Path(config_file), what="settings file") or {}
            unknown = set(values) - {f.name for f in fields(cls)}
            if unknown:
                raise UserError(f"settings file {config_file}: unknown keys {sorted(unknown)}; "
                                f"allowed: {[f.name for f in fields(cls) if f.name != 'root']}")
        env = os.environ

        def path(key: str, env_key: str, default: Path) -> Path:
            raw = env.get(env_key) or values.get(key)
            return Path(raw).expanduser().resolve() if raw else default

        mirror_default = (root.parent / "shared" / "data")
        mirror_raw = env.get("R1LIB_DATA_MIRROR") or values.get("mirror_dir")
        mirror = Path(mirror_raw).expanduser().resolve() if mirror_raw else (
            mirror_default if mirror_default.is_dir() else None)
        fixtures_raw = env.get("R1LIB_FIXTURES")  # only from the environment: tests set it explicitly
        runs = path("runs_dir", "R1LIB_RUNS", root / "runs")
        imports = path("imports_dir", "R1LIB_IMPORTS", root / "imports")
        extra_models = sorted(imports.glob("*/models.yaml"))  # r1lib import folders, before the user's files
        extra_models += [Path(p) for p in (env.get("R1LIB_MODELS") or "").split(os.pathsep) if p]
        extra_models += [Path(p) for p in values.get("models_files", [])]
        return cls(
            root=root,
            data_dir=path("data_dir", "R1LIB_DATA_DIR", root / "data"),
            mirror_dir=mirror,
            store_path=path("store_path", "R1LIB_STORE", runs / "store.sqlite"),
            runs_dir=runs,
            tables_dir=path("tables_dir", "R1LIB_TABLES", root / "tables"),
            figures_dir=path("figures_dir", "R1LIB_FIGURES", root / "figures"),
            models_files=(root / "configs" / "models.yaml", *extra_models),
            fixtures_dir=Path(fixtures_raw).expanduser().resolve() if fixtures_raw else None,
            imports_dir=imports,
        )


Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]
Number = Annotated[float, Strict()]


def _one_or_more(value: Any) -> Any:
    """A single text stands for a list of one (``base_url: http://...``)."""
    return [value] if isinstance(value, str) else value


def _stream_choice(value: Any) -> Any:
    if isinstance(value, bool) or value == "auto":
        return value
    raise ValueError(f'must be true, false or "auto", not {value!r}')


def _iso_date(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ValueError(f"must be the date the prices were read, as YYYY-MM-DD, not {value!r}") from None


def _complete_pricing(value: Any) -> dict[str, Any]:
    """No pricing (or null) is an empty mapping; a given one always has ``batch_discount``."""
    return {"batch_discount": None, **value} if value else {}


Texts = Annotated[tuple[str, ...], BeforeValidator(_one_or_more)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


@with_config(ConfigDict(extra="forbid"))
class Pricing(TypedDict):
    """A models-file ``pricing`` entry: USD per million input (prompt) tokens and per million output
    (reasoning + answer) tokens, the fraction a provider's batch API takes off both (e.g. 0.5; null or
    absent when no batch price is known), where the prices come from, and the date they were read
    (YYYY-MM-DD)."""

    input: Annotated[Number, Field(ge=0)]
    output: Annotated[Number, Field(ge=0)]
    batch_discount: NotRequired[Annotated[Number, Field(ge=0, lt=1)] | None]
    source: Text
    as_of: Annotated[str, BeforeValidator(_iso_date)]


@with_config(ConfigDict(extra="forbid"))
class RateLimits(TypedDict):
    """A models-file ``rate_limits`` entry: the provider's requests and tokens per minute, for a provider
    that does not state them in ``x-ratelimit-*`` headers (see :mod:`r1lib.generation.backends.rate_limits`)."""

    rpm: NotRequired[Annotated[Number, Field(gt=0)]]
    tpm: NotRequired[Annotated[Number, Field(gt=0)]]


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True)
class ModelConfig:
    """One model deployment: how to reach it and how to sample from it.

    ``params`` are sampling parameters sent with every request (temperature, top_p, max_tokens,
    seed, reasoning_effort, max_completion_tokens ...). ``options`` are backend settings
    (timeout, idle_timeout, max_attempts, gguf_file, dtype, tensor_parallel_size, ...); only those
    listed in :data:`OUTPUT_OPTIONS` change the output and enter the record key. ``pricing`` is empty
    or a checked :class:`Pricing` mapping with every one of its keys (``batch_discount`` None when not given).

    How requests travel (OpenAI-compatible backend only; none changes the output, so none enters
    the record key):

    - ``stream``: ``true``, ``false`` or ``"auto"`` (default). Streamed calls read the answer as it
      is generated and give up only after ``options.idle_timeout`` seconds without a byte, so a
      30k-token reasoning trace is not cut by a total timeout. ``auto`` streams reasoning models
      (``reasoning: true``) and entries whose ``max_tokens`` / ``max_completion_tokens`` exceed
      :data:`STREAM_AUTO_MIN_TOKENS`; see :meth:`streams`.
    - ``batch``: send the pending requests through the provider's Batch API (one upload, results
      within 24 h, billed at the batch price) instead of one call each; see
      :mod:`r1lib.generation.backends.openai_batch`.
    - ``rate_limits``: ``{rpm: N, tpm: N}``, the provider's requests and tokens per minute when it
      does not state them in ``x-ratelimit-*`` headers; calls are paced to them (see
      :mod:`r1lib.generation.backends.rate_limits`).

    The annotations are the models-file schema: :func:`load_models` checks every entry against them
    (pydantic, strict types) and each ``description`` is the fix its error message suggests.
    """

    name: str
    backend: Annotated[Literal["openai", "vllm", "transformers", "fake", "recorded"], Field(
        description="how the model is reached: openai (any OpenAI-compatible server), vllm (in-process "
                    "vllm.LLM), transformers (in-process), fake or recorded")]
    model: Annotated[str, Field(description="the model id the backend loads or the server serves, "
                                            "e.g. deepseek-ai/DeepSeek-R1")]
    base_url: Annotated[Texts, Field(description="one URL or a list of replicas, e.g. "
                                                 "[http://node1:8000/v1, http://node2:8000/v1]")] = ()
    api_key_env: Annotated[str | None, Field(description="the NAME of the environment variable that holds "
                                                         "the API key (never the key), e.g. OPENAI_API_KEY")] = None
    max_concurrency: Annotated[Int, Field(ge=1, description="how many calls may be in flight at once, a "
                                                            "whole number, e.g. 32")] = 16
    params: Annotated[dict[str, Any], Field(
        description="sampling parameters sent with every request, e.g. {temperature: 0.6, top_p: 0.95, "
                    "max_tokens: 32768}")] = field(default_factory=dict)
    prefill_think: Annotated[Bool, Field(description="true to open the answer with <think> (elicited "
                                                     "thinking), else false")] = False
    think_budget: Annotated[Int | None, Field(ge=1, description="thinking tokens before </think> is forced, "
                                                                "e.g. 64, or null")] = None
    reasoning_parser: Annotated[Literal["deepseek_r1"] | None, Field(
        description="the vLLM reasoning parser the server runs (--reasoning-parser deepseek_r1) or null; "
                    "r1lib reads the output as that parser splits it (see opens_thinking)")] = None
    system_prompt: Annotated[str | None, Field(description="a system message put before every conversation, "
                                                           "or null")] = None
    chat_template: Annotated[str | None, Field(description="a Jinja chat template replacing the model's, "
                                                           "or null")] = None
    extra_body: Annotated[dict[str, Any], Field(
        description="extra request fields for the server, e.g. {min_tokens: 1}")] = field(default_factory=dict)
    revision: Annotated[str | None, Field(description="the weights' revision (commit or tag), or null")] = None
    aliases: Annotated[Texts, Field(description="other names for this model, e.g. [DS-R1, R1]")] = ()
    label: Annotated[str | None, Field(description="the name tables and figures show, e.g. DS-R1")] = None
    reasoning: Annotated[Bool, Field(description="true for a model that thinks before answering")] = False
    counterpart: Annotated[str | None, Field(description="the registry name of the non-reasoning model this "
                                                         "one is compared with, or null")] = None
    pricing: Annotated[Pricing | None, AfterValidator(_complete_pricing), Field(
        description="USD per million tokens, e.g. {input: 3.0, output: 7.0, batch_discount: 0.5, "
                    "source: 'provider price page', as_of: 2025-01-31}")] = field(default_factory=dict)
    options: Annotated[dict[str, Any], Field(
        description="backend settings, e.g. {timeout: 600, batch_size: 32}")] = field(default_factory=dict)
    description: Annotated[str, Field(description="one line saying what this entry is")] = ""
    #: Context window in tokens (prompt + output), e.g. 128000 for GPT-4o. A judge splits a text into
    #: chunks only when it would not fit (see :mod:`r1lib.judges.base`); unset = a conservative 8192.
    context_tokens: Annotated[Int | None, Field(ge=1, description="the context window in tokens, e.g. "
                                                                  "128000, or null")] = None
    stream: Annotated[bool | str, BeforeValidator(_stream_choice), Field(
        description='true, false or "auto" (stream reasoning models and long outputs)')] = "auto"
    batch: Annotated[Bool, Field(description="true to send requests through the provider's Batch API")] = False
    rate_limits: Annotated[RateLimits | None, Field(
        description="requests and tokens per minute for a provider that sends no x-ratelimit headers, "
                    "e.g. {rpm: 3000, tpm: 600000}")] = None
    mitigation: Annotated[Mitigation | None, Field(description="set by a profile's 'mitigations:' section "
                                                               "(r1lib.generation.mitigations), never here")] = None

    @property
    def opens_thinking(self) -> bool:
        """True when the model's output starts inside a think block, so that an output without
        ``</think>`` is all thinking (cut by the token limit), not an answer: r1lib pre-fills
        ``<think>`` (``prefill_think``), or the chat template opens it, which is what vLLM's
        ``deepseek_r1`` reasoning parser assumes (``reasoning_parser: deepseek_r1``). When the server
        ran that parser the thinking arrives in a reasoning field and this changes nothing; when it
        did not, the tags are in the text and r1lib splits them the same way. A mitigation arm that
        pre-fills the thinking (or an empty think block) decides it (:attr:`Mitigation.opens_thinking`)."""
        if self.mitigation is not None and self.mitigation.opens_thinking is not None:
            return self.mitigation.opens_thinking
        return self.prefill_think or self.reasoning_parser == "deepseek_r1"

    def streams(self) -> bool:
        """Whether calls are streamed: ``stream`` itself, or for ``"auto"`` True for reasoning models
        and for a token budget above :data:`STREAM_AUTO_MIN_TOKENS`."""
        if self.stream != "auto":
            return bool(self.stream)
        budget = max((int(self.params.get(name) or 0) for name in ("max_tokens", "max_completion_tokens")),
                     default=0)
        return self.reasoning or budget > STREAM_AUTO_MIN_TOKENS

    def key_fields(self) -> dict[str, Any]:
        """Everything in this config that can change an output; hashed into every record key (a
        mitigation arm only when there is one, so the baselines' keys stay as they were)."""
        fields = {
            "backend": self.backend,
            "model": self.model,
            "revision": self.revision,
            "base_url": list(self.base_url),
            "params": self.params,
            "prefill_think": self.prefill_think,
            "think_budget": self.think_budget,
            "reasoning_parser": self.reasoning_parser,
            "system_prompt": self.system_prompt,
            "chat_template_hash": _sha(self.chat_template) if self.chat_template else None,
            "extra_body": self.extra_body,
            "options": {k: v for k, v in sorted(self.options.items()) if k in OUTPUT_OPTIONS},
        }
        return fields if self.mitigation is None else {**fields, "mitigation": self.mitigation.key_fields()}

    def api_key(self) -> str | None:
        """The API key from the environment variable ``api_key_env``; a clear error when it is unset."""
        if not self.api_key_env:
            return None
        value = os.environ.get(self.api_key_env)
        if not value:
            raise UserError(f"model {self.name!r} needs an API key in the environment variable "
                            f"{self.api_key_env}; set it (export {self.api_key_env}=...) and run again")
        return value

    def display_name(self) -> str:
        """The paper label when there is one, else the registry name."""
        return self.label or self.name


#: ``stream: auto`` streams entries allowed more output tokens than this: 4,096 tokens take 200 s at
#: 20 tokens/s, a third of the 600 s a non-streamed call may wait for its reply.
STREAM_AUTO_MIN_TOKENS = 4096


#: The models-file schema of one entry (its key is the name) and the fix for each of its keys.
MODEL_ENTRY = TypeAdapter(ModelConfig)
MODEL_ENTRY_HINTS = {k: v for k, v in field_hints(ModelConfig).items() if k != "name"}


#: Backend options that change what a model generates (the rest only change speed or robustness).
OUTPUT_OPTIONS = frozenset({"gguf_file", "dtype", "max_model_len", "quantization", "tokenizer"})


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read_yaml(path: Path, *, what: str) -> Any:
    """Read a YAML file; syntax errors become a UserError naming the file and line."""
    if not path.is_file():
        raise UserError(f"{what} {path} does not exist; check the path")
    try:
        return yaml.load(path.read_text(), Loader=SAFE_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UserError(f"{what} {path}{where}: {exc.problem or exc}; fix the YAML syntax there") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{what} {path}: invalid YAML ({exc})") from None
    except ValueError as exc:  # a scalar that YAML reads as a date but is none, e.g. 2025-13-01
        raise UserError(f"{what} {path}: a value that looks like a date is not one ({exc}); write a real "
                        "YYYY-MM-DD date, or quote the value to keep it as text") from None


def load_models(files: tuple[Path, ...] | list[Path]) -> dict[str, ModelConfig]:
    """Read models files (later files override earlier entries of the same name).

    Every entry is checked against :class:`ModelConfig`'s annotations; a mistake is a
    :class:`UserError` naming the file, the line, the key and the fix.
    """
    registry: dict[str, ModelConfig] = {}
    for path in files:
        path = Path(path)
        doc = _read_yaml(path, what="models file")
        if not isinstance(doc, dict) or not isinstance(doc.get("models"), dict):
            raise UserError(f"models file {path}: expected a mapping 'models:' -> model name -> entry")
        lines = key_lines(path)
        for name, entry in doc["models"].items():
            entry_line = lines.get(("models", str(name)), "?")
            if not isinstance(entry, dict):
                raise UserError(f"models file {path} line {entry_line} (model {name!r}): the entry must be a "
                                "mapping with at least 'backend' and 'model'")
            if "name" in entry or "mitigation" in entry:
                raise UserError(f"models file {path} line {entry_line} (model {name!r}): remove 'name' and "
                                "'mitigation'; an entry's name is its key, arms go in a profile's 'mitigations:'")
            registry[str(name)] = validate(MODEL_ENTRY, {"name": str(name), **entry}, source=f"models file {path}",
                                           entry=f" (model {name!r})", hints=MODEL_ENTRY_HINTS, lines=lines,
                                           prefix=("models", str(name)))
    return registry


def resolve_model(name: str, registry: dict[str, ModelConfig]) -> ModelConfig:
    """Find a model by registry name or alias (case-insensitive); unknown names list the known ones."""
    wanted = name.casefold()
    for config in registry.values():
        if wanted == config.name.casefold() or wanted in (a.casefold() for a in config.aliases):
            return config
    known = ", ".join(sorted(registry))
    raise UserError(f"unknown model {name!r}; known models: {known}. "
                    "Add your own with --models-file FILE, R1LIB_MODELS or a profile's models_files")


def models_registry(settings: Settings | None = None, extra_files: list[str] | None = None) -> dict[str, ModelConfig]:
    """The registry from the settings' models files (``configs/models.yaml``, every import folder's
    ``models.yaml``, ``R1LIB_MODELS``) plus ``extra_files`` (e.g. ``--models-file``)."""
    settings = settings or Settings.load()
    return load_models([*settings.models_files, *(Path(f) for f in extra_files or [])])


def profile_path(name_or_path: str, settings: Settings | None = None) -> Path:
    """The file of a run profile given by name (``configs/profiles/NAME.yaml``) or by path."""
    settings = settings or Settings.load()
    path = Path(name_or_path)
    if not path.suffix:
        path = settings.root / "configs" / "profiles" / f"{name_or_path}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in (settings.root / "configs" / "profiles").glob("*.yaml"))
        raise UserError(f"unknown profile {name_or_path!r}; available profiles: {', '.join(available)} "
                        "(or give a path to a profile YAML file)")
    return path


def load_profile(name_or_path: str, settings: Settings | None = None) -> dict[str, Any]:
    """Load a run profile by name (``configs/profiles/NAME.yaml``) or by path, as a mapping."""
    path = profile_path(name_or_path, settings)
    profile = _read_yaml(path, what="profile")
    if not isinstance(profile, dict):
        raise UserError(f"profile {path}: expected a mapping")
    profile.setdefault("name", path.stem)
    return profile
