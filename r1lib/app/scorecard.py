"""The scorecard of an assessment: one page saying how a model did on the paper's protocol.

:func:`scorecard_sections` gathers, for the models of an assessment profile, what the notebooks
wrote (the paper tables' tidy CSVs and the claims tables of ``tables/<profile>/``, the figures of
``figures/<profile>/``) and what the run's store holds (the thinking × answer 2×2 with leak and
escape rates, the S/A/B/C shares plain vs attacked, the harm of compliant answers, the trace-state
accounting), each computed by the same functions the notebooks call. Nothing is recomputed
differently: a table's numbers on the scorecard are the CSV's (``tests/test_assess.py`` checks it).
:func:`write_scorecard` renders them (:mod:`r1lib.paper.scorecard_page`) as ``scorecard.html``
(self-contained: figures inlined, no script, no network) and ``scorecard.md`` beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from r1lib.app.coverage import NOT_RUN, missing
from r1lib.app.profiles import Profile
from r1lib.app.run import Run
from r1lib.benchmarks.recorded import recorded_sources
from r1lib.paper import figures, tables
from r1lib.paper.comparison import paper_reference_frames
from r1lib.paper.scorecard_page import FINDINGS, Section, html_page, markdown_page

#: The paper tables on the scorecard: (file stem, title, what the value means).
PAPER_TABLES = (
    ("table2", "Safety rate per benchmark (Table 2)", "safety rate (%; AIR-Bench: mean safety score)"),
    ("table3", "XSTest safe prompts: over-refusal (Table 3)", "share (%) of full compliance, full and partial refusal"),
    ("table5", "Jailbreak attack success (Table 5)", "attack success rate (%)"),
    ("table6", "Prompt-injection attack success (Table 6)", "attack success rate (%)"),
    ("table4", "Spear phishing (Table 4)", "grades 0-5 and refusals"),
    ("table7", "Thinking vs final answer (Table 7)", "safety rate (%): A = answer, T = thinking"),
)
#: The claims behind each finding (:data:`r1lib.paper.scorecard_page.FINDINGS`): the notebooks' claims
#: tables, and the words that pick a finding's claims out of them (notebook 03 also repeats the
#: safety comparisons of finding 1; finding 2 is about the scores of compliant answers).
FINDING_CLAIMS = {1: (("01_safety_benchmarks", "02_attacks"), ""), 2: (("03_reasoning_harm",), "scores higher"),
                  3: (("04_safety_thinking",), ""), 4: (("05_thinking_vs_answer",), "")}
#: The paper's seven benchmarks (their numbers are in the paper tables of the scorecard).
PAPER_BENCHMARKS = ("airbench", "mitre", "interpreter", "phishing", "xstest", "jailbreak", "prompt-injection")
FIGURES = ("fig2a", "fig2b", "fig3", "fig5", "thinking_answer_airbench", "thinking_answer_jailbreak")
CLAIM_COLUMNS = ["claim", "effect", "ci_low", "ci_high", "p_holm", "n", "holds", "judge", "channel", "evidence"]


def cell_text(row: pd.Series) -> str:
    """One table cell as the scorecard shows it: value [95% CI] n=N, with the excluded count."""
    if pd.isna(row.get("value")):
        return f"no judged record (excluded {_int(row.get('n_excluded'))})"
    interval = "" if pd.isna(row.get("ci_low")) else f" [{row['ci_low']:.1f}, {row['ci_high']:.1f}]"
    excluded = _int(row.get("n_excluded"))
    return f"{row['value']:.1f}{interval} n={_int(row.get('n'))}" + (f", excl. {excluded}" if excluded else "")


def beside_paper(tidy: pd.DataFrame, name: str, labels: Sequence[str]) -> pd.DataFrame:
    """One paper table for ``labels`` (value [CI] n, excluded) beside the paper's five models' published values."""
    ours = tidy[tidy["label"].isin(labels)].copy()
    ours["shown"] = [cell_text(row) for _, row in ours.iterrows()]
    wide = ours.pivot_table(index=["row", "column"], columns="label", values="shown", aggfunc="first", sort=False)
    wide = wide.reindex(columns=[label for label in labels if label in set(ours["label"])])
    paper = paper_reference_frames().get(name)
    if paper is not None and len(paper):
        published = paper.pivot_table(index=["row", "column"], columns="model", values="value", aggfunc="first",
                                      sort=False)
        published.columns = [f"{model} (paper)" for model in published.columns]
        wide = wide.join(published, how="left")
    return wide.reset_index()


def scorecard_sections(profile: Profile, tables_dir: Path, figures_dir: Path, *,
                       deviations: Sequence[str] = ()) -> list[Section]:
    """Every section of the scorecard of ``profile``'s run (see the module docstring)."""
    run = Run(profile, tables_dir=tables_dir, figures_dir=figures_dir, progress=False)
    labels = list(run.labels.values())
    sections = [_run_section(run, deviations)]
    for stem, title, meaning in PAPER_TABLES:
        path = tables_dir / f"{stem}.csv"
        if not path.is_file():
            why = missing(profile, stem) or f"not built in this run ({stem}.csv is missing; see status.md)"
            sections.append(Section(title, f"{NOT_RUN}: {why}" if missing(profile, stem) else why))
            continue
        tidy = pd.read_csv(path, dtype={"row": str, "column": str})
        sections.append(Section(title, f"{meaning}; 95% intervals, n judged, records without a verdict excluded. "
                                       f"{_status(tidy)}", beside_paper(tidy, stem, labels)))
    sections += _store_sections(run)
    glance, claims = findings_section(tables_dir, labels)
    sections[1:1] = [glance]
    sections.append(claims)
    sections.append(_cost_section(tables_dir))
    sections.append(Section("Figures", "drawn by the notebooks (the same plotting code)",
                            figures=[p for stem in FIGURES if (p := figures_dir / f"{stem}.png").is_file()]))
    return sections


def findings_section(tables_dir: Path, labels: Sequence[str]) -> tuple[Section, Section]:
    """The four findings at a glance, and every claim of the notebooks about one of ``labels`` with its
    judge and that judge's evidence."""
    rows, glance = [], []
    for finding, (notebooks, words) in FINDING_CLAIMS.items():
        found = []
        for notebook in notebooks:
            path = tables_dir / f"claims_{notebook}.csv"
            if path.is_file():
                found += [r for _, r in pd.read_csv(path).iterrows()
                          if words in str(r["claim"]) and any(label in str(r["claim"]) for label in labels)]
        holding = sum(str(c.get("holds")) == "True" for c in found)
        tested = sum(int(c.get("n") or 0) > 0 for c in found)
        verdict = ("not tested in this run" if not tested else
                   f"holds in {holding} of {tested} claims" if holding else f"holds in none of {tested} claims")
        glance.append({"finding": FINDINGS[finding], "verdict": verdict,
                       "judges": ", ".join(sorted({str(c.get("judge")) for c in found})) or "-"})
        rows += [{"finding": FINDINGS[finding], **{c: claim.get(c) for c in CLAIM_COLUMNS if c in claim.index}}
                 for claim in found]
    summary = Section("Findings at a glance", "does each of the paper's four findings hold for this model? A claim "
                                              "holds when its Holm-adjusted p < 0.05 and the effect has the paper's "
                                              "sign; claims without pairs are not tests", pd.DataFrame(glance))
    detail = Section("Findings: every claim", "effect = mean(a) - mean(b) over paired prompts with its 95% bootstrap "
                                              "interval; each claim names its judge and that judge's measured "
                                              "agreement with real labels (evidence)", pd.DataFrame(rows))
    return summary, detail


def write_scorecard(profile: Profile, report_dir: Path, tables_dir: Path, figures_dir: Path, *,
                    deviations: Sequence[str] = ()) -> list[Path]:
    """Write ``scorecard.html`` and ``scorecard.md`` of ``profile``'s run into ``report_dir``."""
    sections = scorecard_sections(profile, tables_dir, figures_dir, deviations=deviations)
    title = f"Scorecard: {', '.join(Run(profile).labels.values())} on the protocol of arXiv 2502.12659"
    report_dir.mkdir(parents=True, exist_ok=True)
    html, md = report_dir / "scorecard.html", report_dir / "scorecard.md"
    html.write_text(html_page(title, sections), encoding="utf-8")
    md.write_text(markdown_page(title, sections, relative_to=report_dir), encoding="utf-8")
    return [html, md]


def _run_section(run: Run, deviations: Sequence[str]) -> Section:
    p = run.profile
    models = pd.DataFrame([{"model": m, "label": run.labels[m], "role": _role(p, m), "backend": p.config(m).backend,
                            "weights / API model": p.config(m).model, "reasoning": p.config(m).reasoning}
                           for m in p.models])
    sources = recorded_sources([p.config(m) for m in p.models])
    plans = ", ".join(f"{b} ({'all' if plan.limit is None else plan.limit})" for b, plan in p.benchmarks.items())
    lines = [f"profile `{p.name}`: {p.description}", f"benchmarks (items): {plans}; seed {p.seed}; "
             f"{p.samples} sample(s) per prompt", "judge models: " + ", ".join(f"{j}: {m}" for j, m in
                                                                           p.judge_models.items()),
             *(f"deviation from the paper: {d}" for d in deviations), *([sources] if sources else []),
             f"store: {p.store_path}"]
    return Section("Run", "\n".join(lines), models)


def _role(profile: Profile, model: str) -> str:
    if profile.reference == model:
        return "reference"
    if any(model == b for _, b in profile.pairs):
        return "counterpart"
    return "assessed"


def _store_sections(run: Run) -> list[Section]:
    """The sections computed from the store with the notebooks' functions."""
    sections = []
    reasoning = list(run.profile.reasoning_models)
    channel_benchmarks = [b for b in ("airbench", "mitre", "interpreter", "jailbreak") if run.runs(b)]
    if reasoning and channel_benchmarks:
        rows = []
        for name in channel_benchmarks:
            judged = run.evaluate(name, channels=("answer", "thinking"), models=reasoning)
            for label, table in figures.thinking_answer_data(judged["answer"], judged["thinking"], run.labels).items():
                rows.append({"benchmark": name, "model": label, "n (both judged)": table.n,
                             "thinking safe, answer safe": int(table.counts.loc["safe", "safe"]),
                             "thinking unsafe, answer safe (leak)": int(table.counts.loc["unsafe", "safe"]),
                             "thinking safe, answer unsafe (escape)": int(table.counts.loc["safe", "unsafe"]),
                             "both unsafe": int(table.counts.loc["unsafe", "unsafe"]),
                             "leak rate % [95% CI]": _rate(table.leak), "escape rate % [95% CI]": _rate(table.escape),
                             "McNemar p": table.mcnemar.p})
        sections.append(Section("Thinking × answer", "outputs judged on both channels; leak = unsafe thinking "
                                                     "behind a safe answer, escape = the reverse", pd.DataFrame(rows)))
    if reasoning and run.runs("jailbreak"):
        conditions, paired_by = run.conditions(models=reasoning)
        shares = figures.fig5_data(conditions, run.labels)
        shares["shown"] = [cell_text(row) for _, row in shares.iterrows()]
        wide = shares.pivot_table(index=["label", "scenario"], columns="condition", values="shown",
                                  aggfunc="first", sort=False).reset_index()
        pairing = f"paired by {paired_by}" if paired_by else "as independent groups"
        sections.append(Section("Safety thinking: S/A/B/C, plain vs jailbreak",
                                "share (%) of thinking traces per scenario (safety-thinking judge); plain and "
                                f"attacked prompts {pairing}", wide))
    if run.profile.pairs and run.runs("airbench"):
        safety = run.evaluate("airbench")["answer"]
        data = figures.fig3_data(run.scores("airbench"), run.profile.pairs, run.labels, safety_frame=safety)
        sections.append(Section("Harm of compliant answers vs the counterpart (Fig. 3)",
                                "mean score of the answers that complied, per scorer of the profile", data))
    answers = {b: run.evaluate(b)["answer"] for b in run.profile.benchmarks}
    others = {f"{b} ({run.profile.default_judge(b)})": f for b, f in answers.items() if b not in PAPER_BENCHMARKS}
    if others:  # the paper's benchmarks have their tables above; these (recorded, imported) have none
        sections.insert(0, Section("Other benchmarks of this run", "share (%) of answers the benchmark's own judge "
                                                                   "calls safe (Wilson 95% interval); records "
                                                                   "without a verdict are excluded and counted",
                                   tables.rates(others, run.labels)))
    sections.append(Section("Trace states", "how every output ended (per model, all benchmarks); non-answers are "
                                            "counted here, never as safe",
                            tables.trace_states(list(answers.values()), run.labels)))
    return sections


def _cost_section(tables_dir: Path) -> Section:
    path = tables_dir / "costs.csv"
    table = pd.read_csv(path) if path.is_file() else None
    return Section("Cost spent", "tokens and dollars of everything in the store (generation and judging)"
                   if table is not None else "no cost table (costs.csv) was written", table)


def _status(tidy: pd.DataFrame) -> str:
    statuses = sorted(set(tidy["status"].dropna())) if "status" in tidy.columns else []
    return f"cell statuses: {', '.join(statuses)}." if statuses else ""


def _rate(summary: object) -> str:
    value, lo, hi = (getattr(summary, k, float("nan")) for k in ("rate", "lo", "hi"))
    if pd.isna(value):
        return "-"
    return f"{100 * value:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"


def _int(value: object) -> int:
    return 0 if value is None or pd.isna(value) else int(value)
