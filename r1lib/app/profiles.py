"""Run profiles: which models run on which benchmarks, how much of each, and who judges.

A *profile* is a YAML file in ``configs/profiles/`` (or any path). :meth:`Profile.load` reads and
validates it: every unknown key, model, benchmark or judge raises :class:`~r1lib.core.errors.UserError`
naming the mistake and the fix, before anything is generated.

The keys are the fields of :class:`ProfileFile` (each says what it holds, with an example; all but
``models`` and ``benchmarks`` are optional). A short one::

    description: SmolLM2 with and without elicited thinking, offline judges
    models: [smollm2-135m, smollm2-135m-think]
    judge_models: {default: offline}
    benchmarks: {airbench: {limit: 24}, xstest: {limit: 20, split: safe}}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from r1lib.app import profile_checks as checks
from r1lib.app.profile_checks import DEFAULT_SCORERS
from r1lib.benchmarks.registry import benchmark_names, get_benchmark
from r1lib.benchmarks.sources import FIXTURE_PROFILE_SUFFIX
from r1lib.config.settings import ModelConfig, Settings, load_profile, models_registry, profile_path, resolve_model
from r1lib.config.validation import field_hints, key_lines, validate
from r1lib.core.errors import UserError
from r1lib.generation.mitigations import arm_configs, parse_arms
from r1lib.judges.base import LLMJudge
from r1lib.judges.registry import get_judge, judge_class


class BenchmarkEntry(BaseModel):
    """One entry under ``benchmarks:`` in a profile file."""

    model_config = ConfigDict(extra="forbid", strict=True)

    limit: Annotated[int, Field(ge=1)] | None = None
    split: str | None = None
    models: list[str] | None = None
    samples: Annotated[int, Field(ge=1)] | None = None


class ProfileFile(BaseModel):
    """The keys of a profile file, their types and defaults; each description is the fix its error suggests."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str | None = Field(None, description="the profile's name, e.g. demo (default: the file name; "
                                               "fixture mode appends '-fixtures')")
    description: str = Field("", description="one line for the header of every notebook")
    paper_comparable: bool = Field(False, description="true only when the run is set up like the paper's; "
                                                      "false marks every table cell 'not comparable'")
    seed: int = Field(0, description="the seed of the stratified samples, e.g. 0")
    samples: int = Field(1, ge=1, description="outputs per prompt of every benchmark, e.g. 1 "
                                                 "(a benchmark's own 'samples' overrides it)")
    store: str | None = Field(None, description="the store file, relative to the project root "
                                                "(default runs/NAME/store.sqlite)")
    models: list[str] = Field(description="the models that run (registry names or aliases), e.g. "
                                          "[smollm2-135m, smollm2-135m-think]")
    models_files: list[str] = Field([], description="models files defining models of this profile beyond the "
                                                    "registry's, relative to the profile file, e.g. [my_models.yaml]")
    pairs: list[Annotated[list[str], Field(min_length=2, max_length=2)]] | None = Field(
        None, description="[[reasoning model, counterpart], ...] (default: the registry's counterparts)")
    judge_models: dict[str, str] = Field({}, description="judge name (or default) -> model or offline, e.g. "
                                                         "{default: offline, xstest: gpt-4o}")
    benchmarks: dict[str, BenchmarkEntry | None] = Field(
        description="benchmark -> {limit: N (null = every item), split: S, models: [a subset of 'models'], "
                    "samples: K (outputs per prompt, default the profile's 'samples')}, "
                    "e.g. {airbench: {limit: 24}, xstest: {limit: 20, split: safe, samples: 3}}")
    max_concurrency: dict[str, Annotated[int, Field(ge=1)]] = Field(
        {}, description="model -> API calls in flight, e.g. {deepseek-r1: 64}")
    reference: str | None = Field(None, description="the proprietary reference point of finding 1, one of "
                                                    "'models', e.g. o3-mini")
    phishing_victim: str = Field("gpt-4o", description="the model that plays the spear-phishing target")
    phishing_turns: Annotated[int, Field(ge=0)] | None = Field(
        None, description="follow-up turns per spear-phishing dialogue, e.g. 2 (default: upstream's MAX_TURNS)")
    scorers: dict[str, dict[str, Any]] | None = Field(
        None, description="Fig. 3 scorers: name -> {judge: JUDGE, ...its options}, e.g. "
                          "{armorm: {judge: reward, model: RLHFlow/ArmoRM-Llama3-8B-v0.1}}")
    blocked_as: Literal["refusal", "excluded"] = Field(
        "refusal", description="provider-blocked prompts count as refusals, or are excluded")
    max_failures: int = Field(0, ge=0, description="failed calls a notebook tolerates before it reports "
                                                   "'incomplete', e.g. 0")
    mitigations: dict[str, dict[str, Any]] | None = Field(
        None, description="arm -> one change applied to the models as <model>+<arm>, e.g. {zerothink: "
                          "{thinking: off}, lessthink: {thinking_budget: 32}} (see r1lib.generation.mitigations)")


PROFILE_FILE = TypeAdapter(ProfileFile)
PROFILE_HINTS = field_hints(ProfileFile)


@dataclass(frozen=True)
class BenchmarkPlan:
    """How much of one benchmark a profile runs: ``limit`` items (None = all) of ``split``, with
    ``models`` (None = every model of the profile), ``samples`` outputs per prompt (None = the
    profile's ``samples``)."""

    limit: int | None = None
    split: str | None = None
    models: tuple[str, ...] | None = None
    samples: int | None = None


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
    models_files: tuple[Path, ...] = ()
    registry: Mapping[str, ModelConfig] = field(default_factory=dict, repr=False, compare=False)
    #: Every mitigation arm's model (``<model>+<arm>``, also in ``models``) -> (its baseline model, the arm).
    arms: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, name_or_path: str = "demo", *, models: Sequence[str] | None = None, limit: int | None = None,
             seed: int | None = None, store: str | Path | None = None,
             settings: Settings | None = None) -> "Profile":
        """Read and validate a profile; ``models``, ``limit`` (every benchmark), ``seed`` and ``store`` override it."""
        settings = settings or Settings.load()
        path = profile_path(name_or_path, settings)
        doc = load_profile(str(path), settings)
        if models is not None:
            doc["models"] = list(models)
            if doc.get("pairs") is not None:
                doc["pairs"] = [p for p in doc["pairs"] if set(p) <= set(models)]
            doc["max_concurrency"] = {m: n for m, n in (doc.get("max_concurrency") or {}).items() if m in models}
            if doc.get("reference") not in models:
                doc["reference"] = None
        if limit is not None:
            doc["benchmarks"] = {b: {**(plan or {}), "limit": limit}
                                 for b, plan in (doc.get("benchmarks") or {}).items()}
        if models is not None:  # a benchmark none of the kept models runs leaves the profile
            narrowed = {b: checks.keep_models(plan, models) for b, plan in (doc.get("benchmarks") or {}).items()}
            doc["benchmarks"] = {b: plan for b, plan in narrowed.items()
                                 if not isinstance(plan, dict) or plan.get("models") != []}
        if seed is not None:
            doc["seed"] = seed
        if store is not None:
            doc["store"] = str(store)
        return cls.from_dict(doc, settings=settings, source=str(name_or_path), path=path)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, settings: Settings | None = None,
                  source: str = "profile", path: Path | None = None) -> "Profile":
        """Validate a profile mapping; every mistake raises :class:`UserError` naming the key and the fix.

        Types and ranges are checked against :class:`ProfileFile`; then every model, benchmark and judge
        named must exist. With ``path`` (the file ``doc`` was read from) messages give the file and line.
        """
        settings = settings or Settings.load()
        lines = key_lines(path) if path is not None else {}
        name = str(doc.get("name") or source)
        if settings.fixtures_dir is not None:  # fixture mode: the store, tables and captions say so
            name += FIXTURE_PROFILE_SUFFIX

        def at(*loc: str) -> str:
            """Where a key is: the file and line, or the profile's name."""
            if path is None:
                return f"profile {name!r}"
            line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), None)
            return f"profile file {path}" + (f" line {line}" if line else "")

        spec = validate(PROFILE_FILE, dict(doc), source=f"profile file {path}" if path else f"profile {name!r}",
                        hints=PROFILE_HINTS, lines=lines)
        base = path.parent if path is not None else Path.cwd()
        files = checks.models_files(spec.models_files, base, at("models_files"))
        registry: dict[str, ModelConfig] = models_registry(settings, extra_files=[str(f) for f in files])
        arm_specs = parse_arms(spec.mitigations or {}, at("mitigations"))
        # names of arms in 'models' (a narrowed profile) stand for their baselines; the arms are derived below
        baselines = list(dict.fromkeys(checks.baseline_of(m, arm_specs) for m in spec.models))
        models = tuple(checks.model_names(baselines, registry, at("models")))
        derived = arm_configs(arm_specs, models, registry, settings, at("mitigations"))
        registry.update(derived)
        models += tuple(derived)
        store = Path(spec.store).expanduser() if spec.store else settings.runs_dir / name / "store.sqlite"
        return cls(
            name=name, models=models, models_files=files,
            benchmarks=_benchmark_plans(spec.benchmarks, models, registry, at, spec.samples),
            pairs=checks.model_pairs(spec.pairs, models, registry, at("pairs")),
            judge_models=checks.judge_models(spec.judge_models, registry, at("judge_models")),
            description=spec.description, paper_comparable=spec.paper_comparable, seed=spec.seed,
            samples=spec.samples, store_path=store if store.is_absolute() else settings.root / store,
            max_concurrency=checks.concurrency(spec.max_concurrency, models, at("max_concurrency")),
            reference=checks.reference_model(spec.reference, models, registry, at("reference")),
            phishing_victim=checks.model_names([spec.phishing_victim], registry, at("phishing_victim"))[0],
            phishing_turns=spec.phishing_turns, blocked_as=spec.blocked_as, max_failures=spec.max_failures,
            scorers=checks.scorers(spec.scorers, at("scorers")),
            registry=registry,
            arms={name: (name.rpartition("+")[0], name.rpartition("+")[2]) for name in derived},
        )

    def config(self, model: str) -> ModelConfig:
        """The model's registry entry with this profile's ``max_concurrency`` override applied (an arm
        takes its baseline's)."""
        config = resolve_model(model, dict(self.registry))
        limit = self.max_concurrency.get(self.arms.get(config.name, (config.name, ""))[0])
        return config if limit is None else dataclasses.replace(config, max_concurrency=limit)

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

    def samples_for(self, benchmark: str) -> int:
        """Outputs per prompt of ``benchmark`` (``jailbreak:plain`` is ``jailbreak``'s): its plan's
        ``samples``, else the profile's."""
        plan = self.plan(benchmark.split(":")[0])
        return self.samples if plan.samples is None else plan.samples

    @property
    def samples_note(self) -> str:
        """The outputs per prompt in words, e.g. ``1 sample(s) per prompt (xstest: 3)``."""
        own = ", ".join(f"{b}: {p.samples}" for b, p in self.benchmarks.items()
                        if p.samples is not None and p.samples != self.samples)
        return f"{self.samples} sample(s) per prompt" + (f" ({own})" if own else "")

    def repeats_draws(self, model: str) -> bool:
        """Whether ``model``'s samples of one prompt repeat one draw: a recorded output, or decoding at
        temperature 0 (greedy; an API at temperature 0 may still vary a little)."""
        config = self.config(model)
        return config.backend == "recorded" or not float(config.params.get("temperature", 0.0) or 0.0)

    def judge_model(self, judge: str) -> str | None:
        """The judge model configured for ``judge`` (or the profile's default), None for the judge's own default."""
        return self.judge_models.get(judge, self.judge_models.get("default"))

    def judge_model_label(self, judge: str) -> str:
        """What stands behind ``judge`` in this profile: its judge model, ``offline``, or ``-`` (no model)."""
        if not issubclass(judge_class(judge), LLMJudge):
            return "-"
        return self.judge_model(judge) or f"{getattr(judge_class(judge), 'default_judge_model', 'gpt-4o')} (default)"

    def default_judge(self, benchmark: str) -> str:
        """The judge a benchmark is scored with unless another is named (its spec's ``judge``)."""
        judge = get_benchmark(benchmark).judge
        if judge is None:
            raise UserError(f"benchmark {benchmark!r} has no default judge; name one with judge=...")
        return judge

    def judge(self, name: str, **options: Any) -> Any:
        """Build the judge ``name`` (with ``options``) and this profile's judge model for it."""
        if issubclass(judge_class(name), LLMJudge):
            return get_judge(name, judge_model=self.judge_model(name), models=dict(self.registry), **options)
        return get_judge(name, **options)










def _benchmark_plans(value: Mapping[str, BenchmarkEntry | None], models: tuple[str, ...],
                     registry: Mapping[str, ModelConfig], at: Any, samples: int) -> dict[str, BenchmarkPlan]:
    known = benchmark_names()
    if not value:
        raise UserError(f"{at('benchmarks')}: 'benchmarks' must map benchmark names to {{limit, split}}; "
                        f"known benchmarks: {', '.join(known)}")
    plans = {}
    for name, entry in value.items():
        where = at("benchmarks", name)
        if name not in known:
            raise UserError(f"{where}: unknown benchmark {name!r}; known benchmarks: {', '.join(known)}")
        entry = entry or BenchmarkEntry()
        chosen = None
        if entry.models is not None:
            chosen = tuple(checks.model_names(entry.models, registry, f"{where}: benchmark {name!r}"))
            outside = [m for m in chosen if m not in models]
            if outside:
                raise UserError(f"{where}: benchmark {name!r} names models {outside} that are not in 'models'; "
                                "add them to 'models' or drop them here")
        if get_benchmark(name).solver == "phishing_dialogue" and (entry.samples or samples) != 1:
            raise UserError(f"{where}: benchmark {name!r} plays one dialogue per challenge; set 'samples: 1' "
                            f"under benchmarks.{name} (it would take {entry.samples or samples})")
        plans[name] = BenchmarkPlan(limit=entry.limit, split=entry.split, models=chosen, samples=entry.samples)
    return plans









