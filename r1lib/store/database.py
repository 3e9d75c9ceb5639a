"""The response store: SQLite (WAL) holding generation records, verdicts and work leases.

Every write is one short transaction, so a process killed at any moment leaves a valid store with
every completed record intact; several processes may write at once (SQLite serialises them, and
the busy timeout makes writers wait instead of failing). Leases let concurrent runners split work
instead of duplicating it; a lease whose owner process is gone is ignored.

The schema version is SQLite's ``PRAGMA user_version`` (see :data:`SCHEMA_VERSION`): it lives in the
database header, is written in the same transaction as the schema change it describes, needs no
table of its own, and is 0 in every store made before versioning. Opening an older store migrates
it in one transaction; a store of a newer version is refused, never misread.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from r1lib.core.errors import UserError
from r1lib.core.records import GenerationRecord, Verdict
from r1lib.store.files import FRAME_FORMATS, check_format, write_frame
from r1lib.store.leases import owner_alive
from r1lib.store.rows import (
    JSON_FIELDS,
    chunks,
    from_row,
    generation_filter,
    has_text,
    last_user_message,
    to_row,
    where_clause,
)
from r1lib.store.schema import SCHEMA_VERSION, check_schema, prepare_schema

if TYPE_CHECKING:
    import pandas as pd

#: ``batches`` rows: one per Batch API submission (see :mod:`r1lib.generation.backends.openai_batch`). ``keys``
#: is the JSON list of record keys (each line's ``custom_id``); ``batch_id`` is NULL between the
#: upload and the confirmed create; ``status`` is ``uploaded``, then the provider's last status,
#: then ``collected`` once every key has a stored record or went into a later batch.
BATCH_COLUMNS = ("input_file_id", "batch_id", "model", "base_url", "keys", "status", "created_at", "updated_at")


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Text columns :meth:`Store.generations_frame` can flag as blank or not (``text_flags``).
TEXT_COLUMNS = ("raw_text", "reasoning_field", "thinking", "answer")
GEN_COLUMNS = ("key", "model", "benchmark", "prompt_id", "sample", "role", "messages", "config",
               "raw_text", "reasoning_field", "thinking", "answer", "trace_state", "trace_source",
               "finish_reason", "prompt_tokens", "reasoning_tokens", "answer_tokens", "latency_s",
               "attempts", "error", "created_at", "meta")
VERDICT_COLUMNS = ("gen_key", "judge", "version", "channel", "label", "score", "parsed_ok", "raw",
                   "details", "error", "created_at", "judge_model")
#: Columns of `r1lib export`, in order.
EXPORT_COLUMNS = ["model", "benchmark", "prompt_id", "sample", "prompt", "thinking", "answer",
                  "trace_state", "trace_source", "finish_reason", "prompt_tokens", "reasoning_tokens",
                  "answer_tokens", "latency_s", "error", "key"]


class Store:
    """A SQLite response store at ``path``: created on first use unless ``create=False`` (then a missing
    file is a UserError); a store of an older schema version is migrated on opening."""

    def __init__(self, path: str | Path, *, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise UserError(f"no store at {self.path}; check --store (stores are made by `r1lib generate` "
                            "and `r1lib reproduce`, by default runs/<profile>/store.sqlite)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(self.path, timeout=60, isolation_level=None,
                                         check_same_thread=False)
        except sqlite3.Error as exc:
            raise UserError(f"store {self.path} cannot be opened ({exc}); check the path and its permissions") from None
        try:
            self._conn.execute("PRAGMA busy_timeout=60000")
            self._conn.create_function("has_text", 1, has_text, deterministic=True)
            # First, so that a file that is no store is refused untouched; a current store needs no write.
            self.schema_version = check_schema(self._conn, self.path)
            if self.schema_version != SCHEMA_VERSION:
                with self._write() as conn:
                    self.schema_version = prepare_schema(conn, self.path)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise UserError(f"store {self.path} cannot be opened as SQLite ({exc}); "
                            "point --store / R1LIB_STORE at a store file or a new path") from None
        except UserError:
            self._conn.close()
            raise

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One immediate transaction: all or nothing, serialised with other writers."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # -- generations -----------------------------------------------------------------------
    def put_generation(self, record: GenerationRecord) -> bool:
        """Store a record. An answered record is never overwritten; an error record is replaced.

        Returns True when the record was written.
        """
        row = to_row({c: getattr(record, c) for c in GEN_COLUMNS}, GEN_COLUMNS)  # no deep copy, unlike to_dict
        placeholders = ",".join("?" * len(GEN_COLUMNS))
        updates = ",".join(f"{c}=excluded.{c}" for c in GEN_COLUMNS if c != "key")
        with self._write() as conn:
            cur = conn.execute(
                f"INSERT INTO generations ({','.join(GEN_COLUMNS)}) VALUES ({placeholders}) "
                f"ON CONFLICT(key) DO UPDATE SET {updates} WHERE generations.error IS NOT NULL",
                row)
            conn.execute("DELETE FROM leases WHERE key = ?", (record.key,))
            return cur.rowcount > 0

    def get_generations(self, keys: Iterable[str]) -> dict[str, GenerationRecord]:
        """Records for the given keys (missing keys are absent from the result)."""
        keys = list(keys)
        found: dict[str, GenerationRecord] = {}
        for chunk in chunks(keys, 500):
            q = f"SELECT {','.join(GEN_COLUMNS)} FROM generations WHERE key IN ({','.join('?' * len(chunk))})"
            with self._lock:
                rows = self._conn.execute(q, chunk).fetchall()
            for row in rows:
                found[row[0]] = GenerationRecord(**from_row(row, GEN_COLUMNS))
        return found

    def done_keys(self, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` that already hold a successful output."""
        keys = list(keys)
        done: set[str] = set()
        for chunk in chunks(keys, 500):
            q = f"SELECT key FROM generations WHERE error IS NULL AND key IN ({','.join('?' * len(chunk))})"
            with self._lock:
                done.update(r[0] for r in self._conn.execute(q, chunk))
        return done

    def iter_generations(self, *, model: str | None = None, benchmark: str | None = None,
                         role: str | None = "eval", run: str | None = None) -> Iterator[GenerationRecord]:
        """All records matching the filters (``run``: the config's model string), oldest first."""
        where, args = generation_filter(model=model, benchmark=benchmark, role=role, run=run)
        q = f"SELECT {','.join(GEN_COLUMNS)} FROM generations g {where} ORDER BY created_at, key"
        with self._lock:
            rows = self._conn.execute(q, args).fetchall()
        for row in rows:
            yield GenerationRecord(**from_row(row, GEN_COLUMNS))

    def sample_generations(self, *, model: str, role: str = "eval", limit: int = 200) -> list[GenerationRecord]:
        """Up to ``limit`` successful records of ``model`` in key order (keys are hashes, so a sample
        spread over the whole run); what cost estimates read their lengths and latencies from."""
        q = (f"SELECT {','.join(GEN_COLUMNS)} FROM generations WHERE model = ? AND role = ? AND error IS NULL "
             f"ORDER BY key LIMIT {int(limit)}")
        with self._lock:
            rows = self._conn.execute(q, (model, role)).fetchall()
        return [GenerationRecord(**from_row(row, GEN_COLUMNS)) for row in rows]

    def count(self, table: str = "generations") -> int:
        """Number of rows in a table."""
        if table not in ("generations", "verdicts", "leases", "batches"):
            raise ValueError(table)
        with self._lock:
            return self._conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    # -- leases ----------------------------------------------------------------------------
    def claim(self, keys: Iterable[str], owner: str, ttl_s: float = 3600.0) -> list[str]:
        """Lease the keys nobody else is working on and nobody has answered yet (checked in the same
        transaction, so a key finished by another runner a moment ago is not claimed again);
        returns the ones this owner now holds."""
        now = time.time()
        claimed: list[str] = []
        with self._write() as conn:
            for key in keys:
                if conn.execute("SELECT 1 FROM generations WHERE key = ? AND error IS NULL", (key,)).fetchone():
                    continue
                row = conn.execute("SELECT owner, expires FROM leases WHERE key = ?", (key,)).fetchone()
                if row and row[0] != owner and row[1] > now and owner_alive(row[0]):
                    continue
                conn.execute("INSERT OR REPLACE INTO leases (key, owner, expires) VALUES (?, ?, ?)",
                             (key, owner, now + ttl_s))
                claimed.append(key)
        return claimed

    def release(self, keys: Iterable[str], owner: str) -> None:
        """Drop this owner's leases on ``keys``."""
        with self._write() as conn:
            conn.executemany("DELETE FROM leases WHERE key = ? AND owner = ?", [(k, owner) for k in keys])

    # -- Batch API submissions --------------------------------------------------------------
    def put_batch(self, input_file_id: str, model: str, base_url: str, keys: list[str]) -> None:
        """Record an uploaded batch input file (before the batch is created)."""
        now = time.time()
        with self._write() as conn:
            conn.execute(f"INSERT INTO batches ({','.join(BATCH_COLUMNS)}) VALUES (?, NULL, ?, ?, ?, 'uploaded', ?, ?)",
                         (input_file_id, model, base_url, json.dumps(keys), now, now))

    def update_batch(self, input_file_id: str, status: str, batch_id: str | None = None) -> None:
        """Set a batch's status (and its id, once created)."""
        with self._write() as conn:
            conn.execute("UPDATE batches SET status = ?, batch_id = COALESCE(?, batch_id), updated_at = ? "
                         "WHERE input_file_id = ?", (status, batch_id, time.time(), input_file_id))

    def open_batches(self, base_url: str) -> list[dict[str, Any]]:
        """The batches sent to ``base_url`` that are not yet collected, oldest first."""
        with self._lock:
            rows = self._conn.execute(f"SELECT {','.join(BATCH_COLUMNS)} FROM batches WHERE base_url = ? "
                                      "AND status != 'collected' ORDER BY created_at", (base_url,)).fetchall()
        return [{**dict(zip(BATCH_COLUMNS, row)), "keys": json.loads(row[4])} for row in rows]

    # -- verdicts --------------------------------------------------------------------------
    def put_verdict(self, verdict: Verdict) -> None:
        """Store a verdict; a parsed verdict is kept, an errored or unparsed one may be replaced."""
        row = to_row(verdict.to_dict(), VERDICT_COLUMNS)
        updates = ",".join(f"{c}=excluded.{c}" for c in VERDICT_COLUMNS[4:])
        with self._write() as conn:
            conn.execute(
                f"INSERT INTO verdicts ({','.join(VERDICT_COLUMNS)}) VALUES ({','.join('?' * len(VERDICT_COLUMNS))}) "
                f"ON CONFLICT(gen_key, judge, version, channel) DO UPDATE SET {updates} "
                "WHERE verdicts.error IS NOT NULL",
                row)

    def get_verdicts(self, gen_keys: Iterable[str], judge: str, version: str,
                     channel: str) -> dict[str, Verdict]:
        """Stored verdicts of one judge version on one channel, by generation key."""
        found: dict[str, Verdict] = {}
        for chunk in chunks(list(gen_keys), 500):
            q = (f"SELECT {','.join(VERDICT_COLUMNS)} FROM verdicts WHERE judge = ? AND version = ? "
                 f"AND channel = ? AND gen_key IN ({','.join('?' * len(chunk))})")
            with self._lock:
                rows = self._conn.execute(q, [judge, version, channel, *chunk]).fetchall()
            for row in rows:
                values = from_row(row, VERDICT_COLUMNS)
                values["parsed_ok"] = bool(values["parsed_ok"])
                found[row[0]] = Verdict(**values)
        return found

    # -- frames and export -----------------------------------------------------------------
    def generations_frame(self, *, model: str | None = None, benchmark: str | None = None,
                          role: str | None = "eval", trace_state: str | None = None, judge: str | None = None,
                          label: str | None = None, limit: int | None = None, offset: int = 0,
                          columns: Sequence[str] | None = None, meta_keys: Sequence[str] = (),
                          text_flags: Sequence[str] = (), run: str | None = None) -> pd.DataFrame:
        """Generation records as a DataFrame (one row per record, ``prompt`` column added), oldest first.

        ``label`` keeps records whose latest verdict of some (judge, channel) has that label (of
        ``judge`` when given; ``judge`` alone filters nothing); ``run`` those whose config's model string
        it is (one version of an import); ``limit``/``offset`` select one page.
        ``columns`` reads only those columns (the ``prompt`` column comes with ``messages``);
        ``meta_keys`` adds a column ``meta_KEY`` per key of ``meta`` (None where absent), read with
        SQLite's JSON operator so the rest of ``meta`` is never decoded; ``text_flags`` adds a
        boolean column ``has_COLUMN`` per text column (non-blank after Python's ``str.strip``)
        without reading the text into Python. On a store of 100,000 records, reading only what a
        table needs is what keeps the notebooks fast.
        """
        import pandas as pd  # here, not at the top: generation never needs it (1 s of start-up)

        chosen = list(GEN_COLUMNS) if columns is None else list(columns)
        unknown = (sorted(set(chosen) - set(GEN_COLUMNS)) + [k for k in meta_keys if not _IDENTIFIER.fullmatch(k)]
                   + sorted(set(text_flags) - set(TEXT_COLUMNS)))
        if unknown:
            raise ValueError(f"not generation columns or meta keys: {unknown}")
        where, args = generation_filter(model=model, benchmark=benchmark, role=role, trace_state=trace_state,
                                         judge=judge, label=label, run=run)
        page = f" LIMIT {int(limit)} OFFSET {int(offset)}" if limit is not None else ""
        selected = ([f"g.{c}" for c in chosen] + [f"g.meta -> '$.{key}'" for key in meta_keys]
                    + [f"has_text(g.{c})" for c in text_flags])
        q = f"SELECT {','.join(selected)} FROM generations g {where} ORDER BY g.created_at, g.key{page}"
        names = chosen + [f"meta_{key}" for key in meta_keys] + [f"has_{c}" for c in text_flags]
        with self._lock:
            frame = pd.DataFrame(self._conn.execute(q, args).fetchall(), columns=names)
        for column in [c for c in chosen if c in JSON_FIELDS] + [f"meta_{key}" for key in meta_keys]:
            parsed = [json.loads(v) if isinstance(v, str) else None for v in frame[column].astype(object)]
            frame[column] = pd.Series(parsed, index=frame.index, dtype=object)
        for column in text_flags:
            frame[f"has_{column}"] = frame[f"has_{column}"].astype(bool)
        if "messages" in chosen:
            frame["prompt"] = frame["messages"].map(last_user_message)
        return frame

    def count_generations(self, *, model: str | None = None, benchmark: str | None = None,
                          role: str | None = "eval", trace_state: str | None = None, judge: str | None = None,
                          label: str | None = None, run: str | None = None) -> int:
        """How many records :meth:`generations_frame` returns for the same filters (without a page)."""
        where, args = generation_filter(model=model, benchmark=benchmark, role=role, trace_state=trace_state,
                                         judge=judge, label=label, run=run)
        with self._lock:
            return self._conn.execute(f"SELECT COUNT(*) FROM generations g {where}", args).fetchone()[0]

    def distinct(self, column: str, *, role: str | None = "eval", judge: str | None = None) -> list[str]:
        """The distinct non-null values of :meth:`value_counts`'s ``column``, sorted."""
        return sorted(self.value_counts(column, role=role, judge=judge))

    def value_counts(self, column: str, *, role: str | None = "eval", judge: str | None = None) -> dict[str, int]:
        """Records of ``role`` per non-null value of a generation column (``model``, ``benchmark``,
        ``trace_state``), or verdicts per ``judge`` or ``label`` (of ``judge`` when given), sorted by value."""
        if column in ("label", "judge"):
            where, args = where_clause(prefix="", **{"g.role": role, "v.judge": judge})
            q = f"SELECT v.{column}, COUNT(*) FROM verdicts v JOIN generations g ON g.key = v.gen_key {where}"
        elif column in ("model", "benchmark", "trace_state"):
            where, args = where_clause(role=role)
            q = f"SELECT {column}, COUNT(*) FROM generations {where}"
        else:
            raise ValueError(column)
        with self._lock:
            rows = self._conn.execute(f"{q} GROUP BY 1", args).fetchall()
        return dict(sorted((str(value), n) for value, n in rows if value is not None))

    def count_by_role(self) -> dict[str, int]:
        """Number of generation records per role (``eval``, ``judge``, ``turn``, ``victim``)."""
        with self._lock:
            return dict(self._conn.execute("SELECT role, COUNT(*) FROM generations GROUP BY role ORDER BY role"))

    def verdicts_frame(self, *, judge: str | None = None, channel: str | None = None, model: str | None = None,
                       benchmark: str | None = None, role: str | None = None,
                       gen_keys: Iterable[str] | None = None) -> pd.DataFrame:
        """Verdicts joined with their generation's model, benchmark, prompt id, sample, trace state,
        finish reason and meta (which holds the item's ``category``); filtered by the verdict's judge
        and channel, the generation's model, benchmark and role, and (``gen_keys``) generation keys."""
        import pandas as pd  # pandas only for frames: the runner's path does not need it

        where, args = where_clause(prefix="", **{"v.judge": judge, "v.channel": channel, "g.model": model,
                                           "g.benchmark": benchmark, "g.role": role})
        joined = ("model", "benchmark", "prompt_id", "sample", "trace_state", "finish_reason", "meta")
        q = (f"SELECT {','.join('v.' + c for c in VERDICT_COLUMNS)}, {','.join('g.' + c for c in joined)} "
             f"FROM verdicts v JOIN generations g ON g.key = v.gen_key {where}")
        rows: list[tuple[Any, ...]] = []
        with self._lock:
            if gen_keys is None:
                rows = self._conn.execute(q, args).fetchall()
            else:
                for chunk in chunks(list(gen_keys), 500):
                    keyed = f"{q} {'AND' if where else 'WHERE'} v.gen_key IN ({','.join('?' * len(chunk))})"
                    rows += self._conn.execute(keyed, [*args, *chunk]).fetchall()
        frame = pd.DataFrame(rows, columns=[*VERDICT_COLUMNS, *joined])
        for column in ("details", "meta"):
            frame[column] = frame[column].map(json.loads)
        frame["parsed_ok"] = frame["parsed_ok"].astype(bool)
        return frame

    def export(self, fmt: str, output: str | Path, *, model: str | None = None,
               benchmark: str | None = None, run: str | None = None) -> int:
        """Write the evaluation records (not judge calls) as jsonl, parquet or csv; returns the row count."""
        check_format(fmt, FRAME_FORMATS)
        frame = self.generations_frame(model=model, benchmark=benchmark, run=run)[EXPORT_COLUMNS]
        write_frame(frame, fmt, output)
        return len(frame)


