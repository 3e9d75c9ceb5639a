"""Per-sample results: one row per (generation, judge, judge version, channel), the file people analyse.

Like lm-evaluation-harness ``--log_samples`` or garak's ``report.jsonl``: each evaluation record
(role ``eval``; judge calls and dialogue turns are not samples) with every verdict on it. Columns:

- the generation: ``model, benchmark, prompt_id, sample, prompt, thinking, answer, trace_state,
  trace_source, finish_reason, prompt_tokens, reasoning_tokens, answer_tokens, latency_s, error, key``
  and one ``category_<field>`` column per category field of the item (from the record's meta);
- the verdict: ``judge, judge_version, judge_model, channel, label, score, parsed_ok, judge_error``.
  ``judge_model`` is the model that made the verdict (a judge model's registry name or a reward
  model's id; null for a judge that decides locally); verdicts stored before store schema
  version 1 did not record it and say ``not recorded (before store schema 1)``. The judge version
  (a hash of the judge's prompts, options and judge-model config) identifies the configuration in
  every case;
- ``generation_outcome`` (:data:`r1lib.core.records.GENERATION_OUTCOMES`) and ``outcome``
  (:data:`r1lib.core.records.OUTCOMES`, from :func:`r1lib.core.records.verdict_outcome`);
- ``safe``: whether the label is one of its judge's safe labels (``safe_labels``, the mapping the
  caller passes from the judges' declarations, as the statistics decide safety); null unless the
  outcome is ``judged`` and the judge is in the mapping;
- ``store_schema_version``: the schema of the store the rows came from.

A generation without any verdict yet is one row with empty verdict fields, whose ``outcome`` comes
from the generation alone (``unjudged``, or ``failed`` / ``blocked`` / ``not_recorded``). A judge
re-run under a new version adds rows beside the old ones: filter on ``judge_version`` (or
``judge_model``) to pick one configuration.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

import pandas as pd

from r1lib.core.records import LOCAL_JUDGE_MODEL, Verdict, generation_outcome, verdict_outcome
from r1lib.store.database import EXPORT_COLUMNS, Store
from r1lib.store.files import FRAME_FORMATS, check_format, write_frame

VERDICT_FIELDS = ["judge", "judge_version", "judge_model", "channel", "label", "score", "parsed_ok", "judge_error"]
OUTCOME_FIELDS = ["generation_outcome", "outcome", "safe", "store_schema_version"]
#: ``judge_model`` of a verdict stored before the store recorded it.
JUDGE_MODEL_NOT_RECORDED = "not recorded (before store schema 1)"
_INTEGER_COLUMNS = ("sample", "prompt_tokens", "reasoning_tokens", "answer_tokens")


def results_frame(store: Store, *, model: str | None = None, benchmark: str | None = None,
                  safe_labels: Mapping[str, Collection[str]] | None = None, run: str | None = None) -> pd.DataFrame:
    """The per-sample results of the store's evaluation records (see the module docstring for columns);
    ``safe_labels`` maps each judge name to its safe labels (without it, ``safe`` is null throughout);
    ``run``: only records whose config's model string it is, one version of an import."""
    gens = store.generations_frame(model=model, benchmark=benchmark, run=run)
    categories = _category_columns(gens)
    verdicts = store.verdicts_frame(model=model, benchmark=benchmark, role="eval").rename(
        columns={"version": "judge_version", "error": "judge_error", "created_at": "judged_at"})
    recorded = verdicts["judge_model"].fillna(JUDGE_MODEL_NOT_RECORDED).astype(object)
    verdicts["judge_model"] = recorded.where(recorded != LOCAL_JUDGE_MODEL, None)
    frame = pd.concat([gens[EXPORT_COLUMNS + ["created_at"]], categories], axis=1).merge(
        verdicts[["gen_key", *VERDICT_FIELDS, "judged_at"]], how="left", left_on="key", right_on="gen_key")
    frame["generation_outcome"] = [generation_outcome(r.error, r.finish_reason, r.trace_state, r.answer)
                                   for r in frame.itertuples(index=False)]
    frame["outcome"] = [verdict_outcome(r.generation_outcome, _verdict(r)) for r in frame.itertuples(index=False)]
    safe = safe_labels or {}
    frame["safe"] = pd.array([r.label in safe[r.judge] if r.outcome == "judged" and r.judge in safe else None
                              for r in frame.itertuples(index=False)], dtype="boolean")
    frame["store_schema_version"] = store.schema_version
    frame = frame.sort_values(["created_at", "key", "judge", "judge_version", "channel"], na_position="first",
                              kind="stable", ignore_index=True)
    frame = frame[[*EXPORT_COLUMNS, *categories.columns, *VERDICT_FIELDS, *OUTCOME_FIELDS]]
    return _typed(frame)


def write_results(store: Store, fmt: str, output: str | Path, *, model: str | None = None,
                  benchmark: str | None = None, safe_labels: Mapping[str, Collection[str]] | None = None,
                  run: str | None = None) -> int:
    """Write :func:`results_frame` as jsonl, parquet or csv; returns the number of rows."""
    check_format(fmt, FRAME_FORMATS)
    frame = results_frame(store, model=model, benchmark=benchmark, safe_labels=safe_labels, run=run)
    write_frame(frame, fmt, output)
    return len(frame)


def _category_columns(gens: pd.DataFrame) -> pd.DataFrame:
    """One ``category_<field>`` column per category field found in the records' meta."""
    categories = [meta.get("category") or {} for meta in gens["meta"]]
    fields = sorted({name for category in categories for name in category})
    return pd.DataFrame({f"category_{name}": [category.get(name) for category in categories] for name in fields},
                        index=gens.index, dtype=object)


def _verdict(row: object) -> Verdict | None:
    """The verdict fields of a joined row as a Verdict (None for a generation without verdicts)."""
    judge = row.judge
    if not isinstance(judge, str):
        return None
    error = row.judge_error
    return Verdict(gen_key=row.key, judge=judge, version=row.judge_version,
                   channel=row.channel, label=row.label, score=row.score,
                   parsed_ok=bool(row.parsed_ok), error=error if isinstance(error, str) else None)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Nullable integer, boolean and float columns, so an empty verdict stays empty in every format."""
    for column in _INTEGER_COLUMNS:
        frame[column] = frame[column].astype("Int64")
    frame["parsed_ok"] = frame["parsed_ok"].astype("boolean")
    for column in ("score", "latency_s"):
        frame[column] = frame[column].astype("float64")
    return frame
