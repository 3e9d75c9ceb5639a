"""Small helpers shared by the tests and performance scripts: a free port, models entries that point at
a :class:`~r1lib.testing.loopback.LoopbackServer`, the CLI run in a subprocess, and stopping a server
process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from r1lib.config.settings import ModelConfig, models_registry

#: Retry settings that keep a failing call short: 2 s timeout, near-zero backoff.
FAST_RETRIES = {"timeout": 2.0, "backoff_s": 0.01, "backoff_max_s": 0.05}


def stop_server(process: subprocess.Popen[Any], timeout: float = 60.0) -> None:
    """SIGTERM a server started in its own process group; SIGKILL the group if it is not gone in ``timeout`` s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def loopback_model(*base_urls: str, name: str = "loopback", model: str = "loopback",
                   options: Mapping[str, Any] | None = None, **fields: Any) -> ModelConfig:
    """An OpenAI-compatible models entry pointing at ``base_urls`` with :data:`FAST_RETRIES` (``options``
    are added to them); ``fields`` set any other :class:`ModelConfig` field."""
    return ModelConfig(name=name, backend="openai", model=model, base_url=base_urls,
                       options={**FAST_RETRIES, **(options or {})}, **fields)


def loopback_judge(base_url: str, *, name: str = "loopback-judge", model: str = "loopback",
                   **fields: Any) -> ModelConfig:
    """A scripted judge model at ``base_url``: temperature 0 and one attempt per call (no retries)."""
    fields = {"params": {"temperature": 0.0}, "options": {"max_attempts": 1}, **fields}
    return ModelConfig(name=name, backend="openai", model=model, base_url=(base_url,), **fields)


def priced_judge_file(path: Path, base_url: str, name: str = "loop-gpt-4o") -> Path:
    """Write a models file with one entry ``name``: GPT-4o's model, sampling, pricing and context at
    ``base_url`` (judge calls that the estimate prices as GPT-4o's); returns ``path``."""
    entry = {k: v for k, v in vars(models_registry()["gpt-4o"]).items()
             if k in ("model", "params", "pricing", "context_tokens")}
    entry.update(backend="openai", base_url=base_url, max_concurrency=8)
    path.write_text(yaml.safe_dump({"models": {name: entry}}), encoding="utf-8")
    return path


def cli_command(*args: str, python: str | Path | None = None) -> list[str]:
    """The command line ``python -m r1lib ARGS`` (this interpreter unless ``python`` names another)."""
    return [str(python or sys.executable), "-m", "r1lib", *args]


def run_cli(*args: str, env: Mapping[str, str] | None = None, timeout: float = 600, python: str | Path | None = None,
            cwd: str | Path | None = None) -> subprocess.CompletedProcess[str]:
    """:func:`cli_command` run to its end, stdout and stderr captured as text. ``env`` is the whole
    environment (default: this process's); ``python`` another interpreter (e.g. the vLLM venv's)."""
    return subprocess.run(cli_command(*args, python=python), capture_output=True, text=True,
                          env=None if env is None else dict(env), timeout=timeout, cwd=cwd)
