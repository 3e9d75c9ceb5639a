"""Tokens and dollars per model, split into prompt / reasoning / answer and into generation vs judging.

Generation is every record needed to regenerate the outputs (roles ``eval``, ``turn`` and the
simulated ``victim`` replies of a dialogue); judging is the judge calls (role ``judge``, stored
under benchmark ``judge:<name>`` with the judge model as model). Tokens are what the provider
reported for each stored record (a failed call that reported none counts 0). Dollars use the
model's ``pricing`` in the models registry (USD per million tokens; reasoning tokens bill as output
tokens, as the providers do): records made through a provider's Batch API (``meta["billing"] ==
"batch"``, :mod:`r1lib.generation.backends.openai_batch`) at the price less ``batch_discount`` — no dollar
figure when the entry gives no batch discount — and every other record at the standard price; the
``billing`` column keeps the two apart. A model without pricing, or not in the registry, has no
dollar figures and says so in ``pricing_source``.

For one benchmark, judging is the judge calls about that benchmark's records: a judge call's prompt
id starts with the key of the record it judges. Identical judge prompts are one stored call, counted
with the first record that asked for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from r1lib.config.settings import ModelConfig
from r1lib.cost.pricing import NO_CHARGE, price
from r1lib.store import files
from r1lib.store.database import Store

TOKEN_COLUMNS = ["prompt_tokens", "reasoning_tokens", "answer_tokens"]
USD_COLUMNS = ["prompt_usd", "reasoning_usd", "answer_usd", "total_usd"]
COLUMNS = ["stage", "model", "billing", "records", *TOKEN_COLUMNS, *USD_COLUMNS, "input_usd_per_mtok",
           "output_usd_per_mtok", "pricing_source", "pricing_as_of"]
STAGES = ("generation", "judging")


def costs_table(store: Store, registry: Mapping[str, ModelConfig], *, benchmark: str | None = None,
                output_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per (stage, model): records, token sums, USD per token kind and in total, and the pricing
    used (USD per million input / output tokens, its source and date); of the whole store or of one
    (stored) ``benchmark``. With ``output_dir`` the table is also written there as ``costs.csv``."""
    frame = store.generations_frame(role=None, meta_keys=("billing",),
                                    columns=("key", "model", "benchmark", "prompt_id", "role", *TOKEN_COLUMNS))
    if benchmark is not None:
        frame = _of_benchmark(frame, benchmark)
    frame["stage"] = frame["role"].map(lambda role: "judging" if role == "judge" else "generation")
    frame["billing"] = frame["meta_billing"].map(lambda billing: "batch" if billing == "batch" else "standard")
    frame[TOKEN_COLUMNS] = frame[TOKEN_COLUMNS].fillna(0).astype("int64")
    table = (frame.groupby(["stage", "model", "billing"], as_index=False)
             .agg(records=("key", "size"), **{c: (c, "sum") for c in TOKEN_COLUMNS}))
    pricing = pd.DataFrame([price(registry.get(model), billing) for model, billing in
                            zip(table["model"], table["billing"])],
                           columns=["input_usd_per_mtok", "output_usd_per_mtok", "pricing_source", "pricing_as_of"])
    table = pd.concat([table, pricing], axis=1)
    table["prompt_usd"] = table["prompt_tokens"] * table["input_usd_per_mtok"] / 1e6
    table["reasoning_usd"] = table["reasoning_tokens"] * table["output_usd_per_mtok"] / 1e6
    table["answer_usd"] = table["answer_tokens"] * table["output_usd_per_mtok"] / 1e6
    table["total_usd"] = table[["prompt_usd", "reasoning_usd", "answer_usd"]].sum(axis=1, min_count=3)
    table["stage"] = pd.Categorical(table["stage"], categories=STAGES)
    table = table.sort_values(["stage", "model", "billing"], ignore_index=True)[COLUMNS]
    table["stage"] = table["stage"].astype(str)
    if output_dir is not None:
        table.to_csv(files.output_file(files.output_dir(output_dir) / "costs.csv"), index=False)
    return table


def total_usd(table: pd.DataFrame) -> tuple[float, list[str]]:
    """The summed cost of the priced rows of :func:`costs_table`, and the models left unpriced."""
    priced = table["total_usd"].notna()
    return float(table.loc[priced, "total_usd"].sum()), sorted(set(table.loc[~priced, "model"]))


def format_costs(table: pd.DataFrame) -> str:
    """The table for a terminal: tokens and USD per (stage, model), a total line, then each price's source."""
    shown = table[["stage", "model", "records", *TOKEN_COLUMNS, *USD_COLUMNS]].copy()
    for column in ["records", *TOKEN_COLUMNS]:
        shown[column] = shown[column].map("{:,}".format)
    for column in USD_COLUMNS:
        shown[column] = shown[column].map(lambda usd: "-" if pd.isna(usd) else f"{usd:,.4f}")
    shown.columns = ["stage", "model", "records", "prompt tok", "reasoning tok", "answer tok", "prompt $",
                     "reasoning $", "answer $", "total $"]
    total, unpriced = total_usd(table)
    lines = [shown.to_string(index=False), "",
             f"total: ${total:,.4f}" + (f" (without unpriced: {', '.join(unpriced)})" if unpriced else ""),
             "", "pricing (USD per 1M input / output tokens; standard price, no batch discount applied):"]
    for row in table.drop_duplicates("model").itertuples(index=False):
        if pd.isna(row.input_usd_per_mtok) or row.pricing_source == NO_CHARGE:
            lines.append(f"  {row.model}: {row.pricing_source}")
        else:
            lines.append(f"  {row.model}: {row.input_usd_per_mtok:g} / {row.output_usd_per_mtok:g}, "
                         f"as of {row.pricing_as_of}, source: {row.pricing_source}")
    return "\n".join(lines)


def _of_benchmark(frame: pd.DataFrame, benchmark: str) -> pd.DataFrame:
    """The benchmark's own records and the judge calls whose prompt id starts with one of their keys."""
    own = (frame["benchmark"] == benchmark) & (frame["role"] != "judge")
    judged_key = frame["prompt_id"].str.split(":").str[0]
    return frame[own | ((frame["role"] == "judge") & judged_key.isin(set(frame.loc[own, "key"])))].copy()
