"""Secrets: with an API key set to a unique canary, a full generate → judge → export → reproduce cycle
leaves no trace of it in the store, exports, executed notebooks, tables, figures or logs."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from r1lib.testing import LoopbackServer, run_cli

KEY_ENV = "R1LIB_CANARY_KEY"


@pytest.mark.slow
def test_api_key_never_leaves_the_environment(tmp_path: Path) -> None:
    canary = f"sk-canary-{uuid.uuid4().hex}"
    with LoopbackServer(behaviour="deepseek") as server:
        models = tmp_path / "models.yaml"
        models.write_text(
            "models:\n"
            "  canary-r1:\n"
            f"    backend: openai\n    model: deepseek\n    base_url: {server.base_url}\n"
            f"    api_key_env: {KEY_ENV}\n    reasoning: true\n    params: {{max_tokens: 64}}\n"
            "  canary-judge:\n"
            f"    backend: openai\n    model: plain\n    base_url: {server.base_url}\n"
            f"    api_key_env: {KEY_ENV}\n    params: {{temperature: 0.0}}\n")
        profile = tmp_path / "canary.yaml"
        profile.write_text(
            "description: canary run\nmodels: [canary-r1]\npairs: []\n"
            "judge_models: {default: offline, xstest: canary-judge}\n"
            "benchmarks: {airbench: {limit: 2}, mitre: {limit: 2}, interpreter: {limit: 2}, phishing: {limit: 1},"
            " xstest: {limit: 2}, jailbreak: {limit: 2}, prompt-injection: {limit: 2}}\n"
            "phishing_victim: canary-judge\nphishing_turns: 1\nreference: canary-r1\n"
            f"store: {tmp_path / 'store.sqlite'}\n")
        env = {**os.environ, KEY_ENV: canary, "R1LIB_MODELS": str(models), "R1LIB_RUNS": str(tmp_path / "runs"),
               "R1LIB_TABLES": str(tmp_path / "tables"), "R1LIB_FIGURES": str(tmp_path / "figures"),
               "R1LIB_STORE": str(tmp_path / "store.sqlite")}
        logs = []
        for args in (["generate", "--model", "canary-r1", "--benchmark", "xstest", "--limit", "3"],
                     ["judge", "--judge", "xstest", "--judge-model", "canary-judge", "--model", "canary-r1",
                      "--benchmark", "xstest"],
                     ["export", "--format", "csv", "--output", str(tmp_path / "export.csv")],
                     ["export", "--format", "parquet", "--output", str(tmp_path / "export.parquet")],
                     ["reproduce", "--profile", str(profile), "--only", "01_safety_benchmarks"]):
            out = run_cli(*args, env=env, timeout=900)
            logs.append(out.stdout + out.stderr)
            assert out.returncode == 0, out.stderr[-3000:]
        assert server.counts, "the canary model was actually called"
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name not in ("models.yaml", "canary.yaml")]
    assert any(p.suffix == ".ipynb" for p in written), "reproduce saved its executed notebook"
    assert any(p.name.startswith("store.sqlite") for p in written)
    leaks = [str(p) for p in written if canary.encode() in p.read_bytes()]
    leaks += [f"log {i}" for i, log in enumerate(logs) if canary in log]
    assert not leaks, f"API key found in: {leaks}"
