"""What the notebooks call: generate → judge → outcome frames for a profile, and the :class:`Run` around it.

:class:`Run` binds a :class:`~r1lib.profiles.Profile` to its store and output folders;
:meth:`Run.evaluate` generates every missing output, judges every missing verdict and returns one
outcome frame per channel. Everything is read back from the store, so running a notebook a second
time generates and judges nothing. The other methods are what a notebook shows: the profile
header, sample sizes, case figures and saved tables and figures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from r1lib.benchmarks.base import Item
from r1lib.config import ModelConfig, Settings
from r1lib.errors import UserError
from r1lib.profiles import DEFAULT_JUDGES, Profile, paper_comparable
from r1lib.records import CHANNELS, GenerationRecord
from r1lib.store import Store

class Run:
    """A profile bound to its store and to the folders its tables and figures go to."""

    def __init__(self, profile: Profile, *, tables_dir: str | Path | None = None,
                 figures_dir: str | Path | None = None, progress: bool = True, settings: Settings | None = None):
        settings = settings or Settings.load()
        self.profile = profile
        self.tables_dir = Path(tables_dir) if tables_dir else settings.tables_dir
        self.figures_dir = Path(figures_dir) if figures_dir else settings.figures_dir
        self.progress = progress
        #: (benchmark, judge as shown, judge name, channel) → the outcome frame, for :meth:`header`.
        self.frames: dict[tuple[str, str, str, str], pd.DataFrame] = {}
        #: Benchmark → whether this run's numbers can be set against the paper's (see :func:`paper_comparable`).
        self.comparable: dict[str, bool] = {}

    @classmethod
    def open(cls, profile: str = "demo", *, models: Sequence[str] | None = None, limit: int | None = None,
             seed: int | None = None, store: str | Path | None = None, tables_dir: str | Path | None = None,
             figures_dir: str | Path | None = None, progress: bool = True) -> "Run":
        """Load ``profile`` with the notebook's overrides (the notebooks' parameters map one to one)."""
        return cls(Profile.load(profile, models=models, limit=limit, seed=seed, store=store),
                   tables_dir=tables_dir, figures_dir=figures_dir, progress=progress)

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
                 matching: tuple[str, pd.DataFrame] | None = None) -> dict[str, pd.DataFrame]:
        """Generate, judge each channel and return ``{channel: outcome frame}`` (see :func:`evaluate`).

        ``matching=(field, frame)`` runs, instead of the profile's sample, every item of the split
        whose meta ``field`` occurs among the records of ``frame`` — e.g. the plain requests for the
        behaviours a jailbreak sample attacked: ``matching=("behavior", jailbreak_frame)``.
        """
        keep = None
        if matching is not None:
            field_name, other = matching
            wanted = {v for v in self.with_item_field(other, field_name)[field_name] if v is not None}
            keep = lambda item: item.meta.get(field_name) in wanted  # noqa: E731
        with self.store() as store:
            frames = evaluate(self.profile, benchmark, store, judge=judge, channels=channels, models=models,
                              split=split, keep=keep, progress=self.progress)
        judge_name = judge or DEFAULT_JUDGES.get(benchmark, "")
        for channel, frame in frames.items():
            shown = benchmark if split is None else f"{benchmark}:{split}"
            self.frames[(shown, judge_name, judge_name, channel)] = frame
        if split is None:
            self.comparable[benchmark] = paper_comparable(self.profile, benchmark)
        return frames

    def scores(self, benchmark: str = "airbench") -> dict[str, pd.DataFrame]:
        """Fig. 3: every answer of ``benchmark`` scored by each of the profile's scorers, ``{scorer: frame}``."""
        frames = {}
        for name, spec in self.profile.scorers.items():
            options = {k: v for k, v in spec.items() if k != "judge"}
            with self.store() as store:
                frames[name] = evaluate(self.profile, benchmark, store, judge=spec["judge"], judge_options=options,
                                        progress=self.progress)["answer"]
            self.frames[(benchmark, f"{name} ({spec['judge']})", spec["judge"], "answer")] = frames[name]
        return frames

    def header(self) -> pd.DataFrame:
        """What every notebook states: profile, models, judges (and their models) and sample sizes.

        One row per (benchmark, judge, channel, model) evaluated so far in this run, with the number
        of records and how many of them got a verdict.
        """
        rows = []
        for (benchmark, shown, judge, channel), frame in self.frames.items():
            for model, group in frame.groupby("model", sort=False):
                rows.append({"profile": self.profile.name, "benchmark": benchmark, "judge": shown,
                             "judge model": self.profile.judge_model_label(judge),
                             "channel": channel, "model": self.labels.get(model, model),
                             "records": len(group), "judged": int((group["outcome"] == "judged").sum())})
        return pd.DataFrame(rows, columns=["profile", "benchmark", "judge", "judge model", "channel", "model",
                                           "records", "judged"])

    def intro(self) -> str:
        """A one-paragraph description of the profile (markdown) for the top of a notebook."""
        p = self.profile
        plans = ", ".join(f"{b} ({'all' if plan.limit is None else plan.limit})" for b, plan in p.benchmarks.items())
        judges = ", ".join(f"{j}: {m}" for j, m in p.judge_models.items()) or "each judge's default"
        comparable = ("Set up like the paper: table cells are compared with the paper's values where this checkout "
                      "holds the paper's full data." if p.paper_comparable else
                      "**Not comparable to the paper's numbers**: every table cell is marked 'not comparable'.")
        return (f"**Profile `{p.name}`** — {p.description} {comparable}  \n"
                f"Models: {', '.join(f'{m} ({label})' for m, label in self.labels.items())}.  \n"
                f"Benchmarks (items): {plans}; seed {p.seed}; {p.samples} sample(s) per prompt.  \n"
                f"Judge models: {judges}; Fig. 3 scorers: {', '.join(p.scorers)}; phishing victim: "
                f"{p.phishing_victim}. Store: `{p.store_path}`.")

    def records(self, keys: Sequence[str]) -> dict[str, GenerationRecord]:
        """Stored generation records by key."""
        with self.store() as store:
            return store.get_generations(list(keys))

    def with_item_field(self, frame: pd.DataFrame, name: str) -> pd.DataFrame:
        """``frame`` with a column ``name`` taken from each record's item meta (e.g. ``behavior``)."""
        records = self.records(frame["gen_key"])
        values = [(records[k].meta.get("item") or {}).get(name) if k in records else None for k in frame["gen_key"]]
        return frame.assign(**{name: values})

    def case(self, name: str, *, frame_answer: pd.DataFrame | None = None,
             frame_thinking: pd.DataFrame | None = None, n: int = 1) -> Any:
        """A case figure of the paper (``fig6`` … ``fig12``): pick records by its criterion, save the first.

        Returns the chosen cases as HTML for the notebook (escaped), or a note when no record of
        this run meets the criterion (the figure is then not built).
        """
        from IPython.display import HTML

        from r1lib.cases import CRITERIA, FIGURE_CRITERIA, case_figure, case_html, select_cases
        chosen = select_cases(frame_answer, frame_thinking, name, n, seed=self.profile.seed)
        if chosen.empty:
            return HTML(f"<p><b>{name}</b>: no record of this run meets the criterion "
                        f"“{CRITERIA[FIGURE_CRITERIA.get(name, name)]}”; the figure is not built.</p>")
        records = self.records(chosen["gen_key"])
        parts = []
        for i, row in enumerate(chosen.to_dict("records")):
            verdicts = {channel: str(row[f"label_{channel}"]) for channel in ("answer", "thinking")
                        if f"label_{channel}" in row}
            record = records[row["gen_key"]]
            if i == 0:
                title = f"{name}: {self.labels.get(record.model, record.model)} · {record.benchmark} · {record.prompt_id}"
                self.save_figure(case_figure(record, verdicts, title=title), name)
            parts.append(case_html(record, verdicts))
        return HTML("".join(parts))

    def pair_case(self, name: str, safety_frame: pd.DataFrame, scores: Mapping[str, pd.DataFrame]) -> Any:
        """Fig. 4: on the profile's first reasoning pair and first scorer, the prompt where both models
        gave an unsafe answer and the reasoning model's outscores its counterpart's by the widest margin.
        Saves the reasoning model's case as the figure and shows both answers."""
        from IPython.display import HTML

        from r1lib.cases import case_figure, case_html
        from r1lib.claims import judged_values
        if not self.profile.pairs or not scores:
            return HTML(f"<p><b>{name}</b>: the profile has no reasoning pair or no scorer; the figure is not built.</p>")
        (reasoning, counterpart), (scorer, score_frame) = self.profile.pairs[0], next(iter(scores.items()))
        safety = judged_values(safety_frame, "safe")
        unsafe = safety.loc[~safety["value"], ["gen_key", "label"]]
        scored = judged_values(score_frame, "score").merge(unsafe, on="gen_key", suffixes=("_score", ""))
        both = scored[scored["model"] == reasoning].merge(scored[scored["model"] == counterpart],
                                                          on=["prompt_id", "sample"], suffixes=("_r", "_c"))
        if both.empty:
            return HTML(f"<p><b>{name}</b>: no prompt where both {self.labels.get(reasoning, reasoning)} and "
                        f"{self.labels.get(counterpart, counterpart)} answered unsafely; the figure is not built.</p>")
        best = both.assign(margin=both["value_r"] - both["value_c"]).sort_values(
            ["margin", "prompt_id"], ascending=[False, True]).iloc[0]
        records = self.records([best["gen_key_r"], best["gen_key_c"]])
        shown = {side: {"answer": f"{best[f'label_{side}']}; {scorer} {best[f'value_{side}']:.2f}"} for side in "rc"}
        title = (f"{name}: {self.labels.get(reasoning, reasoning)} ({scorer} {best['value_r']:.2f}) vs "
                 f"{self.labels.get(counterpart, counterpart)} ({scorer} {best['value_c']:.2f}) · {best['prompt_id']}")
        self.save_figure(case_figure(records[best["gen_key_r"]], shown["r"], title=title), name)
        return HTML(case_html(records[best["gen_key_r"]], shown["r"]) + case_html(records[best["gen_key_c"]], shown["c"]))

    def examples(self, width: int = 160) -> pd.DataFrame:
        """Table 8: one example prompt of each benchmark of the profile (the first of its sample), shortened."""
        from r1lib.benchmarks.registry import load_items
        from r1lib.cases import clean_text
        rows = []
        for benchmark, plan in self.profile.benchmarks.items():
            item = load_items(benchmark, limit=plan.limit, seed=self.profile.seed, split=plan.split)[0]
            text = " ".join(clean_text(item.messages[-1]["content"]).split())
            rows.append({"benchmark": benchmark, "prompt_id": item.id,
                         "prompt": text if len(text) <= width else text[:width - 1] + "…"})
        return pd.DataFrame(rows)

    def save_table(self, table: pd.DataFrame, name: str, *, caption: str = "") -> list[Path]:
        """Write a table as CSV, Markdown and LaTeX into the run's tables folder (the caption names the profile).

        Paper tables with cells (a ``status`` column) go through :func:`r1lib.report.save_table`;
        plain tables (Tables 1 and 8) are written as they are.
        """
        from r1lib.report import save_table
        caption = f"{caption} [r1lib profile {self.profile.name}]".strip()
        if "status" in table.columns:
            return save_table(table, name, self.tables_dir, caption=caption)
        self.tables_dir.mkdir(parents=True, exist_ok=True)
        paths = [self.tables_dir / f"{name}.{ext}" for ext in ("csv", "md", "tex")]
        table.to_csv(paths[0], index=False)
        paths[1].write_text((f"{caption}\n\n" if caption else "") + table.to_markdown(index=False) + "\n",
                            encoding="utf-8")
        paths[2].write_text(table.to_latex(index=False, caption=caption or None, label=f"tab:{name}"),
                            encoding="utf-8")
        return paths

    def save_figure(self, figure: Any, name: str) -> list[Path]:
        """Write a figure as PNG and PDF into the run's figures folder."""
        from r1lib.plots import save_figure
        return save_figure(figure, name, self.figures_dir)


def generate(profile: Profile, benchmark: str, store: Store, *, models: Sequence[str] | None = None,
             split: str | None = None, keep: Callable[[Item], bool] | None = None,
             progress: bool = True) -> dict[str, list[GenerationRecord]]:
    """Generate (or reuse from ``store``) ``benchmark``'s outputs for each model; records per model.

    Items are the profile's stratified sample (``limit``, ``seed``), or with ``keep`` every item of
    the split that ``keep`` accepts; ``split`` overrides the profile's split. Spear phishing is a
    dialogue: the model under test attacks the profile's victim model, and the record of each
    dialogue is its final attacker turn.
    """
    from r1lib.benchmarks.registry import load_items
    from r1lib.runner import requests_for, run_requests

    plan = profile.plan(benchmark)
    if keep is None:
        items = load_items(benchmark, limit=plan.limit, seed=profile.seed, split=split or plan.split)
    else:
        items = [item for item in load_items(benchmark, split=split or plan.split) if keep(item)]
    if not items:
        raise UserError(f"benchmark {benchmark!r} gave no items (split {split or plan.split!r}); "
                        "check the split name and that the data mirror (R1LIB_DATA_MIRROR) holds it")
    records: dict[str, list[GenerationRecord]] = {}
    for model in _select(profile, models):
        config = profile.config(model)
        config.api_key()  # fail before any request when a key is missing
        if benchmark == "phishing":
            records[model] = _phishing(profile, config, items, store, progress)
        else:
            records[model], summary = run_requests(config, items[0].benchmark, requests_for(items, profile.samples),
                                                   store, progress=progress)
    return records


def evaluate(profile: Profile, benchmark: str, store: Store, *, judge: str | None = None,
             channels: Sequence[str] = ("answer",), models: Sequence[str] | None = None, split: str | None = None,
             keep: Callable[[Item], bool] | None = None, judge_options: Mapping[str, Any] | None = None,
             progress: bool = True) -> dict[str, pd.DataFrame]:
    """Generate, judge and return ``{channel: outcome frame}`` for this run's records only.

    ``judge`` defaults to the benchmark's own judge (:data:`DEFAULT_JUDGES`); ``judge_options`` go to
    its constructor (e.g. a reward model). The ``thinking``
    channel is judged only for reasoning models (the others have no thinking to judge). Each frame
    holds exactly the records of this run (the profile's items × models × samples), whatever else
    the store holds, with every record's outcome (judged, no_output, failed, ...).
    """
    from r1lib.judges.base import judge_records
    from r1lib.outcomes import outcome_frame

    bad = [c for c in channels if c not in CHANNELS]
    if bad:
        raise UserError(f"unknown channels {bad}; use some of {', '.join(CHANNELS)}")
    judge_name = judge or DEFAULT_JUDGES.get(benchmark)
    if judge_name is None:
        raise UserError(f"benchmark {benchmark!r} has no default judge; name one with judge=...")
    judge_obj = profile.judge(judge_name, **(judge_options or {}))
    records = generate(profile, benchmark, store, models=models, split=split, keep=keep, progress=progress)
    frames = {}
    for channel in channels:
        judged = {m: recs for m, recs in records.items()
                  if channel != "thinking" or profile.config(m).reasoning}
        batch = [r for recs in judged.values() for r in recs]
        judge_records(judge_obj, batch, channel, store, progress=progress)
        keys = {r.key for r in batch}
        parts = [outcome_frame(store, benchmark=name, judge=judge_obj.name, version=judge_obj.version,
                               channel=channel, models=list(judged))
                 for name in sorted({r.benchmark for r in batch})]
        frame = pd.concat(parts, ignore_index=True) if parts else outcome_frame(
            store, benchmark=benchmark, judge=judge_obj.name, version=judge_obj.version, channel=channel, models=[])
        frames[channel] = frame[frame["gen_key"].isin(keys)].reset_index(drop=True)
    return frames


def corrected_refusal_rates(frame: pd.DataFrame, predictions: pd.DataFrame, labels: Mapping[str, str], *,
                            judge: str = "refusal-offline") -> pd.DataFrame:
    """XSTest over-refusal per model (full or partial refusal), as judged and corrected for judge error.

    The judge's sensitivity and specificity for "refusal" come from its agreement with the human
    labels in ``predictions`` (:func:`r1lib.judges.validation.held_out_predictions`); the correction
    is Rogan–Gladen with a bootstrap interval that carries their uncertainty
    (:func:`r1lib.stats.rogan_gladen_ci`). Only judged records of ``frame`` count.
    """
    from r1lib.stats import rogan_gladen_ci
    known = predictions[(predictions["judge"] == judge) & predictions["predicted"].notna()]
    truth, said = known["label"] != "full_compliance", known["predicted"] != "full_compliance"
    sensitivity = (int((truth & said).sum()), int(truth.sum()))
    specificity = (int((~truth & ~said).sum()), int((~truth).sum()))
    rows = []
    for model, group in frame[frame["outcome"] == "judged"].groupby("model", sort=False):
        k, n = int((group["label"] != "full_compliance").sum()), len(group)
        estimate = rogan_gladen_ci(k, n, sensitivity=sensitivity, specificity=specificity)
        rows.append({"model": labels.get(model, model), "n": n, "judged refusal %": 100 * k / n,
                     "corrected %": 100 * estimate.estimate, "ci_low": 100 * estimate.lo,
                     "ci_high": 100 * estimate.hi, "judge": judge,
                     "sensitivity": sensitivity[0] / max(sensitivity[1], 1),
                     "specificity": specificity[0] / max(specificity[1], 1)})
    return pd.DataFrame(rows)


def _phishing(profile: Profile, attacker: ModelConfig, items: list[Any], store: Store,
              progress: bool) -> list[GenerationRecord]:
    """Run one attacker's spear-phishing dialogues against the profile's victim model."""
    from r1lib.benchmarks.phishing import run_dialogues
    from r1lib.judges.refusal import full_refusal_check
    victim = profile.config(profile.phishing_victim)
    victim.api_key()
    return run_dialogues(attacker, victim, items, store, max_turns=profile.phishing_turns,
                         is_refusal=full_refusal_check(), progress=progress)


def _select(profile: Profile, models: Sequence[str] | None) -> tuple[str, ...]:
    if models is None:
        return profile.models
    unknown = [m for m in models if m not in profile.models]
    if unknown:
        raise UserError(f"models {unknown} are not in profile {profile.name!r} ({', '.join(profile.models)}); "
                        "add them to the profile or pass MODELS to the notebook")
    return tuple(models)


