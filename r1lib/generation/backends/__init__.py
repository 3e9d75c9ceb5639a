"""Model backends: one module each, one small interface (see :mod:`r1lib.generation.backends.base`)."""

from __future__ import annotations

from r1lib.config.settings import ModelConfig
from r1lib.generation.backends.base import Backend, Completion


def make_backend(config: ModelConfig) -> Backend:
    """Instantiate the backend named by ``config.backend`` (heavy imports happen only here)."""
    if config.backend == "fake":
        from r1lib.generation.backends.fake import FakeBackend
        return FakeBackend(config)
    if config.backend == "openai":
        from r1lib.generation.backends.openai_api import OpenAIBackend
        return OpenAIBackend(config)
    if config.backend == "transformers":
        from r1lib.generation.backends.hf import TransformersBackend
        return TransformersBackend(config)
    if config.backend == "recorded":
        from r1lib.generation.backends.recorded import RecordedBackend
        return RecordedBackend(config)
    if config.backend == "vllm":
        from r1lib.generation.backends.vllm_engine import VLLMBackend
        return VLLMBackend(config)
    raise ValueError(f"unknown backend {config.backend!r}")


__all__ = ["Backend", "Completion", "make_backend"]
