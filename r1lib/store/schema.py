"""The store's SQLite schema: the tables of generations, verdicts, leases and Batch API submissions, the
schema version, and the migration of an older store to this one when it is opened.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from r1lib.core.errors import UserError

SCHEMA = """
CREATE TABLE IF NOT EXISTS generations (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    prompt_id TEXT NOT NULL,
    sample INTEGER NOT NULL,
    role TEXT NOT NULL,
    messages TEXT NOT NULL,
    config TEXT NOT NULL,
    raw_text TEXT,
    reasoning_field TEXT,
    thinking TEXT,
    answer TEXT,
    trace_state TEXT,
    trace_source TEXT,
    finish_reason TEXT,
    prompt_tokens INTEGER,
    reasoning_tokens INTEGER,
    answer_tokens INTEGER,
    latency_s REAL,
    attempts INTEGER NOT NULL,
    error TEXT,
    created_at REAL NOT NULL,
    meta TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS generations_by_run ON generations (model, benchmark, role);
CREATE TABLE IF NOT EXISTS verdicts (
    gen_key TEXT NOT NULL,
    judge TEXT NOT NULL,
    version TEXT NOT NULL,
    channel TEXT NOT NULL,
    label TEXT,
    score REAL,
    parsed_ok INTEGER NOT NULL,
    raw TEXT NOT NULL,
    details TEXT NOT NULL,
    error TEXT,
    created_at REAL NOT NULL,
    judge_model TEXT,
    PRIMARY KEY (gen_key, judge, version, channel)
);
CREATE TABLE IF NOT EXISTS leases (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires REAL NOT NULL
);
"""


BATCHES_TABLE = """
CREATE TABLE IF NOT EXISTS batches (
    input_file_id TEXT PRIMARY KEY,
    batch_id TEXT,
    model TEXT NOT NULL,
    base_url TEXT NOT NULL,
    keys TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
)"""
SCHEMA += BATCHES_TABLE + ";\n"


#: The schema version this code reads and writes. 0: the unversioned schema of the first release;
#: 1: verdicts record the judge model that made them (``judge_model``; NULL in migrated rows);
#: 2: Batch API submissions are remembered (``batches``).
SCHEMA_VERSION = 2


#: The tables every r1lib store has (a SQLite file without them is not a store).
TABLES = ("generations", "verdicts", "leases")
#: SQL that takes a store from version N to N + 1; run in the transaction that sets the new version.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    0: ("ALTER TABLE verdicts ADD COLUMN judge_model TEXT",),
    1: (BATCHES_TABLE,),
}


def check_schema(conn: sqlite3.Connection, path: Path) -> int:
    """The schema version of the database (0 for a new, empty file); a UserError when it holds something
    other than an r1lib store, or a store newer than this code reads."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and not set(TABLES) <= tables:
        raise UserError(f"{path} is a SQLite database but not an r1lib store (it has no "
                        f"{', '.join(sorted(set(TABLES) - tables))} table); pass another --store")
    if version > SCHEMA_VERSION:
        raise UserError(f"store {path} has schema version {version}, newer than this r1lib reads "
                        f"(version {SCHEMA_VERSION}); upgrade r1lib (git pull, then `make setup`) to open it, "
                        "or pass another --store")
    return version


def prepare_schema(conn: sqlite3.Connection, path: Path) -> int:
    """Create the schema in a new file or migrate an older store to :data:`SCHEMA_VERSION`; returns it.

    Runs inside the caller's write transaction (and checks again there, as another process may have
    done it meanwhile), so a migration is all or nothing and happens once.
    """
    version = check_schema(conn, path)
    if version == SCHEMA_VERSION:
        return version
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        for statement in SCHEMA.strip().split(";"):
            if statement.strip():
                conn.execute(statement)
    else:
        for step in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[step]:
                conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return SCHEMA_VERSION
