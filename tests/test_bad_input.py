"""Bad input gets a clear one-line message naming the problem and the fix, and a non-zero exit —
never a traceback for a user error."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest


def r1lib(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "r1lib", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def assert_user_error(out: subprocess.CompletedProcess, *needles: str) -> None:
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    assert "Traceback" not in out.stderr
    for needle in needles:
        assert needle in out.stderr, out.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def prompts(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"id": "a", "prompt": "Say hello."}\n{"id": "b", "prompt": "Say bye."}\n')
    return path


def test_unknown_model(tmp_path: Path, prompts: Path) -> None:
    assert_user_error(r1lib("generate", "--model", "gpt-99", "--benchmark", f"jsonl:{prompts}",
                            "--store", str(tmp_path / "s.sqlite")), "unknown model 'gpt-99'", "known models")


def test_unknown_benchmark(tmp_path: Path) -> None:
    assert_user_error(r1lib("generate", "--model", "fake-r1", "--benchmark", "airbnb",
                            "--store", str(tmp_path / "s.sqlite")), "airbnb", "xstest")


def test_unknown_judge(tmp_path: Path) -> None:
    assert_user_error(r1lib("judge", "--judge", "vibes", "--model", "fake-r1", "--benchmark", "xstest",
                            "--store", str(tmp_path / "s.sqlite")), "unknown judge 'vibes'", "refusal-offline")


def test_unknown_profile() -> None:
    assert_user_error(r1lib("reproduce", "--profile", "nope"), "unknown profile 'nope'", "demo")


def test_malformed_models_yaml_names_the_line(tmp_path: Path, prompts: Path) -> None:
    bad = tmp_path / "models.yaml"
    bad.write_text("models:\n  mine:\n    backend: fake\n   model: x\n")
    assert_user_error(r1lib("generate", "--model", "mine", "--benchmark", f"jsonl:{prompts}",
                            "--models-file", str(bad), "--store", str(tmp_path / "s.sqlite")), str(bad), "line 4")


def test_malformed_jsonl_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "prompt": "ok"}\n{"id": "b", "prompt": \n')
    assert_user_error(r1lib("generate", "--model", "fake-r1", "--benchmark", f"jsonl:{bad}",
                            "--store", str(tmp_path / "s.sqlite")), "line 2")


def test_empty_prompt_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert_user_error(r1lib("generate", "--model", "fake-r1", "--benchmark", f"jsonl:{empty}",
                            "--store", str(tmp_path / "s.sqlite")), "empty")


def test_missing_api_key_fails_before_any_request(tmp_path: Path, prompts: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TOGETHER_API_KEY"}
    out = subprocess.run([sys.executable, "-m", "r1lib", "generate", "--model", "DS-R1", "--benchmark",
                          f"jsonl:{prompts}", "--store", str(tmp_path / "s.sqlite")],
                         capture_output=True, text=True, env=env, timeout=60)
    assert_user_error(out, "TOGETHER_API_KEY")
    assert not (tmp_path / "s.sqlite").exists() or os.path.getsize(tmp_path / "s.sqlite") < 100_000


def test_unreachable_base_url_is_reported_and_exits_nonzero(tmp_path: Path, prompts: Path) -> None:
    models = tmp_path / "models.yaml"
    models.write_text(f"models:\n  nowhere:\n    backend: openai\n    model: m\n"
                      f"    base_url: http://127.0.0.1:{free_port()}/v1\n"
                      f"    options: {{max_attempts: 2, timeout: 5}}\n")
    out = r1lib("generate", "--model", "nowhere", "--benchmark", f"jsonl:{prompts}", "--models-file",
                str(models), "--store", str(tmp_path / "s.sqlite"), "--no-progress")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "2 failed" in out.stdout
