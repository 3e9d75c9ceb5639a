"""Client CPU per request, streamed vs non-streamed, for replies of different lengths.

The loopback server (in its own process, so its CPU is not counted) answers every request with a
reply of ``--tokens`` tokens: 90% reasoning (``reasoning_content``) and 10% answer, as an R1
trace. Streamed, each token is one server-sent chunk, as the providers send them. The same
prompts then go through :func:`r1lib.generation.runner.run_requests` (OpenAI backend, store writes and trace
parsing included) with ``stream: false`` and ``stream: true``; the script prints the client
process's user+system CPU per request and per 1,000 tokens. CPU, unlike wall time, does not
depend on what else runs on the machine.

Usage (from the repository root)::

    .venv/bin/python perf/streaming_cpu.py                        # 50 replies of 1,000 and of 8,000 tokens
    .venv/bin/python perf/streaming_cpu.py --tokens 32000 --prompts 40
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import resource
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from r1lib.config.settings import ModelConfig
from r1lib.generation.runner import Request, run_requests
from r1lib.store.database import Store
from r1lib.testing import LoopbackServer


@functools.cache
def reply(tokens: int) -> dict[str, Any]:
    """A reply of ``tokens`` one-word tokens: 90% reasoning, 10% answer."""
    thinking = tokens * 9 // 10
    return {"reasoning_content": "think " * thinking, "content": "answer " * (tokens - thinking),
            "reasoning_tokens": thinking}


def respond(tokens: int, request: dict[str, Any]) -> dict[str, Any]:
    """The loopback responder: the same long reply for every request."""
    return reply(tokens)


def serve(pipe: Connection, tokens: int) -> None:
    """Run a loopback server in this (child) process until told to stop."""
    with LoopbackServer(responder=functools.partial(respond, tokens)) as server:
        pipe.send(server.base_url)
        pipe.recv()


def cpu_seconds() -> float:
    """User + system CPU seconds of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(tokens: int, prompts: int, concurrency: int) -> None:
    """Print one row per mode for replies of ``tokens`` tokens."""
    pipe, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=serve, args=(child, tokens), daemon=True)
    process.start()
    base_url = pipe.recv()
    try:
        for stream in (False, True):
            config = ModelConfig(name=f"stream-{stream}", backend="openai", model="loopback", base_url=(base_url,),
                                 max_concurrency=concurrency, stream=stream)
            requests = [Request(f"p{i}", [{"role": "user", "content": f"{tokens} {stream} {i}"}])
                        for i in range(prompts + 1)]
            with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "store.sqlite") as store:
                run_requests(config, "warm-up", requests[:1], store, progress=False)  # lazy imports, TLS context
                requests = requests[1:]
                cpu, started = cpu_seconds(), time.perf_counter()
                records, summary = run_requests(config, "cpu", requests, store, progress=False)
                cpu, wall = cpu_seconds() - cpu, time.perf_counter() - started
            if summary.failed or any(r.reasoning_tokens != tokens * 9 // 10 for r in records):
                raise RuntimeError(f"incomplete run: {summary.line()}")
            print(f"{'streamed' if stream else 'plain':9s} {tokens:7,d} {prompts:8d} {wall:8.2f} "
                  f"{cpu / prompts * 1000:10.2f} {cpu / prompts / tokens * 1e6:10.2f}", flush=True)
    finally:
        pipe.send("stop")
        process.join(timeout=30)


def main() -> None:
    """Parse arguments and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[1000, 8000], help="tokens per reply")
    parser.add_argument("--prompts", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"{'mode':9s} {'tokens':>7s} {'requests':>8s} {'seconds':>8s} {'CPU ms/req':>10s} {'CPU µs/tok':>10s}")
    for tokens in args.tokens:
        measure(tokens, args.prompts, args.concurrency)
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
