"""The response store: keys, resume, verdicts, export, crash safety and concurrent writers."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from r1lib.config.settings import ModelConfig
from r1lib.core.errors import UserError
from r1lib.core.records import GenerationRecord, Verdict, record_key
from r1lib.generation.runner import Request, run_requests
from r1lib.store.database import EXPORT_COLUMNS, Store

FAKE = ModelConfig(name="fake-r1", backend="fake", model="fake-r1", options={"style": "api_field"})
MESSAGES = [{"role": "user", "content": "hello"}]


def _record(key: str, **fields) -> GenerationRecord:
    base = dict(key=key, model="m", benchmark="b", prompt_id=key, sample=0, messages=MESSAGES, config={},
                raw_text="out", answer="out", trace_state="no_think", trace_source="none")
    base.update(fields)
    return GenerationRecord(**base)


@pytest.mark.parametrize("change", [
    {"model": "other"}, {"revision": "abc"}, {"base_url": ("http://x/v1",)},
    {"params": {"temperature": 0.7}}, {"prefill_think": True}, {"think_budget": 64},
    {"reasoning_parser": "deepseek_r1"}, {"system_prompt": "Be safe."}, {"chat_template": "{{x}}"},
    {"extra_body": {"top_k": 5}}, {"backend": "openai"}, {"options": {"gguf_file": "x.gguf"}},
])
def test_key_changes_with_every_output_relevant_field(change: dict) -> None:
    assert record_key(replace(FAKE, **change).key_fields(), MESSAGES, 0) != record_key(FAKE.key_fields(), MESSAGES, 0)


def test_key_ignores_speed_only_settings_and_depends_on_messages_and_sample() -> None:
    base = record_key(FAKE.key_fields(), MESSAGES, 0)
    assert record_key(replace(FAKE, max_concurrency=99, options={"timeout": 5}).key_fields(), MESSAGES, 0) == base
    assert record_key(FAKE.key_fields(), MESSAGES, 1) != base
    assert record_key(FAKE.key_fields(), [{"role": "user", "content": "hello!"}], 0) != base


def test_answered_record_is_never_overwritten_but_error_is_replaced(store: Store) -> None:
    assert store.put_generation(_record("k1", error="timeout", answer=None, raw_text=None))
    assert store.done_keys(["k1"]) == set()
    assert store.put_generation(_record("k1", answer="first"))
    assert not store.put_generation(_record("k1", answer="second"))
    assert store.get_generations(["k1"])["k1"].answer == "first"
    assert store.count() == 1


def test_resume_reuses_stored_records(store: Store) -> None:
    requests = [Request(str(i), [{"role": "user", "content": f"q{i}"}]) for i in range(12)]
    first, s1 = run_requests(FAKE, "demo", requests, store, progress=False)
    second, s2 = run_requests(FAKE, "demo", requests, store, progress=False)
    assert (s1.new, s1.reused, s2.new, s2.reused) == (12, 0, 0, 12)
    assert [r.key for r in first] == [r.key for r in second]
    assert store.count() == 12


def test_verdicts_are_separate_and_keyed_per_channel(store: Store) -> None:
    store.put_generation(_record("g"))
    for channel in ("answer", "thinking"):
        store.put_verdict(Verdict("g", "j", "v1", channel, "safe", 1.0, True, raw="r"))
    store.put_verdict(Verdict("g", "j", "v1", "answer", "unsafe", 0.0, True))  # cached: not overwritten
    assert store.get_verdicts(["g"], "j", "v1", "answer")["g"].label == "safe"
    assert store.count("verdicts") == 2
    frame = store.verdicts_frame(judge="j")
    assert set(frame["channel"]) == {"answer", "thinking"}
    assert store.get_generations(["g"])["g"].answer == "out"


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "csv"])
def test_export_formats(store: Store, tmp_path: Path, fmt: str) -> None:
    requests = [Request(str(i), [{"role": "user", "content": f"q{i}"}]) for i in range(5)]
    run_requests(FAKE, "demo", requests, store, progress=False)
    out = tmp_path / f"out.{fmt}"
    assert store.export(fmt, out) == 5
    frame = {"jsonl": lambda p: pd.read_json(p, lines=True), "parquet": pd.read_parquet,
             "csv": pd.read_csv}[fmt](out)
    assert list(frame.columns) == EXPORT_COLUMNS
    assert set(frame["prompt"]) == {f"q{i}" for i in range(5)}
    assert frame["thinking"].notna().all()


def test_export_rejects_unknown_format(store: Store, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="jsonl"):
        store.export("xlsx", tmp_path / "x.xlsx")


def test_not_a_database_is_a_user_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sqlite"
    bad.write_text("this is not sqlite" * 100)
    with pytest.raises(UserError, match="cannot be opened"):
        Store(bad)


WRITER = textwrap.dedent("""
    import sys, time
    from r1lib.core.records import GenerationRecord
    from r1lib.store.database import Store
    store = Store(sys.argv[1])
    prefix, n = sys.argv[2], int(sys.argv[3])
    for i in range(n):
        key = f"{prefix}-{i}"
        store.put_generation(GenerationRecord(key=key, model="m", benchmark="b", prompt_id=key, sample=0,
                             messages=[{"role": "user", "content": "x" * 2000}], config={}, answer="a" * 5000))
        print(key, flush=True)
""")


def test_sigkill_mid_run_leaves_every_committed_record(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), "w", "100000"],
                            stdout=subprocess.PIPE, text=True)
    committed = []
    assert proc.stdout is not None
    while len(committed) < 300:
        committed.append(proc.stdout.readline().strip())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Store(path) as store:
        assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert store.done_keys(committed) == set(committed)
        assert store.count() >= len(committed)


def test_concurrent_writers_do_not_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    Store(path).close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"p{j}", "300"],
                              stdout=subprocess.DEVNULL) for j in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*) FROM generations").fetchone()[0] == 900


def test_leases_block_other_live_owner_but_not_dead_one(store: Store) -> None:
    me = f"{os.uname().nodename}:{os.getpid()}"
    assert store.claim(["a", "b"], me) == ["a", "b"]
    # Another owner on this host whose process is alive (our parent) cannot take them.
    other_alive = f"{os.uname().nodename}:{os.getppid()}"
    assert store.claim(["a", "b", "c"], other_alive) == ["c"]
    # A dead owner's leases are taken over.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    dead_owner = f"{os.uname().nodename}:{dead.pid}"
    store.release(["a", "b", "c"], me)
    store.release(["c"], other_alive)
    assert store.claim(["d"], dead_owner) == ["d"]
    assert store.claim(["d"], me) == ["d"]
    assert store.count("leases") == 1  # only "d" is still leased


def test_a_frame_reads_only_the_columns_meta_keys_and_text_flags_asked_for(store: Store) -> None:
    from r1lib.core.records import GenerationRecord
    for key, answer, meta in (("a", "An answer.", {"category": {"l2": "x"}, "billing": "batch"}),
                              ("b", " \n\u00a0", {"item": {"judge_prompt": "long"}})):
        store.put_generation(GenerationRecord(key=key, model="m", benchmark="b", prompt_id=key, sample=0,
                                              messages=[{"role": "user", "content": "q"}], config={}, answer=answer,
                                              thinking=None, meta=meta))
    frame = store.generations_frame(columns=("key", "model"), meta_keys=("category", "billing"),
                                    text_flags=("answer", "thinking")).set_index("key")
    assert list(frame.columns) == ["model", "meta_category", "meta_billing", "has_answer", "has_thinking"]
    assert frame.loc["a", "meta_category"] == {"l2": "x"} and frame.loc["a", "meta_billing"] == "batch"
    assert frame.loc["b", "meta_category"] is None and frame.loc["b", "meta_billing"] is None
    assert frame["has_answer"].tolist() == [True, False] and not frame["has_thinking"].any()  # str.strip semantics
    with pytest.raises(ValueError, match="not generation columns"):
        store.generations_frame(columns=("key", "nope"))
