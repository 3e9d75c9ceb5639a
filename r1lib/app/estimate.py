"""``r1lib estimate``: what a profile's run would send, and cost, before any call is made.

:func:`estimate_profile` enumerates the calls of a run the way the notebooks make them: every
benchmark of the profile × its models × samples through the benchmark's solver (spear phishing as
dialogues with the victim model and its checks), then every judging the notebooks do
(:data:`JUDGING`), each judge with the profile's judge model and its own number of calls per
output (MITRE: expansion + verdict; spear phishing: one grade per attribute; the others one).
Records and verdicts already in the profile's store are not counted again (the run would reuse
them); they are reported as ``stored``.

Per row: calls, prompt tokens (the real prompts and judge templates counted with
:func:`r1lib.cost.tokens.counter`), expected output tokens, dollars at the synchronous and at the batch
price (:mod:`r1lib.cost.pricing`) and wall time at the model's configured concurrency.

- **Output lengths** of a model come from its successful records in the store (a sample of up to
  :data:`SAMPLE` of them, when there are at least :data:`MIN_STORED`): tokens billed as reported by
  the provider, thinking and answer texts counted with the counter. Otherwise from
  :data:`DEFAULT_LENGTHS` by model family (:func:`family`), measured on real traces (sources
  there). What a judge model writes per call is its judge's declaration
  (:meth:`r1lib.judges.base.LLMJudge.planned_calls`); the victim's checks of a dialogue are
  :data:`DIALOGUE_CHECK_TOKENS`.
- **Upper bounds**: every dialogue runs all its turns (none stops early on a refusal), and every
  MITRE output goes to the judge model (the local refusal check would spare some).
- **Wall time** per row = calls × (first-token latency + output tokens ÷ tokens per second) ÷
  the model's ``max_concurrency``; the latency comes from the stored records when there are
  enough, else from :data:`DEFAULT_SPEEDS` (assumptions, stated there). The pipeline runs one
  model and one judging at a time, so the run's wall time is the sum of the rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from r1lib.app.profiles import OFFLINE, Profile
from r1lib.benchmarks.base import Item
from r1lib.benchmarks.phishing import protocol
from r1lib.benchmarks.registry import benchmarks, get_benchmark
from r1lib.config.settings import ModelConfig
from r1lib.core.records import record_key
from r1lib.cost.defaults import (
    DEFAULT_LENGTHS,
    DEFAULT_SPEEDS,
    Lengths,
    Speed,
    family,
)
from r1lib.cost.pricing import Price, costs_money, max_output_tokens, price
from r1lib.cost.tokens import MESSAGE_TOKENS, TokenCounter, counter
from r1lib.generation.runner import requests_for, with_system_prompt
from r1lib.judges.base import JudgeInput, LLMJudge
from r1lib.judges.registry import judge_class
from r1lib.store.database import Store

#: A model's lengths come from the store once it holds this many of its successful records.
MIN_STORED = 20
#: Records of a model read from the store to measure its lengths and latency.
SAMPLE = 200
#: The judging the notebooks do: (benchmark, judge — None for the benchmark's own, "scorers" for the
#: profile's Fig. 3 scorers —, channel, models: "all" or "reasoning"). Each distinct judging once (a
#: notebook asking again reuses the stored verdicts). ``jailbreak:plain`` is the plain counterpart of
#: the jailbreak prompts that notebook 04 adds. Checked against what the notebooks really judge: every
#: run writes its judgings to its status file and :func:`unplanned` lists those this plan misses
#: (``r1lib reproduce`` prints them; tests/test_estimate.py runs every notebook and expects none).
JUDGING: tuple[tuple[str, str | None, str, str], ...] = (
    ("airbench", None, "answer", "all"), ("mitre", None, "answer", "all"), ("interpreter", None, "answer", "all"),
    ("phishing", None, "answer", "all"), ("xstest", None, "answer", "all"), ("jailbreak", None, "answer", "all"),
    ("prompt-injection", None, "answer", "all"), ("airbench", "scorers", "answer", "all"),
    ("airbench", None, "thinking", "reasoning"), ("mitre", None, "thinking", "reasoning"),
    ("interpreter", None, "thinking", "reasoning"), ("jailbreak", None, "thinking", "reasoning"),
    ("jailbreak", "safety-thinking", "thinking", "reasoning"),
    ("jailbreak:plain", "safety-thinking", "thinking", "reasoning"),
    ("alpaca-harmless", None, "answer", "all"), ("alpaca-harmless", "recorded-strmatch", "full", "all"),
    ("jbb-recorded", None, "answer", "all"), ("jbb-recorded", "recorded-llamaguard", "full", "all"),
    ("jbb-recorded", "scorers", "answer", "all"), ("jbb-recorded", None, "thinking", "reasoning"),
    ("jbb-recorded", None, "full", "all"),
    ("personas", "safety-thinking", "thinking", "reasoning"), ("personas", None, "answer", "all"),
    ("personas", None, "thinking", "reasoning"), ("personas", "recorded-v3-harm", "answer", "all"),
    ("personas", "recorded-v3-harm", "thinking", "reasoning"), ("personas", "recorded-refusal-flag", "full", "all"),
    ("xstest-age", "refusal-offline", "thinking", "all"), ("xstest-age", "recorded-human", "thinking", "all"),
    ("deepseek-jailbreak", None, "answer", "all"), ("deepseek-jailbreak", "recorded-jbb-llm-judge", "answer", "all"),
    ("deepseek-jailbreak", "scorers", "answer", "all"),
)











#: Tokens the victim model writes per refusal / compliance check of a spear-phishing dialogue (the
#: protocol's one-word answer with some slack).
DIALOGUE_CHECK_TOKENS = 8.0
COLUMNS = ["stage", "model", "what", "benchmark", "detail", "calls", "stored", "prompt_tokens", "output_tokens", "usd",
           "usd_batch", "wall_s", "concurrency"]
_TEXT, _ANSWER, _THINKING = "\x00judged-text\x00", "\x00judged-answer\x00", "\x00judged-thinking\x00"




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
        """:meth:`totals` with every benchmark's rows scaled to the paper's size of it (paper size ÷ items
        here; benchmarks without a paper size, or of which this run holds every item, as they are)."""
        factor = {b: (paper / n if paper and n else 1.0) for b, (n, paper) in self.items.items()}
        scale = self.rows["benchmark"].map(lambda b: factor.get(b.split(":")[0], 1.0))
        return {c: float((self.rows[c] * scale).sum()) for c in
                ("calls", "prompt_tokens", "output_tokens", "usd", "usd_batch", "wall_s")}


def unplanned(profile: Profile, judgings: Sequence[Sequence[str]]) -> list[tuple[str, str, str]]:
    """The (benchmark[:split], judge, channel) judgings of a run that :data:`JUDGING` does not plan for.

    A judging is planned by an entry naming its judge, by one naming the benchmark's own judge (None)
    when it is the profile's judge for that benchmark, or by a ``scorers`` entry when its judge is one
    of the profile's scorers. A split of the jailbreak benchmark is its plain counterpart
    (``jailbreak:plain``), whatever the split is called.
    """
    scorers = {spec["judge"] for spec in profile.scorers.values()}
    missing = []
    for tag, judge, channel in map(tuple, judgings):
        base = tag.split(":")[0]
        key = "jailbreak:plain" if base == "jailbreak" and ":" in tag else tag
        planned = {(benchmark, who) for benchmark, who, ch, _ in JUDGING if benchmark == key and ch == channel}
        if not ((key, judge) in planned or ((key, None) in planned and judge == profile.default_judge(base))
                or ((key, "scorers") in planned and judge in scorers)):
            missing.append((tag, judge, channel))
    return missing


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
             f"items: {items}; {profile.samples} sample(s) per prompt", "",
             "generation, per model (dialogue victims and their checks included):",
             table(estimate.by("generation"), ["model", *numbers]), "",
             "judging, per judge and judge model:",
             table(judging, ["what", "model", *numbers]) if len(judging) else
             "  none: every judge of this profile runs here", "",
             f"total: {totals['calls']:,.0f} calls ({totals['stored']:,.0f} already stored), "
             f"{totals['prompt_tokens']:,.0f} prompt tokens, {totals['output_tokens']:,.0f} output tokens; "
             f"${totals['usd']:,.2f} synchronous, ${totals['usd_batch']:,.2f} with the Batch API wherever it has "
             f"a price; {totals['wall_s'] / 3600:,.1f} h of calls one model at a time at the configured concurrency"]
    if totals["unpriced"]:
        lines.append(f"  not priced (no pricing in the models registry): {', '.join(totals['unpriced'])}")
    if totals["no_batch_price"]:
        lines.append(f"  no batch price known (batch_discount null), counted at the synchronous price in the batch "
                     f"column: {', '.join(totals['no_batch_price'])}")
    if any(p and p != n for n, p in estimate.items.values()):
        lines.append(f"at the paper's benchmark sizes (rows scaled per benchmark): {paper['calls']:,.0f} calls, "
                     f"{paper['prompt_tokens']:,.0f} prompt tokens, {paper['output_tokens']:,.0f} output tokens, "
                     f"${paper['usd']:,.2f} synchronous, ${paper['usd_batch']:,.2f} batch, "
                     f"{paper['wall_s'] / 3600:,.1f} h")
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


def estimate_profile(profile: Profile, store: Store | None = None) -> Estimate:
    """The calls a run of ``profile`` would make, and their tokens, dollars and wall time (module docstring)."""

    tokens = counter()
    plan = _Plan(profile, store, tokens)
    rows: list[dict[str, Any]] = []
    for benchmark in profile.benchmarks:
        items = plan.items(benchmark)
        plan.item_counts[benchmark] = (len(items), benchmarks()[benchmark].paper_size)
        for model in _models(profile, benchmark):
            if get_benchmark(benchmark).solver == "phishing_dialogue":
                rows += plan.dialogue_rows(model, benchmark, items)
            else:
                own = get_benchmark(benchmark).items_for(profile.config(model), items)
                rows.append(plan.generation_row(model, benchmark, own))
    if "jailbreak" in profile.benchmarks:
        for model in _models(profile, "jailbreak", reasoning_only=True):
            rows.append(plan.generation_row(model, "jailbreak:plain", plan.items("jailbreak:plain")))
    for benchmark, judge, channel, who in JUDGING:
        if benchmark.split(":")[0] not in profile.benchmarks:
            continue
        names = list(profile.scorers.values()) if judge == "scorers" else [{"judge": judge}]
        for spec in names:
            rows += plan.judging_rows(benchmark, spec, channel, reasoning_only=who == "reasoning")
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("usd", "usd_batch", "wall_s")])
    frame = plan.priced(frame)
    discounts = {m: (profile.registry[m].pricing or {}).get("batch_discount") for m in plan.prices}
    free = sorted(m for m in plan.prices if not costs_money(profile.registry[m]))
    return Estimate(frame[COLUMNS], tokens.name, plan.lengths, plan.speeds, plan.prices, discounts,
                    plan.item_counts, sorted(plan.local_judges), free)


class _Plan:
    """What :func:`estimate_profile` works with: the profile, the store, the token counter and caches."""

    def __init__(self, profile: Profile, store: Store | None, tokens: TokenCounter):
        self.profile, self.store, self.tokens = profile, store, tokens
        self.lengths: dict[str, Lengths] = {}
        self.speeds: dict[str, Speed] = {}
        self.prices: dict[str, Price] = {}
        self.item_counts: dict[str, tuple[int, int | None]] = {}
        self.local_judges: set[str] = set()
        self._items: dict[str, list[Item]] = {}

    # -- what is sent ---------------------------------------------------------------------------
    def items(self, benchmark: str) -> list[Item]:
        """The items the run sends for ``benchmark`` (``jailbreak:plain``: notebook 04's plain counterpart)."""
        if benchmark not in self._items:
            from r1lib.app.steps import select_items
            if benchmark == "jailbreak:plain":
                from r1lib.benchmarks.jailbreak import plain_counterpart
                attacked = self.items("jailbreak")
                counterpart = plain_counterpart(attacked)
                self._items[benchmark] = (select_items(self.profile, "jailbreak", split=counterpart.split,
                                                       keep=counterpart.keep)
                                          if counterpart.keep else
                                          select_items(self.profile, "jailbreak", split=counterpart.split,
                                                       limit=len(attacked)))
            else:
                self._items[benchmark] = select_items(self.profile, benchmark)
        return self._items[benchmark]

    def generation_row(self, model: str, benchmark: str, items: Sequence[Item]) -> dict[str, Any]:
        """One model's single-turn calls on ``items``: those not yet stored."""
        config = self.profile.config(model)
        requests = requests_for(items, self.profile.samples)
        conversations = [with_system_prompt(config, r.messages) for r in requests]
        stored = self._stored(config, conversations, [r.sample for r in requests])
        pending = [c for c, done in zip(conversations, stored) if not done]
        lengths = self.length(config)
        return self._row("generation", config, benchmark, benchmark, "eval", len(pending), sum(stored),
                         sum(self.tokens.count_messages(c) for c in pending), len(pending) * lengths.billed)

    def dialogue_rows(self, model: str, benchmark: str, items: Sequence[Item]) -> list[dict[str, Any]]:
        """Spear-phishing dialogues, every one played to its last turn: the attacker's turns, the
        victim's replies and the victim model's two checks per follow-up turn."""
        spec = protocol()
        turns = spec.max_turns if self.profile.phishing_turns is None else self.profile.phishing_turns
        attacker = self.profile.config(model)
        victim = self.profile.config(self.profile.phishing_victim)
        said, heard = self.length(attacker), self.length(victim)
        opening = [self.tokens.count_messages(item.messages) for item in items]
        victim_system = [self.tokens.count(spec.victim_system_message(item.meta["target_profile"])) for item in items]
        exchange = said.answer + heard.answer + 2 * MESSAGE_TOKENS
        attacker_prompt = sum(p * (turns + 1) + exchange * turns * (turns + 1) / 2 for p in opening)
        victim_prompt = sum(s * (turns + 1) + (said.answer + MESSAGE_TOKENS) * (turns + 1)
                            + exchange * turns * (turns + 1) / 2 for s in victim_system)
        check = (self.tokens.count(spec.check_system)
                 + self.tokens.count(spec.complied_check.render(victim_response=""))
                 + self.tokens.count(spec.refused_check.render(victim_response="")) + 4 * MESSAGE_TOKENS) / 2
        n = len(items)
        checks_out = DIALOGUE_CHECK_TOKENS
        return [self._row("generation", attacker, benchmark, benchmark, "attacker turns", n * (turns + 1), 0,
                          attacker_prompt, n * (turns + 1) * said.billed),
                self._row("generation", victim, benchmark, benchmark, f"victim replies ({model})", n * (turns + 1), 0,
                          victim_prompt, n * (turns + 1) * heard.billed),
                self._row("generation", victim, benchmark, benchmark, f"victim checks ({model})", n * 2 * turns, 0,
                          n * 2 * turns * (check + heard.answer), n * 2 * turns * checks_out)]

    def judging_rows(self, benchmark: str, spec: dict[str, Any], channel: str, *,
                     reasoning_only: bool) -> list[dict[str, Any]]:
        """The judge calls of one judging step, one row per model judged (none for a local judge)."""
        base = benchmark.split(":")[0]
        name = spec["judge"] or self.profile.default_judge(base)
        if not issubclass(judge_class(name), LLMJudge) or self.profile.judge_model(name) == OFFLINE:
            self.local_judges.add(name)
            return []
        judge = self.profile.judge(name, **{k: v for k, v in spec.items() if k != "judge"})
        items = self.items(benchmark)
        calls = _judge_calls(judge, items, channel, self.tokens)
        rows = []
        for model in _models(self.profile, base, reasoning_only=reasoning_only):
            config = self.profile.config(model)
            lengths = self.length(config)
            text = {"answer": lengths.answer, "thinking": lengths.thinking,
                    "full": lengths.thinking + lengths.answer}[channel]
            if benchmark == "phishing":
                text = self._transcript(config)
            if text <= 0:
                continue  # an empty channel is never sent (no_output)
            judged = self._judged(config, items, judge, channel)
            pending = len(items) - len(judged)
            for kind, call in calls.items():
                prompt = sum(call.template[i] + call.text[i] * text + call.answer[i] * lengths.answer
                             + call.thinking[i] * lengths.thinking + call.fixed
                             for i in range(len(items)) if i not in judged)
                output = call.output_tokens
                rows.append(self._row("judging", judge.judge_model, judge.name, benchmark,
                                      f"{channel} of {model}: {kind}",
                                      pending * call.per_item, len(judged) * call.per_item, prompt,
                                      pending * call.per_item * output))
        return rows

    # -- what is known about a model --------------------------------------------------------------
    def length(self, config: ModelConfig) -> Lengths:
        """Expected output lengths of ``config``: from its stored records, else its family's default."""
        if config.name not in self.lengths:
            records = self._sample(config)
            if len(records) >= MIN_STORED:
                n = len(records)
                self.lengths[config.name] = Lengths(
                    sum(self.tokens.count(r.thinking or "") for r in records) / n,
                    sum(self.tokens.count(r.answer or "") for r in records) / n,
                    sum((r.reasoning_tokens or 0) + (r.answer_tokens or 0) for r in records) / n,
                    f"{n} records in the store")
            else:
                self.lengths[config.name] = _capped(DEFAULT_LENGTHS[family(config)], max_output_tokens(config))
        return self.lengths[config.name]

    def speed(self, config: ModelConfig) -> Speed:
        """Expected call speed of ``config``: its stored latencies, else its family's default."""
        if config.name not in self.speeds:
            records = [r for r in self._sample(config) if r.latency_s]
            default = DEFAULT_SPEEDS[family(config)]
            if len(records) >= MIN_STORED:
                out = sum((r.reasoning_tokens or 0) + (r.answer_tokens or 0) for r in records)
                seconds = sum(r.latency_s or 0.0 for r in records) - default.first_token_s * len(records)
                rate = out / seconds if seconds > 0 else default.tokens_per_s
                self.speeds[config.name] = Speed(default.first_token_s, rate,
                                                 f"{len(records)} stored latencies; first token as assumed")
            else:
                self.speeds[config.name] = default
        return self.speeds[config.name]

    def priced(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with dollars (standard and batch price) and wall time per row."""
        frame = frame.copy()
        usd, batch, wall = [], [], []
        for row in frame.itertuples(index=False):
            config = self.profile.config(row.model) if row.model in self.profile.models else \
                self.profile.registry[row.model]
            standard, discounted = price(config), price(config, "batch")
            if pd.isna(discounted.input):  # no batch price known: these calls stay synchronous
                discounted = standard
            self.prices[config.name] = standard
            usd.append(standard.usd(row.prompt_tokens, row.output_tokens))
            batch.append(discounted.usd(row.prompt_tokens, row.output_tokens))
            per_call = row.output_tokens / row.calls if row.calls else 0.0
            if not costs_money(config):  # runs here (or replays): its time is not an API's, see PERFORMANCE.md
                wall.append(float("nan"))
            else:
                wall.append(row.calls * self.speed(config).seconds(per_call) / row.concurrency if row.calls else 0.0)
        frame["usd"], frame["usd_batch"], frame["wall_s"] = usd, batch, wall
        return frame

    # -- helpers --------------------------------------------------------------------------------
    def _row(self, stage: str, config: ModelConfig, what: str, benchmark: str, detail: str, calls: int,
             stored: int, prompt_tokens: float, output_tokens: float) -> dict[str, Any]:
        return {"stage": stage, "model": config.name, "what": what, "benchmark": benchmark, "detail": detail,
                "calls": calls,
                "stored": stored, "prompt_tokens": prompt_tokens, "output_tokens": output_tokens,
                "concurrency": config.max_concurrency}

    def _transcript(self, attacker: ModelConfig) -> float:
        turns = protocol().max_turns if self.profile.phishing_turns is None else self.profile.phishing_turns
        victim = self.profile.config(self.profile.phishing_victim)
        return (turns + 1) * (self.length(attacker).answer + self.length(victim).answer + 4)

    def _sample(self, config: ModelConfig) -> list[Any]:
        return self.store.sample_generations(model=config.name, limit=SAMPLE) if self.store else []

    def _stored(self, config: ModelConfig, conversations: Sequence[Any], samples: Sequence[int]) -> list[bool]:
        if self.store is None:
            return [False] * len(conversations)
        fields = config.key_fields()
        keys = [record_key(fields, c, s) for c, s in zip(conversations, samples)]
        done = self.store.done_keys(keys)
        return [k in done for k in keys]

    def _judged(self, config: ModelConfig, items: Sequence[Item], judge: Any, channel: str) -> set[int]:
        """Positions of the items whose record of this model already holds this judge's verdict."""
        if self.store is None:
            return set()
        fields = config.key_fields()
        keys = [record_key(fields, with_system_prompt(config, r.messages), r.sample)
                for r in requests_for(items, self.profile.samples)][:len(items)]
        verdicts = self.store.get_verdicts(keys, judge.name, judge.version, channel)
        return {i for i, key in enumerate(keys) if key in verdicts and verdicts[key].error is None}


def _capped(lengths: Lengths, budget: int | None) -> Lengths:
    """Default lengths cut to a model's output budget (thinking and answer in proportion)."""
    if budget is None or lengths.billed <= budget:
        return lengths
    share = budget / lengths.billed
    return Lengths(lengths.thinking * share, lengths.answer * share, float(budget),
                   f"{lengths.source}; cut to max_tokens {budget}")


def _models(profile: Profile, benchmark: str, *, reasoning_only: bool = False) -> list[str]:
    """The profile's models that run ``benchmark`` (only the reasoning ones when asked)."""
    allowed = profile.plan(benchmark).models
    return [m for m in profile.models if (allowed is None or m in allowed)
            and (not reasoning_only or profile.config(m).reasoning)]


@dataclass
class _Calls:
    """One kind of judge call for each item: how many per output, the template's tokens, how many times
    the judged text, the answer and the thinking go into the prompt, fixed tokens besides, and the
    tokens the judge model writes per call."""

    per_item: int
    template: list[int] = dataclasses.field(default_factory=list)
    text: list[int] = dataclasses.field(default_factory=list)
    answer: list[int] = dataclasses.field(default_factory=list)
    thinking: list[int] = dataclasses.field(default_factory=list)
    fixed: float = 0.0
    output_tokens: float = 0.0

    def add(self, messages: Sequence[dict[str, Any]], tokens: TokenCounter) -> None:
        """Count one item's conversation (several for a kind with more than one call per output)."""
        contents = [str(m.get("content") or "") for m in messages]
        bare = [{"content": c.replace(_TEXT, "").replace(_ANSWER, "").replace(_THINKING, "")} for c in contents]
        for column, value in ((self.template, tokens.count_messages(bare)),
                              *((column, sum(c.count(mark) for c in contents))
                                for column, mark in ((self.text, _TEXT), (self.answer, _ANSWER),
                                                     (self.thinking, _THINKING)))):
            column.append(value)

    def per_output(self) -> "_Calls":
        """Every ``per_item`` consecutive conversations summed into one item's."""
        n = self.per_item
        return _Calls(n, *([sum(column[i:i + n]) for i in range(0, len(column), n)]
                           for column in (self.template, self.text, self.answer, self.thinking)), self.fixed,
                      self.output_tokens)


def _judge_calls(judge: Any, items: Sequence[Item], channel: str, tokens: TokenCounter) -> dict[str, _Calls]:
    """The kinds of call ``judge`` makes for one output of each item, as the judge declares them
    (:meth:`~r1lib.judges.base.LLMJudge.planned_calls`: MITRE an expansion then a verdict on it, spear
    phishing one grade per attribute, the others one verdict)."""

    calls: dict[str, _Calls] = {}
    for item in items:
        inp = JudgeInput(gen_key="estimate", prompt=_last_user(item.messages), text=_TEXT, channel=channel,
                         benchmark=item.benchmark, meta={"category": item.category, "item": item.meta},
                         messages=item.messages, answer=_ANSWER, thinking=_THINKING)
        planned = judge.planned_calls(inp, _TEXT)
        for call in planned:
            kind = calls.setdefault(call.kind, _Calls(sum(c.kind == call.kind for c in planned),
                                                      fixed=call.carried_tokens, output_tokens=call.output_tokens))
            kind.add(call.messages, tokens)
    return {name: kind.per_output() for name, kind in calls.items()}


def _last_user(messages: Sequence[dict[str, Any]]) -> str:
    return next((str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user"), "")
