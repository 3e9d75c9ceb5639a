"""Deleting a store, the one operation that destroys paid-for outputs: only on purpose, only a store.

:func:`describe_store` says what a store holds (records by role, verdicts, and what regenerating
them would cost at the registry's prices) so that the person deleting it sees what goes;
:func:`delete_store` removes the store file and its SQLite side files. A path that is not an r1lib
store (missing, not SQLite, or SQLite without the store's tables) is refused before anything is
touched, and so is a store another process is writing to.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from r1lib.config.settings import ModelConfig
from r1lib.core.errors import UserError
from r1lib.cost.spent import costs_table, total_usd
from r1lib.store.database import Store

SQLITE_HEADER = b"SQLite format 3\x00"
#: SQLite's side files of a store (write-ahead log, shared memory, rollback journal).
SIDE_SUFFIXES = ("-wal", "-shm", "-journal")


@dataclass(frozen=True)
class StoreSummary:
    """What a store holds: records per role, verdicts, and the estimated cost to regenerate them."""

    path: Path
    schema_version: int
    records_by_role: dict[str, int]
    verdicts: int
    cost_usd: float
    unpriced_models: list[str]

    def lines(self) -> list[str]:
        """The summary as lines for a terminal."""
        roles = ", ".join(f"{n:,} {role}" for role, n in self.records_by_role.items()) or "none"
        cost = f"${self.cost_usd:,.4f} at the models registry's prices"
        if self.unpriced_models:
            cost += f", plus unpriced calls of {', '.join(self.unpriced_models)}"
        return [f"store {self.path} (schema version {self.schema_version})",
                f"  generation records: {sum(self.records_by_role.values()):,} ({roles})",
                f"  verdicts: {self.verdicts:,}",
                f"  estimated cost to regenerate: {cost} (see `r1lib costs --store {self.path}`)"]


def describe_store(path: str | Path, registry: Mapping[str, ModelConfig]) -> StoreSummary:
    """What the store at ``path`` holds; a UserError when ``path`` is not an r1lib store."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no store at {path}; give the path of an existing store file with --store")
    with path.open("rb") as handle:
        if handle.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise UserError(f"{path} is not an r1lib store (not a SQLite database); nothing deleted")
    with Store(path, create=False) as store:
        total, unpriced = total_usd(costs_table(store, registry))
        return StoreSummary(path=path, schema_version=store.schema_version, records_by_role=store.count_by_role(),
                            verdicts=store.count("verdicts"), cost_usd=total, unpriced_models=unpriced)


def delete_store(path: str | Path) -> list[Path]:
    """Delete the store file and its side files (checked with :func:`describe_store` first); returns them.

    Holds an exclusive lock while deleting, so a store that another process is writing to is refused.
    """
    path = Path(path)
    conn = sqlite3.connect(path, timeout=1.0, isolation_level=None)
    try:
        try:
            conn.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as exc:
            raise UserError(f"store {path} is in use by another process ({exc}); stop it and try again") from None
        removed = [p for p in (path, *(Path(f"{path}{suffix}") for suffix in SIDE_SUFFIXES)) if p.exists()]
        for file in removed:
            file.unlink()
        conn.execute("ROLLBACK")
    finally:
        conn.close()
    for suffix in SIDE_SUFFIXES:  # closing the last connection may recreate an empty side file
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return removed
