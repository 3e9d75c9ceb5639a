"""API generation throughput: r1lib's runner vs a bare openai loop vs inspect_ai, on a loopback server.

The loopback server (in its own process, so it takes no CPU from the client measured) answers
every request after a fixed latency and prepares at most ``--cap`` replies at once, so no client
can exceed ``cap / latency`` requests per second (the *limit*). For each latency the same N prompts
go through:

- ``r1lib``: :func:`r1lib.generation.runner.run_requests` into a fresh store (store writes, trace parsing and
  record building included), through the OpenAI backend;
- ``bare``: one ``openai.AsyncOpenAI`` client and an ``asyncio.Semaphore`` (no storage: the ceiling);
- ``inspect``: ``inspect eval`` with the ``openai-api`` provider, ``generate()`` solver, no scorer,
  ``--display none --no-log-realtime`` (needs ``.venv-perf``, see below); its time is the eval's
  own start-to-end from the log, so interpreter start-up is not charged to it.

Then the resume cost: a completed run of ``--resume-prompts`` records is run again (all cached).
Besides wall time, each client's CPU milliseconds per request are printed: unlike throughput on a
shared machine, they do not depend on what else is running.

``--startup`` measures instead what a user sees: the real ``r1lib generate`` command in a
subprocess (``-X importtime``), from spawning it to its exit, on a JSONL benchmark of the same
prompts. It prints the time to the first request the server receives, the command's import time
(the sum of its top-level imports as ``-X importtime`` reports them, which adds a little overhead of
its own) and the fraction of the limit reached with start-up included; then, against the same
server, ``inspect eval`` on the same prompts, timed the same way (process start to exit), and the
ratio. ``--repeat N`` runs it N times and prints the median.

``--rpm N`` / ``--tpm N`` measure the regime paid providers impose instead: the server enforces
requests- and tokens-per-minute token buckets (1 s of burst, OpenAI's 429 body, ``Retry-After``
and ``x-ratelimit-*`` headers, see :class:`r1lib.testing.LoopbackServer`) and no concurrency cap;
``r1lib generate`` and ``inspect eval`` (with its own retries) run against it one after the other,
start-up included for both, and each line gives the fraction of the allowed rate reached (requests
per second ÷ RPM / 60; for a TPM limit, tokens used per second ÷ TPM / 60) and the 429s per 100
requests. ``--output-tokens N`` makes every reply N tokens long (thinking), with ``max_tokens``
``--max-tokens`` in the request, as a long R1 trace would be.

Usage (from the repository root)::

    python3 -m venv .venv-perf && .venv-perf/bin/pip install "inspect-ai==0.3.285" openai
    .venv/bin/python perf/api_throughput.py                      # 1,000 prompts, 0.5 s, cap 64
    .venv/bin/python perf/api_throughput.py --latency 0.1 0.5 1.0 --prompts 10000
    .venv/bin/python perf/api_throughput.py --startup --repeat 3       # the CLI, start-up included
    .venv/bin/python perf/api_throughput.py --rpm 3000 --latency 0.2 --prompts 600 --concurrency 256
    .venv/bin/python perf/api_throughput.py --tpm 600000 --output-tokens 2000 --max-tokens 4096 \
        --latency 0.2 --prompts 600 --concurrency 256
    (``--inspect PATH`` names another inspect executable than .venv-perf/bin/inspect)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import yaml
from openai import AsyncOpenAI

from r1lib.config.settings import ModelConfig
from r1lib.generation.runner import Request, run_requests
from r1lib.store.database import Store
from r1lib.testing import LoopbackServer

ROOT = Path(__file__).resolve().parents[1]
INSPECT = ROOT / ".venv-perf" / "bin" / "inspect"  # --inspect overrides it
INSPECT_TASK = '''
from inspect_ai import Task, task
from inspect_ai.dataset import json_dataset
from inspect_ai.solver import generate


@task
def loopback_prompts(path: str) -> Task:
    return Task(dataset=json_dataset(path), solver=generate())
'''


class ServerProcess:
    """A :class:`LoopbackServer` in a child process, driven over a pipe (counts, reset, stop)."""

    def __init__(self, **options: Any):
        self._pipe, child = multiprocessing.Pipe()
        self._process = multiprocessing.Process(target=_serve, args=(child, options), daemon=True)

    def __enter__(self) -> "ServerProcess":
        self._process.start()
        self.base_url: str = self._pipe.recv()
        return self

    def __exit__(self, *exc: object) -> None:
        self._pipe.send("stop")
        self._process.join(timeout=30)

    def ok(self) -> int:
        """Successful replies since the last reset."""
        return self.count("ok")

    def count(self, name: str) -> int:
        """One of the server's counters (e.g. ``requests``) since the last reset."""
        self._pipe.send(name)
        return self._pipe.recv()

    def reset(self) -> None:
        """Zero the counters."""
        self._pipe.send("reset")
        self._pipe.recv()


def _serve(pipe: Connection, options: dict[str, Any]) -> None:
    with LoopbackServer(**options) as server:
        pipe.send(server.base_url)
        while (command := pipe.recv()) != "stop":
            if command == "reset":
                server.reset_counts()
            pipe.send(server.counts[command])


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    """User + system CPU seconds of this process (or of its finished children)."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def prompts(n: int) -> list[str]:
    """``n`` distinct, harmless prompts."""
    return [f"Throughput probe number {i}: say something short." for i in range(n)]


def run_r1lib(base_url: str, texts: list[str], concurrency: int, store_path: Path, progress: bool) -> float:
    """Seconds for the r1lib runner to generate and store every prompt."""
    config = ModelConfig(name="loopback", backend="openai", model="loopback", base_url=(base_url,),
                         max_concurrency=concurrency)
    requests = [Request(f"p{i}", [{"role": "user", "content": t}]) for i, t in enumerate(texts)]
    with Store(store_path) as store:
        started = time.perf_counter()
        _, summary = run_requests(config, "throughput", requests, store, progress=progress)
        elapsed = time.perf_counter() - started
    if summary.failed or summary.new + summary.reused != len(texts):
        raise RuntimeError(f"r1lib run incomplete: {summary.line()}")
    return elapsed


def run_bare(base_url: str, texts: list[str], concurrency: int) -> float:
    """Seconds for a bare AsyncOpenAI + semaphore loop (no storage)."""

    async def main() -> float:
        client = AsyncOpenAI(base_url=base_url, api_key="EMPTY", max_retries=0)
        gate = asyncio.Semaphore(concurrency)

        async def one(text: str) -> str:
            async with gate:
                response = await client.chat.completions.create(
                    model="loopback", messages=[{"role": "user", "content": text}])
                return response.choices[0].message.content or ""

        started = time.perf_counter()
        await asyncio.gather(*(one(t) for t in texts))
        elapsed = time.perf_counter() - started
        await client.close()
        return elapsed

    return asyncio.run(main())


def run_inspect(base_url: str, texts: list[str], concurrency: int, workdir: Path,
                options: tuple[str, ...] = ("--max-retries", "0")) -> tuple[float, float]:
    """(eval seconds from the log, process wall seconds) for ``inspect eval`` on the same prompts
    (``options``: more ``inspect eval`` options; by default no retries)."""
    dataset = workdir / "prompts.jsonl"
    dataset.write_text("".join(json.dumps({"id": f"p{i}", "input": t}) + "\n" for i, t in enumerate(texts)))
    (workdir / "loopback_task.py").write_text(INSPECT_TASK)
    logs = workdir / "inspect-logs"
    env = {"PATH": str(INSPECT.parent), "HOME": str(workdir), "LOOPBACK_BASE_URL": base_url,
           "LOOPBACK_API_KEY": "EMPTY"}
    command = [str(INSPECT), "eval", "loopback_task.py", "-T", f"path={dataset}",
               "--model", "openai-api/loopback/loopback", "--max-connections", str(concurrency),
               "--display", "none", "--no-log-realtime", "--log-format", "json", "--log-dir", str(logs),
               *options]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=workdir)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"inspect eval failed ({done.returncode}): {done.stderr[-3000:]}")
    log = json.loads(next(logs.glob("*.json")).read_text())
    if log["status"] != "success" or len(log.get("samples") or []) != len(texts):
        raise RuntimeError(f"inspect eval incomplete: status {log['status']}")
    stats = log["stats"]
    eval_s = (datetime.fromisoformat(stats["completed_at"])
              - datetime.fromisoformat(stats["started_at"])).total_seconds()
    return eval_s, wall


def measure(latency: float, n: int, cap: int, concurrency: int, with_inspect: bool, progress: bool) -> None:
    """Print one comparison table for one latency."""
    limit = cap / latency
    texts = prompts(n)
    print(f"\n## {n:,} prompts, latency {latency:g} s, server cap {cap}, client concurrency {concurrency}: "
          f"limit {limit:.1f} req/s", flush=True)
    print(f"{'client':8s} {'seconds':>8s} {'req/s':>7s} {'of limit':>8s} {'CPU ms/req':>10s}")
    seconds: dict[str, float] = {}
    with ServerProcess(latency=latency, max_concurrent=cap) as server, tempfile.TemporaryDirectory() as tmp:
        runs = {"r1lib": lambda: run_r1lib(server.base_url, texts, concurrency, Path(tmp) / "store.sqlite",
                                           progress),
                "bare": lambda: run_bare(server.base_url, texts, concurrency)}
        if with_inspect:
            runs["inspect"] = lambda: run_inspect(server.base_url, texts, concurrency, Path(tmp))
        for name, run in runs.items():
            server.reset()
            who = resource.RUSAGE_CHILDREN if name == "inspect" else resource.RUSAGE_SELF
            cpu_before = cpu_seconds(who)
            result = run()
            cpu_ms = (cpu_seconds(who) - cpu_before) / n * 1000
            if server.ok() != n:
                raise RuntimeError(f"{name}: the server answered {server.ok()} of {n} requests")
            seconds[name] = result[0] if isinstance(result, tuple) else result
            rate = n / seconds[name]
            extra = f"   (process wall {result[1]:.1f} s)" if isinstance(result, tuple) else ""
            print(f"{name:8s} {seconds[name]:8.2f} {rate:7.1f} {rate / limit:8.2f} {cpu_ms:10.2f}{extra}",
                  flush=True)
    if "inspect" in seconds:
        print(f"r1lib is {seconds['inspect'] / seconds['r1lib']:.2f}x inspect_ai's speed")


def measure_resume(n: int, latency: float, cap: int, concurrency: int) -> None:
    """Print the cost of re-running a completed run of ``n`` records (every record cached)."""
    texts = prompts(n)
    with ServerProcess(latency=latency, max_concurrent=cap) as server, tempfile.TemporaryDirectory() as tmp:
        store_path = Path(tmp) / "store.sqlite"
        first = run_r1lib(server.base_url, texts, concurrency, store_path, progress=False)
        server.reset()
        again = run_r1lib(server.base_url, texts, concurrency, store_path, progress=False)
        sent = server.ok()
    print(f"\n## resume: {n:,} records at latency {latency:g} s; first run {first:.2f} s, re-run (all "
          f"cached) {again:.2f} s = {again / first:.3f} of the first run; requests on re-run: {sent}")


def measure_startup(n: int, latency: float, cap: int, concurrency: int, with_inspect: bool) -> dict[str, float]:
    """Print (and return) what the real ``r1lib generate`` reaches of the limit, start-up included, and
    ``inspect eval``'s process on the same prompts and server."""
    limit = cap / latency
    result: dict[str, float] = {}
    with ServerProcess(latency=latency, max_concurrent=cap) as server, tempfile.TemporaryDirectory() as tmp:
        benchmark, models, imports = Path(tmp) / "prompts.jsonl", Path(tmp) / "models.yaml", Path(tmp) / "imports"
        benchmark.write_text("".join(json.dumps({"id": f"p{i}", "prompt": t}) + "\n" for i, t in enumerate(prompts(n))))
        models.write_text(yaml.safe_dump({"models": {"loopback": {
            "backend": "openai", "model": "loopback", "base_url": server.base_url, "max_concurrency": concurrency}}}))
        command = [sys.executable, "-X", "importtime", "-m", "r1lib", "generate", "--model", "loopback",
                   "--benchmark", f"jsonl:{benchmark}", "--models-file", str(models),
                   "--store", str(Path(tmp) / "store.sqlite"), "--no-progress"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        first = None
        with imports.open("w") as stderr:
            started = time.perf_counter()
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
            while process.poll() is None:
                if first is None and server.count("requests"):
                    first = time.perf_counter() - started
                time.sleep(0.005)
            total = time.perf_counter() - started
        output = process.stdout.read() if process.stdout else ""
        if process.returncode != 0 or server.ok() != n:
            raise RuntimeError(f"r1lib generate failed ({process.returncode}): {imports.read_text()[-3000:]}")
        top = top_level_imports(imports.read_text())
        print(f"\n## r1lib generate (subprocess, start-up included): {n:,} prompts, latency {latency:g} s, "
              f"server cap {cap}, client concurrency {concurrency}: limit {limit:.1f} req/s")
        print(output.strip())
        largest = ", ".join(f"{name} {s:.2f} s" for name, s in sorted(top.items(), key=lambda x: -x[1])[:4])
        print(f"first request after {first:.2f} s; imports {sum(top.values()):.2f} s (largest: {largest})")
        print(f"total {total:.2f} s = {n / total:.1f} req/s = {n / total / limit:.2f} of the limit "
              f"(requests phase alone: {n / (total - first) / limit:.2f})", flush=True)
        result.update(first=first or 0.0, total=total, of_limit=n / total / limit)
        if with_inspect:
            server.reset()
            eval_s, wall = run_inspect(server.base_url, prompts(n), concurrency, Path(tmp))
            if server.ok() != n:
                raise RuntimeError(f"inspect: the server answered {server.ok()} of {n} requests")
            result.update(inspect_wall=wall, ratio=wall / total)
            print(f"inspect eval, same prompts and server: process {wall:.2f} s (eval alone {eval_s:.0f} s) = "
                  f"{n / wall / limit:.2f} of the limit; r1lib is {wall / total:.2f}x inspect_ai's speed, "
                  f"start-up included for both", flush=True)
    return result


def long_reply(request: dict[str, Any]) -> dict[str, Any]:
    """The loopback responder of ``--output-tokens``: a reply whose thinking is that many tokens long."""
    words = int(os.environ["API_THROUGHPUT_OUTPUT_TOKENS"])
    return {"reasoning_content": "step " * words, "content": "Done.", "reasoning_tokens": words}


def measure_rate_limited(n: int, latency: float, concurrency: int, rpm: float | None, tpm: float | None,
                         max_tokens: int | None, with_inspect: bool) -> None:
    """Print what ``r1lib generate`` and ``inspect eval`` reach of an RPM / TPM limit, start-up included."""
    limits = ", ".join(f"{name} {value:,.0f}" for name, value in (("RPM", rpm), ("TPM", tpm)) if value)
    long_outputs = "API_THROUGHPUT_OUTPUT_TOKENS" in os.environ
    print(f"\n## {n:,} prompts, latency {latency:g} s, {limits} (1 s burst), no server concurrency cap, "
          f"client concurrency {concurrency}"
          + (f", replies of {os.environ['API_THROUGHPUT_OUTPUT_TOKENS']} tokens, max_tokens {max_tokens}"
             if long_outputs else ""), flush=True)
    print(f"{'client':8s} {'first req':>9s} {'seconds':>8s} {'req/s':>7s} {'of allowed':>10s} {'429s/100':>8s}")
    options: dict[str, Any] = {"latency": latency, "rpm": rpm, "tpm": tpm}
    if long_outputs:
        options["responder"] = long_reply
    with ServerProcess(**options) as server, tempfile.TemporaryDirectory() as tmp:
        clients = {"r1lib": lambda: run_generate(server, n, concurrency, max_tokens, Path(tmp))}
        if with_inspect:
            extra = ("--max-tokens", str(max_tokens)) if max_tokens else ()
            clients["inspect"] = lambda: (None, run_inspect(server.base_url, prompts(n), concurrency, Path(tmp),
                                                            extra)[1])
        for name, run in clients.items():
            server.reset()
            first, seconds = run()
            ok, limited, used = server.ok(), server.count("rate_limited"), server.count("tokens_used")
            if ok != n:
                raise RuntimeError(f"{name}: the server answered {ok} of {n} requests")
            allowed = (used / seconds) / (tpm / 60) if tpm else (n / seconds) / (rpm / 60)  # type: ignore[operator]
            print(f"{name:8s} {f'{first:.2f} s' if first is not None else '-':>9s} {seconds:8.2f} {n / seconds:7.1f} "
                  f"{allowed:10.2f} {100 * limited / server.count('requests'):8.1f}", flush=True)


def run_generate(server: ServerProcess, n: int, concurrency: int, max_tokens: int | None,
                 tmp: Path) -> tuple[float | None, float]:
    """(seconds to the first request, seconds to exit) of ``r1lib generate`` on ``n`` prompts, from process start."""
    benchmark, models = tmp / "prompts.jsonl", tmp / "models.yaml"
    benchmark.write_text("".join(json.dumps({"id": f"p{i}", "prompt": t}) + "\n" for i, t in enumerate(prompts(n))))
    entry: dict[str, Any] = {"backend": "openai", "model": "loopback", "base_url": server.base_url,
                             "max_concurrency": concurrency, "stream": False}
    if max_tokens:
        entry["params"] = {"max_tokens": max_tokens}
    models.write_text(yaml.safe_dump({"models": {"loopback": entry}}))
    command = [sys.executable, "-m", "r1lib", "generate", "--model", "loopback", "--benchmark", f"jsonl:{benchmark}",
               "--models-file", str(models), "--store", str(tmp / "rate-store.sqlite"), "--no-progress"]
    first = None
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    while process.poll() is None:
        if first is None and server.count("requests"):
            first = time.perf_counter() - started
        time.sleep(0.005)
    total = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"r1lib generate failed ({process.returncode}): {process.stderr.read()[-3000:]}")
    return first, total


def top_level_imports(report: str) -> dict[str, float]:
    """Seconds per top-level import from a ``-X importtime`` report (nested imports are inside)."""
    seconds: dict[str, float] = {}
    for line in report.splitlines():
        if line.startswith("import time:") and not line.endswith("| imported package"):
            _, cumulative, name = line[len("import time:"):].split("|")
            if not name.startswith("  ") and name.strip():
                seconds[name.strip()] = seconds.get(name.strip(), 0.0) + int(cumulative) / 1e6
    return seconds


def main() -> None:
    """Parse arguments and print every measurement."""
    global INSPECT
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--latency", type=float, nargs="+", default=[0.5], help="seconds per reply")
    parser.add_argument("--cap", type=int, default=64, help="server-side concurrency cap")
    parser.add_argument("--concurrency", type=int, help="client concurrency (default: the cap)")
    parser.add_argument("--resume-prompts", type=int, default=10000, help="0 skips the resume measurement")
    parser.add_argument("--no-inspect", action="store_true", help="skip inspect_ai")
    parser.add_argument("--progress", action="store_true", help="draw r1lib's progress bar (stderr)")
    parser.add_argument("--startup", action="store_true",
                        help="the real CLI in a subprocess, start-up included, then inspect the same way")
    parser.add_argument("--repeat", type=int, default=1, help="--startup: runs per latency (the median is printed)")
    parser.add_argument("--inspect", type=Path, default=INSPECT, help="the inspect executable (inspect_ai 0.3.285)")
    parser.add_argument("--rpm", type=float, help="rate-limited server: requests per minute (see the docstring)")
    parser.add_argument("--tpm", type=float, help="rate-limited server: tokens per minute")
    parser.add_argument("--output-tokens", type=int, help="--rpm/--tpm: tokens per reply (default: short replies)")
    parser.add_argument("--max-tokens", type=int, help="--rpm/--tpm: max_tokens sent with every request")
    args = parser.parse_args()
    concurrency = args.concurrency or args.cap
    with_inspect = not args.no_inspect
    if with_inspect and not args.inspect.exists():
        parser.error(f"{args.inspect} not found; create it (see the module docstring) or pass --no-inspect")
    INSPECT = args.inspect
    if args.rpm or args.tpm:
        if args.output_tokens:
            os.environ["API_THROUGHPUT_OUTPUT_TOKENS"] = str(args.output_tokens)  # read by the server process
        print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
        for latency in args.latency:
            measure_rate_limited(args.prompts, latency, concurrency, args.rpm, args.tpm, args.max_tokens, with_inspect)
        print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        return
    if args.startup:
        for latency in args.latency:
            runs = []
            for _ in range(args.repeat):
                print(f"\nload average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
                runs.append(measure_startup(args.prompts, latency, args.cap, concurrency, with_inspect))
            if args.repeat > 1:
                median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                print(f"\n## median of {args.repeat} runs: first request {median['first']:.2f} s, total "
                      f"{median['total']:.2f} s = {median['of_limit']:.2f} of the limit"
                      + (f"; {median['ratio']:.2f}x inspect_ai (start-up included)" if "ratio" in median else ""))
        print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        return
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    for latency in args.latency:
        measure(latency, args.prompts, args.cap, concurrency, with_inspect, args.progress)
    if args.resume_prompts:
        measure_resume(args.resume_prompts, min(args.latency), args.cap, concurrency)
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
