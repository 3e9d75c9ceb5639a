"""Shared pytest fixtures. Keep this file small: fixtures used by one test module live in that module."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from r1lib.store import Store
from r1lib.testing import LoopbackServer


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
    """The local benchmark-data mirror (R1LIB_DATA_MIRROR, default ../shared/data)."""
    from r1lib.config import Settings

    path = Settings.load().mirror_dir
    if path is None or not path.is_dir():
        pytest.skip("benchmark data mirror not found; set R1LIB_DATA_MIRROR to the shared data folder")
    return path


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
