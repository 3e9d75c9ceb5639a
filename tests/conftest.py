"""Shared pytest fixtures and the data mode of every test. Keep this file small: fixtures used by one
test module live in that module.

**Data mode.** Tests read the project's own fixtures (``tests/fixtures/data``, selected through
``R1LIB_FIXTURES``; see tests/fixtures/README.md), so they run the same on any clone. Tests that need
the real benchmark files (golden numbers, real traces, judge validation on human labels) are marked
``mirror``: they run on the data mirror with fixture mode off, and without a mirror they are skipped
with :data:`MIRROR_REASON`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from r1lib.benchmarks.sources import FIXTURES_ENV
from r1lib.config.settings import Settings
from r1lib.store.database import Store
from r1lib.testing import LoopbackServer

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "data"
MIRROR_REASON = "needs the data mirror: set R1LIB_DATA_MIRROR=/path/to/shared/data"


def mirror_dir() -> Path | None:
    """The data mirror the settings point at, when it exists."""
    path = Settings.load().mirror_dir
    return path if path is not None and path.is_dir() else None


def pytest_configure(config: pytest.Config) -> None:
    """Fixture mode for the whole session (``mirror`` tests turn it off for themselves, see :func:`data_mode`),
    so module-scoped fixtures and subprocesses see it too."""
    os.environ[FIXTURES_ENV] = str(FIXTURES)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without a data mirror, every ``mirror`` test is skipped for one reason. A test that asks for the
    ``mirror`` fixture must carry the marker (so that it runs with fixture mode off)."""
    unmarked = [item.nodeid for item in items
                if "mirror" in getattr(item, "fixturenames", ()) and item.get_closest_marker("mirror") is None]
    if unmarked:
        raise pytest.UsageError(f"mark these tests @pytest.mark.mirror, they read the data mirror: {unmarked}")
    if mirror_dir() is not None:
        return
    skip = pytest.mark.skip(reason=MIRROR_REASON)
    for item in items:
        if item.get_closest_marker("mirror") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def data_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """``mirror`` tests read the real files (fixture mode off); every other test reads the fixtures."""
    if request.node.get_closest_marker("mirror") is not None:
        monkeypatch.delenv(FIXTURES_ENV, raising=False)
    else:
        monkeypatch.setenv(FIXTURES_ENV, str(FIXTURES))


@pytest.fixture(scope="session")
def fixture_folder() -> Path:
    """The project's fixture folder (``tests/fixtures/data``, with its manifest)."""
    return FIXTURES


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh response store in the test's temporary directory."""
    with Store(tmp_path / "store.sqlite") as opened:
        yield opened


@pytest.fixture
def loopback() -> Iterator[Callable[..., LoopbackServer]]:
    """Start loopback OpenAI-compatible servers: ``server = loopback(behaviour=..., fault_rate=...)``.

    Every server started through the fixture is stopped when the test ends.
    """
    servers: list[LoopbackServer] = []

    def start(**kwargs: Any) -> LoopbackServer:
        server = LoopbackServer(**kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The local benchmark-data mirror (R1LIB_DATA_MIRROR, default ../shared/data), for ``mirror`` tests."""
    path = mirror_dir()
    if path is None:
        pytest.skip(MIRROR_REASON)
    return path
