"""Bad input gets a clear one-line message naming the problem and the fix, and a non-zero exit —
never a traceback for a user error."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from r1lib.store.database import Store
from r1lib.testing import LoopbackServer, free_port, run_cli


def assert_user_error(out: subprocess.CompletedProcess, *needles: str) -> None:
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    assert "Traceback" not in out.stderr
    for needle in needles:
        assert needle in out.stderr, out.stderr


@pytest.fixture
def prompts(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"id": "a", "prompt": "Say hello."}\n{"id": "b", "prompt": "Say bye."}\n')
    return path


def test_unknown_model(tmp_path: Path, prompts: Path) -> None:
    assert_user_error(run_cli("generate", "--model", "gpt-99", "--benchmark", f"jsonl:{prompts}",
                            "--store", str(tmp_path / "s.sqlite")), "unknown model 'gpt-99'", "known models")


def test_unknown_benchmark(tmp_path: Path) -> None:
    assert_user_error(run_cli("generate", "--model", "fake-r1", "--benchmark", "airbnb",
                            "--store", str(tmp_path / "s.sqlite")), "airbnb", "xstest")


def test_unknown_judge(tmp_path: Path) -> None:
    assert_user_error(run_cli("judge", "--judge", "vibes", "--model", "fake-r1", "--benchmark", "xstest",
                            "--store", str(tmp_path / "s.sqlite")), "unknown judge 'vibes'", "refusal-offline")


def test_unknown_profile() -> None:
    assert_user_error(run_cli("reproduce", "--profile", "nope"), "unknown profile 'nope'", "demo")


def test_malformed_models_yaml_names_the_line(tmp_path: Path, prompts: Path) -> None:
    bad = tmp_path / "models.yaml"
    bad.write_text("models:\n  mine:\n    backend: fake\n   model: x\n")
    assert_user_error(run_cli("generate", "--model", "mine", "--benchmark", f"jsonl:{prompts}",
                            "--models-file", str(bad), "--store", str(tmp_path / "s.sqlite")), str(bad), "line 4")


def test_malformed_jsonl_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "prompt": "ok"}\n{"id": "b", "prompt": \n')
    assert_user_error(run_cli("generate", "--model", "fake-r1", "--benchmark", f"jsonl:{bad}",
                            "--store", str(tmp_path / "s.sqlite")), "line 2")


def test_empty_prompt_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert_user_error(run_cli("generate", "--model", "fake-r1", "--benchmark", f"jsonl:{empty}",
                            "--store", str(tmp_path / "s.sqlite")), "empty")


def test_missing_api_key_fails_before_any_request(tmp_path: Path, prompts: Path,
                                                  loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback()
    models = tmp_path / "models.yaml"
    models.write_text(f"models:\n  keyed:\n    backend: openai\n    model: m\n    base_url: {server.base_url}\n"
                      "    api_key_env: R1LIB_TEST_UNSET_KEY\n")
    env = {k: v for k, v in os.environ.items() if k != "R1LIB_TEST_UNSET_KEY"}
    out = run_cli("generate", "--model", "keyed", "--benchmark", f"jsonl:{prompts}", "--models-file", str(models),
                  "--store", str(tmp_path / "s.sqlite"), env=env, timeout=60)
    assert_user_error(out, "R1LIB_TEST_UNSET_KEY")
    assert server.counts["requests"] == 0  # nothing was sent
    if (tmp_path / "s.sqlite").exists():
        with Store(tmp_path / "s.sqlite") as store:
            assert store.generations_frame().empty  # and nothing was stored


def test_unreachable_base_url_is_reported_and_exits_nonzero(tmp_path: Path, prompts: Path) -> None:
    models = tmp_path / "models.yaml"
    models.write_text(f"models:\n  nowhere:\n    backend: openai\n    model: m\n"
                      f"    base_url: http://127.0.0.1:{free_port()}/v1\n"
                      f"    options: {{max_attempts: 2, timeout: 5}}\n")
    out = run_cli("generate", "--model", "nowhere", "--benchmark", f"jsonl:{prompts}", "--models-file",
                str(models), "--store", str(tmp_path / "s.sqlite"), "--no-progress")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "2 failed" in out.stdout
