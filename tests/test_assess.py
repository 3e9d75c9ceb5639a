"""`r1lib assess`: the assessment profile, the question before billed calls, the scorecard and its
numbers (equal to the tables'), on SmolLM2 offline and on the paper's DS-R1 route re-pointed at the
loopback imitation of its provider."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from r1lib.app.assess import DECLINED, assess, assessment_profile
from r1lib.app.cli import main
from r1lib.app.rehearse import imitation_server, models_file
from r1lib.app.scorecard import cell_text
from r1lib.core.errors import UserError
from r1lib.store.database import Store


@pytest.fixture
def outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs, tables and figures under the test's temporary folder."""
    for variable, folder in (("R1LIB_RUNS", "runs"), ("R1LIB_TABLES", "tables"), ("R1LIB_FIGURES", "figures")):
        monkeypatch.setenv(variable, str(tmp_path / folder))
    return tmp_path


def test_the_profile_is_the_size_template_with_the_model_its_counterpart_and_judges(outputs: Path) -> None:
    plan = assessment_profile("smollm2-135m-think", judge_model="offline", size="quick",
                              report_dir=outputs / "report")
    profile = plan.profile
    template = yaml.safe_load((Path(__file__).parents[1] / "configs" / "assess" / "quick.yaml").read_text())
    assert profile.name.startswith("assess-smollm2-135m-think")  # (+ "-fixtures" in fixture mode)
    assert profile.models == ("smollm2-135m-think", "smollm2-135m")  # the counterpart from the model entry
    assert profile.pairs == (("smollm2-135m-think", "smollm2-135m"),)
    assert {b: p.limit for b, p in profile.benchmarks.items()} == {
        b: e["limit"] for b, e in template["benchmarks"].items()}
    assert profile.judge_models == {"default": "offline"} and not profile.paper_comparable
    assert profile.phishing_victim == "smollm2-135m"  # no key anywhere: the victim is local, and it says so
    assert any("offline stand-ins" in d for d in plan.deviations)
    assert any("victim is played by smollm2-135m" in d for d in plan.deviations)
    assert profile.store_path == outputs / "runs" / profile.name / "store.sqlite"
    written = yaml.safe_load(plan.profile_file.read_text())
    assert written["models"] == list(profile.models) and plan.profile_file.parent == outputs / "report"


def test_the_paper_size_runs_every_item_and_a_given_counterpart_replaces_the_entrys(outputs: Path) -> None:
    plan = assessment_profile("deepseek-r1", counterpart="llama-3.3-70b", reference="o3-mini", size="paper",
                              report_dir=outputs / "report")
    profile = plan.profile
    assert profile.models == ("deepseek-r1", "llama-3.3-70b", "o3-mini") and profile.reference == "o3-mini"
    assert all(p.limit is None for p in profile.benchmarks.values()) and len(profile.benchmarks) == 7
    assert profile.judge_models == {"default": "gpt-4o"} and profile.phishing_victim == "gpt-4o"
    assert profile.paper_comparable and not plan.deviations


def test_unknown_models_and_sizes_are_clear_errors(outputs: Path) -> None:
    with pytest.raises(UserError, match="unknown model 'no-such-model'"):
        assessment_profile("no-such-model", report_dir=outputs / "r")
    with pytest.raises(UserError, match="unknown size 'huge'"):
        assessment_profile("deepseek-r1", size="huge", report_dir=outputs / "r")
    assert main(["assess", "--model", "no-such-model", "--report-dir", str(outputs / "r")]) == 2


def test_a_missing_api_key_stops_before_any_call(outputs: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture) -> None:
    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)
    code = main(["assess", "--model", "DS-R1", "--yes", "--report-dir", str(outputs / "report")])
    assert code == 2 and "TOGETHER_API_KEY" in capsys.readouterr().err
    assert not list((outputs / "runs").glob("*/store.sqlite"))  # the estimate ran; not a single call


def _only_folder(parent: Path) -> Path:
    """The one folder in ``parent`` (an assessment's tables, figures or runs; named after its profile)."""
    folders = [p for p in parent.iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


def _numbers_equal_the_tables(scorecard: str, tables: Path, labels: list[str]) -> int:
    """Every cell of the assessed models in the paper tables appears on the scorecard as the CSV has it."""
    checked = 0
    for name in ("table2", "table3", "table5", "table6", "table7"):
        tidy = pd.read_csv(tables / f"{name}.csv", dtype={"row": str, "column": str})
        for _, row in tidy[tidy["label"].isin(labels)].iterrows():
            assert cell_text(row) in scorecard, (name, row["label"], row["row"], row["column"])
            checked += 1
    return checked


@pytest.mark.slow
def test_a_paper_route_stops_at_the_estimate_and_with_yes_writes_the_scorecard(outputs: Path) -> None:
    with imitation_server() as server:
        override = models_file(outputs / "models.yaml", server.base_url)
        asked: list[str] = []
        code = assess("DS-R1", size="quick", models_files=[str(override)], report_dir=outputs / "report",
                      ask=lambda question: asked.append(question) or "no")
        assert code == DECLINED and len(asked) == 1 and "billed calls" in asked[0]
        assert not list((outputs / "runs").glob("*/store.sqlite"))  # not a single call
        code = assess("DS-R1", size="quick", models_files=[str(override)], report_dir=outputs / "report", yes=True)
    tables = _only_folder(outputs / "tables")
    assert code == 0, (tables / "status.md").read_text()
    page = (outputs / "report" / "scorecard.html").read_text()
    markdown = (outputs / "report" / "scorecard.md").read_text()
    assert _numbers_equal_the_tables(page, tables, ["DS-R1", "DS-V3"]) > 10
    assert _numbers_equal_the_tables(markdown, tables, ["DS-R1", "DS-V3"]) > 10
    for heading in ("Findings at a glance", "Trace states", "Thinking × answer", "Cost spent", "o3-mini (paper)"):
        assert heading in page and heading in markdown


@pytest.mark.slow
def test_smollm2_offline_quick_writes_a_scorecard_that_renders_in_headless_chromium(
        outputs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = main(["assess", "--model", "smollm2-135m-think", "--judge-model", "offline", "--size", "quick",
                 "--report-dir", str(outputs / "report")])
    tables = _only_folder(outputs / "tables")
    assert code == 0, (tables / "status.md").read_text()
    page = outputs / "report" / "scorecard.html"
    text = page.read_text()
    assert "offline stand-ins" in text and "<script" not in text
    assert _numbers_equal_the_tables(text, tables, ["SmolLM2-think", "SmolLM2"]) > 10
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        pytest.skip("chromium and chromedriver not installed: `make browser-deps` installs them")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.by import By

    monkeypatch.setenv("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--user-data-dir={outputs / 'chrome'}"):
        options.add_argument(argument)
    session = webdriver.Chrome(service=webdriver.ChromeService(driver), options=options)
    try:
        session.get(page.as_uri())
        titles = [h.text for h in session.find_elements(By.TAG_NAME, "h2")]
        assert {"Run", "Findings at a glance", "Findings: every claim", "Trace states", "Figures"} <= set(titles)
        table2 = pd.read_csv(tables / "table2.csv", dtype={"row": str, "column": str})
        row = table2[table2["label"] == "SmolLM2-think"].iloc[0]
        section = session.find_element(By.ID, "safety-rate-per-benchmark--table-2")
        assert cell_text(row) in section.text  # the rendered page shows the table's number
        images = session.find_elements(By.TAG_NAME, "img")
        assert images and all(session.execute_script("return arguments[0].naturalWidth", i) > 0 for i in images)
    finally:
        session.quit()
    assert re.search(r"SmolLM2-think", (outputs / "report" / "scorecard.md").read_text())


def _outputs_file(path: Path) -> Path:
    """Six harmless prompts with outputs: thinking in tags, two refusals, one answer without thinking."""
    rows = [{"id": f"q{i}", "prompt": f"How do I look after a houseplant of kind {i}?",
             "response": ("I'm sorry, but I can't help with that." if i in (1, 4) else
                          f"<think>\nThe user asks about plant {i}. That is fine.\n</think>\n\nWater it weekly."
                          if i != 5 else "Water it weekly and give it light.")} for i in range(6)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.slow
def test_outputs_you_already_have_are_imported_and_assessed_without_generation(outputs: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("R1LIB_IMPORTS", str(outputs / "imports"))
    source = _outputs_file(outputs / "mine.jsonl")
    code = main(["assess", "--model", "my-outputs", "--outputs", str(source), "--output-field", "response",
                 "--judge-model", "offline", "--report-dir", str(outputs / "report"), "--no-progress"])
    tables = _only_folder(outputs / "tables")
    assert code == 0, (tables / "status.md").read_text()
    page = (outputs / "report" / "scorecard.html").read_text()
    assert "imported/my-outputs (refusal-offline)" in page and "Other benchmarks of this run" in page
    status = (tables / "status.md").read_text()
    assert "not run in this profile" in status  # the paper tables this one benchmark cannot build
    with Store(outputs / "runs" / "assess-my-outputs" / "store.sqlite") as store:  # the import's and the run's
        records = store.generations_frame(role="eval")
    assert len(records) == 6 and set(records["model"]) == {"my-outputs"}
    assert sorted(records["trace_state"]) == ["closed"] * 3 + ["no_think"] * 3
