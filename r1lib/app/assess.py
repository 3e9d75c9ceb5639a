"""``r1lib assess``: the paper's protocol on one model (and its counterpart) in one command.

:func:`assessment_profile` builds a run profile from a size template (``configs/assess/quick.yaml``:
a small stratified sample of every paper benchmark; ``configs/assess/paper.yaml``: the paper's
sizes) and the model entry: the model, its counterpart (the entry's ``counterpart:`` unless given),
an optional reference model (the paper's o3-mini role), and the judge model (the paper's GPT-4o
unless given; ``offline`` for the offline judges, which every output then names). The profile is
written to ``reports/<model>/profile.yaml`` so that the run can be read, edited and re-run with
``r1lib reproduce --profile reports/<model>/profile.yaml``.

:func:`assess` prints the estimate of that profile (calls, tokens, dollars, wall time), asks before
the first billed call (``yes`` skips the question; a run without billed calls does not ask), runs
the notebooks through :func:`r1lib.app.reproduce.reproduce` in the model's own store (resumable:
a second run reuses every stored call) and writes the scorecard (:mod:`r1lib.paper.scorecard`)
under ``reports/<model>/``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from r1lib.app.estimate import estimate_profile
from r1lib.app.estimate_report import Estimate, format_estimate
from r1lib.app.profile_checks import OFFLINE
from r1lib.app.profiles import Profile
from r1lib.app.reproduce import reproduce
from r1lib.app.scorecard import write_scorecard
from r1lib.config.settings import ModelConfig, Settings, models_registry, resolve_model
from r1lib.core.errors import UserError
from r1lib.cost.budget import BUDGET_EXIT
from r1lib.cost.pricing import costs_money
from r1lib.store.database import Store

SIZES = ("quick", "paper")
#: The judge model of the paper (every LLM judge); ``--judge-model`` overrides it.
PAPER_JUDGE_MODEL = "gpt-4o"
#: Who plays the spear-phishing target in the paper.
PAPER_VICTIM = "gpt-4o"
#: Exit status when the user declined (or could not be asked) before billed calls.
DECLINED = 1


@dataclass(frozen=True)
class Assessment:
    """What one assessment runs: the profile file written, the profile, and where its report goes."""

    profile_file: Path
    profile: Profile
    report_dir: Path
    deviations: tuple[str, ...]


def size_template(size: str, settings: Settings) -> dict[str, Any]:
    """The benchmark sizes and settings of ``configs/assess/<size>.yaml``."""
    if size not in SIZES:
        raise UserError(f"unknown size {size!r}; use one of {', '.join(SIZES)}")
    path = settings.root / "configs" / "assess" / f"{size}.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def assessment_profile(model: str, *, counterpart: str | None = None, reference: str | None = None,
                       judge_model: str | None = None, size: str = "quick", store: str | Path | None = None,
                       models_files: Sequence[str] = (), report_dir: str | Path | None = None,
                       settings: Settings | None = None,
                       benchmarks: dict[str, dict[str, Any]] | None = None) -> Assessment:
    """Build, write and validate the profile that assesses ``model`` (see the module docstring);
    ``benchmarks`` replaces the size template's (e.g. the one benchmark imported outputs answer)."""
    settings = settings or Settings.load()
    registry = models_registry(settings, extra_files=list(models_files))
    config = resolve_model(model, registry)
    partner = _counterpart(config, counterpart, registry)
    ref = resolve_model(reference, registry).name if reference else None
    judge = judge_model or PAPER_JUDGE_MODEL
    models = list(dict.fromkeys(m for m in (config.name, partner, ref) if m))
    doc = size_template(size, settings)
    if benchmarks is not None:
        doc["benchmarks"] = benchmarks
    deviations = []
    if judge == OFFLINE:
        deviations.append("judges: the offline stand-ins, not the paper's GPT-4o judges (each claim gives its "
                          "judge's measured agreement with real labels)")
    victim = PAPER_VICTIM
    if not any(costs_money(registry[m]) for m in models) or judge == OFFLINE:
        victim = partner or config.name  # no key is needed anywhere else: keep it so
        if "phishing" in doc["benchmarks"]:
            deviations.append(f"spear phishing: the victim is played by {victim}, not the paper's GPT-4o")
    if size == "quick" and benchmarks is None:
        deviations.append("size: a small stratified sample of every benchmark (configs/assess/quick.yaml), "
                          "not the paper's sizes; intervals are wide")
    name = f"assess-{config.name}"
    report = Path(report_dir) if report_dir else settings.root / "reports" / config.name
    doc.update({
        "name": name,
        "description": f"{config.display_name()}: {doc.get('description', size)}",
        "paper_comparable": size == "paper" and judge == PAPER_JUDGE_MODEL,
        "models": models,
        "pairs": [[config.name, partner]] if partner and config.reasoning else [],
        "judge_models": {"default": judge},
        **({"store": str(Path(store).resolve())} if store else {}),
        "reference": ref,
        "phishing_victim": victim,
    })
    report.mkdir(parents=True, exist_ok=True)
    profile_file = report / "profile.yaml"
    header = (f"# Written by `r1lib assess --model {config.name} --size {size}`; re-run it, or edit this file and run\n"
              f"# `r1lib reproduce --profile {profile_file}`.\n")
    profile_file.write_text(header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    profile = Profile.load(str(profile_file), settings=settings)
    return Assessment(profile_file, profile, report, tuple(deviations))


def default_store(model: str, settings: Settings) -> Path:
    """The store of an assessment of ``model`` unless ``--store`` names another."""
    return settings.runs_dir / f"assess-{model}" / "store.sqlite"


def _counterpart(config: ModelConfig, given: str | None, registry: dict[str, ModelConfig]) -> str | None:
    """The counterpart to compare with: ``given``, else the entry's ``counterpart:``, else none."""
    if given:
        return resolve_model(given, registry).name
    if config.counterpart and config.counterpart in registry:
        return config.counterpart
    return None


def billed_calls(estimate: Estimate, profile: Profile) -> int:
    """How many of the estimate's pending calls go to a provider that may bill them."""
    rows = estimate.rows
    paid = [costs_money(profile.config(m) if m in profile.models else profile.registry[m]) for m in rows["model"]]
    return int(rows.loc[paid, "calls"].sum()) if len(rows) else 0


def assess(model: str, *, counterpart: str | None = None, reference: str | None = None,
           judge_model: str | None = None, size: str = "quick", store: str | Path | None = None,
           models_files: Sequence[str] = (), max_cost: float | None = None, yes: bool = False,
           report_dir: str | Path | None = None, ask: Callable[[str], str] = input,
           outputs: Callable[[str], Any] | None = None) -> int:
    """Assess ``model``: estimate, ask before billed calls, run the notebooks, write the scorecard.

    ``outputs`` assesses outputs made elsewhere instead: called with the assessment's store path, it
    imports them (:func:`r1lib.app.importing.import_outputs`, returning its ``ImportResult``) as the
    model ``model``; the run then covers the benchmark they answer, every item, with no generation
    (items without an output are ``not_recorded``).

    Returns 0 when every notebook ran and the scorecard is written, 1 when a notebook failed or the
    user declined, the budget's exit status when ``max_cost`` stopped the run.
    """
    with extra_models_files(models_files):
        settings = Settings.load()
        benchmarks = None
        if outputs is not None:  # the import and the notebooks share one store
            store = Path(store).resolve() if store else default_store(model, settings)
            result = outputs(str(store))
            print("\n".join(result.lines()))
            model, benchmarks = result.model, {result.benchmark: {"limit": None}}
            settings = Settings.load()  # the models registry now holds the import's entry
        plan = assessment_profile(model, counterpart=counterpart, reference=reference, judge_model=judge_model,
                                  size=size, store=store, report_dir=report_dir, settings=settings,
                                  benchmarks=benchmarks)
        profile = plan.profile
        print(f"r1lib assess: {', '.join(profile.labels.values())}; profile written to {plan.profile_file}")
        for line in plan.deviations:
            print(f"  deviation from the paper: {line}")
        estimate = _estimate(profile)
        print(format_estimate(estimate, profile))
        billed = billed_calls(estimate, profile)
        if billed and not yes and not _confirmed(ask, billed, max_cost):
            print(f"not started: re-run with --yes to make the {billed:,} billed calls"
                  + ("" if max_cost is not None else " (add --max-cost USD to cap the spending)"))
            return DECLINED
        check_keys(profile)
        status = reproduce(str(plan.profile_file), max_cost=max_cost)
        if status == BUDGET_EXIT:
            print("the budget stopped the run: no scorecard (re-run with a higher --max-cost to continue)")
            return status
        written = write_scorecard(profile, plan.report_dir, settings.tables_dir / profile.name,
                                  settings.figures_dir / profile.name, deviations=plan.deviations)
    print(f"scorecard: {', '.join(str(p) for p in written)}")
    return status


@contextmanager
def extra_models_files(paths: Sequence[str]) -> Iterator[None]:
    """``paths`` added to ``R1LIB_MODELS`` while the block runs: the notebooks' kernels read the models
    registry themselves and inherit the environment."""
    previous = os.environ.get("R1LIB_MODELS")
    files = [str(Path(f).resolve()) for f in paths]
    if files:
        os.environ["R1LIB_MODELS"] = os.pathsep.join([*filter(None, [previous]), *files])
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("R1LIB_MODELS", None)
        else:
            os.environ["R1LIB_MODELS"] = previous


def check_keys(profile: Profile) -> None:
    """Every API key the run needs (its models, the phishing victim, the judge models) is in the
    environment; a missing one is a :class:`UserError` naming its variable, before any call."""
    judge_models = [m for m in profile.judge_models.values() if m != OFFLINE]
    for name in dict.fromkeys([*profile.models, profile.phishing_victim, *judge_models]):
        profile.registry[name].api_key()


def _estimate(profile: Profile) -> Estimate:
    if profile.store_path.is_file():
        with Store(profile.store_path, create=False) as store:
            return estimate_profile(profile, store)
    return estimate_profile(profile)


def _confirmed(ask: Callable[[str], str], billed: int, max_cost: float | None) -> bool:
    """Ask whether to make ``billed`` billed calls; no terminal to ask on counts as no."""
    if not sys.stdin.isatty() and ask is input:
        return False
    cap = f" (stopping at ${max_cost:,.2f})" if max_cost is not None else ""
    try:
        answer = ask(f"make {billed:,} billed calls{cap}? type 'yes' to start: ")
    except EOFError:
        return False
    return answer.strip().lower() == "yes"
