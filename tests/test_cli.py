"""The r1lib command: help, export, and clear one-line errors with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

from r1lib.config.settings import models_registry
from r1lib.generation.runner import Request, run_requests
from r1lib.store.database import Store
from r1lib.testing import run_cli


def test_help_lists_every_command() -> None:
    out = run_cli("--help")
    assert out.returncode == 0
    for command in ("models", "benchmarks", "data", "generate", "judge", "export", "browse", "costs", "store",
                    "reproduce"):
        assert command in out.stdout


def test_export_on_a_store_built_here(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    with Store(path) as store:
        requests = [Request(f"p{i}", [{"role": "user", "content": f"question {i}"}]) for i in range(4)]
        run_requests(models_registry()["fake-r1"], "demo", requests, store, progress=False)
    out_file = tmp_path / "out.jsonl"
    out = run_cli("export", "--store", str(path), "--format", "jsonl", "--output", str(out_file))
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert len(rows) == 4
    assert {r["prompt_id"] for r in rows} == {"p0", "p1", "p2", "p3"}
    assert all(r["thinking"] and r["answer"] and r["trace_state"] == "api_field" for r in rows)


def test_user_errors_are_one_line_with_exit_2(tmp_path: Path) -> None:
    out = run_cli("export", "--store", str(tmp_path / "s.sqlite"), "--format", "xlsx")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "unknown export format 'xlsx'" in out.stderr


def test_unknown_model_exits_2_listing_known_models(tmp_path: Path) -> None:
    out = run_cli("generate", "--model", "nope", "--benchmark", "xstest", "--store", str(tmp_path / "s.sqlite"))
    assert out.returncode == 2
    assert "unknown model 'nope'" in out.stderr and "deepseek-r1" in out.stderr
    assert "Traceback" not in out.stderr


def test_models_lists_registry() -> None:
    out = run_cli("models")
    assert out.returncode == 0
    assert "smollm2-135m" in out.stdout and "DS-R1" in out.stdout


def test_phishing_runs_multi_turn_dialogues_against_a_victim(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    out = run_cli("generate", "--model", "fake-r1", "--benchmark", "phishing", "--limit", "3",
                "--victim-model", "fake-v3", "--max-turns", "2", "--store", str(path), "--no-progress")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "fake-r1 × phishing:" in out.stdout and " 0 failed" in out.stdout
    with Store(path) as store:
        frame = store.generations_frame(role=None)
    evals = frame[frame["role"] == "eval"]
    assert len(evals) == 3 and set(evals["benchmark"]) == {"phishing"}
    assert (frame["role"] == "victim").any() and (frame["benchmark"] == "judge:phishing-dialogue").any()
    # the eval record's messages hold the attacker's view of the dialogue: system, goal, then turns
    assert max(len(m) for m in evals["messages"]) >= 4 and set(evals["meta"].map(lambda m: m["turns"])) <= {0, 1, 2}
