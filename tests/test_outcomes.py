"""outcome_frame: every evaluation record appears once with an explicit outcome."""

from __future__ import annotations

import pandas as pd

from r1lib.config import models_registry
from r1lib.records import GenerationRecord, Verdict
from r1lib.runner import Request, run_requests
from r1lib.store import Store
from r1lib.outcomes import outcome_frame


def test_each_record_gets_one_explicit_outcome(store: Store) -> None:
    config = models_registry()["fake-r1"]
    requests = [Request(f"p{i}", [{"role": "user", "content": f"q{i}"}], meta={"category": {"type": f"T{i % 2}"}})
                for i in range(5)]
    records, _ = run_requests(config, "bench", requests, store, progress=False)
    store.put_generation(GenerationRecord(key="failed", model="fake-r1", benchmark="bench", prompt_id="p9",
                                          sample=0, messages=[], config={}, error="HTTP 500"))
    labels = [("safe", 1.0, True, None), ("no_output", None, True, None), (None, None, False, None),
              ("unsafe", 0.0, True, "judge call failed")]
    for record, (label, score, ok, error) in zip(records, labels):
        store.put_verdict(Verdict(record.key, "j", "v1", "answer", label, score, ok, error=error))
    store.put_verdict(Verdict(records[4].key, "j", "OTHER", "answer", "safe", 1.0, True))
    frame = outcome_frame(store, benchmark="bench", judge="j", version="v1").set_index("prompt_id")
    assert frame["outcome"].to_dict() == {"p0": "judged", "p1": "no_output", "p2": "unparsed",
                                          "p3": "judge_error", "p4": "unjudged", "p9": "failed"}
    assert frame.loc["p0", "label"] == "safe" and frame.loc["p0", "score"] == 1.0
    assert pd.isna(frame.loc["p3", "label"])  # a failed judge call never yields a label
    assert frame.loc["p0", "type"] == "T0"
    assert bool(frame.loc["p0", "has_thinking"]) and not bool(frame.loc["p9", "has_thinking"])


def test_empty_benchmark_gives_empty_frame_with_columns(store: Store) -> None:
    frame = outcome_frame(store, benchmark="none", judge="j", version="v")
    assert frame.empty and "outcome" in frame.columns
