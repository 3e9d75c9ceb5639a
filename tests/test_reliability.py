"""Generation under failure: injected faults, SIGKILL and resume, two runners on one store.

The CLI tests run the real ``r1lib generate`` command in subprocesses against a loopback server.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from r1lib.generation.runner import Request, run_requests
from r1lib.store.database import Store
from r1lib.testing import FAULTS, LoopbackServer, cli_command, loopback_model, scripted_answer, scripted_thinking

OUTPUT_FIELDS = ("raw_text", "reasoning_field", "thinking", "answer", "trace_state", "finish_reason")


@pytest.mark.slow
def test_thirty_percent_mixed_faults_reconcile_with_the_server(loopback, store) -> None:
    server = loopback(fault_rate=0.3, seed=11, slow_s=2.0, retry_after=0.05)
    config = loopback_model(server.base_url, name="flaky", max_concurrency=32,
                            options={"timeout": 1.0, "max_attempts": 4})
    requests = [Request(f"p{i}", [{"role": "user", "content": f"reliability prompt {i}"}]) for i in range(240)]
    requests += [Request(f"doomed{i}", [{"role": "user", "content": f"[[fault:500]] {i}"}]) for i in range(2)]
    records, summary = run_requests(config, "faults", requests, store, progress=False)

    counts = server.counts
    assert all(counts[f"fault:{kind}"] > 0 for kind in FAULTS)
    answered = [r for r in records if r.ok]
    errors = [r for r in records if not r.ok]
    assert len(records) == store.count() == 242 and len({r.key for r in records}) == 242
    assert (summary.new, summary.failed) == (len(answered), len(errors))
    assert {"doomed0", "doomed1"} <= {r.prompt_id for r in errors}
    for record in answered:
        assert record.answer == scripted_answer(record.prompt)
        assert record.thinking == scripted_thinking(record.prompt)
    for record in errors:
        assert record.answer is None and record.attempts == 4 and "failed after 4 attempts" in record.error
    # every request the server saw is one attempt of one record; every success is one stored answer
    assert sum(r.attempts for r in records) == counts["requests"]
    assert counts["ok"] == len(answered) and set(server.answered.values()) == {1}
    assert counts["requests"] - counts["ok"] == sum(counts[f"fault:{kind}"] for kind in FAULTS)

    # a second run sends only the stored errors again, and keeps every answer as it was
    error_keys = {r.key for r in errors}
    records, summary = run_requests(config, "faults", requests, store, progress=False)
    assert summary.reused == len(answered) and summary.new + summary.failed == len(errors)
    retried = [r for r in records if r.key in error_keys]
    assert server.counts["requests"] - counts["requests"] == sum(r.attempts for r in retried)
    assert {r.key: r.created_at for r in records if r.key not in error_keys} == \
        {r.key: r.created_at for r in answered}
    assert set(server.answered.values()) == {1} and store.count() == 242


# -- the real CLI in subprocesses ------------------------------------------------------------------

def write_benchmark(path: Path, n: int) -> Path:
    """A JSONL benchmark of ``n`` prompts (id, prompt)."""
    with path.open("w") as handle:
        for i in range(n):
            handle.write(json.dumps({"id": f"q{i}", "prompt": f"cli prompt number {i}"}) + "\n")
    return path


def write_models(path: Path, server: LoopbackServer, max_concurrency: int) -> Path:
    """A models file with one entry, ``lb``, served by ``server``."""
    entry = {"backend": "openai", "model": "loopback", "base_url": server.base_url,
             "max_concurrency": max_concurrency,
             "options": {"timeout": 5, "max_attempts": 2, "backoff_s": 0.01}}
    path.write_text(yaml.safe_dump({"models": {"lb": entry}}))
    return path


def generate_command(benchmark: Path, models: Path, store: Path) -> list[str]:
    """The ``r1lib generate`` command line."""
    return cli_command("generate", "--model", "lb", "--benchmark", f"jsonl:{benchmark}", "--models-file",
                       str(models), "--store", str(store), "--no-progress")


def stored_count(path: Path) -> int:
    """Answered records in a store, read through a separate connection (0 before it exists)."""
    if not path.exists():
        return 0
    with sqlite3.connect(path, timeout=30) as conn:
        try:
            return conn.execute("SELECT COUNT(*) FROM generations WHERE error IS NULL").fetchone()[0]
        except sqlite3.OperationalError:  # the schema is not created yet
            return 0


def integrity(path: Path) -> str:
    """The result of SQLite's ``PRAGMA integrity_check``."""
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def outputs(path: Path) -> dict[str, tuple]:
    """Each stored record's output fields, by key."""
    with Store(path) as store:
        return {r.key: tuple(getattr(r, f) for f in OUTPUT_FIELDS) + (r.error,)
                for r in store.iter_generations()}


@pytest.mark.slow
def test_sigkill_and_resume_matches_an_uninterrupted_run(loopback, tmp_path: Path) -> None:
    n = 60
    server = loopback(latency=0.1)
    benchmark = write_benchmark(tmp_path / "bench.jsonl", n)
    models = write_models(tmp_path / "models.yaml", server, max_concurrency=4)

    reference = tmp_path / "reference.sqlite"
    done = subprocess.run(generate_command(benchmark, models, reference), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]

    crashed = tmp_path / "crashed.sqlite"
    rng = random.Random(5)
    targets = sorted(rng.sample(range(3, n - 5), 3))  # kill once this many records are stored
    for target in targets:
        process = subprocess.Popen(generate_command(benchmark, models, crashed),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while stored_count(crashed) < target and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert process.poll() is None, "the run finished before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert target <= stored_count(crashed) < n
        assert integrity(crashed) == "ok"

    resumed = subprocess.run(generate_command(benchmark, models, crashed), capture_output=True, text=True,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"{n} records" in resumed.stdout and "0 failed" in resumed.stdout

    expected, got = outputs(reference), outputs(crashed)
    assert len(expected) == n and got == expected  # same keys, same outputs, none lost or duplicated
    with sqlite3.connect(crashed) as conn:
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT prompt_id) FROM generations").fetchone() == (n, n)
        assert conn.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0
    assert integrity(crashed) == "ok"


@pytest.mark.slow
def test_two_concurrent_runners_do_no_duplicate_work(loopback, tmp_path: Path) -> None:
    n = 80
    server = loopback(latency=0.2)  # 80 prompts at 4 at a time: ~4 s of work, longer than start-up
    benchmark = write_benchmark(tmp_path / "bench.jsonl", n)
    models = write_models(tmp_path / "models.yaml", server, max_concurrency=4)
    store = tmp_path / "shared.sqlite"

    runners = [subprocess.Popen(generate_command(benchmark, models, store), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [runner.communicate(timeout=120) for runner in runners]
    assert [runner.returncode for runner in runners] == [0, 0], [err[-2000:] for _, err in results]

    new = [int(re.search(r"(\d+) new", out).group(1)) for out, _ in results]
    assert sum(new) == n  # the work was split, not repeated
    assert server.counts["requests"] == server.counts["ok"] == n
    assert set(server.answered.values()) == {1}
    assert integrity(store) == "ok"
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT prompt_id) FROM generations "
                            "WHERE error IS NULL").fetchone() == (n, n)
        assert conn.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0


@pytest.mark.slow
def test_cli_exit_status_for_missing_key_and_unreachable_server(loopback, tmp_path: Path) -> None:
    server = loopback()
    benchmark = write_benchmark(tmp_path / "bench.jsonl", 3)
    models = write_models(tmp_path / "models.yaml", server, max_concurrency=2)
    doc = yaml.safe_load(models.read_text())
    doc["models"]["keyed"] = {**doc["models"]["lb"], "api_key_env": "R1LIB_TEST_NO_SUCH_KEY"}
    doc["models"]["down"] = {**doc["models"]["lb"], "base_url": "http://127.0.0.1:9/v1"}
    models.write_text(yaml.safe_dump(doc))
    env = {k: v for k, v in os.environ.items() if k != "R1LIB_TEST_NO_SUCH_KEY"}
    store = tmp_path / "store.sqlite"

    def run(model: str) -> subprocess.CompletedProcess[str]:
        command = generate_command(benchmark, models, store)
        command[command.index("lb")] = model
        return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)

    missing = run("keyed")
    assert missing.returncode == 2 and "R1LIB_TEST_NO_SUCH_KEY" in missing.stderr
    assert "Traceback" not in missing.stderr and server.counts["requests"] == 0

    unreachable = run("down")
    assert unreachable.returncode == 1 and "3 failed" in unreachable.stdout
    with Store(store) as opened:
        errors = [r.error for r in opened.iter_generations(model="down")]
    assert len(errors) == 3 and all("cannot connect to http://127.0.0.1:9/v1" in e for e in errors)
