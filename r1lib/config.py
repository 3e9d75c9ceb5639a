"""Settings (paths from environment variables and an optional YAML file), the models registry and profiles.

Secrets never live here: a model entry names the environment variable that holds its API key
(``api_key_env``) and the key is read from the environment only when a request is about to be sent.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from r1lib.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
#: libyaml's safe loader where PyYAML was built with it (~8x faster than the pure-Python one).
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
BACKENDS = ("openai", "vllm", "transformers", "fake", "recorded")


@dataclass(frozen=True)
class Settings:
    """Where things live. Every path can be overridden by an environment variable or ``R1LIB_CONFIG``."""

    root: Path
    data_dir: Path
    mirror_dir: Path | None
    store_path: Path
    runs_dir: Path
    tables_dir: Path
    figures_dir: Path
    models_files: tuple[Path, ...]

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
        runs = path("runs_dir", "R1LIB_RUNS", root / "runs")
        extra_models = [Path(p) for p in (env.get("R1LIB_MODELS") or "").split(os.pathsep) if p]
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
        )


@dataclass(frozen=True)
class ModelConfig:
    """One model deployment: how to reach it and how to sample from it.

    ``params`` are sampling parameters sent with every request (temperature, top_p, max_tokens,
    seed, reasoning_effort, max_completion_tokens ...). ``options`` are backend settings
    (timeout, idle_timeout, max_attempts, gguf_file, dtype, tensor_parallel_size, ...); only those
    listed in :data:`OUTPUT_OPTIONS` change the output and enter the record key. ``pricing`` is empty
    or the checked mapping of :func:`check_pricing` (:data:`PRICING_KEYS`).

    How requests travel (OpenAI-compatible backend only; neither changes the output, so neither
    enters the record key):

    - ``stream``: ``true``, ``false`` or ``"auto"`` (default). Streamed calls read the answer as it
      is generated and give up only after ``options.idle_timeout`` seconds without a byte, so a
      30k-token reasoning trace is not cut by a total timeout. ``auto`` streams reasoning models
      (``reasoning: true``) and entries whose ``max_tokens`` / ``max_completion_tokens`` exceed
      :data:`STREAM_AUTO_MIN_TOKENS`; see :meth:`streams`.
    - ``batch``: send the pending requests through the provider's Batch API (one upload, results
      within 24 h, billed at the batch price) instead of one call each; see
      :mod:`r1lib.backends.openai_batch`.
    """

    name: str
    backend: str
    model: str
    base_url: tuple[str, ...] = ()
    api_key_env: str | None = None
    max_concurrency: int = 16
    params: dict[str, Any] = field(default_factory=dict)
    prefill_think: bool = False
    think_budget: int | None = None
    reasoning_parser: str | None = None
    system_prompt: str | None = None
    chat_template: str | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)
    revision: str | None = None
    aliases: tuple[str, ...] = ()
    label: str | None = None
    reasoning: bool = False
    counterpart: str | None = None
    pricing: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    #: Context window in tokens (prompt + output), e.g. 128000 for GPT-4o. A judge splits a text into
    #: chunks only when it would not fit (see :mod:`r1lib.judges.base`); unset = a conservative 8192.
    context_tokens: int | None = None
    stream: bool | str = "auto"
    batch: bool = False

    def __post_init__(self) -> None:
        if not (isinstance(self.stream, bool) or self.stream == "auto"):
            raise UserError(f"model {self.name!r}: stream must be true, false or \"auto\", not {self.stream!r}")
        if not isinstance(self.batch, bool):
            raise UserError(f"model {self.name!r}: batch must be true or false, not {self.batch!r}")

    def streams(self) -> bool:
        """Whether calls are streamed: ``stream`` itself, or for ``"auto"`` True for reasoning models
        and for a token budget above :data:`STREAM_AUTO_MIN_TOKENS`."""
        if self.stream != "auto":
            return bool(self.stream)
        budget = max((int(self.params.get(name) or 0) for name in ("max_tokens", "max_completion_tokens")),
                     default=0)
        return self.reasoning or budget > STREAM_AUTO_MIN_TOKENS

    def key_fields(self) -> dict[str, Any]:
        """Everything in this config that can change an output; hashed into every record key."""
        return {
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


#: The keys of a model's ``pricing``: USD per million input (prompt) tokens and per million output
#: (reasoning + answer) tokens, the fraction a provider's batch API takes off both (e.g. 0.5; null when
#: no batch price is known), where the prices come from, and the date they were read (YYYY-MM-DD).
PRICING_KEYS = ("input", "output", "batch_discount", "source", "as_of")


def check_pricing(value: Any, where: str) -> dict[str, Any]:
    """A models-file ``pricing`` entry, checked: every problem is a UserError naming the key and the fix.

    Returns a mapping with all of :data:`PRICING_KEYS` (``batch_discount`` None when not given) and
    ``as_of`` as an ISO date string.
    """
    example = ("e.g. pricing: {input: 3.0, output: 7.0, batch_discount: 0.5, source: 'provider price page', "
               "as_of: 2025-01-31}")
    if not isinstance(value, dict):
        raise UserError(f"{where}: pricing must be a mapping of {', '.join(PRICING_KEYS)}; {example}")
    unknown = sorted(set(value) - set(PRICING_KEYS))
    missing = [key for key in ("input", "output", "source", "as_of") if key not in value]
    if unknown or missing:
        problem = "; ".join(filter(None, [f"unknown keys {unknown}" if unknown else "",
                                          f"missing {missing}" if missing else ""]))
        raise UserError(f"{where}: pricing: {problem}; allowed keys: {', '.join(PRICING_KEYS)}; {example}")
    for key in ("input", "output"):
        if isinstance(value[key], bool) or not isinstance(value[key], (int, float)) or value[key] < 0:
            raise UserError(f"{where}: pricing.{key} must be a number of USD per million tokens (>= 0), "
                            f"not {value[key]!r}")
    discount = value.get("batch_discount")
    if discount is not None and (isinstance(discount, bool) or not isinstance(discount, (int, float))
                                 or not 0 <= discount < 1):
        raise UserError(f"{where}: pricing.batch_discount must be the fraction taken off by the batch API, "
                        f"from 0 up to (not including) 1, e.g. 0.5 for half price; or null; not {discount!r}")
    if not isinstance(value["source"], str) or not value["source"].strip():
        raise UserError(f"{where}: pricing.source must say where the prices come from (a URL or a short text)")
    as_of = value["as_of"]
    if isinstance(as_of, date):
        as_of = as_of.isoformat()
    try:
        date.fromisoformat(str(as_of))
    except ValueError:
        raise UserError(f"{where}: pricing.as_of must be the date the prices were read, as YYYY-MM-DD, "
                        f"not {as_of!r}") from None
    return {"input": float(value["input"]), "output": float(value["output"]),
            "batch_discount": None if discount is None else float(discount),
            "source": value["source"].strip(), "as_of": str(as_of)}


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


def _entry_lines(path: Path) -> dict[str, int]:
    """Line number (1-based) of each entry under ``models:`` for error messages."""
    try:
        node = yaml.compose(path.read_text(), Loader=SAFE_LOADER)
    except yaml.YAMLError:
        return {}
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == "models" and isinstance(value, yaml.MappingNode):
                for name, _ in value.value:
                    lines[name.value] = name.start_mark.line + 1
    return lines


def load_models(files: tuple[Path, ...] | list[Path]) -> dict[str, ModelConfig]:
    """Read models files (later files override earlier entries of the same name)."""
    known = {f.name for f in fields(ModelConfig)} - {"name"}
    registry: dict[str, ModelConfig] = {}
    for path in files:
        path = Path(path)
        doc = _read_yaml(path, what="models file")
        if not isinstance(doc, dict) or not isinstance(doc.get("models"), dict):
            raise UserError(f"models file {path}: expected a mapping 'models:' -> model name -> entry")
        lines = _entry_lines(path)
        for name, entry in doc["models"].items():
            where = f"models file {path} line {lines.get(str(name), '?')} (model {name!r})"
            if not isinstance(entry, dict):
                raise UserError(f"{where}: the entry must be a mapping with at least 'backend' and 'model'")
            unknown = set(entry) - known
            if unknown:
                raise UserError(f"{where}: unknown fields {sorted(unknown)}; allowed: {sorted(known)}")
            for required in ("backend", "model"):
                if required not in entry:
                    raise UserError(f"{where}: missing required field '{required}'")
            if entry["backend"] not in BACKENDS:
                raise UserError(f"{where}: backend {entry['backend']!r} is not one of {list(BACKENDS)}")
            entry = dict(entry)
            if "pricing" in entry:
                entry["pricing"] = check_pricing(entry["pricing"], where) if entry["pricing"] is not None else {}
            for listy in ("base_url", "aliases"):
                if isinstance(entry.get(listy), str):
                    entry[listy] = [entry[listy]]
                entry[listy] = tuple(entry.get(listy) or ())
            try:
                registry[str(name)] = ModelConfig(name=str(name), **entry)
            except (TypeError, UserError) as exc:
                raise UserError(f"{where}: {exc}") from None
    return registry


def resolve_model(name: str, registry: dict[str, ModelConfig]) -> ModelConfig:
    """Find a model by registry name or alias (case-insensitive); unknown names list the known ones."""
    wanted = name.casefold()
    for config in registry.values():
        if wanted == config.name.casefold() or wanted in (a.casefold() for a in config.aliases):
            return config
    known = ", ".join(sorted(registry))
    raise UserError(f"unknown model {name!r}; known models: {known}. "
                    "Add your own with --models-file FILE or R1LIB_MODELS")


def models_registry(settings: Settings | None = None, extra_files: list[str] | None = None) -> dict[str, ModelConfig]:
    """The registry from the settings' models files plus ``extra_files`` (e.g. ``--models-file``)."""
    settings = settings or Settings.load()
    return load_models([*settings.models_files, *(Path(f) for f in extra_files or [])])


def canonical_json(value: Any) -> str:
    """Deterministic JSON used for hashing record keys."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def load_profile(name_or_path: str, settings: Settings | None = None) -> dict[str, Any]:
    """Load a run profile by name (``configs/profiles/NAME.yaml``) or by path."""
    settings = settings or Settings.load()
    path = Path(name_or_path)
    if not path.suffix:
        path = settings.root / "configs" / "profiles" / f"{name_or_path}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in (settings.root / "configs" / "profiles").glob("*.yaml"))
        raise UserError(f"unknown profile {name_or_path!r}; available profiles: {', '.join(available)} "
                        "(or give a path to a profile YAML file)")
    profile = _read_yaml(path, what="profile")
    if not isinstance(profile, dict):
        raise UserError(f"profile {path}: expected a mapping")
    profile.setdefault("name", path.stem)
    return profile
