"""The vLLM offline-engine backend: one ``vllm.LLM`` in this process, given the whole workload at once.

``model`` is a local folder, a Hugging Face id available offline, or ``pkg:DIST/FILE.gguf`` (resolved
to the same cached safetensors folder the transformers backend uses, see :mod:`r1lib.generation.local_models`).

- ``params`` become ``vllm.SamplingParams`` (``temperature`` defaults to 0 = greedy, as in the
  transformers backend; ``max_tokens`` to 1024); ``seed`` seeds the engine, not each request, so
  several samples of one prompt differ.
- ``options`` are passed to ``vllm.LLM`` as given: ``dtype``, ``max_model_len``, ``enforce_eager``,
  ``tensor_parallel_size``, ``data_parallel_size``, ``gpu_memory_utilization``, ``tokenizer`` …

Prompts are rendered with the model's chat template by r1lib (see :mod:`r1lib.generation.backends.local`) and
sent as token ids, so vLLM and transformers see exactly the same prompt and thinking elicitation
(``prefill_think``, ``think_budget``) works the same way. The offline engine applies no reasoning
parser: the raw text is returned and the runner splits it with :func:`r1lib.core.traces.parse_trace`.
On CPU use ``vllm-cpu`` in its own venv (``make vllm-cpu``) and set ``VLLM_CPU_KVCACHE_SPACE``.
"""

from __future__ import annotations

from typing import Any

from r1lib.config.settings import ModelConfig
from r1lib.core.errors import UserError
from r1lib.generation.backends.base import register
from r1lib.generation.backends.local import LocalBackend, Piece
from r1lib.generation.local_models import local_model_path


@register("vllm")
class VLLMBackend(LocalBackend):
    """Generation with the vLLM offline engine, created on first use (see the module docstring)."""

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.model_path: str | None = None
        self._llm: Any = None
        self._sampling: dict[str, Any] = {}

    def load(self) -> None:
        """Start the engine once and check the sampling params (import vllm here, not at module load)."""
        if self._llm is not None:
            return
        try:
            from vllm import LLM, SamplingParams
        except ImportError:
            raise UserError(f"model {self.config.name!r} needs vLLM, which is not installed in this Python "
                            "environment. On CPU build it with `make vllm-cpu` and run `.venv-vllm/bin/r1lib ...`; "
                            "on a GPU machine `pip install -e '.[vllm]'`") from None

        config = self.config
        sampling = {"temperature": 0.0,
                    **{k: v for k, v in config.params.items() if k not in ("max_tokens", "seed")}}
        try:
            SamplingParams(**sampling)
        except TypeError as exc:
            raise UserError(f"model {config.name!r}: params are not valid vllm.SamplingParams ({exc}); "
                            "fix or remove them in the models file") from None
        path = local_model_path(config.model)
        engine_args: dict[str, Any] = {"tokenizer": path, **config.options}
        if config.revision:
            engine_args["revision"] = config.revision
        if "seed" in config.params:
            engine_args["seed"] = int(config.params["seed"])
        try:
            self._llm = LLM(model=path, **engine_args)
        except TypeError as exc:
            raise UserError(f"model {config.name!r}: vllm.LLM rejected the options {sorted(config.options)} "
                            f"({exc}); options are vLLM engine arguments, fix them in the models file") from None
        self._sampling = sampling
        self.model_path = path

    @property
    def tokenizer(self) -> Any:
        """The engine's Hugging Face tokenizer; starts the engine on first use."""
        self.load()
        return self._llm.get_tokenizer()

    def complete(self, prompts: list[str], max_tokens: int, stop: list[str]) -> list[Piece]:
        """One ``LLM.generate`` call over all prompts (sent as token ids)."""
        from vllm import SamplingParams  # heavy optional dependency

        self.load()
        sampling = SamplingParams(**self._sampling, max_tokens=max_tokens, stop=stop or None,
                                  include_stop_str_in_output=True)
        inputs = [{"prompt_token_ids": self.tokenizer.encode(p, add_special_tokens=False)} for p in prompts]
        outputs = self._llm.generate(inputs, sampling, use_tqdm=False)
        pieces = []
        for output in outputs:
            best = output.outputs[0]
            pieces.append(Piece(text=best.text, prompt_tokens=len(output.prompt_token_ids),
                                tokens=len(best.token_ids), finish_reason=best.finish_reason or "stop"))
        return pieces

    async def aclose(self) -> None:
        """Drop the engine (its worker processes exit with it)."""
        self._llm = None
