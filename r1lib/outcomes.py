"""One tidy frame per (benchmark, judge, channel): every evaluation record with its verdict.

This is the table every statistic, paper table and figure is computed from. Each row is one
generation record of the model under test; records without a usable verdict are kept and say why
in ``outcome``, so nothing disappears from a denominator unannounced:

- ``judged``: the judge gave a label (``label``, ``score``);
- ``no_output``: the channel was empty (e.g. thinking cut at the token limit, so no answer);
- ``unparsed``: the judge's answer could not be parsed;
- ``judge_error``: the judge call failed (retried on the next run);
- ``failed``: the generation itself failed (no output to judge);
- ``unjudged``: no verdict of this judge version yet.

Category fields of the item (``category`` in the record meta) become columns of their own.
"""

from __future__ import annotations

import pandas as pd

from r1lib.store import Store

OUTCOMES = ("judged", "no_output", "unparsed", "judge_error", "failed", "unjudged")
BASE_COLUMNS = ["model", "benchmark", "prompt_id", "sample", "channel", "judge", "version", "label",
                "score", "parsed_ok", "details", "outcome", "trace_state", "finish_reason",
                "prompt_tokens", "reasoning_tokens", "answer_tokens", "has_thinking", "gen_key"]


def outcome_frame(store: Store, *, benchmark: str, judge: str, version: str, channel: str = "answer",
                  models: list[str] | None = None) -> pd.DataFrame:
    """Evaluation records of ``benchmark`` (optionally only ``models``) joined with one judge version's verdicts."""
    gens = store.generations_frame(benchmark=benchmark)
    if models is not None:
        gens = gens[gens["model"].isin(models)]
    verdicts = store.verdicts_frame(judge=judge, channel=channel)
    verdicts = verdicts[verdicts["version"] == version].set_index("gen_key")
    rows = []
    for gen in gens.itertuples(index=False):
        v = verdicts.loc[gen.key] if gen.key in verdicts.index else None
        if _present(gen.error):
            outcome = "failed"
        elif v is None:
            outcome = "unjudged"
        elif _present(v["error"]):
            outcome = "judge_error"
        elif v["label"] == "no_output":
            outcome = "no_output"
        elif not v["parsed_ok"]:
            outcome = "unparsed"
        else:
            outcome = "judged"
        judged = outcome == "judged"
        row = {
            "model": gen.model, "benchmark": gen.benchmark, "prompt_id": gen.prompt_id,
            "sample": gen.sample, "channel": channel, "judge": judge, "version": version,
            "label": v["label"] if judged else None, "score": v["score"] if judged else None,
            "parsed_ok": bool(v["parsed_ok"]) if v is not None else None,
            "details": v["details"] if v is not None else {}, "outcome": outcome,
            "trace_state": gen.trace_state, "finish_reason": gen.finish_reason,
            "prompt_tokens": gen.prompt_tokens, "reasoning_tokens": gen.reasoning_tokens,
            "answer_tokens": gen.answer_tokens, "has_thinking": _present(gen.thinking) and bool(gen.thinking.strip()),
            "gen_key": gen.key,
        }
        row.update((gen.meta or {}).get("category", {}))
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame if len(frame) else pd.DataFrame(columns=BASE_COLUMNS)


def _present(value: object) -> bool:
    """True for a real value (pandas gives NaN, not None, for missing strings)."""
    return value is not None and not (isinstance(value, float) and pd.isna(value))
