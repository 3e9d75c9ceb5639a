"""Profiles that run only some of the paper: some benchmarks, one model, no reasoning model, models of
their own (issue 20, item 5).

The notebooks build what a profile allows and mark the rest "not run in this profile", with the reason,
in their output and in ``tables/<profile>/status.md`` (:mod:`r1lib.app.coverage`); a profile can name
its own models files (``models_files``) and ``r1lib reproduce`` takes ``--models-file``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from r1lib.app.cli import main
from r1lib.app.coverage import NEEDS, NOT_RUN, Coverage, artefact_name, missing
from r1lib.app.profiles import Profile
from r1lib.app.reproduce import ARTEFACTS, NotebookResult, artefact_status, extra_models, status_markdown
from r1lib.app.run import Run
from r1lib.benchmarks.sources import FIXTURE_PROFILE_SUFFIX
from r1lib.config.settings import Settings
from r1lib.core.errors import UserError

OFFLINE = {"judge_models": {"default": "offline"}}
#: Two models of a user's own, defined outside the registry (the fake backend: deterministic, no download).
MINE = ("models:\n"
        "  mine-r1:\n    label: Mine-R1\n    backend: fake\n    model: fake-r1\n    reasoning: true\n"
        "    counterpart: mine-v3\n    options: {style: api_field, refusal_rate: 0.45, unsafe_thinking_rate: 0.35}\n")
MINE_V3 = ("models:\n  mine-v3:\n    label: Mine-V3\n    backend: fake\n    model: fake-v3\n"
           "    options: {style: plain}\n")


def profile(models: list[str], benchmarks: dict, **extra: object) -> Profile:
    """A profile from a mapping, with offline judges."""
    return Profile.from_dict({"name": "partial", "models": models, "benchmarks": benchmarks, **OFFLINE, **extra})


def test_every_paper_artefact_a_notebook_writes_says_what_it_needs() -> None:
    assert set(NEEDS) == {stem for _, stem, notebook, _ in ARTEFACTS if notebook}
    assert {artefact_name(stem) for stem in NEEDS} == {name for name, _, notebook, _ in ARTEFACTS if notebook}


def test_missing_names_the_benchmark_the_reasoning_model_or_the_pair() -> None:
    xstest_only = profile(["fake-r1", "fake-v3"], {"xstest": {"limit": 4}})
    assert missing(xstest_only, "table3") is None and missing(xstest_only, "table9") is None
    assert missing(xstest_only, "table1") is None and missing(xstest_only, "table8") is None
    assert missing(xstest_only, "fig2a") == "needs benchmark 'airbench'; add it under 'benchmarks:' in the profile"
    assert missing(xstest_only, "table2").startswith("needs one of the benchmarks 'airbench', 'mitre'")

    no_reasoning = profile(["fake-v3"], {"airbench": {"limit": 4}, "jailbreak": {"limit": 4}})
    assert missing(no_reasoning, "fig2a") is None and missing(no_reasoning, "table5") is None
    assert missing(no_reasoning, "fig5").startswith("needs a reasoning model (one with thinking to judge) "
                                                    "running 'jailbreak'; the profile's models there are fake-v3")
    assert missing(no_reasoning, "table7").startswith("needs a reasoning model")
    assert missing(no_reasoning, "fig3").startswith("needs a pair (reasoning model, counterpart) that both run "
                                                    "'airbench'")

    one_reasoning = profile(["fake-r1"], {"airbench": {"limit": 4}, "jailbreak": {"limit": 4}})
    assert missing(one_reasoning, "fig5") is None and missing(one_reasoning, "table7") is None
    assert missing(one_reasoning, "fig6") is None
    assert missing(one_reasoning, "fig4").startswith("needs a pair")

    # a benchmark that only the counterpart runs has no reasoning model for its thinking
    narrowed = profile(["fake-r1", "fake-v3"], {"airbench": {"limit": 4}, "jailbreak": {"models": ["fake-v3"]}})
    assert missing(narrowed, "fig3") is None
    assert "running 'jailbreak'; the profile's models there are fake-v3" in missing(narrowed, "fig7")


def test_run_builds_only_what_the_profile_allows(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run = Run(profile(["fake-r1", "fake-v3"], {"xstest": {"limit": 4}}, store=str(tmp_path / "store.sqlite")),
              tables_dir=tmp_path / "tables", figures_dir=tmp_path / "figures", progress=False)
    assert run.builds("table3")
    assert capsys.readouterr().out == ""
    assert not run.builds("fig2a")
    assert run.running("airbench", "xstest", "jailbreak") == ["xstest"]
    assert run.answers("airbench") is None
    xstest = run.answers("xstest")
    assert set(xstest["model"]) == {"fake-r1", "fake-v3"} and len(xstest) == 8
    counts = run.outcome_counts(None, xstest)
    assert counts["records"].sum() == 8 and set(counts.index.get_level_values("benchmark")) == {"xstest"}
    empty = run.outcome_counts(None)
    assert empty.empty and empty.index.names == ["model", "benchmark"] and "records" in empty.columns
    assert isinstance(run, Coverage)


def test_status_marks_what_the_profile_cannot_build_and_names_what_a_table_left_out(tmp_path: Path) -> None:
    tables, figures = tmp_path / "tables", tmp_path / "figures"
    tables.mkdir()
    figures.mkdir()
    since = time.time() - 60
    cells = pd.DataFrame({"label": "Fake-R1", "row": "all", "column": ["FC"], "diff": 1.0,
                          "status": ["not comparable"], "p_adj": [None], "counted": [True]})
    for stem in ("table1", "table2", "table3", "table8", "table9"):
        cells.to_csv(tables / f"{stem}.csv", index=False)
    (figures / "fig2a.png").write_bytes(b"png")
    partial = profile(["fake-r1", "fake-v3"], {"xstest": {"limit": 4}, "airbench": {"limit": 4}})
    ran = {name: NotebookResult(name, tmp_path / f"{name}.ipynb", 1.0)
           for name in ("01_safety_benchmarks", "03_reasoning_harm", "04_safety_thinking")}
    status = artefact_status(tables, figures, since=since, ran=ran, profile=partial).set_index("artefact")
    assert status.loc["Table 3", "status"] == "not comparable"
    assert status.loc["Table 2", "detail"].endswith(f"; {NOT_RUN}: mitre, interpreter, phishing")
    assert status.loc["Fig 2A", "status"] == "built"
    assert status.loc["Table 10", "status"] == NOT_RUN
    assert status.loc["Table 10", "detail"] == ("needs benchmark 'interpreter'; add it under 'benchmarks:' "
                                                "in the profile")
    assert status.loc["Fig 3", "status"] == "not built"  # the profile could build it; this run did not
    assert status.loc["Fig 5", "status"] == NOT_RUN and "'jailbreak'" in status.loc["Fig 5", "detail"]
    text = status_markdown(status.reset_index(), "partial", list(ran.values()))
    assert f"| Table 4 | 03_reasoning_harm | {NOT_RUN} | needs benchmark 'phishing';" in text
    assert f"*{NOT_RUN}*: the profile lacks a benchmark, a reasoning model or a" in text
    assert status.loc["Table 5", "status"] == NOT_RUN  # the profile's lack comes before "notebook not selected"


def test_a_profile_names_its_own_models_files(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "mine.yaml").write_text(MINE + MINE_V3[len("models:\n"):])
    path = tmp_path / "mine.yaml"
    path.write_text("models: [mine-r1, mine-v3]\nmodels_files: [models/mine.yaml]\njudge_models: {default: offline}\n"
                    "benchmarks: {xstest: {limit: 4}}\n")
    loaded = Profile.load(str(path))
    assert loaded.models == ("mine-r1", "mine-v3") and loaded.pairs == (("mine-r1", "mine-v3"),)
    assert loaded.models_files == ((tmp_path / "models" / "mine.yaml").resolve(),)
    assert loaded.labels == {"mine-r1": "Mine-R1", "mine-v3": "Mine-V3"}

    path.write_text("models: [mine-r1]\nmodels_files:\n  - models/absent.yaml\nbenchmarks: {xstest: {limit: 4}}\n")
    with pytest.raises(UserError, match=r"line 2: models_files names 'models/absent.yaml', but .*absent.yaml does "
                                        r"not exist; give a models file's path relative to the profile file"):
        Profile.load(str(path))
    path.write_text("models: [mine-r1]\nmodels_files: models/mine.yaml\nbenchmarks: {xstest: {limit: 4}}\n")
    with pytest.raises(UserError, match="models_files"):
        Profile.load(str(path))
    path.write_text("models: [mine-r1]\nbenchmarks: {xstest: {limit: 4}}\n")
    with pytest.raises(UserError, match="unknown model 'mine-r1'.*--models-file FILE, R1LIB_MODELS or a "
                                        "profile's models_files"):
        Profile.load(str(path))


def test_extra_models_reach_the_settings_and_a_missing_file_is_refused(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("R1LIB_MODELS", raising=False)
    (tmp_path / "v3.yaml").write_text(MINE_V3)
    monkeypatch.chdir(tmp_path)
    with extra_models(["v3.yaml"]):
        # absolute: kernels run in notebooks/
        assert os.environ["R1LIB_MODELS"] == str((tmp_path / "v3.yaml").resolve())
        assert Settings.load().models_files[-1] == (tmp_path / "v3.yaml").resolve()
    assert "R1LIB_MODELS" not in os.environ
    with pytest.raises(UserError, match=r"--models-file absent.yaml: .*absent.yaml does not exist"):
        with extra_models(["absent.yaml"]):
            pass
    assert main(["reproduce", "--profile", "ci", "--models-file", "absent.yaml"]) == 2


@pytest.mark.slow
def test_an_xstest_only_profile_with_its_own_models_runs_every_notebook(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """One benchmark, a pair of models from the profile's own models file and from --models-file, through
    every notebook with `r1lib reproduce` (about 40 s of notebooks on the fixtures)."""
    for key, folder in (("R1LIB_RUNS", "runs"), ("R1LIB_TABLES", "tables"), ("R1LIB_FIGURES", "figures")):
        monkeypatch.setenv(key, str(tmp_path / folder))
    monkeypatch.delenv("R1LIB_MODELS", raising=False)
    (tmp_path / "mine.yaml").write_text(MINE)
    (tmp_path / "v3.yaml").write_text(MINE_V3)
    path = tmp_path / "my-small.yaml"
    path.write_text("description: XSTest only\nmodels: [mine-r1, mine-v3]\nmodels_files: [mine.yaml]\n"
                    "judge_models: {default: offline}\nbenchmarks: {xstest: {limit: 4}}\n")
    code = main(["reproduce", "--profile", str(path), "--models-file", str(tmp_path / "v3.yaml")])
    out = capsys.readouterr().out
    name = f"my-small{FIXTURE_PROFILE_SUFFIX}"
    status = (tmp_path / "tables" / name / "status.md").read_text()
    assert code == 0, out
    assert "6/6 notebooks complete" in out
    for stem in ("table1", "table3", "table8", "table9"):
        assert (tmp_path / "tables" / name / f"{stem}.csv").is_file(), stem
    assert set(pd.read_csv(tmp_path / "tables" / name / "table3.csv")["model"]) == {"mine-r1", "mine-v3"}
    assert "| Table 3 | 01_safety_benchmarks | not comparable |" in status
    rows = [line for line in status.splitlines() if f"| {NOT_RUN} |" in line]
    assert len(rows) == len(ARTEFACTS) - 5  # all but Tables 1, 3, 8, 9 and Fig 1 (no data behind it)
    assert f"| Table 2 | 01_safety_benchmarks | {NOT_RUN} | needs one of the benchmarks 'airbench'" in status
    assert f"| Fig 5 | 04_safety_thinking | {NOT_RUN} | needs benchmark 'jailbreak';" in status
    executed = nbformat.read(tmp_path / "runs" / name / "notebooks" / "01_safety_benchmarks.ipynb", as_version=4)
    shown = [o["data"]["text/markdown"] for c in executed.cells if c.cell_type == "code"
             for o in c.outputs if "text/markdown" in o.get("data", {})]
    assert f"**Fig 2A**: {NOT_RUN} — needs benchmark 'airbench'; add it under 'benchmarks:' in the profile." in shown
