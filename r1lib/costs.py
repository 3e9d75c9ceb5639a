"""Tokens and cost per model × benchmark, split into prompt / reasoning / answer and into generation
vs judging.

Generation rows are the model under test's records (roles ``eval``, ``turn``); judging rows are the
judge calls made about them (role ``judge`` and simulated ``victim`` replies, stored under
benchmark ``judge:<name>`` — attributed here to the judge model, not to a benchmark). Cost uses
``pricing`` (USD per million input / output tokens) from the models registry where configured;
reasoning tokens are billed as output tokens, as the providers do.
"""

from __future__ import annotations

import pandas as pd

from r1lib.config import ModelConfig
from r1lib.store import Store

TOKEN_COLUMNS = ["prompt_tokens", "reasoning_tokens", "answer_tokens"]


def token_table(store: Store, models: dict[str, ModelConfig]) -> pd.DataFrame:
    """One row per (stage, model, benchmark): record count, token sums and cost (NaN when unpriced)."""
    frame = store.generations_frame(role=None)
    if frame.empty:
        return pd.DataFrame(columns=["stage", "model", "benchmark", "records", *TOKEN_COLUMNS, "cost_usd"])
    frame = frame[frame["error"].isna()].copy()
    frame["stage"] = frame["role"].map({"eval": "generation", "turn": "generation"}).fillna("judging")
    frame[TOKEN_COLUMNS] = frame[TOKEN_COLUMNS].fillna(0).astype(int)
    table = (frame.groupby(["stage", "model", "benchmark"], as_index=False)
             .agg(records=("key", "size"), **{c: (c, "sum") for c in TOKEN_COLUMNS}))
    table["cost_usd"] = [_cost(models.get(row.model), row) for row in table.itertuples(index=False)]
    return table.sort_values(["stage", "model", "benchmark"], ignore_index=True)


def _cost(config: ModelConfig | None, row: object) -> float:
    pricing = config.pricing if config else {}
    if not pricing:
        return float("nan")
    output = getattr(row, "reasoning_tokens") + getattr(row, "answer_tokens")
    return (getattr(row, "prompt_tokens") * pricing.get("input", 0.0) + output * pricing.get("output", 0.0)) / 1e6
