"""Run profiles: which models run on which benchmarks, how much of each, and who judges.

A *profile* is a YAML file in ``configs/profiles/`` (or any path). :meth:`Profile.load` reads and
validates it: every unknown key, model, benchmark or judge raises :class:`~r1lib.errors.UserError`
naming the mistake and the fix, before anything is generated.

Keys (all but ``models`` and ``benchmarks`` optional)::

    name: demo                       # defaults to the file name; "-fixtures" is appended in fixture mode
    description: one line for the header of every notebook
    paper_comparable: false          # false: every table cell is "not comparable" to the paper
    seed: 0                          # seeds the stratified samples
    samples: 1                       # outputs per prompt
    store: runs/demo/store.sqlite    # relative to the project root; default runs/NAME/store.sqlite
    models: [smollm2-135m, smollm2-135m-think]
    pairs: [[smollm2-135m-think, smollm2-135m]]   # reasoning model, counterpart; default from the registry
    judge_models: {default: offline, xstest: gpt-4o}   # judge name (or default) -> model or "offline"
    benchmarks: {airbench: {limit: 24}, xstest: {limit: 20, split: safe}}   # limit null = every item
    #   {models: [...]} runs a benchmark with only some of the profile's models (default: all of them)
    max_concurrency: {deepseek-r1: 64}   # API calls in flight per model
    reference: o3-mini               # the proprietary reference point of finding 1
    phishing_victim: gpt-4o          # model that plays the spear-phishing target (default gpt-4o)
    phishing_turns: 2                # follow-up turns per spear-phishing dialogue (default: upstream's MAX_TURNS)
    blocked_as: refusal              # provider-blocked prompts: counted as refusals (default) or "excluded"
    max_failures: 0                  # failed calls a notebook tolerates before it reports "incomplete"
    scorers:                         # Fig. 3: how much help a compliant answer gives (name -> judge + options)
      armorm: {judge: reward, model: RLHFlow/ArmoRM-Llama3-8B-v0.1, trust_remote_code: true}
      severity: {judge: harm-offline}  # the default
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1lib.benchmarks.sources import FIXTURE_NOTE, FIXTURE_PROFILE_SUFFIX
from r1lib.config import ModelConfig, Settings, load_profile, models_registry, resolve_model
from r1lib.errors import UserError

PROFILE_KEYS = ("name", "description", "paper_comparable", "seed", "samples", "store", "models", "pairs",
                "judge_models", "benchmarks", "max_concurrency", "reference", "phishing_victim", "phishing_turns",
                "scorers", "blocked_as", "max_failures")
BLOCKED_AS = ("refusal", "excluded")
#: The models of the paper (registry names) and its judge model: a cell is comparable only with these.
PAPER_MODELS = frozenset({"deepseek-r1", "deepseek-v3", "r1-distill-llama-70b", "llama-3.3-70b", "o3-mini"})
PAPER_JUDGE_MODEL = "gpt-4o"
BENCHMARK_KEYS = ("limit", "split", "models")
OFFLINE = "offline"
#: Fig. 3's scorers when a profile names none: the offline severity proxy (no reward model needed).
DEFAULT_SCORERS = {"severity": {"judge": "harm-offline"}}
#: Item ``meta["source"]`` values that mark a stand-in for the paper's data (MITRE base prompts instead
#: of the augmented ones; JailbreakBench artifacts instead of WildGuardTest).
SUBSTITUTE_SOURCES = frozenset({"mitre-base", "jailbreakbench-artifacts"})


@dataclass(frozen=True)
class BenchmarkPlan:
    """How much of one benchmark a profile runs: ``limit`` items (None = all) of ``split``, with
    ``models`` (None = every model of the profile)."""

    limit: int | None = None
    split: str | None = None
    models: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Profile:
    """A validated run profile (see the module docstring for the YAML keys)."""

    name: str
    models: tuple[str, ...]
    benchmarks: Mapping[str, BenchmarkPlan]
    pairs: tuple[tuple[str, str], ...] = ()
    judge_models: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    paper_comparable: bool = False
    seed: int = 0
    samples: int = 1
    store_path: Path = Path("runs/store.sqlite")
    max_concurrency: Mapping[str, int] = field(default_factory=dict)
    reference: str | None = None
    phishing_victim: str = "gpt-4o"
    phishing_turns: int | None = None
    blocked_as: str = "refusal"
    max_failures: int = 0
    scorers: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: dict(DEFAULT_SCORERS))
    registry: Mapping[str, ModelConfig] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def load(cls, name_or_path: str = "demo", *, models: Sequence[str] | None = None, limit: int | None = None,
             seed: int | None = None, store: str | Path | None = None,
             settings: Settings | None = None) -> "Profile":
        """Read and validate a profile; ``models``, ``limit`` (every benchmark), ``seed`` and ``store`` override it."""
        settings = settings or Settings.load()
        doc = load_profile(name_or_path, settings)
        if models is not None:
            doc["models"] = list(models)
            if doc.get("pairs") is not None:
                doc["pairs"] = [p for p in doc["pairs"] if set(p) <= set(models)]
            doc["max_concurrency"] = {m: n for m, n in (doc.get("max_concurrency") or {}).items() if m in models}
            if doc.get("reference") not in models:
                doc["reference"] = None
        if limit is not None:
            doc["benchmarks"] = {b: {**(plan or {}), "limit": limit} for b, plan in (doc.get("benchmarks") or {}).items()}
        if models is not None:  # a benchmark none of the kept models runs leaves the profile
            narrowed = {b: _keep_models(plan, models) for b, plan in (doc.get("benchmarks") or {}).items()}
            doc["benchmarks"] = {b: plan for b, plan in narrowed.items()
                                 if not isinstance(plan, dict) or plan.get("models") != []}
        if seed is not None:
            doc["seed"] = seed
        if store is not None:
            doc["store"] = str(store)
        return cls.from_dict(doc, settings=settings, source=str(name_or_path))

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, settings: Settings | None = None,
                  source: str = "profile") -> "Profile":
        """Validate a profile mapping; every mistake raises :class:`UserError` naming the key and the fix."""
        settings = settings or Settings.load()
        where = f"profile {doc.get('name', source)!r}"
        unknown = sorted(set(doc) - set(PROFILE_KEYS))
        if unknown:
            raise UserError(f"{where}: unknown keys {unknown}; allowed keys: {', '.join(PROFILE_KEYS)}")
        registry = models_registry(settings)
        models = tuple(_model_names(doc.get("models"), registry, where))
        benchmarks = _benchmark_plans(doc.get("benchmarks"), models, registry, where)
        name = str(doc.get("name") or source)
        if settings.fixtures_dir is not None:  # fixture mode: the store, tables and captions say so
            name += FIXTURE_PROFILE_SUFFIX
        store = Path(doc["store"]).expanduser() if doc.get("store") else settings.runs_dir / name / "store.sqlite"
        return cls(
            name=name, models=models, benchmarks=benchmarks,
            pairs=_pairs(doc.get("pairs"), models, registry, where),
            judge_models=_judge_models(doc.get("judge_models"), registry, where),
            description=str(doc.get("description") or ""),
            paper_comparable=_typed(doc, "paper_comparable", bool, False, where),
            seed=_typed(doc, "seed", int, 0, where),
            samples=_positive(doc, "samples", 1, where),
            store_path=store if store.is_absolute() else settings.root / store,
            max_concurrency=_concurrency(doc.get("max_concurrency"), models, where),
            reference=_reference(doc.get("reference"), models, registry, where),
            phishing_victim=_model_names([doc.get("phishing_victim") or "gpt-4o"], registry, where)[0],
            phishing_turns=_turns(doc, where),
            blocked_as=_choice(doc, "blocked_as", BLOCKED_AS, where),
            max_failures=_at_least(doc, "max_failures", 0, 0, where),
            scorers=_scorers(doc.get("scorers"), where),
            registry=registry,
        )

    def config(self, model: str) -> ModelConfig:
        """The model's registry entry with this profile's ``max_concurrency`` override applied."""
        config = resolve_model(model, dict(self.registry))
        if config.name in self.max_concurrency:
            config = dataclasses.replace(config, max_concurrency=self.max_concurrency[config.name])
        return config

    @property
    def labels(self) -> dict[str, str]:
        """Display label (the paper's, when the model is one of the paper's) of every model."""
        return {m: self.config(m).display_name() for m in self.models}

    @property
    def reasoning_models(self) -> tuple[str, ...]:
        """The models of the profile that think before answering."""
        return tuple(m for m in self.models if self.config(m).reasoning)

    def plan(self, benchmark: str) -> BenchmarkPlan:
        """The plan for one benchmark; a benchmark the profile does not run is a :class:`UserError`."""
        if benchmark not in self.benchmarks:
            raise UserError(f"profile {self.name!r} does not run benchmark {benchmark!r}; add it under "
                            f"'benchmarks:' in the profile (it runs: {', '.join(self.benchmarks)})")
        return self.benchmarks[benchmark]

    def judge_model(self, judge: str) -> str | None:
        """The judge model configured for ``judge`` (or the profile's default), None for the judge's own default."""
        return self.judge_models.get(judge, self.judge_models.get("default"))

    def judge_model_label(self, judge: str) -> str:
        """What stands behind ``judge`` in this profile: its judge model, ``offline``, or ``-`` (no model)."""
        from r1lib.judges.base import LLMJudge
        from r1lib.judges.registry import judge_class
        if not issubclass(judge_class(judge), LLMJudge):
            return "-"
        return self.judge_model(judge) or f"{getattr(judge_class(judge), 'default_judge_model', 'gpt-4o')} (default)"

    def default_judge(self, benchmark: str) -> str:
        """The judge a benchmark is scored with unless another is named (its spec's ``judge``)."""
        from r1lib.benchmarks.registry import get_benchmark
        judge = get_benchmark(benchmark).judge
        if judge is None:
            raise UserError(f"benchmark {benchmark!r} has no default judge; name one with judge=...")
        return judge

    def judge(self, name: str, **options: Any) -> Any:
        """Build the judge ``name`` (with ``options``) and this profile's judge model for it."""
        from r1lib.judges.base import LLMJudge
        from r1lib.judges.registry import get_judge, judge_class
        if issubclass(judge_class(name), LLMJudge):
            return get_judge(name, judge_model=self.judge_model(name), models=dict(self.registry), **options)
        return get_judge(name, **options)


@dataclass(frozen=True)
class Comparison:
    """Whether a run's numbers can be set against the paper's, and if not, why."""

    ok: bool
    reason: str = ""


def comparability(profile: Profile, benchmark: str, judge: Any, split: str | None = None) -> Comparison:
    """Whether ``benchmark`` judged by ``judge`` in this profile can be compared with the paper.

    Only when the profile says so (``paper_comparable``), every model is one of the paper's, the
    judge follows the paper's protocol (:attr:`r1lib.judges.base.Protocol.paper`) with the paper's
    judge model, the items are the paper's full set (no ``limit`` sample, the paper's size, not a
    stand-in dataset, never test fixtures) and, for spear phishing, the dialogue runs upstream's
    number of turns.
    """
    from r1lib.benchmarks.registry import BENCHMARKS, load_items
    from r1lib.judges.base import LLMJudge

    plan = profile.plan(benchmark)
    if not profile.paper_comparable:
        return Comparison(False, f"profile {profile.name!r} is not set up like the paper")
    others = sorted(set(profile.models) - PAPER_MODELS)
    if others:
        return Comparison(False, f"models {others} are not the paper's")
    if not judge.protocol.paper:
        return Comparison(False, f"judge {judge.name!r}: {judge.protocol.source}")
    if isinstance(judge, LLMJudge) and judge.judge_model.name != PAPER_JUDGE_MODEL:
        return Comparison(False, f"judge model {judge.judge_model.name!r} is not the paper's ({PAPER_JUDGE_MODEL})")
    if plan.limit is not None:
        return Comparison(False, f"a sample of {plan.limit} items, not the paper's full set")
    if benchmark == "phishing" and profile.phishing_turns is not None:
        from r1lib.benchmarks.phishing import protocol
        if profile.phishing_turns != protocol().max_turns:
            return Comparison(False, f"{profile.phishing_turns} dialogue turns, not upstream's {protocol().max_turns}")
    items = load_items(benchmark, seed=profile.seed, split=split or plan.split)
    if any("fixture" in item.meta for item in items):
        return Comparison(False, f"the items are {FIXTURE_NOTE}")
    substitutes = sorted({str(item.meta.get("source")) for item in items if item.meta.get("source") in SUBSTITUTE_SOURCES})
    if substitutes:
        return Comparison(False, f"stand-in data ({', '.join(substitutes)}) instead of the paper's")
    if len(items) != BENCHMARKS[benchmark].paper_size:
        return Comparison(False, f"{len(items)} items, the paper used {BENCHMARKS[benchmark].paper_size}")
    return Comparison(True)


def _turns(doc: Mapping[str, Any], where: str) -> int | None:
    value = doc.get("phishing_turns")
    return None if value is None else _at_least(doc, "phishing_turns", 0, 0, where)


def _choice(doc: Mapping[str, Any], key: str, choices: tuple[str, ...], where: str) -> str:
    value = doc.get(key, choices[0])
    if value not in choices:
        raise UserError(f"{where}: {key!r} must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _at_least(doc: Mapping[str, Any], key: str, default: int, minimum: int, where: str) -> int:
    value = _typed(doc, key, int, default, where)
    if value < minimum:
        raise UserError(f"{where}: {key!r} must be at least {minimum}, got {value}")
    return value


def _keep_models(plan: Any, models: Sequence[str]) -> Any:
    """A benchmark plan with its own ``models`` narrowed to ``models`` (a notebook's override)."""
    if not isinstance(plan, dict) or plan.get("models") is None:
        return plan
    return {**plan, "models": [m for m in plan["models"] if m in models]}


def _typed(doc: Mapping[str, Any], key: str, kind: type, default: Any, where: str) -> Any:
    value = doc.get(key, default)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        wanted = {int: "an integer", bool: "true or false"}[kind]
        raise UserError(f"{where}: {key!r} must be {wanted}, got {value!r}")
    return value


def _positive(doc: Mapping[str, Any], key: str, default: int, where: str) -> int:
    return _at_least(doc, key, default, 1, where)


def _model_names(value: Any, registry: Mapping[str, ModelConfig], where: str) -> list[str]:
    if not value or not isinstance(value, list):
        raise UserError(f"{where}: 'models' must be a non-empty list of model names; "
                        f"known models: {', '.join(sorted(registry))}")
    names = []
    for name in value:
        try:
            names.append(resolve_model(str(name), dict(registry)).name)
        except UserError as exc:
            raise UserError(f"{where}: {exc}") from None
    return list(dict.fromkeys(names))


def _benchmark_plans(value: Any, models: tuple[str, ...], registry: Mapping[str, ModelConfig],
                     where: str) -> dict[str, BenchmarkPlan]:
    from r1lib.benchmarks.registry import BENCHMARKS
    known = list(BENCHMARKS)
    if not value or not isinstance(value, dict):
        raise UserError(f"{where}: 'benchmarks' must map benchmark names to {{limit, split}}; "
                        f"known benchmarks: {', '.join(known)}")
    plans = {}
    for name, entry in value.items():
        if name not in known:
            raise UserError(f"{where}: unknown benchmark {name!r}; known benchmarks: {', '.join(known)}")
        entry = entry or {}
        if not isinstance(entry, dict) or set(entry) - set(BENCHMARK_KEYS):
            raise UserError(f"{where}: benchmark {name!r} takes only {list(BENCHMARK_KEYS)}, got {entry!r}")
        limit = entry.get("limit")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise UserError(f"{where}: benchmark {name!r}: limit must be a positive integer or null (all items), "
                            f"got {limit!r}")
        chosen = entry.get("models")
        if chosen is not None:
            chosen = tuple(_model_names(chosen, registry, f"{where}: benchmark {name!r}"))
            outside = [m for m in chosen if m not in models]
            if outside:
                raise UserError(f"{where}: benchmark {name!r} names models {outside} that are not in 'models'; "
                                "add them to 'models' or drop them here")
        plans[name] = BenchmarkPlan(limit=limit, split=entry.get("split"), models=chosen)
    return plans


def _pairs(value: Any, models: tuple[str, ...], registry: Mapping[str, ModelConfig],
           where: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return tuple((m, registry[m].counterpart) for m in models
                     if registry[m].counterpart and registry[m].counterpart in models)
    pairs = []
    for pair in value:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise UserError(f"{where}: each entry of 'pairs' is [reasoning model, counterpart], got {pair!r}")
        resolved = tuple(_model_names([p], registry, where)[0] for p in pair)
        missing = [p for p in resolved if p not in models]
        if missing:
            raise UserError(f"{where}: pair {list(pair)} names {missing}, which are not in 'models'; "
                            "add them to 'models' or drop the pair")
        pairs.append(resolved)
    return tuple(pairs)


def _scorers(value: Any, where: str) -> dict[str, dict[str, Any]]:
    from r1lib.judges.registry import JUDGES
    if value is None:
        return dict(DEFAULT_SCORERS)
    if not isinstance(value, dict) or not value:
        raise UserError(f"{where}: 'scorers' must map a name to {{judge: JUDGE, ...options}}, "
                        f"e.g. {DEFAULT_SCORERS}")
    for name, spec in value.items():
        if not isinstance(spec, dict) or spec.get("judge") not in JUDGES:
            raise UserError(f"{where}: scorer {name!r} needs 'judge' set to one of {', '.join(sorted(JUDGES))}, "
                            f"got {spec!r}")
    return {str(name): dict(spec) for name, spec in value.items()}


def _reference(value: Any, models: tuple[str, ...], registry: Mapping[str, ModelConfig], where: str) -> str | None:
    if value is None:
        return None
    name = _model_names([value], registry, where)[0]
    if name not in models:
        raise UserError(f"{where}: reference {value!r} is not in 'models'; add it there or drop 'reference'")
    return name


def _judge_models(value: Any, registry: Mapping[str, ModelConfig], where: str) -> dict[str, str]:
    from r1lib.judges.registry import JUDGES
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserError(f"{where}: 'judge_models' must map judge names (or 'default') to a model or 'offline'")
    resolved = {}
    for judge, model in value.items():
        if judge != "default" and judge not in JUDGES:
            raise UserError(f"{where}: judge_models: unknown judge {judge!r}; known judges: default, "
                            f"{', '.join(sorted(JUDGES))}")
        if model == OFFLINE:
            resolved[judge] = OFFLINE
            continue
        try:
            resolved[judge] = resolve_model(str(model), dict(registry)).name
        except UserError as exc:
            raise UserError(f"{where}: judge_models.{judge}: {exc}; or use 'offline'") from None
    return resolved


def _concurrency(value: Any, models: tuple[str, ...], where: str) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserError(f"{where}: 'max_concurrency' must map model names to positive integers")
    for model, n in value.items():
        if model not in models:
            raise UserError(f"{where}: max_concurrency names {model!r}, which is not in 'models' "
                            f"({', '.join(models)})")
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise UserError(f"{where}: max_concurrency.{model} must be a positive integer, got {n!r}")
    return dict(value)
