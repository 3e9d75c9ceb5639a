"""The Batch API path (``batch: true``) through the real ``openai`` client against the loopback
server's files and batches endpoints: same records as synchronous calls, partial failures,
expiry, and resuming a run killed while polling."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from r1lib.config.settings import ModelConfig
from r1lib.core.errors import UserError
from r1lib.generation.runner import Request, run_requests
from r1lib.store.database import Store
from r1lib.testing import BEHAVIOURS, cli_command, loopback_model, scripted_answer

#: Batch entries poll fast and get 5 s and 3 attempts per call; they have a batch price.
BATCH = {"options": {"timeout": 5.0, "max_attempts": 3, "batch_poll_s": 0.05, "batch_poll_max_s": 0.2},
         "pricing": {"input": 2.5, "output": 10.0, "batch_discount": 0.5}}
TIMING = ("latency_s", "created_at")
BATCH_META = ("billing", "batch")


def ask(*texts: str) -> list[Request]:
    """One request per text, the text as its prompt id."""
    return [Request(text, [{"role": "user", "content": text}]) for text in texts]


def comparable(record: Any) -> dict[str, Any]:
    """A record without its timing fields and the batch's own meta."""
    values = {k: v for k, v in record.to_dict().items() if k not in TIMING}
    values["meta"] = {k: v for k, v in values["meta"].items() if k not in BATCH_META}
    return values


def test_batch_records_equal_synchronous_records(loopback, tmp_path: Path) -> None:
    server = loopback(batch_delay=0.1)
    requests = ask(*(f"question [[behaviour:{name}]]" for name in BEHAVIOURS),
                   "flaky once [[fault:500:1]]", "always failing [[fault:500]]")
    stored, summaries = {}, {}
    for batch in (False, True):
        server.reset_counts()
        with Store(tmp_path / f"{batch}.sqlite") as store:
            config = loopback_model(server.base_url, batch=batch, **BATCH)
            records, summaries[batch] = run_requests(config, "shapes", requests, store,
                                                     progress=False)
        stored[batch] = {r.key: r for r in records}
        if batch:
            assert server.counts["batches:create"] == 3  # all, then the two failures, then the last one
            assert server.counts["requests"] == len(requests) + 2 + 1

    assert {k: comparable(r) for k, r in stored[True].items()} == {k: comparable(r) for k, r in stored[False].items()}
    for record in stored[True].values():
        assert record.meta["billing"] == "batch" and record.meta["batch"].startswith("batch_")
        assert record.latency_s is None
    failing = next(r for r in stored[True].values() if r.prompt_id.startswith("always"))
    assert failing.error == "failed after 3 attempts: HTTP 500: the server had an error while processing your request"
    for field in ("new", "failed", "prompt_tokens", "reasoning_tokens", "answer_tokens"):
        assert getattr(summaries[True], field) == getattr(summaries[False], field), field


def test_failed_lines_are_resubmitted_alone(loopback, store) -> None:
    server = loopback()
    requests = ask(*(f"prompt {i}" for i in range(7)), *(f"fails once {i} [[fault:500:1]]" for i in range(3)))
    config = loopback_model(server.base_url, batch=True, **BATCH)
    records, summary = run_requests(config, "partial", requests, store, progress=False)

    assert (summary.new, summary.failed) == (10, 0)
    first, second = server.batches
    assert (first["request_counts"], second["request_counts"]) == (
        {"total": 10, "completed": 7, "failed": 3}, {"total": 3, "completed": 3, "failed": 0})
    retried = {r.prompt_id for r in records if r.attempts == 2}
    assert retried == {f"fails once {i} [[fault:500:1]]" for i in range(3)}
    assert {r.meta["batch"] for r in records if r.prompt_id in retried} == {second["id"]}
    assert all(r.answer == scripted_answer(r.prompt) for r in records)
    assert store.open_batches(server.base_url) == []  # both collected


def test_an_expired_batch_resubmits_only_the_lines_it_never_ran(loopback, store) -> None:
    server = loopback(expire_batches=1)
    config = loopback_model(server.base_url, batch=True, **BATCH)
    records, summary = run_requests(config, "expiry", ask(*(f"p{i}" for i in range(10))),
                                    store, progress=False)
    assert (summary.new, summary.failed) == (10, 0)
    first, second = server.batches
    assert first["status"] == "expired" and first["request_counts"]["completed"] == 5
    assert second["status"] == "completed" and second["request_counts"]["total"] == 5
    assert server.counts["requests"] == 10  # every prompt was run exactly once


def test_a_run_stopped_between_create_and_store_finds_its_batch(loopback, tmp_path: Path, monkeypatch) -> None:
    server = loopback()
    config = loopback_model(server.base_url, batch=True, **BATCH)
    requests = ask("alpha", "beta")
    with Store(tmp_path / "store.sqlite") as store:
        real_update = store.update_batch

        def killed(input_file_id: str, status: str, batch_id: str | None = None) -> None:
            if batch_id is not None:
                raise KeyboardInterrupt  # the process died right after the provider created the batch
            real_update(input_file_id, status, batch_id)

        monkeypatch.setattr(store, "update_batch", killed)
        with pytest.raises(KeyboardInterrupt):
            run_requests(config, "lost", requests, store, progress=False)
        monkeypatch.setattr(store, "update_batch", real_update)
        assert [row["batch_id"] for row in store.open_batches(server.base_url)] == [None]

        records, summary = run_requests(config, "lost", requests, store, progress=False)
    assert summary.new == 2 and all(r.ok for r in records)
    assert server.counts["batches:create"] == 1 and server.counts["batches:list"] == 1


def test_batch_needs_one_openai_server(store) -> None:
    with pytest.raises(UserError, match="list one base_url"):
        run_requests(ModelConfig(name="two", backend="openai", model="m", base_url=("http://a/v1", "http://b/v1"),
                                 batch=True), "x", ask("q"), store, progress=False)
    assert store.count("leases") == 0


# -- the real CLI, killed while it polls ----------------------------------------------------------

def open_batch_ids(path: Path) -> list[str]:
    """Batch ids of the store's open batches (read through a separate connection)."""
    if not path.exists():
        return []
    with sqlite3.connect(path, timeout=30) as conn:
        try:
            return [r[0] for r in conn.execute("SELECT batch_id FROM batches WHERE batch_id IS NOT NULL")]
        except sqlite3.OperationalError:
            return []


@pytest.mark.slow
def test_a_batch_run_killed_while_polling_resumes_the_same_batch(loopback, tmp_path: Path) -> None:
    n = 20
    server = loopback(batch_delay=6.0)
    benchmark = tmp_path / "bench.jsonl"
    benchmark.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"batch prompt {i}"}) + "\n" for i in range(n)))
    models = tmp_path / "models.yaml"
    models.write_text(yaml.safe_dump({"models": {"lb": {
        "backend": "openai", "model": "loopback", "base_url": server.base_url, "batch": True,
        "options": {"batch_poll_s": 0.1, "batch_poll_max_s": 0.2}}}}))
    store = tmp_path / "store.sqlite"
    command = cli_command("generate", "--model", "lb", "--benchmark", f"jsonl:{benchmark}", "--models-file",
                          str(models), "--store", str(store), "--no-progress")

    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while (not open_batch_ids(store) or server.counts["batches:retrieve"] < 2) and time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert open_batch_ids(store) == ["batch_000001"]
    assert server.counts["batches:create"] == 1 and server.counts["requests"] == 0  # still polling

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"{n} records — {n} new" in resumed.stdout
    counts = server.counts
    assert counts["batches:create"] == 1 and counts["files:upload"] == 1  # picked up, not resubmitted
    assert counts["requests"] == counts["ok"] == n
    with Store(store) as opened:
        records = list(opened.iter_generations(model="lb"))
        assert opened.open_batches(server.base_url) == []
    assert len(records) == n and all(r.ok and r.meta["batch"] == "batch_000001" for r in records)
