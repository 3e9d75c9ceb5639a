"""What the notebooks call: generate → judge → outcome frames for a profile, and the :class:`Run` around it.

:class:`Run` binds a :class:`~r1lib.app.profiles.Profile` to its store and output folders
(``tables/<profile>/``, ``figures/<profile>/``); :meth:`Run.evaluate` generates every missing
output, judges every missing verdict and returns one outcome frame per channel. Everything is read
back from the store, so running a notebook a second time generates and judges nothing. The other
methods are what a notebook shows: the profile header, the judges' protocols, sample sizes, case
figures, and saved tables and figures (each figure says which profile, models and judges made it).

Failed calls are loud: every generation and judging step adds its failures to the run's
``status_file`` (when the notebook was given one, as ``r1lib reproduce`` does), which marks the
notebook "incomplete" once they exceed the profile's ``max_failures``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from r1lib.analysis.evidence import (
    EVIDENCE_FRAME,
    REFERENCES,
    agreement_evidence,
    display_table,
    with_evidence,
    xstest_evidence,
)
from r1lib.analysis.stats import claims_table
from r1lib.app.case_studies import CaseStudies
from r1lib.app.comparability import Comparison, comparability
from r1lib.app.coverage import Coverage
from r1lib.app.profiles import Profile
from r1lib.app.steps import evaluate, prefetch
from r1lib.benchmarks.base import Item
from r1lib.benchmarks.jailbreak import plain_counterpart
from r1lib.benchmarks.recorded import recorded_sources
from r1lib.benchmarks.registry import load_items
from r1lib.config.settings import Settings
from r1lib.core.errors import UserError
from r1lib.core.failures import Cause, merge_causes
from r1lib.core.records import GenerationRecord
from r1lib.cost.budget import BudgetExhausted, active
from r1lib.cost.spent import costs_table
from r1lib.judges.base import LLMJudge
from r1lib.paper.figure_files import caption_figure, save_figure
from r1lib.paper.render import save_table
from r1lib.store.database import Store


@dataclass
class Failures:
    """Failed calls of a run so far (generation and judging) and the first error seen."""

    generation: int = 0
    judging: int = 0
    first_error: str = ""
    steps: list[str] = field(default_factory=list)
    causes: list[Cause] = field(default_factory=list)

    @property
    def total(self) -> int:
        """All failed calls."""
        return self.generation + self.judging

    def add(self, step: str, generation: int, judging: int, error: str, causes: Sequence[Cause] = ()) -> None:
        """Count one step's failures (``causes``: the same failures by cause)."""
        self.causes = merge_causes(self.causes, causes)
        self.generation += generation
        self.judging += judging
        if (generation or judging) and not self.first_error:
            self.first_error = error
        if generation or judging:
            self.steps.append(f"{step}: {generation} generation, {judging} judging")


class Run(CaseStudies, Coverage):
    """A profile bound to its store and to the folders its tables and figures go to."""

    def __init__(self, profile: Profile, *, tables_dir: str | Path | None = None,
                 figures_dir: str | Path | None = None, status_file: str | Path | None = None,
                 progress: bool = True, settings: Settings | None = None):
        settings = settings or Settings.load()
        self.profile = profile
        self.tables_dir = Path(tables_dir) if tables_dir else settings.tables_dir / profile.name
        self.figures_dir = Path(figures_dir) if figures_dir else settings.figures_dir / profile.name
        self.status_file = Path(status_file) if status_file else None
        self.progress = progress
        #: (benchmark, judge as shown, judge name, channel) → the outcome frame, for :meth:`header`.
        self.frames: dict[tuple[str, str, str, str], pd.DataFrame] = {}
        #: Benchmark → whether this run's numbers can be set against the paper's, and why not.
        self.comparable: dict[str, Comparison] = {}
        #: Judge name → the judge object used, for :meth:`judges`.
        self.used: dict[str, Any] = {}
        #: Every (benchmark[:split], judge, channel) this run judged, in order: what the estimate must plan for.
        self.judgings: list[tuple[str, str, str]] = []
        #: Fig. 3 scorer → why it could not be built here (set by :meth:`scores`).
        self.unavailable: dict[str, str] = {}
        self.failures = Failures()
        self._prefetched = False

    @classmethod
    def open(cls, profile: str = "demo", *, models: Sequence[str] | None = None, limit: int | None = None,
             seed: int | None = None, store: str | Path | None = None, tables_dir: str | Path | None = None,
             figures_dir: str | Path | None = None, status_file: str | Path | None = None,
             progress: bool = True) -> "Run":
        """Load ``profile`` with the notebook's overrides (the notebooks' parameters map one to one)."""
        return cls(Profile.load(profile, models=models, limit=limit, seed=seed, store=store),
                   tables_dir=tables_dir, figures_dir=figures_dir, status_file=status_file, progress=progress)

    @property
    def labels(self) -> dict[str, str]:
        """Model → display label for tables and figures."""
        return self.profile.labels

    @contextmanager
    def store(self) -> Iterator[Store]:
        """The profile's store, closed on exit."""
        store = Store(self.profile.store_path)
        try:
            yield store
        finally:
            store.close()

    def evaluate(self, benchmark: str, *, judge: str | None = None, channels: Sequence[str] = ("answer",),
                 models: Sequence[str] | None = None, split: str | None = None,
                 keep: Callable[[Item], bool] | None = None, limit: int | None = None,
                 judge_options: Mapping[str, Any] | None = None, shown: str | None = None) -> dict[str, pd.DataFrame]:
        """Generate, judge each channel and return ``{channel: outcome frame}`` (see :func:`evaluate`)."""
        judge_name = judge or self.profile.default_judge(benchmark)
        judge_obj = self.profile.judge(judge_name, **(judge_options or {}))
        with self.store() as store:
            try:
                if not self._prefetched:
                    self._prefetched = True
                    summaries = prefetch(self.profile, store, progress=self.progress)
                    failed = sum(s.failed for s in summaries)
                    self.failures.add("batched local generation", failed, 0, "see the failed records in the store",
                                      merge_causes(*(s.causes for s in summaries)))
                result = evaluate(self.profile, benchmark, store, judge=judge_obj, channels=channels, models=models,
                                  split=split, keep=keep, limit=limit, progress=self.progress)
            except BudgetExhausted:
                self._write_status()  # what was spent reaches `r1lib reproduce` before the notebook stops
                raise
        self.used[judge_obj.name] = judge_obj
        tag = benchmark if split is None else f"{benchmark}:{split}"
        self.judgings += [j for j in ((tag, judge_obj.name, c) for c in channels) if j not in self.judgings]
        step = f"{benchmark}{':' + split if split else ''} × {judge_obj.name}"
        self.failures.add(step, result.failed_generations, result.failed_judgements, result.first_error,
                          result.causes)
        self._write_status()
        for channel, frame in result.frames.items():  # one view per (benchmark, judge, channel), over calls
            key = (shown or (benchmark if split is None else f"{benchmark}:{split}"), shown or judge_name,
                   judge_name, channel)
            earlier = self.frames.get(key)
            self.frames[key] = frame if earlier is None else pd.concat(
                [earlier[~earlier["gen_key"].isin(frame["gen_key"])], frame], ignore_index=True)
        if split is None and keep is None and limit is None:
            self.comparable[benchmark] = comparability(self.profile, benchmark, judge_obj)
        return result.frames

    def conditions(self, *, judge: str = "safety-thinking", channels: Sequence[str] = ("thinking",),
                   models: Sequence[str] | None = None) -> tuple[dict[str, pd.DataFrame], str | None]:
        """Finding 3: the jailbreak sample and its plain counterpart, one frame each (first channel).

        Returns ``({"plain": frame, "jailbreak": frame}, paired_by)``: ``paired_by`` is the item
        field pairing a plain request with its jailbreaks (``behavior`` for the JailbreakBench
        artifacts), or None when the two are independent groups (WildGuardTest: vanilla vs
        adversarial harmful prompts). See :func:`r1lib.benchmarks.jailbreak.plain_counterpart`.
        """
        plan = self.profile.plan("jailbreak")
        attacked_items = load_items("jailbreak", limit=plan.limit, seed=self.profile.seed, split=plan.split)
        counterpart = plain_counterpart(attacked_items)
        channel = channels[0]
        attacked = self.evaluate("jailbreak", judge=judge, channels=channels, models=models)[channel]
        if counterpart.paired_by is None:
            plain = self.evaluate("jailbreak", judge=judge, channels=channels, models=models,
                                  split=counterpart.split, limit=len(attacked_items))[channel]
        else:
            plain = self.evaluate("jailbreak", judge=judge, channels=channels, models=models,
                                  split=counterpart.split, keep=counterpart.keep)[channel]
        if counterpart.paired_by is not None:
            attacked = self.with_item_field(attacked, counterpart.paired_by)
            plain = self.with_item_field(plain, counterpart.paired_by)
        return {"plain": plain, "jailbreak": attacked}, counterpart.paired_by

    def judge_pairs(self, specs: Sequence[tuple[str, str, str, str | None, str]]) -> dict[str, tuple[pd.DataFrame,
                                                                                                     pd.DataFrame]]:
        """Two judges' outcome frames on the same records, for judge agreement: ``specs`` holds
        (name, benchmark, channel, judge A or None for the benchmark's own, judge B); benchmarks the
        profile does not run are left out."""
        return {name: (self.evaluate(benchmark, judge=a, channels=(channel,))[channel],
                       self.evaluate(benchmark, judge=b, channels=(channel,))[channel])
                for name, benchmark, channel, a, b in specs if self.runs(benchmark)}

    def scores(self, benchmark: str = "airbench", *, models: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
        """Fig. 3: every answer of ``benchmark`` (of ``models``, default all) scored by each scorer of the
        profile, ``{scorer: frame}``.

        A scorer that cannot be built here (e.g. a reward model that is not available offline) is
        left out with its message in :attr:`unavailable`; the rest of the run goes on.
        """
        frames = {}
        self.unavailable = {}
        for name, spec in self.profile.scorers.items():
            options = {k: v for k, v in spec.items() if k != "judge"}
            try:
                frames[name] = self.evaluate(benchmark, judge=spec["judge"], judge_options=options, models=models,
                                             shown=f"{name} ({spec['judge']})")["answer"]
            except UserError as exc:
                self.unavailable[name] = str(exc)
        return frames

    def header(self) -> pd.DataFrame:
        """What every notebook states: profile, models, judges (and their models) and sample sizes.

        One row per (benchmark, judge, channel, model) evaluated so far in this run, with the number
        of records, how many got a verdict, and how many the provider blocked.
        """
        rows = []
        for (benchmark, shown, judge, channel), frame in self.frames.items():
            for model, group in frame.groupby("model", sort=False):
                rows.append({"profile": self.profile.name, "benchmark": benchmark, "judge": shown,
                             "judge model": self.profile.judge_model_label(judge),
                             "channel": channel, "model": self.labels.get(model, model),
                             "records": len(group), "judged": int((group["outcome"] == "judged").sum()),
                             "blocked": int((group["generation"] == "blocked").sum())})
        return pd.DataFrame(rows, columns=["profile", "benchmark", "judge", "judge model", "channel", "model",
                                           "records", "judged", "blocked"])

    def costs(self) -> pd.DataFrame:
        """Tokens and dollars of everything in the profile's store (generation and judging, per model),
        with each price's source; also written to ``<tables>/costs.csv``."""
        with self.store() as store:
            return costs_table(store, self.profile.registry, output_dir=self.tables_dir)

    def judges(self) -> pd.DataFrame:
        """Every judge this run used: its protocol source, whether it is the paper's, and every deviation."""
        return pd.DataFrame([judge.describe() for judge in self.used.values()],
                            columns=["judge", "version", "protocol", "paper protocol", "deviations", "judge model"])

    def comparison(self) -> pd.DataFrame:
        """Per benchmark of this run: comparable to the paper, and why not."""
        return pd.DataFrame([{"benchmark": b, "comparable": c.ok, "reason": c.reason or "-"}
                             for b, c in self.comparable.items()], columns=["benchmark", "comparable", "reason"])

    def intro(self) -> str:
        """A one-paragraph description of the profile (markdown) for the top of a notebook."""
        p = self.profile
        plans = ", ".join(f"{b} ({'all' if plan.limit is None else plan.limit})" for b, plan in p.benchmarks.items())
        judges = ", ".join(f"{j}: {m}" for j, m in p.judge_models.items()) or "each judge's default"
        comparable = ("Set up like the paper: a table cell is compared with the paper's value where models, data and "
                      "judge protocol are the paper's (the reasons are listed below each table)."
                      if p.paper_comparable else
                      "**Not comparable to the paper's numbers**: every table cell is marked 'not comparable'.")
        turns = "upstream's" if p.phishing_turns is None else str(p.phishing_turns)
        return (f"**Profile `{p.name}`** — {p.description} {comparable}  \n"
                f"Models: {', '.join(f'{m} ({label})' for m, label in self.labels.items())}.  \n"
                f"Benchmarks (items): {plans}; seed {p.seed}; {p.samples_note}.  \n"
                f"Judge models: {judges}; Fig. 3 scorers: {', '.join(p.scorers)}; phishing victim: "
                f"{p.phishing_victim} ({turns} follow-up turns); provider-blocked prompts count as "
                f"{'refusals' if p.blocked_as == 'refusal' else 'excluded'}. Store: `{p.store_path}`.")

    def records(self, keys: Sequence[str]) -> dict[str, GenerationRecord]:
        """Stored generation records by key."""
        with self.store() as store:
            return store.get_generations(list(keys))

    def with_item_field(self, frame: pd.DataFrame, name: str) -> pd.DataFrame:
        """``frame`` with a column ``name`` taken from each record's item meta (e.g. ``behavior``)."""
        records = self.records(frame["gen_key"])
        values = [(records[k].meta.get("item") or {}).get(name) if k in records else None for k in frame["gen_key"]]
        return frame.assign(**{name: values})

    def save_table(self, table: pd.DataFrame, name: str, *, caption: str = "") -> list[Path]:
        """Write a table as CSV, Markdown and LaTeX into the run's tables folder (the caption names the profile).

        See :func:`r1lib.paper.render.save_table`: the CSV keeps every cell at full precision; the Markdown
        and LaTeX show the paper's layout (paper tables) or value [95% CI] n, rounded (other tables).
        """
        sources = self.sources(table["model"]) if "model" in table.columns else ""
        caption = f"{caption} [r1lib profile {self.profile.name}{'; ' + sources if sources else ''}]".strip()
        return save_table(table, name, self.tables_dir, caption=caption)

    def evidence(self, pairs: set[tuple[str, str]]) -> pd.DataFrame:
        """Measured agreement of each (judge, channel) in ``pairs`` with the labels of
        :data:`r1lib.analysis.evidence.REFERENCES` this profile runs (one row per reference; see
        :mod:`r1lib.analysis.evidence`), plus XSTest's human labels for ``refusal-offline`` on answers."""
        rows = []
        for ref in REFERENCES:
            judge = ref.judge or self.profile.default_judge(ref.benchmark)
            if not self.runs(ref.benchmark) or (judge, ref.channel) not in pairs:
                continue
            judged = self.evaluate(ref.benchmark, judge=judge, channels=(ref.channel,))[ref.channel]
            channel = ref.labels_channel or ref.channel
            labels = self.evaluate(ref.benchmark, judge=ref.labels, channels=(channel,))[channel]
            rows.append(agreement_evidence(judged, labels, ref))
        if ("refusal-offline", "answer") in pairs and "refusal-offline" in self.used:
            rows.append(xstest_evidence(self.used["refusal-offline"].version))
        return pd.DataFrame(rows, columns=EVIDENCE_FRAME)

    def claims_table(self, claims: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        """:func:`r1lib.analysis.stats.claims_table` of ``claims`` with each claim's judge, protocol, evidence
        and flips."""
        table = claims_table(list(claims))
        if "judge" not in table.columns:
            return table
        pairs = {(judge, channel) for judge, channels in zip(table["judge"], table["channel"])
                 for channel in str(channels).split(", ")}
        return with_evidence(table, self.evidence(pairs), self.used)

    def save_claims(self, table: pd.DataFrame, notebook: str) -> pd.DataFrame:
        """Write a claims table as ``claims_<notebook>.csv`` (every column, full precision) and ``.md``
        (value, interval, p and n rounded; judge, protocol, evidence and flips) beside the paper
        tables; returns the rounded table for display."""
        shown = display_table(table)
        self.tables_dir.mkdir(parents=True, exist_ok=True)
        table.to_csv(self.tables_dir / f"claims_{notebook}.csv", index=False)
        caption = (f"Claims of {notebook}: effect = mean(a) - mean(b) with its 95% bootstrap interval, Holm-adjusted "
                   f"p, n pairs, records without a verdict excluded [r1lib profile {self.profile.name}]")
        (self.tables_dir / f"claims_{notebook}.md").write_text(
            f"{caption}\n\n{shown.to_markdown(index=False, disable_numparse=True)}\n", encoding="utf-8")
        return shown

    def save_figure(self, figure: Any, name: str, *frames: pd.DataFrame) -> list[Path]:
        """Write a figure as PNG and PDF into the run's figures folder, captioned with what made it."""
        caption_figure(figure, self.caption(*frames))
        return save_figure(figure, name, self.figures_dir)

    def caption(self, *frames: pd.DataFrame) -> str:
        """Profile, models and judges (offline stand-ins marked) behind the given frames."""
        models = [m for frame in frames for m in dict.fromkeys(frame["model"])] if frames else list(self.profile.models)
        judges = list(dict.fromkeys(j for frame in frames for j in frame["judge"].dropna().unique()))
        shown = [f"{judge} ({self._judge_kind(judge)})" for judge in judges]
        names = ", ".join(self.labels.get(m, m) for m in dict.fromkeys(models))
        sources = self.sources(models)
        return (f"r1lib profile {self.profile.name} · models: {names}"
                + (f" · judge: {'; '.join(shown)}" if shown else "") + (f" · {sources}" if sources else ""))

    def _judge_kind(self, judge: str) -> str:
        """What stands behind a judge's verdicts, for captions: its judge model, or what it is instead."""
        used = self.used.get(judge)
        if isinstance(used, LLMJudge):
            return used.judge_model.name
        if used is not None and used.protocol.source.startswith("offline"):
            return "offline stand-in"
        if used is not None and used.protocol.source.startswith("labels shipped"):
            return "labels shipped with the set"
        return self.profile.judge_model_label(judge)

    def sources(self, models: Sequence[str]) -> str:
        """Where recorded outputs among ``models`` come from (repository@commit), or ''."""
        return recorded_sources([self.profile.config(m) for m in dict.fromkeys(models) if m in self.profile.models])

    def _write_status(self) -> None:
        """Record this run's failures, and what its budget (if any) spent, where ``r1lib reproduce`` reads them."""
        if self.status_file is None:
            return
        f = self.failures
        status = {"failed_calls": f.total, "generation": f.generation, "judging": f.judging,
                  "first_error": f.first_error, "causes": [[c.count, c.first] for c in f.causes],
                  "steps": f.steps, "max_failures": self.profile.max_failures,
                  "judgings": self.judgings}
        budget = active()
        if budget is not None:
            status["budget"] = {"spent_usd": budget.spent_usd, "stopped": budget.stopped, "report": budget.report()}
        self.status_file.parent.mkdir(parents=True, exist_ok=True)
        self.status_file.write_text(json.dumps(status, indent=1), encoding="utf-8")
