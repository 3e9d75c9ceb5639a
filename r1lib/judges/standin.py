"""The common base of the offline stand-ins for the paper's LLM judges.

A stand-in answers with the paper judge's ``name`` and vocabulary, so tables find its verdicts in
the same place, but it is *not* the paper's judge: it runs without any judge model, from the
offline refusal classifier (``refusal-offline``, which reads each text as its channel: the opening
of an answer, the closing sentences of a thinking trace) and simple, documented heuristics. Its version
hashes its ``method`` text (and the refusal classifier's version), so its verdicts are never
mistaken for, or cached as, the LLM judge's.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

from r1lib.core.records import Verdict
from r1lib.judges.base import Judge, JudgeInput, Parsed, Protocol
from r1lib.judges.refusal import classify_by_channel
from r1lib.store.database import Store


class OfflineStandIn(Judge):
    """Base class: subclasses set ``name``, vocabulary and ``method`` and implement :meth:`decide`.

    ``method`` says exactly what the stand-in does; it is part of the version hash. Set
    ``needs_refusal = False`` when the stand-in does not use the refusal classifier.
    """

    method: str = ""
    needs_refusal: bool = True

    @property
    def protocol(self) -> Protocol:  # type: ignore[override]
        """An offline stand-in is never the paper's protocol; its method says what it does."""
        return Protocol(source=f"offline stand-in (no judge model): {self.method}", paper=False)

    def __init__(self, **options: Any):
        super().__init__(**options)
        self._refusal: Any = None

    @property
    def refusal(self) -> Any:
        """The offline refusal classifier (built on first use)."""
        if self._refusal is None:
            from r1lib.judges.registry import get_judge
            self._refusal = get_judge("refusal-offline")
        return self._refusal

    def refusal_labels(self, texts: Sequence[str], channel: str = "answer") -> list[str | None]:
        """The refusal classifier's label (full_compliance / full_refusal / partial_refusal) per text."""
        return [parsed.label for parsed in self.refusal.classify(list(texts), channel=channel)] if texts else []

    def classify_inputs(self, inputs: Sequence[JudgeInput]) -> list[Parsed]:
        """The refusal classifier's verdict on each input, read as its channel (the answer of a
        ``full`` input, or its thinking when it has no answer)."""
        return classify_by_channel(inputs, self.refusal.classify)

    def version_payload(self) -> dict[str, Any]:
        """Adds the method description and, when used, the refusal classifier's version."""
        payload = {**super().version_payload(), "offline_method": self.method}
        if self.needs_refusal:
            payload["refusal_classifier"] = self.refusal.version
        return payload

    @abstractmethod
    def decide(self, inputs: Sequence[JudgeInput]) -> list[Parsed]:
        """One parsed verdict per input, in order."""

    def map_refusals(self, inputs: Sequence[JudgeInput], *, refused: str, otherwise: str,
                     scores: dict[str, float]) -> list[Parsed]:
        """Full refusal → ``refused``, any other refusal label → ``otherwise``; unknown stays unparsed."""
        results = []
        for label in [parsed.label for parsed in self.classify_inputs(inputs)]:
            if label is None:
                results.append(Parsed(None, None, {"refusal_label": None}))
            else:
                verdict = refused if label == "full_refusal" else otherwise
                results.append(Parsed(verdict, scores[verdict], {"refusal_label": label}))
        return results

    def judge_inputs(self, inputs: Sequence[JudgeInput], store: Store, *, progress: bool = True) -> list[Verdict]:
        """Decide every input locally (no judge model, nothing sent anywhere)."""
        return [Verdict(gen_key=inp.gen_key, judge=self.name, version=self.version, channel=inp.channel,
                        label=parsed.label, score=parsed.score, parsed_ok=parsed.ok,
                        details={**parsed.details, "offline_stand_in": True})
                for inp, parsed in zip(inputs, self.decide(inputs), strict=True)]
