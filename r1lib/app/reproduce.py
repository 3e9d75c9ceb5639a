"""``r1lib reproduce``: execute the notebooks of a profile with Papermill and report every paper artefact.

Each notebook runs in a fresh kernel (the ``python3`` kernel of the environment running this code)
with the profile and output folders injected as parameters. Generation and judging resume from the
profile's store, so a second run only re-draws tables and figures. Every output of a profile goes
to its own folders — ``tables/<profile>/``, ``figures/<profile>/``, executed notebooks in
``runs/<profile>/notebooks/`` — so one profile never overwrites another's. A notebook that fails is
reported with Papermill's error and the others still run; a notebook whose failed calls (generation
or judging) exceed the profile's ``max_failures`` is "incomplete"; either way the exit status is 1.
The run ends with the status of every table and figure of the paper, printed and written to
``tables/<profile>/status.md``.

Notebooks are kept in git without outputs: the numbers they show depend on the profile, so the
executed copies under ``runs/`` are the artefacts, not the files in ``notebooks/``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from r1lib.app.coverage import NOT_RUN, left_out, missing
from r1lib.app.judging_plan import unplanned
from r1lib.app.profiles import Profile
from r1lib.benchmarks.recorded import recorded_sources
from r1lib.config.settings import PROJECT_ROOT, Settings
from r1lib.core.errors import UserError
from r1lib.cost.budget import BUDGET_EXIT, MAX_COST_ENV, parse_usd
from r1lib.paper.comparison import MEANING, table_status

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
NOTEBOOKS = ("01_safety_benchmarks", "02_attacks", "03_reasoning_harm", "04_safety_thinking",
             "05_thinking_vs_answer", "06_judge_validation")
KERNEL = "python3"
#: The environment variable of extra models files (see :class:`r1lib.config.settings.Settings`).
MODELS_ENV = "R1LIB_MODELS"

#: Every artefact of the paper: (artefact, file stem written by the notebook, notebook, kind).
ARTEFACTS = (
    ("Table 1", "table1", "01_safety_benchmarks", "table"),
    ("Table 2", "table2", "01_safety_benchmarks", "table"),
    ("Table 3", "table3", "01_safety_benchmarks", "table"),
    ("Table 4", "table4", "03_reasoning_harm", "table"),
    ("Table 5", "table5", "02_attacks", "table"),
    ("Table 6", "table6", "02_attacks", "table"),
    ("Table 7", "table7", "05_thinking_vs_answer", "table"),
    ("Table 8", "table8", "01_safety_benchmarks", "table"),
    ("Table 9", "table9", "01_safety_benchmarks", "table"),
    ("Table 10", "table10", "01_safety_benchmarks", "table"),
    ("Fig 1", "fig1", "", "figure"),
    ("Fig 2A", "fig2a", "01_safety_benchmarks", "figure"),
    ("Fig 2B", "fig2b", "01_safety_benchmarks", "figure"),
    ("Fig 3", "fig3", "03_reasoning_harm", "figure"),
    ("Fig 4", "fig4", "03_reasoning_harm", "figure"),
    ("Fig 5", "fig5", "04_safety_thinking", "figure"),
    ("Fig 6", "fig6", "05_thinking_vs_answer", "figure"),
    ("Fig 7", "fig7", "04_safety_thinking", "figure"),
    ("Fig 8", "fig8", "04_safety_thinking", "figure"),
    ("Fig 9", "fig9", "04_safety_thinking", "figure"),
    ("Fig 10", "fig10", "04_safety_thinking", "figure"),
    ("Fig 11", "fig11", "02_attacks", "figure"),
    ("Fig 12", "fig12", "02_attacks", "figure"),
)
STATUS_COLUMNS = ["artefact", "notebook", "status", "detail"]


@dataclass
class NotebookResult:
    """How one notebook run went: its executed copy, wall time, Papermill's error if it failed, and
    ``incomplete`` ("N failed calls (... by cause: ...)") when its calls failed beyond the profile's limit."""

    name: str
    output: Path
    seconds: float
    error: str | None = None
    incomplete: str | None = None

    @property
    def ok(self) -> bool:
        """True when the notebook ran and its calls did not fail beyond the limit."""
        return self.error is None and self.incomplete is None

    @property
    def state(self) -> str:
        """ok, FAILED or incomplete."""
        return "ok" if self.ok else "FAILED" if self.error else "incomplete"

    def line(self) -> str:
        """The progress line printed once the notebook has run."""
        tail = "" if self.ok else f"\n        {self.error or 'incomplete: ' + str(self.incomplete)}"
        return f"{self.state:10s} {self.name:24s} {self.seconds:7.1f} s  -> {self.output}{tail}"


def reproduce(profile: str, only: Sequence[str] | None = None, *, limit: int | None = None,
              store: str | Path | None = None, tables_dir: str | Path | None = None,
              figures_dir: str | Path | None = None, runs_dir: str | Path | None = None,
              max_cost: float | None = None, models_files: Sequence[str | Path] = ()) -> int:
    """Execute the notebooks (all, or ``only`` these) for ``profile``; print and save the artefact status.

    ``models_files`` (``--models-file``) define models beyond the registry's, for the profile and for
    every notebook's kernel (:func:`extra_models`).

    Returns 0 when every notebook ran, 1 otherwise, :data:`~r1lib.cost.budget.BUDGET_EXIT` when the budget
    stopped the run. ``limit`` caps every benchmark's items; ``store``, ``tables_dir``,
    ``figures_dir`` and ``runs_dir`` override the default locations. ``max_cost`` (USD; default the
    environment's ``R1LIB_MAX_COST``) is shared by all notebooks: each kernel gets what the ones
    before it left (:func:`kernel_budget`) and reports what it spent in its status file; a notebook
    the budget stops ends the run (see :mod:`r1lib.cost.budget`).
    """
    with extra_models(models_files):
        return _reproduce(profile, only, limit=limit, store=store, tables_dir=tables_dir, figures_dir=figures_dir,
                          runs_dir=runs_dir, max_cost=max_cost)


def _reproduce(profile: str, only: Sequence[str] | None, *, limit: int | None, store: str | Path | None,
               tables_dir: str | Path | None, figures_dir: str | Path | None, runs_dir: str | Path | None,
               max_cost: float | None) -> int:
    """:func:`reproduce` once the models files are in the environment."""
    if max_cost is None and os.environ.get(MAX_COST_ENV):
        max_cost = parse_usd(os.environ[MAX_COST_ENV], MAX_COST_ENV)
    settings = Settings.load()
    loaded = Profile.load(profile, limit=limit, store=store, settings=settings)  # validate before any kernel starts
    names = select_notebooks(only)
    _check_kernel()
    tables = Path(tables_dir) if tables_dir else settings.tables_dir / loaded.name
    figures = Path(figures_dir) if figures_dir else settings.figures_dir / loaded.name
    out_dir = Path(runs_dir or settings.runs_dir) / loaded.name / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    profile_arg = str(Path(profile).resolve()) if Path(profile).suffix else profile  # notebooks run in notebooks/
    parameters = {"profile": profile_arg, "limit": limit, "store": str(loaded.store_path),
                  "tables_dir": str(tables), "figures_dir": str(figures), "interactive": False}
    print(f"r1lib reproduce: profile {loaded.name!r}, {len(names)} notebook(s), store {loaded.store_path}")
    started = time.time()
    results = []
    judged: list[list[str]] = []
    spent, stopped = 0.0, ""
    for name in names:
        print(f"running {name} ...", flush=True)
        status_file = out_dir / f"{name}.status.json"
        status_file.unlink(missing_ok=True)
        with kernel_budget(None if max_cost is None else max_cost - spent):
            result = run_notebook(name, out_dir / f"{name}.ipynb", {**parameters, "status_file": str(status_file)})
        result.incomplete = incomplete(status_file)
        print(result.line(), flush=True)
        results.append(result)
        judged += judgings(status_file)
        budget = budget_status(status_file)
        spent += budget.get("spent_usd", 0.0)
        if budget.get("stopped"):
            stopped = name
            break
    status = artefact_status(tables, figures, since=started, ran={r.name: r for r in results}, profile=loaded)
    missing = unplanned(loaded, judged)
    if missing:
        print("\nnote: `r1lib estimate` does not plan for these judgings (add them to JUDGING in "
              "r1lib/app/judging_plan.py): " + "; ".join(" × ".join(j) for j in dict.fromkeys(missing)))
    print()
    print(status.to_string(index=False))
    tables.mkdir(parents=True, exist_ok=True)
    (tables / "status.md").write_text(status_markdown(
        status, loaded.name, results, beyond=beyond_paper(tables, figures, since=started),
        sources=recorded_sources([loaded.config(m) for m in loaded.models])))
    bad = [f"{r.name} ({r.state})" for r in results if not r.ok]
    total = sum(r.seconds for r in results)
    print(f"\n{len(results) - len(bad)}/{len(results)} notebooks complete in {total:.0f} s; "
          f"status written to {tables / 'status.md'}" + (f"; NOT COMPLETE: {', '.join(bad)}" if bad else ""))
    if max_cost is not None:
        print(f"API spending of this run: ${spent:,.4f} of the budget of ${max_cost:,.4f}")
    if stopped:
        left = names[names.index(stopped) + 1:]
        print(f"r1lib reproduce: stopped by the budget in {stopped}: spent ${spent:,.4f} of ${max_cost:,.4f}, "
              f"${max(0.0, (max_cost or 0.0) - spent):,.4f} remains" + (f"; not run: {', '.join(left)}" if left else "")
              + ". Completed records are stored: re-run with a higher --max-cost to continue.", file=sys.stderr)
        return BUDGET_EXIT
    return 1 if bad else 0


@contextmanager
def kernel_budget(limit_usd: float | None) -> Iterator[None]:
    """Within the block, kernels started by this process get a budget of ``limit_usd`` (through the
    environment variable :data:`~r1lib.cost.budget.MAX_COST_ENV`); None leaves the environment as it is."""
    with _environ(MAX_COST_ENV, None if limit_usd is None else f"{max(0.0, limit_usd):.6f}"):
        yield


@contextmanager
def extra_models(files: Sequence[str | Path]) -> Iterator[None]:
    """Within the block, the settings (of this process and of every kernel it starts) read ``files``
    after their own models files, through the environment variable ``R1LIB_MODELS`` (paths made
    absolute: kernels run in ``notebooks/``); a file that does not exist is a :class:`UserError`."""
    paths = [Path(f).expanduser().resolve() for f in files]
    for given, path in zip(files, paths):
        if not path.is_file():
            raise UserError(f"--models-file {given}: {path} does not exist; give the path of a models YAML file")
    earlier = [str(Path(p).resolve()) for p in os.environ.get(MODELS_ENV, "").split(os.pathsep) if p]
    with _environ(MODELS_ENV, os.pathsep.join([*earlier, *map(str, paths)]) if paths else None):
        yield


@contextmanager
def _environ(name: str, value: str | None) -> Iterator[None]:
    """Within the block, the environment variable ``name`` is ``value`` (None: left as it is)."""
    if value is None:
        yield
        return
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def budget_status(status_file: Path) -> dict[str, Any]:
    """What a notebook's budget spent and whether it stopped the notebook ({} when it had none)."""
    if not status_file.is_file():
        return {}
    return dict(json.loads(status_file.read_text(encoding="utf-8")).get("budget") or {})


def judgings(status_file: Path) -> list[list[str]]:
    """The (benchmark[:split], judge, channel) judgings a notebook's run recorded in its status file."""
    if not status_file.is_file():
        return []
    return list(json.loads(status_file.read_text(encoding="utf-8")).get("judgings") or [])


def incomplete(status_file: Path) -> str | None:
    """"N failed calls (... by cause: count × first message; ...)" when a notebook's failed calls exceed its
    profile's limit, else None."""
    if not status_file.is_file():
        return None
    status = json.loads(status_file.read_text(encoding="utf-8"))
    if status["failed_calls"] <= status["max_failures"]:
        return None
    causes = status.get("causes") or [[status["failed_calls"], status["first_error"]]]
    by_cause = "; ".join(f"{n} × {_cell(first)[:200]}" for n, first in causes[:5])
    more = f"; {len(causes) - 5} more causes" if len(causes) > 5 else ""
    return (f"{status['failed_calls']} failed calls ({status['generation']} generation, {status['judging']} judging; "
            f"by cause: {by_cause}{more}); rerun to retry them")


def select_notebooks(only: Sequence[str] | None) -> list[str]:
    """The notebooks to run, in order; ``only`` entries may be a number (``03``), a stem or a file name."""
    if not only:
        return list(NOTEBOOKS)
    chosen = set()
    for wanted in only:
        key = Path(wanted).stem
        matches = [n for n in NOTEBOOKS if key in (n, n[:2], n[3:])]
        if not matches:
            raise UserError(f"unknown notebook {wanted!r}; choose from {', '.join(NOTEBOOKS)} "
                            "(a number such as 03 is enough)")
        chosen.update(matches)
    return [n for n in NOTEBOOKS if n in chosen]


def run_notebook(name: str, output: Path, parameters: dict[str, object]) -> NotebookResult:
    """Execute one notebook with Papermill; a failure is returned (with its cell and error), not raised."""
    import papermill  # heavy: loaded only when a notebook runs
    from papermill.exceptions import PapermillExecutionError  # heavy: loaded only when a notebook runs

    started = time.perf_counter()
    error = None
    try:
        papermill.execute_notebook(str(NOTEBOOKS_DIR / f"{name}.ipynb"), str(output), parameters=parameters,
                                   kernel_name=KERNEL, progress_bar=False, cwd=str(NOTEBOOKS_DIR))
    except PapermillExecutionError as exc:
        error = f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
    except Exception as exc:  # kernel death, timeout, unreadable notebook: report and go on
        error = f"{type(exc).__name__}: {exc}"
    return NotebookResult(name, output, time.perf_counter() - started, error)


def artefact_status(tables_dir: Path, figures_dir: Path, *, since: float,
                    ran: dict[str, NotebookResult], profile: Profile | None = None) -> pd.DataFrame:
    """One row per paper artefact: built / not built / reproduced / deviates / not comparable / not run /
    not run in this profile.

    Only files written since ``since`` count, so a stale table from an earlier run is never reported
    as built. A table's status summarises its cells' ``status`` column. With ``profile``, an artefact it
    cannot build (:func:`r1lib.app.coverage.missing`: a benchmark, a reasoning model or a pair is
    missing) is :data:`~r1lib.app.coverage.NOT_RUN` with the reason, and a table built from some of
    its benchmarks (Tables 2 and 7) names the ones left out.
    """
    rows = []
    for artefact, stem, notebook, kind in ARTEFACTS:
        if not notebook:
            rows.append([artefact, "", "not built", "overview diagram; no data behind it"])
            continue
        reason = missing(profile, stem) if profile is not None else None
        if reason is not None:
            rows.append([artefact, notebook, NOT_RUN, reason])
            continue
        if notebook not in ran:
            rows.append([artefact, notebook, "not run", "notebook not selected"])
            continue
        path = (tables_dir / f"{stem}.csv") if kind == "table" else (figures_dir / f"{stem}.png")
        if not path.is_file() or path.stat().st_mtime < since:
            recorded = path.with_name(f"{path.stem}_recorded{path.suffix}")
            why = (f"notebook failed ({ran[notebook].error})" if ran[notebook].error
                   else "not written (e.g. no record of this run met the case criterion)")
            if not ran[notebook].error and recorded.is_file() and recorded.stat().st_mtime >= since:
                why += f"; drawn from recorded outputs as {recorded.name}"
            rows.append([artefact, notebook, "not built", why])
            continue
        status, detail = (_table_status(path) if kind == "table" else ("built", str(path.name)))
        if ran[notebook].incomplete:
            status, detail = "incomplete", f"{detail}; {ran[notebook].incomplete}"
        absent = left_out(profile, stem) if profile is not None else []
        if absent:
            detail += f"; {NOT_RUN}: {', '.join(absent)}"
        rows.append([artefact, notebook, status, detail])
    return pd.DataFrame(rows, columns=STATUS_COLUMNS)


def _table_status(path: Path) -> tuple[str, str]:
    """Summarise the per-cell ``status`` column of a saved table (:func:`r1lib.paper.comparison.table_status`)."""
    table = pd.read_csv(path)
    if "status" not in table.columns or table.empty:
        return "built", f"{path.name} (no paper values to compare)"
    return table_status(table)


def beyond_paper(tables_dir: Path, figures_dir: Path, *, since: float) -> list[str]:
    """Tables and figures written since ``since`` that are not paper artefacts (e.g. the recorded-data
    versions of a figure), as ``tables/NAME.csv`` / ``figures/NAME.png``."""
    stems = {stem for _, stem, _, _ in ARTEFACTS}
    found = []
    for folder, pattern in ((tables_dir, "*.csv"), (figures_dir, "*.png")):
        found += [f"{folder.name}/{path.name}" for path in sorted(folder.glob(pattern))
                  if path.stem not in stems and path.stat().st_mtime >= since]
    return found


def status_markdown(status: pd.DataFrame, profile: str, results: Sequence[NotebookResult], *,
                    beyond: Sequence[str] = (), sources: str = "") -> str:
    """The status report as Markdown: the notebooks run (with times and errors), every artefact, the
    files written beyond the paper's artefacts and where recorded outputs come from."""
    lines = [f"# Reproduction status — profile `{profile}`", "", "| notebook | seconds | result |",
             "|---|---:|---|"]
    lines += [f"| {r.name} | {r.seconds:.1f} | {r.state}"
              f"{': ' + _cell(r.error or r.incomplete or '') if not r.ok else ''} |" for r in results]
    lines += ["", "| " + " | ".join(STATUS_COLUMNS) + " |", "|" + "---|" * len(STATUS_COLUMNS)]
    lines += ["| " + " | ".join(_cell(str(v)) for v in row) + " |" for row in status.itertuples(index=False)]
    lines += ["", MEANING]
    if (status["status"] == NOT_RUN).any():
        lines += ["", f"*{NOT_RUN}*: the profile lacks a benchmark, a reasoning model or a (reasoning model, "
                      "counterpart) pair that the artefact needs (the detail names it); add it to the profile to "
                      "build the artefact."]
    if beyond:
        lines += ["", "## Also written (beyond the paper's artefacts)", "", *[f"- {name}" for name in beyond]]
    if sources:
        lines += ["", "## Sources", "", sources[0].upper() + sources[1:] + "."]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (one line, no pipes)."""
    return " ".join(text.split()).replace("|", "\\|")[:300]


def _check_kernel() -> None:
    """Fail early, with the fix, when no ``python3`` kernel is installed for this environment."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel  # loaded only when the kernel is checked
    try:
        KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        raise UserError(f"no Jupyter kernel named {KERNEL!r}; install one for this environment with "
                        "`pip install ipykernel && python -m ipykernel install --sys-prefix`") from None
