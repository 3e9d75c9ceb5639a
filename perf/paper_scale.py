"""The paper profile at full size against a loopback imitation of its providers, then every notebook on
the store it leaves: wall time, client CPU per request, store size, notebook times, peak memory.

What runs:

1. **Server** (its own process, so its CPU is not the client's): :class:`~r1lib.testing.LoopbackServer`
   answering as :class:`~r1lib.app.rehearse.PaperImitation` does (each route's shape, o3-mini's
   blocks, GPT-4o in every judge protocol's format), but with the models' thinking and answers drawn
   from real traces: DeepSeek-R1 (STAR-1, refusal-style) and R1-distill traces (SafeKey, compliant)
   for the R1 family, GPT-4-Turbo / Llama-3-8B answers to AIR-Bench prompts for the chat models and as
   o3-mini's visible answer (its hidden reasoning counted as an R1 trace's thinking). Each reply
   waits its model's time to first token plus its output tokens at the model's speed, with
   log-normal jitter (:data:`SPEEDS`, assumptions as in ``r1lib estimate``), divided by
   ``--compress`` (time compression: the default 100 makes a 23 s R1 call 0.23 s). A share
   ``--fault-rate`` of requests fails (429 with Retry-After, 500, dropped connection, malformed
   body, a slow reply), as providers do, and is retried by the client.
2. **Run** (in this process, measured): the paper profile (``configs/profiles/paper.yaml``), every
   model re-pointed at the server (:func:`r1lib.app.rehearse.models_file`, retries kept
   short), each benchmark at the paper's size × ``--scale`` (the mirror holds fewer prompts for
   AIR-Bench: copies with a variant note appended make up the rest), every judging the notebooks do
   (:data:`r1lib.app.judging_plan.JUDGING`; Fig. 3's reward-model scorers run locally and are left out),
   one model at a time at its configured concurrency (32, the providers' caps). Calls are not
   streamed here: streaming costs ~70 µs of client CPU per token (PERFORMANCE.md), added to the
   report as a figure, not simulated (it would multiply this script's run time).
3. **Tables**: ``r1lib reproduce --profile paper`` on the resulting store (kernels see the same
   paper-sized items through an IPython start-up file); everything is stored, so this times every
   notebook's tables, figures and bootstraps.

Usage (from the repository root; ~15 min on the shared 2-core machine)::

    .venv/bin/python perf/paper_scale.py                       # full size, time compressed 100x
    .venv/bin/python perf/paper_scale.py --scale 0.1 --compress 400   # a quick look
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

PERF = Path(__file__).resolve().parent
sys.path.insert(0, str(PERF))

from api_throughput import ServerProcess, cpu_seconds  # noqa: E402

from r1lib.app.rehearse import PaperImitation  # noqa: E402
from r1lib.benchmarks.sources import DataFiles  # noqa: E402
from r1lib.cost.defaults import AIRBENCH_ANSWERS, SAFEKEY, STAR1  # noqa: E402
from r1lib.testing.loopback_chat import last_user_message  # noqa: E402

#: Seconds to the first token and tokens per second by the model id the server sees (assumptions:
#: R1 through serverless providers streams at 20-60 tokens/s; the same figures as ``r1lib estimate``).
SPEEDS = {"deepseek-ai/DeepSeek-R1": (2.0, 30.0), "deepseek-ai/DeepSeek-R1-Distill-Llama-70B": (2.0, 30.0),
          "deepseek-ai/DeepSeek-V3": (0.8, 60.0), "meta-llama/Llama-3.3-70B-Instruct-Turbo": (0.8, 60.0),
          "o3-mini-2025-01-31": (2.0, 80.0), "gpt-4o-2024-08-06": (0.8, 60.0)}
#: Log-normal jitter (sigma) of a call's duration around its model's speed.
JITTER = 0.35
#: What a judge call's reply is taken to weigh, in tokens, for its duration.
JUDGE_TOKENS = 30
FAULTS = ("429", "500", "drop", "malformed", "slow")


@dataclasses.dataclass
class Traces:
    """Real outputs to draw from: (thinking, answer) of reasoning models, answers of chat models."""

    reasoning: list[tuple[str, str]]
    chat: list[str]

    @classmethod
    def load(cls) -> "Traces":
        """Read the traces from the data mirror (or data/raw)."""
        files = DataFiles(download=False)

        def split(trace: str) -> tuple[str, str]:
            thinking, _, answer = trace.partition("</think>")
            return thinking.replace("<think>", "").strip(), answer.strip()

        reasoning = [split(row["response"]) for row in json.loads(files.path(STAR1).read_text())]
        reasoning += [split(row["target"]) for source in SAFEKEY for row in csv.DictReader(files.path(source).open())]
        llama = files.path(AIRBENCH_ANSWERS["pipeline1_step2_Llama-3-8b_result.json"])
        gpt4 = files.path(AIRBENCH_ANSWERS["pipeline2_step2_gpt-4-turbo_result.csv"])
        chat = [row["response"] for row in json.loads(llama.read_text())]
        chat += [row["response"] for row in csv.DictReader(gpt4.open())]
        return cls(reasoning, chat)


def _unit(*parts: object) -> float:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class TraceImitation(PaperImitation):
    """:class:`PaperImitation` with thinking and answers drawn from real traces (module docstring)."""

    def __init__(self, judge_model: str, traces: Traces):
        super().__init__(judge_model)
        self.traces = traces

    def draw(self, model: str, prompt: str) -> tuple[str, str]:
        """The (thinking, answer) a model gives to a prompt: the same draw for the latency and the reply."""
        thinking, answer = self.traces.reasoning[int(_unit("r", model, prompt) * len(self.traces.reasoning))]
        if model in ("deepseek-ai/DeepSeek-V3", "meta-llama/Llama-3.3-70B-Instruct-Turbo", "o3-mini-2025-01-31"):
            answer = self.traces.chat[int(_unit("c", model, prompt) * len(self.traces.chat))]
        return thinking, answer

    def model_answer(self, model: str, messages: list[dict[str, Any]]) -> Any:
        """The route's shape (as :class:`PaperImitation`) with drawn texts; phishing turns keep the imitation's."""
        shaped = super().model_answer(model, messages)
        if isinstance(shaped, dict) and "error" in shaped or any(
                "social engineering" in str(m.get("content")) for m in messages[:1]):
            return shaped
        thinking, answer = self.draw(model, last_user_message(messages))
        if model == "o3-mini-2025-01-31":
            return {"content": answer, "reasoning_tokens": len(thinking.split())}
        if model == "deepseek-ai/DeepSeek-R1":
            return f"<think>\n{thinking}\n</think>\n\n{answer}"
        if model == "deepseek-ai/DeepSeek-R1-Distill-Llama-70B":
            return f"{thinking}\n</think>\n\n{answer}"
        return answer

    def seconds(self, request: dict[str, Any], compress: float) -> float:
        """How long the reply to ``request`` takes (time to first token + tokens ÷ speed, jittered, compressed)."""
        model = str(request.get("model"))
        prompt = last_user_message(request.get("messages") or [])
        first, rate = SPEEDS.get(model, (0.8, 60.0))
        if model == self.judge_model:
            tokens = JUDGE_TOKENS
        else:
            thinking, answer = self.draw(model, prompt)
            tokens = 1.3 * (len(answer.split()) + (0 if model in ("deepseek-ai/DeepSeek-V3",
                                                                 "meta-llama/Llama-3.3-70B-Instruct-Turbo")
                                                  else len(thinking.split())))
        jitter = math.exp(JITTER * _normal(_unit("j", model, prompt)))
        return (first + tokens / rate) * jitter / compress


def _normal(u: float) -> float:
    """The standard normal quantile of ``u`` (clipped into (0, 1))."""
    from statistics import NormalDist
    return NormalDist().inv_cdf(min(max(u, 1e-9), 1 - 1e-9))


class Latency:
    """The server's latency function (picklable): the imitation's duration of each request."""

    def __init__(self, imitation: TraceImitation, compress: float):
        self.imitation, self.compress = imitation, compress

    def __call__(self, request: dict[str, Any]) -> float:
        return self.imitation.seconds(request, self.compress)


def paper_sized(scale: float) -> None:
    """Make :func:`r1lib.app.steps.select_items` return every benchmark at its paper size × ``scale``:
    the profile's stratified sample when the mirror holds enough, else every item plus copies with a
    variant note appended to the last user message (so each copy is a new prompt)."""
    import r1lib.app.steps as steps
    from r1lib.benchmarks.registry import benchmarks
    original = steps.select_items

    def select(profile: Any, benchmark: str, *, split: str | None = None, keep: Any = None,
               limit: int | None = None) -> list[Any]:
        paper = benchmarks()[benchmark].paper_size
        if keep is not None or limit is not None or split not in (None, profile.plan(benchmark).split) or not paper:
            return original(profile, benchmark, split=split, keep=keep, limit=limit)
        target = max(1, round(paper * scale))
        items = original(profile, benchmark, split=split)
        if target <= len(items):
            return original(profile, benchmark, split=split, limit=target) if target < len(items) else items
        return [items[k % len(items)] if k < len(items) else _variant(items[k % len(items)], k // len(items))
                for k in range(target)]

    steps.select_items = select


def _variant(item: Any, copy: int) -> Any:
    messages = [dict(m) for m in item.messages]
    last = max(i for i, m in enumerate(messages) if m.get("role") == "user")
    messages[last]["content"] = f"{messages[last]['content']}\n\n(variant {copy})"
    return dataclasses.replace(item, id=f"{item.id}~{copy}", messages=messages)


def write_models(path: Path, base_url: str) -> Path:
    """The paper profile's models re-pointed at the server: not streamed, retries fast (compressed time)."""
    from r1lib.app.rehearse import models_file
    models_file(path, base_url)
    doc = yaml.safe_load(path.read_text())
    for entry in doc["models"].values():
        entry["stream"] = False
        entry["options"] = {**entry.get("options", {}), "max_attempts": 6, "backoff_s": 0.01, "backoff_max_s": 0.05,
                            "retry_after_max_s": 0.05, "timeout": 30}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_profile(workdir: Path, scale: float) -> dict[str, Any]:
    """Every generation and judging of the paper profile (the notebooks' steps), in this process."""
    from r1lib.app.judging_plan import JUDGING
    from r1lib.app.profiles import Profile
    from r1lib.app.run import Run

    profile = Profile.load("paper", store=workdir / "store.sqlite")
    run = Run(profile, tables_dir=workdir / "tables", figures_dir=workdir / "figures", progress=False)
    for benchmark, judge, channel, who in JUDGING:
        if benchmark not in profile.benchmarks or judge == "scorers":
            continue
        models = profile.reasoning_models if who == "reasoning" else None
        step = time.perf_counter()
        run.evaluate(benchmark, judge=judge, channels=(channel,), models=models)
        print(f"  {benchmark} × {judge or 'its judge'} ({channel}, {who} models): {time.perf_counter() - step:.0f} s",
              flush=True)
    run.conditions(models=profile.reasoning_models)  # notebook 04's plain counterpart of the jailbreaks
    return {"failed_generation": run.failures.generation, "failed_judging": run.failures.judging}


def store_stats(path: Path) -> dict[str, Any]:
    """Records by role, verdicts and bytes on disk (database and write-ahead log)."""
    from r1lib.store.database import Store
    with Store(path, create=False) as store:
        roles, verdicts = store.count_by_role(), store.count("verdicts")
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    return {"records": sum(roles.values()), "roles": roles, "verdicts": verdicts, "bytes": size}


def run_notebooks(workdir: Path, scale: float) -> tuple[float, dict[str, float], int]:
    """``r1lib reproduce --profile paper`` on the store (kernels patched to the same item counts)."""
    from r1lib.app.reproduce import reproduce
    startup = workdir / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-paper-scale.py").write_text(
        f"import sys\nsys.path.insert(0, {str(PERF)!r})\nimport paper_scale\npaper_scale.paper_sized({scale!r})\n")
    os.environ["IPYTHONDIR"] = str(workdir / "ipython")
    started = time.perf_counter()
    code = reproduce("paper", store=workdir / "store.sqlite", tables_dir=workdir / "tables",
                     figures_dir=workdir / "figures", runs_dir=workdir / "runs")
    total = time.perf_counter() - started
    seconds = {}
    for line in (workdir / "tables" / "status.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 3 and cells[0][:2].isdigit():
            seconds[cells[0]] = float(cells[1])
    return total, seconds, code


def main() -> None:
    """Parse arguments, run the simulation and print every figure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the paper's benchmark sizes (1 = full)")
    parser.add_argument("--compress", type=float, default=100.0, help="time compression of the replies")
    parser.add_argument("--fault-rate", type=float, default=0.02, help="share of requests that fail (retried)")
    parser.add_argument("--workdir", type=Path, help="keep the store and outputs here (default: a temporary folder)")
    parser.add_argument("--skip-notebooks", action="store_true", help="only the run, not the notebooks")
    parser.add_argument("--notebooks-only", action="store_true",
                        help="only the notebooks, on the store an earlier run left in --workdir")
    args = parser.parse_args()
    from r1lib.app.estimate import estimate_profile
    from r1lib.app.profiles import Profile
    from r1lib.config.settings import models_registry

    if args.notebooks_only and not (args.workdir and (args.workdir / "store.sqlite").is_file()):
        parser.error("--notebooks-only needs --workdir holding the store of an earlier run")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="paper-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs; "
          f"workdir {workdir}")
    paper_sized(args.scale)
    if args.notebooks_only:  # the run's models file: its base_url is part of every record key
        os.environ["R1LIB_MODELS"] = str(workdir / "models.yaml")
        report_notebooks(workdir, args.scale, None)
        return
    imitation = TraceImitation(models_registry()["gpt-4o"].model, Traces.load())
    with ServerProcess(responder=imitation, latency=Latency(imitation, args.compress), fault_rate=args.fault_rate,
                       faults=FAULTS, retry_after=0.01, slow_s=0.3, seed=1) as server:
        os.environ["R1LIB_MODELS"] = str(write_models(workdir / "models.yaml", server.base_url))
        profile = Profile.load("paper", store=workdir / "store.sqlite")
        estimate = estimate_profile(profile)
        print(f"paper profile × {args.scale:g}: {estimate.rows['calls'].sum():,.0f} calls expected "
              f"(r1lib estimate; {estimate.rows['wall_s'].sum() / 3600:.1f} h of calls in real time at the providers' "
              "speeds)", flush=True)
        run_and_report(workdir, args.scale, args.compress, server, estimate)
        if not args.skip_notebooks:
            server.reset()
            report_notebooks(workdir, args.scale, server)
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def report_notebooks(workdir: Path, scale: float, server: Any) -> None:
    """Step 3 of the module docstring: every notebook on the store, with its time and the peak memory
    (without a server, as for ``--notebooks-only``, a call would fail and show as a failed call)."""
    stats = store_stats(workdir / "store.sqlite")
    total, seconds, code = run_notebooks(workdir, scale)
    peak_kernels = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    sent = f"requests sent: {server.count('requests')}" if server else "no server: a call would have failed"
    print(f"\n## notebooks on a store of {stats['records']:,} records and {stats['verdicts']:,} verdicts "
          f"(reproduce exit {code}; {sent})")
    for name, s in seconds.items():
        print(f"{name:24s} {s:7.1f} s")
    print(f"total {total:.0f} s (kernel start-up included); peak memory of a kernel (RSS) {peak_kernels:,.0f} MB")


def run_and_report(workdir: Path, scale: float, compress: float, server: Any, estimate: Any) -> None:
    """The run (step 2 of the module docstring) and its figures."""
    real_wall = float(estimate.rows["wall_s"].sum())
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    failures = run_profile(workdir, scale)
    wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    peak_run = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    requests, ok = server.count("requests"), server.ok()
    faults = {kind: server.count(f"fault:{kind}") for kind in FAULTS}
    stats = store_stats(workdir / "store.sqlite")
    print(f"\n## run: {requests:,} requests ({ok:,} answered, faults {faults}), failed for good: "
          f"{failures['failed_generation']} generation, {failures['failed_judging']} judging")
    print(f"wall {wall:.0f} s with replies compressed {compress:g}x; client CPU {cpu:.0f} s = "
          f"{1000 * cpu / requests:.2f} ms per request; peak memory (RSS) {peak_run:,.0f} MB")
    r1_family = estimate.rows["model"].isin(["deepseek-r1", "r1-distill-llama-70b"])
    r1_tokens = estimate.rows.loc[r1_family, "output_tokens"].sum()
    print(f"client CPU ÷ the run's real-time duration ({real_wall / 3600:.1f} h): {100 * cpu / real_wall:.2f}% "
          f"(streaming would add ~70 µs per output token: {0.07 * r1_tokens / 1000:.0f} s for the R1-family outputs)")
    print(f"store: {stats['records']:,} records {stats['roles']}, {stats['verdicts']:,} verdicts, "
          f"{stats['bytes'] / 1e6:,.0f} MB ({stats['bytes'] / max(stats['records'], 1):,.0f} bytes per record)",
          flush=True)


if __name__ == "__main__":
    main()
