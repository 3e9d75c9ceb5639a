"""Cleaning never destroys data: `make clean` removes only regenerable outputs; deleting a store is a separate,
explicit command that shows what goes and refuses anything that is not a store."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from r1lib.app.cli import main
from r1lib.config.settings import PROJECT_ROOT, models_registry
from r1lib.generation.runner import Request, run_requests
from r1lib.judges.base import judge_records
from r1lib.judges.registry import get_judge
from r1lib.store.database import Store

OUTPUTS = ["tables/demo/table2.csv", "tables/demo/table2.md", "tables/demo/table2.tex", "tables/demo/status.md",
           "tables/table2.csv", "tables/table2.md", "tables/table2.tex", "tables/status.md",
           "figures/demo/fig2a.png", "figures/demo/fig2a.pdf", "figures/fig3.png", "figures/fig3.pdf",
           "runs/demo/notebooks/01_safety_benchmarks.ipynb", "runs/ci/notebooks/02_attacks.ipynb"]
KEPT = ["tables/README.md", "figures/README.md", "runs/demo/results.parquet", "runs/notes.txt"]
PRICED = ("models:\n  fake-r1:\n    backend: fake\n    model: fake-r1\n    reasoning: true\n"
          "    options: {style: api_field}\n"
          "    pricing: {input: 3.0, output: 7.0, source: 'a test price', as_of: 2026-01-02}\n"
          # the judge's calls as if an API model without prices (a fake costs nothing)
          "  fake-judge:\n    backend: openai\n    model: fake-judge\n")


def fill_store(path: Path, n: int = 4) -> None:
    """A store with n fake-r1 records, their judge calls (fake-judge) and verdicts."""
    registry = models_registry()
    with Store(path) as store:
        requests = [Request(f"p{i}", [{"role": "user", "content": f"question {i}"}]) for i in range(n)]
        records, _ = run_requests(registry["fake-r1"], "demo", requests, store, progress=False)
        judge_records(get_judge("xstest", judge_model="fake-judge", models=registry), records, "answer", store,
                      progress=False)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_clean_removes_outputs_and_leaves_every_store_byte_identical(tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "runs" / "demo").mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "Makefile", root / "Makefile")
    for name in OUTPUTS + KEPT:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(f"output {name}\n")
    for readme in ("tables/README.md", "figures/README.md"):
        shutil.copy(PROJECT_ROOT / readme, root / readme)
    fill_store(root / "runs" / "demo" / "store.sqlite")
    fill_store(root / "runs" / "store.sqlite", 2)  # the default store before per-profile stores
    fill_store(root / "runs" / "external.sqlite", 1)
    # A store another process is still writing to: its write-ahead log holds uncheckpointed records.
    live = Store(root / "runs" / "ci" / "store.sqlite")
    fill_store(live.path, 3)
    live._conn.execute("PRAGMA wal_autocheckpoint=0")
    run_requests(models_registry()["fake-v3"], "demo", [Request("late", [{"role": "user", "content": "late"}])],
                 live, progress=False)
    stores = sorted(p for p in (root / "runs").rglob("*") if p.is_file() and ".sqlite" in p.name)
    assert any(p.name.endswith("-wal") for p in stores)
    before = {p: sha256(p) for p in stores + [root / name for name in KEPT]}

    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    done = subprocess.run(["make", "-C", str(root), "clean"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    after = {p: sha256(p) for p in before if p.exists()}
    live.close()  # (closing checkpoints the log into the store: compare before that)

    assert after == before  # every store file and its log, byte for byte
    assert [name for name in OUTPUTS if (root / name).exists()] == []
    assert not (root / "tables" / "demo").exists() and not (root / "runs" / "demo" / "notebooks").exists()
    with Store(root / "runs" / "ci" / "store.sqlite") as store:
        assert store.count() == 3 + 3 + 1  # records, judge calls and the late record all survived


def test_store_delete_shows_what_goes_and_asks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "store.sqlite"
    fill_store(path)
    (tmp_path / "priced.yaml").write_text(PRICED)
    before = sha256(path)
    monkeypatch.setattr(sys, "stdin", io.StringIO("no\n"))
    assert main(["store", "delete", "--store", str(path), "--models-file", str(tmp_path / "priced.yaml")]) == 1
    out = capsys.readouterr().out
    assert "generation records: 8 (4 eval, 4 judge)" in out and "verdicts: 4" in out
    assert "estimated cost to regenerate: $0.0" in out and "plus unpriced calls of fake-judge" in out
    assert "not deleted" in out and sha256(path) == before

    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # no terminal, no answer: nothing deleted
    assert main(["store", "delete", "--store", str(path)]) == 1 and path.exists()

    monkeypatch.setattr(sys, "stdin", io.StringIO("yes\n"))
    assert main(["store", "delete", "--store", str(path)]) == 0
    assert f"deleted {path}" in capsys.readouterr().out
    assert not list(tmp_path.glob("store.sqlite*"))


def test_store_delete_with_yes_removes_the_side_files(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    fill_store(path)
    Path(f"{path}-wal").write_bytes(b"")  # as a crashed writer leaves them
    Path(f"{path}-shm").write_bytes(b"")
    assert main(["store", "delete", "--store", str(path), "--yes"]) == 0
    assert not list(tmp_path.glob("store.sqlite*"))


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("not a database\n" * 50), "not an r1lib store (not a SQLite database)"),
    (lambda p: sqlite3.connect(p).execute("CREATE TABLE notes (text TEXT)").connection.commit(),
     "not an r1lib store"),
    (lambda p: None, "no store at"),
])
def test_store_delete_refuses_what_is_not_a_store(tmp_path: Path, make, message: str,
                                                  capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "thing.sqlite"
    make(path)
    before = sha256(path) if path.exists() else None
    assert main(["store", "delete", "--store", str(path), "--yes"]) == 2
    assert message in capsys.readouterr().err
    assert (sha256(path) if path.exists() else None) == before


def test_store_delete_refuses_a_store_being_written(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "store.sqlite"
    fill_store(path)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        assert main(["store", "delete", "--store", str(path), "--yes"]) == 2
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert "in use by another process" in capsys.readouterr().err and path.exists()


def test_store_delete_needs_the_store_named() -> None:
    with pytest.raises(SystemExit):
        main(["store", "delete", "--yes"])
