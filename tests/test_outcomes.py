"""outcome_frame: every evaluation record appears once with an explicit outcome."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from r1lib.analysis.outcomes import count_blocked, outcome_frame
from r1lib.config.settings import models_registry
from r1lib.core.records import GenerationRecord, Verdict
from r1lib.generation.runner import Request, run_requests
from r1lib.judges.base import judge_records
from r1lib.judges.registry import get_judge
from r1lib.paper import tables as report
from r1lib.store.database import Store
from r1lib.testing import LoopbackServer, loopback_model


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


def test_a_blocked_record_has_no_thinking_so_only_the_answer_channel_counts_it_as_a_refusal(
        loopback: Callable[..., LoopbackServer], store: Store) -> None:
    """o3-mini-style blocks (``invalid_prompt``) of a reasoning model, judged on both channels (Table 7)."""
    server = loopback(behaviour="deepseek")
    blocked = " [[behaviour:invalid_prompt]]"
    requests = [Request(f"p{i}", [{"role": "user", "content": f"q{i}" + (blocked if i < 2 else "")}]) for i in range(5)]
    records, _ = run_requests(loopback_model(server.base_url, reasoning=True), "jailbreak", requests, store,
                              progress=False)
    judge = get_judge("jailbreak", judge_model="offline")
    frames = {}
    for channel in ("answer", "thinking"):
        judge_records(judge, records, channel, store, progress=False)
        frames[channel] = outcome_frame(store, benchmark="jailbreak", judge=judge.name, version=judge.version,
                                        channel=channel)
    counted = {channel: count_blocked(frame, judge) for channel, frame in frames.items()}  # blocked_as: refusal
    was_blocked = counted["answer"]["generation"] == "blocked"
    assert was_blocked.sum() == 2 and set(counted["answer"].loc[was_blocked, "label"]) == {judge.refusal_label}
    assert (counted["answer"].loc[was_blocked, "outcome"] == "judged").all()
    assert (counted["thinking"].loc[counted["thinking"]["generation"] == "blocked", "outcome"] == "blocked").all()
    labels = {"loopback": "Loopback"}
    table = report.table7({"jailbreak": counted["answer"]}, {"jailbreak": counted["thinking"]}, labels)
    cells = table.set_index("column")[["n", "n_excluded", "n_blocked"]].to_dict("index")
    assert cells == {"WildGuard A": {"n": 5, "n_excluded": 0, "n_blocked": 2},
                     "WildGuard T": {"n": 3, "n_excluded": 2, "n_blocked": 2}}
    # blocked_as: excluded — the answer channel leaves them out too, still counted as blocked
    excluded = report.table7({"jailbreak": frames["answer"]}, {"jailbreak": frames["thinking"]}, labels)
    assert excluded.set_index("column").loc["WildGuard A", ["n", "n_excluded", "n_blocked"]].tolist() == [3, 2, 2]
