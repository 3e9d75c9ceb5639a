"""What `r1lib estimate` shows: the planned calls, tokens, dollars and time per model and judge, with the
lengths, speeds and prices behind them and where each comes from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from r1lib.app.profiles import Profile
from r1lib.cost.defaults import (
    Lengths,
    Speed,
)
from r1lib.cost.pricing import Price


@dataclass
class Estimate:
    """The rows of an estimate and what its numbers rest on (tokenizer, lengths, speeds, prices, items)."""

    rows: pd.DataFrame
    tokenizer: str
    lengths: dict[str, Lengths]
    speeds: dict[str, Speed]
    prices: dict[str, Price]
    batch_discounts: dict[str, float | None]
    items: dict[str, tuple[int, int | None]]
    local_judges: list[str]
    free_models: list[str]

    def by(self, stage: str) -> pd.DataFrame:
        """Totals per model (``generation``) or per judge and judge model (``judging``)."""
        rows = self.rows[self.rows["stage"] == stage]
        keys = ["model"] if stage == "generation" else ["what", "model"]
        numbers = ["calls", "stored", "prompt_tokens", "output_tokens", "usd", "usd_batch", "wall_s"]
        return rows.groupby(keys, as_index=False, sort=False)[numbers].sum(min_count=1)  # NaN stays NaN

    def totals(self) -> dict[str, Any]:
        """Calls, tokens, dollars of the priced rows, wall time of the whole run, and the unpriced models."""
        numbers = ["calls", "stored", "prompt_tokens", "output_tokens", "usd", "usd_batch", "wall_s"]
        totals: dict[str, Any] = {c: float(self.rows[c].sum()) for c in numbers}
        totals["unpriced"] = sorted(set(self.rows.loc[self.rows["usd"].isna() & (self.rows["calls"] > 0), "model"])
                                    - set(self.free_models))
        totals["no_batch_price"] = sorted(m for m in set(self.rows.loc[self.rows["calls"] > 0, "model"])
                                          if m not in totals["unpriced"] and m not in self.free_models
                                          and not pd.isna(self.prices[m].input)
                                          and self.batch_discounts.get(m) is None)
        return totals

    def at_paper_size(self) -> dict[str, float]:
        """The whole run (pending and stored calls alike) with every benchmark's rows scaled to the paper's
        size of it (paper size ÷ items here; benchmarks without a paper size, or of which this run holds
        every item, as they are): calls, tokens, dollars and wall time."""
        factor = {b: (paper / n if paper and n else 1.0) for b, (n, paper) in self.items.items()}
        scale = self.rows["benchmark"].map(lambda b: factor.get(b.split(":")[0], 1.0))
        run = {"calls": self.rows["calls"] + self.rows["stored"]}
        run.update({c: self.rows[f"run_{c}"] for c in ("prompt_tokens", "output_tokens", "usd", "usd_batch",
                                                        "wall_s")})
        return {c: float((values * scale).sum()) for c, values in run.items()}


def format_estimate(estimate: Estimate, profile: Profile) -> str:
    """The estimate for a terminal: per model, per judge, totals, then how every number was made."""
    def table(frame: pd.DataFrame, first: list[str]) -> str:
        shown = frame[first].copy()
        for column in ("calls", "stored", "prompt_tokens", "output_tokens"):
            shown[column] = frame[column].map(lambda v: f"{v:,.0f}")
        for column in ("usd", "usd_batch"):
            shown[column] = frame[column].map(lambda v: "-" if pd.isna(v) else f"{v:,.2f}")
        shown["wall_h"] = frame["wall_s"].map(lambda v: "-" if pd.isna(v) else f"{v / 3600:,.2f}")
        shown = shown.rename(columns={"what": "judge", "prompt_tokens": "prompt tok", "output_tokens": "output tok",
                                      "usd": "$ sync", "usd_batch": "$ batch", "wall_h": "wall h"})
        return shown.to_string(index=False)

    numbers = ["calls", "stored", "prompt_tokens", "output_tokens", "usd", "usd_batch"]
    judging = estimate.by("judging")
    totals = estimate.totals()
    paper = estimate.at_paper_size()
    items = ", ".join(f"{b} {n:,}" + (f" (paper {p:,})" if p and p != n else "")
                      for b, (n, p) in estimate.items.items())
    lines = [f"estimate for profile {profile.name!r}: before any call; store {profile.store_path}",
             f"items: {items}; {profile.samples_note}", "",
             "generation, per model (dialogue victims and their checks included):",
             table(estimate.by("generation"), ["model", *numbers]), "",
             "judging, per judge and judge model:",
             table(judging, ["what", "model", *numbers]) if len(judging) else
             "  none: every judge of this profile runs here", "",
             f"still to send: {totals['calls']:,.0f} calls ({totals['stored']:,.0f} more already stored, not sent "
             "again), "
             f"{totals['prompt_tokens']:,.0f} prompt tokens, {totals['output_tokens']:,.0f} output tokens; "
             f"${totals['usd']:,.2f} synchronous, ${totals['usd_batch']:,.2f} with the Batch API wherever it has "
             f"a price; {totals['wall_s'] / 3600:,.1f} h of calls one model at a time at the configured concurrency"]
    if totals["unpriced"]:
        lines.append(f"  not priced (no pricing in the models registry): {', '.join(totals['unpriced'])}")
    if totals["no_batch_price"]:
        lines.append(f"  no batch price known (batch_discount null), counted at the synchronous price in the batch "
                     f"column: {', '.join(totals['no_batch_price'])}")
    if any(p and p != n for n, p in estimate.items.values()):
        lines.append(f"at the paper's benchmark sizes (the whole run, stored calls included, rows scaled per "
                     f"benchmark): {paper['calls']:,.0f} calls, {paper['prompt_tokens']:,.0f} prompt tokens, "
                     f"{paper['output_tokens']:,.0f} output tokens, ${paper['usd']:,.2f} synchronous, "
                     f"${paper['usd_batch']:,.2f} batch, {paper['wall_s'] / 3600:,.1f} h; of this run "
                     f"{totals['calls']:,.0f} calls (${totals['usd']:,.2f}) are still to send")
    lines += ["", f"tokens: prompts and judge templates counted with {estimate.tokenizer}",
              "output tokens per call:"]
    lines += [f"  {m}: {v.billed:,.0f} billed (thinking {v.thinking:,.0f}, answer {v.answer:,.0f}); {v.source}"
              for m, v in estimate.lengths.items()]
    lines += ["  judge calls: as each judge declares them (LLMJudge.planned_calls; output_tokens of its class)",
              "call speed:"]
    lines += [f"  {m}: {v.first_token_s:g} s + {v.tokens_per_s:,.0f} tokens/s; {v.source}"
              for m, v in estimate.speeds.items()]
    lines.append("prices (USD per 1M input / output tokens):")
    for model, p in estimate.prices.items():
        discount = estimate.batch_discounts.get(model)
        lines.append(f"  {model}: {p.source}" if pd.isna(p.input) else
                     f"  {model}: {p.input:g} / {p.output:g}, batch discount "
                     f"{'unknown' if discount is None else f'{discount:g}'}, as of {p.as_of}; {p.source}")
    if estimate.free_models:
        lines.append("models that run here or replay recordings (no API cost, no wall time estimate): "
                     f"{', '.join(estimate.free_models)}")
    if estimate.local_judges:
        lines.append(f"judges that run here (no API calls): {', '.join(estimate.local_judges)}")
    lines.append("upper bounds: every phishing dialogue runs all its turns; every MITRE output goes to the judge "
                 "model (the local refusal check spares some)")
    return "\n".join(lines)
