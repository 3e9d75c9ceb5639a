"""The store's schema version: a store of the first release migrates losslessly, a newer one is refused."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from r1lib.config.settings import models_registry
from r1lib.core.errors import UserError
from r1lib.core.records import GenerationRecord, Verdict
from r1lib.generation.runner import Request, run_requests
from r1lib.judges.base import judge_records
from r1lib.judges.registry import get_judge
from r1lib.store.database import Store
from r1lib.store.schema import SCHEMA_VERSION

#: The schema of the first release (store.py at commit 12a947e), frozen here as "version 0": no
#: ``PRAGMA user_version`` set, no ``judge_model`` column in ``verdicts``.
V0_SCHEMA = """
CREATE TABLE generations (
    key TEXT PRIMARY KEY, model TEXT NOT NULL, benchmark TEXT NOT NULL, prompt_id TEXT NOT NULL,
    sample INTEGER NOT NULL, role TEXT NOT NULL, messages TEXT NOT NULL, config TEXT NOT NULL,
    raw_text TEXT, reasoning_field TEXT, thinking TEXT, answer TEXT, trace_state TEXT, trace_source TEXT,
    finish_reason TEXT, prompt_tokens INTEGER, reasoning_tokens INTEGER, answer_tokens INTEGER,
    latency_s REAL, attempts INTEGER NOT NULL, error TEXT, created_at REAL NOT NULL, meta TEXT NOT NULL
);
CREATE INDEX generations_by_run ON generations (model, benchmark, role);
CREATE TABLE verdicts (
    gen_key TEXT NOT NULL, judge TEXT NOT NULL, version TEXT NOT NULL, channel TEXT NOT NULL,
    label TEXT, score REAL, parsed_ok INTEGER NOT NULL, raw TEXT NOT NULL, details TEXT NOT NULL,
    error TEXT, created_at REAL NOT NULL, PRIMARY KEY (gen_key, judge, version, channel)
);
CREATE TABLE leases (key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL);
"""
V0_GEN_COLUMNS = ("key", "model", "benchmark", "prompt_id", "sample", "role", "messages", "config", "raw_text",
                  "reasoning_field", "thinking", "answer", "trace_state", "trace_source", "finish_reason",
                  "prompt_tokens", "reasoning_tokens", "answer_tokens", "latency_s", "attempts", "error",
                  "created_at", "meta")
V0_VERDICT_COLUMNS = ("gen_key", "judge", "version", "channel", "label", "score", "parsed_ok", "raw", "details",
                      "error", "created_at")
JSON_COLUMNS = {"messages", "config", "meta", "details"}

RECORDS = [
    GenerationRecord(key="g1", model="fake-r1", benchmark="xstest", prompt_id="p1", sample=0,
                     messages=[{"role": "system", "content": "Be safe."}, {"role": "user", "content": "héllo <b>"}],
                     config={"backend": "fake", "params": {"temperature": 0.6}}, raw_text="<think>t</think>a",
                     thinking="t", answer="a", trace_state="closed", trace_source="tags", finish_reason="stop",
                     prompt_tokens=7, reasoning_tokens=1, answer_tokens=1, latency_s=0.25, created_at=1.5,
                     meta={"category": {"type": "safe"}, "item": {"note": "x"}}),
    GenerationRecord(key="g2", model="fake-r1", benchmark="xstest", prompt_id="p2", sample=1,
                     messages=[{"role": "user", "content": "q"}], config={}, attempts=3, error="HTTP 500",
                     created_at=2.5),
    GenerationRecord(key="g3", model="gpt-4o", benchmark="judge:xstest", prompt_id="g1:answer:0", sample=0,
                     role="judge", messages=[{"role": "user", "content": "judge this"}], config={},
                     answer="1_full_compliance", finish_reason="stop", created_at=3.5),
]
VERDICTS = [
    Verdict("g1", "xstest", "v1", "answer", "full_compliance", 0.0, True, raw="1_full_compliance",
            details={"chunks": 1}, created_at=4.0),
    Verdict("g1", "xstest", "v1", "thinking", None, None, False, raw="???", created_at=5.0),
    Verdict("g1", "refusal-offline", "v2", "answer", None, None, False, error="timeout", created_at=6.0),
]


def make_v0_store(path: Path) -> None:
    """A store file as the first release wrote it: its schema, its row encoding, user_version 0."""
    conn = sqlite3.connect(path)
    conn.executescript(V0_SCHEMA)
    for table, rows, columns in (("generations", RECORDS, V0_GEN_COLUMNS), ("verdicts", VERDICTS, V0_VERDICT_COLUMNS)):
        for row in rows:
            values = asdict(row)
            conn.execute(f"INSERT INTO {table} VALUES ({','.join('?' * len(columns))})",
                         [json.dumps(values[c], ensure_ascii=False) if c in JSON_COLUMNS else values[c]
                          for c in columns])
    conn.commit()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    conn.close()


def test_a_first_release_store_migrates_and_reads_back_identically(tmp_path: Path) -> None:
    path = tmp_path / "v0.sqlite"
    make_v0_store(path)
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION == 2
        assert store.get_generations([r.key for r in RECORDS]) == {r.key: r for r in RECORDS}
        for verdict in VERDICTS:
            stored = store.get_verdicts([verdict.gen_key], verdict.judge, verdict.version, verdict.channel)
            assert stored == {verdict.gen_key: verdict}  # judge_model None: not recorded before version 1
        assert store.count() == 3 and store.count("verdicts") == 3
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert "judge_model" in {row[1] for row in conn.execute("PRAGMA table_info(verdicts)")}
    assert conn.execute("SELECT COUNT(*) FROM batches").fetchone()[0] == 0  # version 2's table exists, empty
    conn.close()
    with Store(path) as again:  # opening a current store changes nothing
        assert again.get_generations(["g1"])["g1"] == RECORDS[0]


def test_a_migrated_store_takes_new_verdicts_with_their_judge_model(tmp_path: Path) -> None:
    path = tmp_path / "v0.sqlite"
    make_v0_store(path)
    with Store(path) as store:
        new = replace(VERDICTS[0], version="v9", judge_model="gpt-4o")
        store.put_verdict(new)
        assert store.get_verdicts(["g1"], "xstest", "v9", "answer")["g1"] == new
        frame = store.verdicts_frame(judge="xstest")
    assert sorted(frame["judge_model"].fillna("-")) == ["-", "-", "gpt-4o"]


def test_a_newer_store_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(UserError, match=rf"schema version {SCHEMA_VERSION + 1}, newer than this r1lib reads.*upgrade"):
        Store(path)
    assert path.read_bytes() == before


def test_a_sqlite_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (text TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(UserError, match="not an r1lib store"):
        Store(path)


def test_a_new_store_records_the_current_version(tmp_path: Path) -> None:
    Store(tmp_path / "new.sqlite").close()
    conn = sqlite3.connect(tmp_path / "new.sqlite")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_a_missing_store_is_an_error_when_it_must_exist(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no store at"):
        Store(tmp_path / "typo.sqlite", create=False)
    assert not (tmp_path / "typo.sqlite").exists()


def test_verdicts_record_the_model_that_made_them(store: Store) -> None:
    registry = models_registry()
    requests = [Request(f"p{i}", [{"role": "user", "content": f"question {i}"}]) for i in range(3)]
    records, _ = run_requests(registry["fake-r1"], "demo", requests, store, progress=False)
    llm = get_judge("xstest", judge_model="fake-judge", models=registry)
    local = get_judge("refusal-strmatch")
    assert {v.judge_model for v in judge_records(llm, records, "answer", store, progress=False)} == {"fake-judge"}
    assert {v.judge_model for v in judge_records(local, records, "thinking", store, progress=False)} == {"none"}
    stored = store.verdicts_frame()
    assert set(zip(stored["judge"], stored["judge_model"])) == {("xstest", "fake-judge"), ("refusal-strmatch", "none")}
