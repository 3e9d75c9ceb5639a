"""The notebooks: structure, nbval on the ci profile, Papermill on the demo profile, and `r1lib reproduce`.

Notebooks are stored in git without outputs (their numbers depend on the profile), so nbval runs in
``--nbval-lax`` mode: every cell must execute without error. The numbers are checked here instead:
after a run, every table and the numbers beside every figure are recomputed from the store by
tests/oracle.py (an independent, plain implementation) and compared cell by cell.

nbval runs on copies of the notebooks with the ci profile and temporary store/table/figure folders
injected by Papermill (``prepare_only``), in a subprocess (pytest inside pytest is not supported).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import papermill
import pytest
from oracle import check_outputs

from r1lib.app.profiles import Profile
from r1lib.app.reproduce import (
    ARTEFACTS,
    NOTEBOOKS,
    NOTEBOOKS_DIR,
    NotebookResult,
    artefact_status,
    beyond_paper,
    reproduce,
    select_notebooks,
    status_markdown,
)
from r1lib.benchmarks.recorded import recorded_sources
from r1lib.benchmarks.sources import FIXTURE_PROFILE_SUFFIX
from r1lib.core.errors import UserError
from r1lib.paper.comparison import MEANING
from r1lib.store.database import Store

#: What a ci-profile run of the notebooks must write, each checked against the store by tests/oracle.py
#: (the ci fakes' scripted answers meet the criteria of these case figures; Figs. 6, 8, 9, 12 need others).
CI_OUTPUTS = {*(f"table{i}" for i in range(1, 11)), "fig2a", "fig2b", "fig3", "fig4", "fig5", "fig7", "fig10", "fig11",
              *(f"thinking_answer_{b}" for b in ("airbench", "mitre", "interpreter", "jailbreak"))}
PARAMETERS = ("profile", "models", "limit", "seed", "store", "tables_dir", "figures_dir", "status_file",
              "interactive")


def parameters_of(path: Path) -> dict[str, object]:
    """The names and default values of the notebook's ``parameters`` cell, as Papermill reads them."""
    import ast

    notebook = nbformat.read(path, as_version=4)
    assert sum("parameters" in c.metadata.get("tags", []) for c in notebook.cells) == 1, \
        f"{path.name}: expected one cell tagged 'parameters'"
    return {name: ast.literal_eval(spec["default"]) for name, spec in papermill.inspect_notebook(str(path)).items()}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stored_clean_with_a_parameters_cell(name: str) -> None:
    path = NOTEBOOKS_DIR / f"{name}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "store notebooks without outputs"
    assert all(len(c.source.splitlines()) <= 12 for c in code), "keep cells short: logic belongs in r1lib"
    assert parameters_of(path) == {"profile": "recorded", "models": None, "limit": None, "seed": None,
                                   "store": None, "tables_dir": None, "figures_dir": None, "status_file": None,
                                   "interactive": True}
    assert "claims_table" in code[-1].source, "every notebook ends with its claims table"


def test_every_paper_artefact_has_a_notebook_that_writes_it() -> None:
    sources = {name: nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4) for name in NOTEBOOKS}
    for artefact, stem, notebook, _kind in ARTEFACTS:
        if not notebook:
            continue
        text = "\n".join(c.source for c in sources[notebook].cells if c.cell_type == "code")
        assert f'"{stem}"' in text, f"{artefact}: {notebook} never writes {stem}"


def test_select_notebooks_accepts_numbers_stems_and_file_names() -> None:
    assert select_notebooks(None) == list(NOTEBOOKS)
    assert select_notebooks(["03", "01_safety_benchmarks.ipynb", "attacks"]) == [
        "01_safety_benchmarks", "02_attacks", "03_reasoning_harm"]
    with pytest.raises(UserError, match="unknown notebook '07'; choose from 01_safety_benchmarks"):
        select_notebooks(["07"])


def cells(status: list[str], *, p_adj: list, counted: list[bool] | None = None) -> pd.DataFrame:
    """A saved table's per-cell columns that the table status reads."""
    return pd.DataFrame({"label": "DS-R1", "row": "all", "column": [f"MITRE {i}" for i in range(len(status))],
                         "diff": 1.0, "status": status, "p_adj": p_adj,
                         "counted": counted if counted is not None else [True] * len(status)})


def test_artefact_status_reads_the_cells_and_ignores_stale_files(tmp_path: Path) -> None:
    tables, figures = tmp_path / "tables", tmp_path / "figures"
    tables.mkdir()
    figures.mkdir()
    stale = tables / "table3.csv"
    pd.DataFrame({"status": ["reproduced"]}).to_csv(stale, index=False)
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    since = time.time() - 60
    cells(["reproduced"] * 19 + ["deviates"] + ["not comparable"], p_adj=[0.5] * 19 + [0.01, None]).to_csv(
        tables / "table2.csv", index=False)
    cells(["reproduced"] * 20, p_adj=[0.5] * 19 + [0.01], counted=[True] * 19 + [False]).to_csv(
        tables / "table9.csv", index=False)  # the only small p is a cell shown but not counted
    cells(["not comparable"] * 3, p_adj=[None] * 3).to_csv(tables / "table10.csv", index=False)
    pd.DataFrame({"benchmark": ["xstest"]}).to_csv(tables / "table1.csv", index=False)
    (figures / "fig2b.png").write_bytes(b"png")
    ran = {"01_safety_benchmarks": NotebookResult("01_safety_benchmarks", tmp_path / "x.ipynb", 1.0),
           "02_attacks": NotebookResult("02_attacks", tmp_path / "y.ipynb", 1.0, error="cell 4: UserError: boom")}
    status = artefact_status(tables, figures, since=since, ran=ran).set_index("artefact")
    assert status.loc["Table 2", "status"] == "deviates"  # one counted cell significant after Holm
    assert status.loc["Table 2", "detail"].startswith("1 cell(s) differ at 5%: DS-R1 MITRE 19: diff +1.00, p_adj 0.01")
    assert status.loc["Table 9", "status"] == "reproduced"
    assert status.loc["Table 10", "status"] == "not comparable"
    assert status.loc["Table 1", "status"] == "built"
    assert status.loc["Table 3", "status"] == "not built"  # written before this run
    assert status.loc["Fig 2B", "status"] == "built" and status.loc["Fig 2A", "status"] == "not built"
    assert status.loc["Table 5", "status"] == "not built" and "boom" in status.loc["Table 5", "detail"]
    assert status.loc["Table 4", "status"] == "not run" and status.loc["Fig 1", "status"] == "not built"
    assert len(status) == len(ARTEFACTS)


def test_status_lists_what_was_written_beyond_the_paper_and_the_recorded_sources(tmp_path: Path) -> None:
    tables, figures = tmp_path / "tables", tmp_path / "figures"
    tables.mkdir()
    figures.mkdir()
    stale = figures / "fig3_old.png"
    stale.write_bytes(b"png")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    since = time.time() - 60
    for path in (tables / "table2.csv", tables / "recorded_jbb_asr.csv", figures / "fig6_recorded.png",
                 figures / "fig6.png"):
        path.write_text("x")
    beyond = beyond_paper(tables, figures, since=since)
    assert beyond == ["tables/recorded_jbb_asr.csv", "figures/fig6_recorded.png"]
    ran = [NotebookResult("05_thinking_vs_answer", tmp_path / "x.ipynb", 2.0)]
    status = artefact_status(tables, figures, since=since, ran={r.name: r for r in ran})
    profile = Profile.load("recorded")
    sources = recorded_sources([profile.config(m) for m in ("recorded-deepseek-r1-personas", "smollm2-135m")])
    text = status_markdown(status, "recorded", ran, beyond=beyond, sources=sources)
    assert MEANING in text and "both sides' sampling error" in text
    assert "## Also written (beyond the paper's artefacts)\n\n- tables/recorded_jbb_asr.csv\n" in text
    assert "| Fig 6 | 05_thinking_vs_answer | built | fig6.png |" in text
    (figures / "fig6.png").unlink()  # no live record met the criterion: the status points at the recorded version
    status = artefact_status(tables, figures, since=since, ran={r.name: r for r in ran})
    detail = status.set_index("artefact").loc["Fig 6", "detail"]
    assert detail.endswith("drawn from recorded outputs as fig6_recorded.png")
    (line,) = [x for x in text.splitlines() if x.startswith("Recorded outputs of the named models")]
    assert "@" in line and "smollm2" not in line.lower()


def prepare(tmp_path: Path, profile: str, **extra: object) -> tuple[Path, dict[str, str]]:
    """Copies of every notebook with ``profile`` and temporary folders injected (not executed)."""
    folders = {"store": str(tmp_path / "store.sqlite"), "tables_dir": str(tmp_path / "tables"),
               "figures_dir": str(tmp_path / "figures")}
    prepared = tmp_path / "notebooks"
    prepared.mkdir()
    for name in NOTEBOOKS:
        papermill.execute_notebook(str(NOTEBOOKS_DIR / f"{name}.ipynb"), str(prepared / f"{name}.ipynb"),
                                   parameters={"profile": profile, **folders, **extra}, prepare_only=True,
                                   progress_bar=False)
    return prepared, folders


@pytest.mark.slow
def test_nbval_runs_every_notebook_on_the_ci_profile(tmp_path: Path) -> None:
    prepared, folders = prepare(tmp_path, "ci")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "--nbval-lax", "--nbval-current-env",
                             "-p", "no:cacheprovider", "--rootdir", str(prepared), str(prepared)],
                            capture_output=True, text=True, cwd=prepared, timeout=1800)
    tail = result.stdout[-3000:]
    assert result.returncode == 0, tail
    cells = sum(c.cell_type == "code" for name in NOTEBOOKS
                for c in nbformat.read(prepared / f"{name}.ipynb", as_version=4).cells)
    assert f"{cells} passed" in tail, tail  # every code cell of every notebook ran, none failed or skipped
    checked = check_outputs(Path(folders["tables_dir"]), Path(folders["figures_dir"]), Path(folders["store"]),
                            set(Profile.load("ci").reasoning_models))
    assert set(checked) >= CI_OUTPUTS, f"not written by the notebooks: {sorted(CI_OUTPUTS - set(checked))}"


@pytest.mark.slow
def test_reproduce_reports_a_failing_notebook_and_goes_on(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "attacks-only.yaml"  # an XSTest split that does not exist fails notebook 01 when it loads
    profile.write_text("description: attacks only\nmodels: [fake-r1, fake-v3, fake-o3]\nreference: fake-o3\n"
                       "judge_models: {default: offline}\n"
                       "benchmarks: {jailbreak: {limit: 4}, prompt-injection: {limit: 4}, "
                       "xstest: {limit: 2, split: nosuch}}\n")
    code = reproduce(str(profile), only=["01", "02"], store=tmp_path / "store.sqlite",
                     tables_dir=tmp_path / "tables", figures_dir=tmp_path / "figures", runs_dir=tmp_path / "runs")
    out = capsys.readouterr().out
    assert code == 1
    assert "FAILED     01_safety_benchmarks" in out and "has no split 'nosuch'" in out
    assert "ok         02_attacks" in out
    assert (tmp_path / "runs" / f"attacks-only{FIXTURE_PROFILE_SUFFIX}" / "notebooks" / "02_attacks.ipynb").is_file()
    status = (tmp_path / "tables" / "status.md").read_text()
    assert "| Table 5 | 02_attacks | not comparable |" in status
    assert "| Table 3 | 01_safety_benchmarks | not built | notebook failed (cell" in status
    assert "| Table 2 | 01_safety_benchmarks | not run in this profile | needs one of the benchmarks" in status
    assert "| Table 7 | 05_thinking_vs_answer | not run |" in status


@pytest.mark.slow
def test_papermill_demo_profile_with_smollm2(tmp_path: Path) -> None:
    """The real model end to end: every notebook on the demo profile with 2 items per benchmark."""
    code = reproduce("demo", limit=2, store=tmp_path / "store.sqlite", tables_dir=tmp_path / "tables",
                     figures_dir=tmp_path / "figures", runs_dir=tmp_path / "runs")
    status = (tmp_path / "tables" / "status.md").read_text()
    assert code == 0, status
    checked = check_outputs(tmp_path / "tables", tmp_path / "figures", tmp_path / "store.sqlite",
                            set(Profile.load("demo").reasoning_models))
    assert {f"table{i}" for i in range(1, 11)} <= set(checked)
    table2 = pd.read_csv(tmp_path / "tables" / "table2.csv")
    assert set(table2["model"]) == {"smollm2-135m", "smollm2-135m-think"}
    assert (table2["status"] == "not comparable").all()
    with Store(tmp_path / "store.sqlite") as store:
        models = set(store.generations_frame(benchmark="xstest")["model"])
    assert models == {"smollm2-135m", "smollm2-135m-think"}
    for name in NOTEBOOKS:
        assert (tmp_path / "runs" / f"demo{FIXTURE_PROFILE_SUFFIX}" / "notebooks" / f"{name}.ipynb").is_file()
