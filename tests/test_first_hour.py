"""A new user's first hour (issue 20, items 4 and 5): filters that name nothing in the store are errors
listing what it holds, aliases resolve as in ``generate``, output paths get their folders or a clear
refusal, failed calls are summarised by cause, ``--profile`` picks the profile's store, the export's
``safe`` column and nulls, ``r1lib judges``, and the loopback server as a command."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml

from r1lib.app.cli import build_parser, main
from r1lib.app.profiles import Profile
from r1lib.config.settings import models_registry
from r1lib.core.failures import failure_causes
from r1lib.core.records import GenerationRecord
from r1lib.generation.runner import Request, run_requests
from r1lib.judges.base import judge_records
from r1lib.judges.registry import get_judge, judge_class, safe_labels
from r1lib.store.database import Store
from r1lib.store.export import results_frame
from r1lib.testing import free_port, stop_server

ROOT = Path(__file__).resolve().parent.parent


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI in this process; returns (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def r1_store(tmp_path: Path) -> Path:
    """5 records stored under the registry name deepseek-r1 (made by the fake R1 backend) on 'demo',
    judged on the answer by the offline refusal judge, plus one failed record."""
    path = tmp_path / "store.sqlite"
    config = dataclasses.replace(models_registry()["fake-r1"], name="deepseek-r1")
    with Store(path) as store:
        requests = [Request(f"p{i}", [{"role": "user", "content": f"question {i}"}]) for i in range(5)]
        records, _ = run_requests(config, "demo", requests, store, progress=False)
        judge_records(get_judge("refusal-strmatch"), records, "answer", store, progress=False)
        store.put_generation(GenerationRecord(key="failed", model="deepseek-r1", benchmark="demo", prompt_id="pf",
                                              sample=0, messages=[{"role": "user", "content": "f"}], config={},
                                              error="HTTP 500: upstream down"))
    return path


def dead_models_file(tmp_path: Path) -> tuple[Path, int]:
    """A models file whose entry ``dead`` points at a loopback port nothing listens on."""
    port = free_port()
    entry = {"backend": "openai", "model": "loopback", "base_url": f"http://127.0.0.1:{port}/v1", "api_key_env": None,
             "params": {"temperature": 0.0},
             "options": {"max_attempts": 2, "timeout": 2.0, "backoff_s": 0.01, "backoff_max_s": 0.05}}
    path = tmp_path / "dead.yaml"
    path.write_text(yaml.safe_dump({"models": {"dead": entry}}))
    return path, port


# -- 1. filters ------------------------------------------------------------------------------------------------

def test_a_model_the_store_does_not_hold_is_an_error_listing_what_it_holds(r1_store: Path, tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "out.jsonl"
    code, _, err = cli(capsys, "export", "--model", "foo", "--store", str(r1_store), "--output", str(out_file))
    assert code == 2 and not out_file.exists()
    assert f"the store {r1_store} holds no records of model 'foo'; it holds: deepseek-r1 (6)" in err


def test_aliases_resolve_as_generate_resolves_them(r1_store: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "browse", "--model", "DS-R1", "--store", str(r1_store), "--html",
                         str(tmp_path / "page.html"))
    assert code == 0, err
    assert "wrote 6 records" in out
    code, out, _ = cli(capsys, "export", "--model", "R1", "--store", str(r1_store), "--output",
                       str(tmp_path / "r1.jsonl"))
    assert code == 0 and "wrote 6 records" in out
    assert {json.loads(line)["model"] for line in (tmp_path / "r1.jsonl").read_text().splitlines()} == {"deepseek-r1"}
    code, out, err = cli(capsys, "judge", "--no-progress", "--judge", "refusal-strmatch", "--model", "DeepSeek-R1",
                         "--benchmark", "demo", "--store", str(r1_store))
    assert code == 0, err
    assert "deepseek-r1 × demo" in out


@pytest.mark.parametrize(("flag", "value", "expected"), [
    ("--verdict", "full_complience", "holds no verdicts labelled 'full_complience'; it holds: full_compliance"),
    ("--trace-state", "unterminatd", "holds no records in trace state 'unterminatd'; it holds: api_field (5)"),
    ("--judge", "xstets", "holds no verdicts of judge 'xstets'; it holds: refusal-strmatch (5)"),
    ("--benchmark", "xstest", "holds no records of benchmark 'xstest'; it holds: demo (6)"),
])
def test_every_browse_filter_is_checked(r1_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        flag: str, value: str, expected: str) -> None:
    page = tmp_path / "page.html"
    code, _, err = cli(capsys, "browse", flag, value, "--store", str(r1_store), "--html", str(page))
    assert code == 2 and expected in err and f"Check {flag}" in err
    assert not page.exists()


def test_a_verdict_is_checked_among_the_named_judges_labels(r1_store: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "browse", "--judge", "refusal-strmatch", "--verdict", "safe", "--store", str(r1_store),
                       "--html", str(tmp_path / "p.html"))
    assert code == 2 and "holds no verdicts labelled 'safe' by judge 'refusal-strmatch'" in err


def test_costs_and_judge_check_their_filters(r1_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "costs", "--benchmark", "nope", "--store", str(r1_store))
    assert code == 2 and "holds no records of benchmark 'nope'; it holds: demo (6)" in err
    code, _, err = cli(capsys, "judge", "--no-progress", "--judge", "refusal-strmatch", "--model", "fake-r1",
                       "--benchmark", "demo", "--store", str(r1_store))
    assert code == 2 and "holds no records of model 'fake-r1'; it holds: deepseek-r1 (6)" in err


# -- 2. output paths -------------------------------------------------------------------------------------------

def test_missing_parent_folders_are_created(r1_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "missing" / "dir" / "page.html"
    assert cli(capsys, "browse", "--store", str(r1_store), "--html", str(page))[0] == 0
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    export = tmp_path / "a" / "b" / "results.csv"
    assert cli(capsys, "export", "--with-verdicts", "--format", "csv", "--store", str(r1_store),
               "--output", str(export))[0] == 0
    assert len(pd.read_csv(export)) == 6
    code, out, err = cli(capsys, "costs", "--store", str(r1_store), "--csv-dir", str(tmp_path / "c" / "d"))
    assert code == 0, err
    assert (tmp_path / "c" / "d" / "costs.csv").is_file()
    csv = tmp_path / "e" / "f" / "estimate.csv"
    code, out, err = cli(capsys, "estimate", "--profile", "ci", "--csv", str(csv))
    assert code == 0, err
    assert len(pd.read_csv(csv)) > 0


def test_a_path_of_the_wrong_kind_is_refused(r1_store: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (("browse", "--store", str(r1_store), "--html", str(tmp_path)), f"--html {tmp_path} is a folder"),
        (("export", "--store", str(r1_store), "--output", str(r1_store / "x.jsonl")),
         f"{r1_store} is a file, not a folder"),
        (("costs", "--store", str(r1_store), "--csv-dir", str(r1_store)), f"--csv-dir {r1_store} is a file"),
        (("estimate", "--profile", "ci", "--csv", str(tmp_path)), f"--csv {tmp_path} is a folder"),
    ]
    for argv, expected in cases:
        code, _, err = cli(capsys, *argv)
        assert code == 2 and expected in err, (argv, err)


def test_judge_output_for_an_input_file_is_checked_before_judging(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"id": "1", "prompt": "p", "response": "I can't help with that."}) + "\n")
    store = tmp_path / "external.sqlite"
    code, _, err = cli(capsys, "judge", "--no-progress", "--judge", "refusal-strmatch", "--input", str(rows),
                       "--output", str(tmp_path), "--store", str(store))
    assert code == 2 and f"--output {tmp_path} is a folder" in err
    assert not store.exists()
    out_file = tmp_path / "new" / "verdicts.jsonl"
    code, _, err = cli(capsys, "judge", "--no-progress", "--judge", "refusal-strmatch", "--input", str(rows),
                       "--output", str(out_file), "--store", str(store))
    assert code == 0, err
    assert json.loads(out_file.read_text())["label"] == "full_refusal"


# -- 3. failure causes -----------------------------------------------------------------------------------------

def test_causes_group_messages_that_differ_in_numbers_only() -> None:
    causes = failure_causes(["cannot connect to http://127.0.0.1:9/v1/", "HTTP 500: boom", None,
                             "cannot connect to http://127.0.0.1:8000/v1/", "timed out after 2 s"])
    assert [(c.count, c.first) for c in causes] == [(2, "cannot connect to http://127.0.0.1:9/v1/"),
                                                    (1, "HTTP 500: boom"), (1, "timed out after 2 s")]


def test_a_run_against_an_unreachable_server_names_the_cause(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    models, port = dead_models_file(tmp_path)
    code, out, err = cli(capsys, "generate", "--model", "dead", "--models-file", str(models), "--benchmark", "xstest",
                         "--limit", "2", "--store", str(tmp_path / "s.sqlite"), "--no-progress")
    assert code == 1, err
    assert "2 failed" in out and "failed calls by cause" in out
    cause = next(line for line in out.splitlines() if line.startswith("  2 × "))
    assert f"cannot connect to http://127.0.0.1:{port}/v1" in cause and "check base_url" in cause


def test_the_judge_summary_names_the_causes_of_failed_calls(r1_store: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    models, port = dead_models_file(tmp_path)
    code, out, err = cli(capsys, "judge", "--no-progress", "--judge", "xstest", "--judge-model", "dead",
                         "--models-file", str(models), "--model", "deepseek-r1", "--benchmark", "demo",
                         "--store", str(r1_store))
    assert code == 1, err
    assert "judge errors by cause" in out
    assert re.search(rf"    5 × .*cannot connect to http://127.0.0.1:{port}/v1", out)
    assert "failed generations" in out and "    1 × HTTP 500: upstream down" in out


# -- 4. one default store per profile --------------------------------------------------------------------------

def test_profile_picks_the_profiles_store_and_store_overrides_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("R1LIB_RUNS", str(tmp_path / "runs"))
    profile_store = Profile.load("ci").store_path
    assert profile_store.parent.parent == tmp_path / "runs"
    code, _, err = cli(capsys, "generate", "--model", "fake-r1", "--benchmark", "xstest", "--limit", "2",
                       "--profile", "ci", "--no-progress")
    assert code == 0, err
    with Store(profile_store) as store:
        assert store.value_counts("model") == {"fake-r1": 2}
    code, out, err = cli(capsys, "judge", "--no-progress", "--judge", "refusal-strmatch", "--model", "fake-r1",
                         "--benchmark", "xstest", "--profile", "ci")
    assert code == 0, err
    code, out, _ = cli(capsys, "export", "--profile", "ci", "--output", str(tmp_path / "e.jsonl"))
    assert code == 0 and "wrote 2 records" in out
    code, out, _ = cli(capsys, "browse", "--profile", "ci", "--html", str(tmp_path / "p.html"))
    assert code == 0 and "wrote 2 records" in out
    code, _, err = cli(capsys, "export", "--profile", "ci", "--store", str(tmp_path / "other.sqlite"))
    assert code == 2 and f"no store at {tmp_path / 'other.sqlite'}" in err


def test_every_store_command_states_its_default_store() -> None:
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in ("generate", "judge", "export", "browse", "costs"):
        text = " ".join(commands[name].format_help().split())
        assert "R1LIB_STORE or runs/store.sqlite" in text and "--profile P" in text, name
    assert "runs/external.sqlite" in " ".join(commands["judge"].format_help().split())
    assert "(default: answer)" in " ".join(commands["judge"].format_help().split())


# -- 5. the per-sample export ----------------------------------------------------------------------------------

def test_export_has_a_safe_column_and_real_nulls(r1_store: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "results.jsonl"
    assert cli(capsys, "export", "--with-verdicts", "--store", str(r1_store), "--output", str(out_file))[0] == 0
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    safe = judge_class("refusal-strmatch").safe_labels
    judged = [r for r in rows if r["outcome"] == "judged"]
    assert len(judged) == 5 and {r["label"] for r in judged} == {"full_refusal", "full_compliance"}
    assert all(r["safe"] is (r["label"] in safe) for r in judged)
    failed = next(r for r in rows if r["prompt_id"] == "pf")
    assert failed["outcome"] == "failed" and failed["safe"] is None and failed["judge"] is None
    assert all(r["judge_model"] is None for r in rows)  # a local judge, and a record without verdicts


def test_safe_is_null_for_unparsed_and_errored_verdicts(r1_store: Path) -> None:
    from r1lib.core.records import Verdict
    with Store(r1_store) as store:
        keys = [r.key for r in store.iter_generations() if r.ok][:2]
        store.put_verdict(Verdict(keys[0], "xstest", "v1", "answer", None, None, False))
        store.put_verdict(Verdict(keys[1], "xstest", "v1", "answer", None, None, False, error="HTTP 500"))
        frame = results_frame(store, safe_labels=safe_labels())
    xstest = frame[frame["judge"] == "xstest"].set_index("key")
    assert list(xstest.loc[keys, "outcome"]) == ["unparsed", "judge_error"]
    assert xstest["safe"].isna().all()


def test_readme_documents_every_export_column(r1_store: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    with Store(r1_store) as store:
        columns = results_frame(store, safe_labels=safe_labels()).columns
    documented = set(re.findall(r"^\| `([a-z_<>]+)` \|", readme, flags=re.MULTILINE))
    missing = [c for c in columns if c not in documented and not c.startswith("category_")]
    assert not missing and "category_<field>" in documented
    assert "source .venv/bin/activate" in readme and "Table 8" in readme


# -- 6. r1lib judges and the loopback command ------------------------------------------------------------------

def test_judges_lists_labels_safe_labels_and_protocols(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "judges")
    assert code == 0
    blocks = {block.split()[0]: block for block in re.split(r"\n(?=\S)", out.strip())}
    assert set(blocks) >= {"xstest", "airbench", "refusal-strmatch", "mitre"}
    xstest = judge_class("xstest")
    assert f"labels (least safe first): {', '.join(xstest.labels)}" in blocks["xstest"]
    assert "safe labels:               full_refusal" in blocks["xstest"]
    assert "judge model: gpt-4o by default" in blocks["xstest"]
    assert "protocol:                  project-written" in blocks["xstest"]
    assert "(paper protocol: yes)" in blocks["airbench"]


def test_the_loopback_command_serves_a_request(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "r1lib.testing.loopback", "--port", str(port),
                                "--route", "deepseek"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert f"base_url: http://127.0.0.1:{port}/v1" in first, process.stderr.read() if process.stderr else ""
        body = json.dumps({"model": "my-model", "messages": [{"role": "user", "content": "hello"}]}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            message = json.loads(reply.read())["choices"][0]["message"]
        assert message["reasoning_content"] and message["content"]
    finally:
        stop_server(process, timeout=20)
    assert process.returncode == 0
    assert process.stdout is not None and "served 1 replies; stopped" in process.stdout.read()


def test_the_reproduce_report_names_the_causes_of_a_notebooks_failed_calls(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from r1lib.app.reproduce import incomplete
    from r1lib.app.run import Run

    models, port = dead_models_file(tmp_path)
    monkeypatch.setenv("R1LIB_MODELS", str(models))
    profile = tmp_path / "dead-profile.yaml"
    profile.write_text(yaml.safe_dump({"description": "one unreachable model", "paper_comparable": False,
                                       "models": ["dead"], "judge_models": {"default": "offline"},
                                       "benchmarks": {"xstest": {"limit": 2}}, "max_failures": 0}))
    status = tmp_path / "status.json"
    run = Run.open(str(profile), store=tmp_path / "s.sqlite", tables_dir=tmp_path / "t", figures_dir=tmp_path / "f",
                   status_file=status, progress=False)
    run.evaluate("xstest")
    report = incomplete(status)
    assert report is not None and report.startswith("2 failed calls (2 generation, 0 judging; by cause: 2 × ")
    assert f"cannot connect to http://127.0.0.1:{port}/v1" in report


def test_an_alias_the_store_does_not_hold_names_both_names(r1_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "export", "--model", "DS-V3", "--store", str(r1_store))
    assert code == 2 and "holds no records of model 'DS-V3' (registry name 'deepseek-v3'); it holds: deepseek-r1" in err
    code, _, err = cli(capsys, "judge", "--judge", "refusal-strmatch", "--input", "x.jsonl", "--profile", "ci")
    assert code == 2 and "drop --profile" in err
