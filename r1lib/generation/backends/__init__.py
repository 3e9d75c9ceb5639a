"""Model backends: one module each, one small interface (see :mod:`r1lib.generation.backends.base`).

Each backend module registers its class with the :func:`~r1lib.generation.backends.base.register`
decorator. The modules are imported only when a models entry asks for their backend (:data:`SHIPPED`),
so torch, transformers and vllm load only for the backends that need them.
"""

from __future__ import annotations

import importlib

from r1lib.config.settings import ModelConfig
from r1lib.core.errors import UserError
from r1lib.generation.backends.base import REGISTERED, Backend, Completion, register

#: Backend name -> the shipped module under ``r1lib.generation.backends`` that registers it.
SHIPPED = {"fake": "fake", "openai": "openai_api", "transformers": "hf", "recorded": "recorded", "vllm": "vllm_engine"}


def make_backend(config: ModelConfig) -> Backend:
    """Instantiate the backend named by ``config.backend`` (its module is imported here, on first use)."""
    if config.backend not in REGISTERED and config.backend in SHIPPED:
        importlib.import_module(f"r1lib.generation.backends.{SHIPPED[config.backend]}")
    if config.backend not in REGISTERED:
        raise UserError(f"unknown backend {config.backend!r}; known backends: {', '.join(sorted(SHIPPED))}")
    return REGISTERED[config.backend](config)


__all__ = ["Backend", "Completion", "make_backend", "register"]
