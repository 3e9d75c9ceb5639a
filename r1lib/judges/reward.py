"""Reward-model scores of responses (the paper's Fig. 3: how much help does an answer give?).

A sequence-classification reward model (``AutoModelForSequenceClassification``) reads the
conversation (the record's messages plus the judged text as the assistant turn), rendered with the
model's own chat template, and returns one scalar. The paper's Fig. 3 most likely used
``RLHFlow/ArmoRM-Llama3-8B-v0.1`` (needs ``trust_remote_code=True``; its custom head exposes
``.score``) and ``nicolinho/QRM-Llama3.1-8B``. Any folder or Hugging Face id works (``model=``;
``--judge-model`` on the command line). Heavy imports happen only when a model is loaded.

Label ``scored``; ``score`` = the reward (not a safety score: higher = the reward model likes the
answer more). Long conversations are never cut silently: when the rendered conversation exceeds
``max_tokens`` (default: the tokenizer's limit), the judged text is truncated from the end until it
fits, and the verdict says so: ``details`` = ``tokens`` (before), ``scored_tokens``, ``truncated``,
``max_tokens``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tqdm.auto import tqdm

from r1lib.core.errors import UserError
from r1lib.core.records import Messages, Verdict
from r1lib.judges.base import Judge, JudgeInput, Parsed, Protocol
from r1lib.judges.registry import register
from r1lib.store.database import Store

PAPER_REWARD_MODELS = ("RLHFlow/ArmoRM-Llama3-8B-v0.1", "nicolinho/QRM-Llama3.1-8B")
#: Above this a tokenizer's ``model_max_length`` is a placeholder, not a real limit.
NO_LIMIT = 1_000_000


@register
class RewardJudge(Judge):
    """One scalar reward per (conversation, response) from a sequence-classification reward model.

    Options: ``model`` (folder or HF id, required), ``revision``, ``trust_remote_code`` (ArmoRM and
    QRM need it), ``max_tokens`` (default: the tokenizer's limit), ``dtype`` (``float32``; use
    ``bfloat16`` for 8B models), ``batch_size`` and ``device`` (speed only; not in the version).
    """

    name = "reward"
    protocol = Protocol(source="reward-model score of the answer (the paper's Fig. 3 reward models are inferred as "
                               "ArmoRM and QRM; its statistic is not published)", paper=False)
    labels = ("scored",)
    safe_labels = frozenset()
    score_meaning = "reward (not a safety score)"

    def __init__(self, *, model: str | None = None, revision: str | None = None, trust_remote_code: bool = False,
                 max_tokens: int | None = None, dtype: str = "float32", batch_size: int = 4,
                 device: str | None = None, **options: Any):
        if not model:
            raise UserError("the reward judge needs a reward model: give model=FOLDER_OR_HF_ID (on the command "
                            f"line --judge-model), e.g. {PAPER_REWARD_MODELS[0]} (with trust_remote_code=True) "
                            f"or {PAPER_REWARD_MODELS[1]}")
        super().__init__(model=model, revision=revision, trust_remote_code=trust_remote_code,
                         max_tokens=max_tokens, dtype=dtype, **options)
        self.model_id, self.revision, self.trust_remote_code = model, revision, trust_remote_code
        self.dtype, self.batch_size, self.device = dtype, max(1, batch_size), device
        self._max_tokens = max_tokens
        self._loaded: tuple[Any, Any] | None = None

    @property
    def judge_model_name(self) -> str:
        """The reward model's folder or Hugging Face id (with its revision when pinned)."""
        return f"{self.model_id}@{self.revision}" if self.revision else self.model_id

    def load(self) -> tuple[Any, Any]:
        """The tokenizer and the model (loaded once; clear errors for a missing model or template)."""
        if self._loaded is None:
            import torch
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            if not isinstance(getattr(torch, self.dtype, None), torch.dtype):
                raise UserError(f"reward judge: dtype {self.dtype!r} is not a torch dtype; use float32, bfloat16 "
                                "or float16")
            kwargs = {"revision": self.revision, "trust_remote_code": self.trust_remote_code}
            try:
                tokenizer = AutoTokenizer.from_pretrained(self.model_id, **kwargs)
                model = AutoModelForSequenceClassification.from_pretrained(
                    self.model_id, dtype=getattr(torch, self.dtype), **kwargs)
            except (OSError, ValueError) as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise UserError(f"reward model {self.model_id!r} cannot be loaded ({reason}). Download it once with "
                                f"network access: `HF_HUB_OFFLINE=0 hf download {self.model_id}` (the `hf` command "
                                "comes with huggingface_hub), or give a local folder as the scorer's model; custom "
                                "heads such as ArmoRM's and QRM's also need trust_remote_code: true") from None
            if not tokenizer.chat_template:
                raise UserError(f"reward model {self.model_id!r} has no chat template; the judge renders "
                                "(prompt, response) conversations with it, so use a chat reward model")
            if tokenizer.pad_token_id is None:
                tokenizer.pad_token = tokenizer.eos_token
            if model.config.pad_token_id is None:
                model.config.pad_token_id = tokenizer.pad_token_id
            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            self._loaded = (tokenizer, model.to(device).eval())
        return self._loaded

    @property
    def max_tokens(self) -> int:
        """The token budget of one rendered conversation."""
        if self._max_tokens:
            return self._max_tokens
        tokenizer, model = self.load()
        limit = tokenizer.model_max_length
        return int(limit if limit and limit < NO_LIMIT else getattr(model.config, "max_position_embeddings", 4096))

    def encode(self, messages: Messages, text: str) -> tuple[list[int], dict[str, Any]]:
        """Token ids of the conversation ending in ``text``, truncating ``text`` to fit ``max_tokens``."""
        tokenizer, _ = self.load()
        history = [m for m in messages if m.get("role") in ("system", "user", "assistant")]

        def render(response: str) -> list[int]:
            conversation = [*history, {"role": "assistant", "content": response}]
            return list(tokenizer.apply_chat_template(conversation, tokenize=True, return_dict=True)["input_ids"])

        ids = render(text)
        info = {"tokens": len(ids), "scored_tokens": len(ids), "truncated": False, "max_tokens": self.max_tokens}
        response_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        keep = len(response_ids)
        while len(ids) > self.max_tokens and keep > 0:
            keep = max(0, keep - (len(ids) - self.max_tokens))
            ids = render(tokenizer.decode(response_ids[:keep]))
            info.update(scored_tokens=len(ids), truncated=True)
        return ids, info

    def score(self, conversations: Sequence[tuple[Messages, str]], *, progress: bool = False) -> list[Parsed]:
        """One reward per (messages, response) pair, in order."""
        import torch  # heavy optional dependency

        tokenizer, model = self.load()
        encoded = [self.encode(messages, text) for messages, text in conversations]
        fitting = [i for i, (ids, info) in enumerate(encoded) if len(ids) <= info["max_tokens"]]
        order = sorted(fitting, key=lambda i: len(encoded[i][0]))
        rewards: dict[int, float] = {}
        batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        for batch in tqdm(batches, desc=f"reward {self.model_id}", disable=not progress, unit="batch"):
            padded = tokenizer.pad({"input_ids": [encoded[i][0] for i in batch]}, return_tensors="pt")
            with torch.no_grad():
                output = model(**padded.to(model.device))
            rewards.update(zip(batch, self._scalars(output, len(batch))))
        return [Parsed("scored", rewards[i], info) if i in rewards
                else Parsed(None, None, {**info, "error": "the prompt alone exceeds max_tokens"})
                for i, (_, info) in enumerate(encoded)]

    def _scalars(self, output: Any, n: int) -> list[float]:
        """One float per sequence: a custom head's ``.score``, else a single-label head's logit."""
        values = getattr(output, "score", None)
        if values is None:
            values = output.logits
            if values.shape[-1] != 1:
                raise UserError(f"reward model {self.model_id!r} has {values.shape[-1]} outputs per sequence; "
                                "use a single-score reward model (num_labels=1) or one whose head returns .score")
        return [float(v) for v in values.float().reshape(n, -1)[:, 0]]

    def judge_inputs(self, inputs: Sequence[JudgeInput], store: Store, *, progress: bool = True) -> list[Verdict]:
        """Score every input with the reward model (locally; nothing is sent anywhere)."""
        conversations = [(inp.messages or [{"role": "user", "content": inp.prompt}], inp.text) for inp in inputs]
        scored = self.score(conversations, progress=progress)
        return [Verdict(gen_key=inp.gen_key, judge=self.name, version=self.version, channel=inp.channel,
                        label=parsed.label, score=parsed.score, parsed_ok=parsed.ok,
                        details={**parsed.details, "reward_model": self.model_id})
                for inp, parsed in zip(inputs, scored)]
