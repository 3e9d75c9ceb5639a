"""``r1lib estimate``: what a profile's run would send, and cost, before any call is made.

:func:`estimate_profile` enumerates the calls of a run the way the notebooks make them: every
benchmark of the profile × its models × samples through the benchmark's solver (spear phishing as
dialogues with the victim model and its checks), then every judging the notebooks do
(:data:`JUDGING`), each judge with the profile's judge model and its own number of calls per
output (MITRE: expansion + verdict; spear phishing: one grade per attribute; the others one).
Records and verdicts already in the profile's store are not counted again (the run would reuse
them); they are reported as ``stored``, and the ``run_*`` columns hold the whole run's tokens, dollars
and time (pending + stored), which is what the paper-size extrapolation scales.

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

from r1lib.app.estimate_report import Estimate
from r1lib.app.judging_plan import JUDGING
from r1lib.app.profile_checks import OFFLINE
from r1lib.app.profiles import Profile
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


#: Tokens the victim model writes per refusal / compliance check of a spear-phishing dialogue (the
#: protocol's one-word answer with some slack).
DIALOGUE_CHECK_TOKENS = 8.0
COLUMNS = ["stage", "model", "what", "benchmark", "detail", "calls", "stored", "prompt_tokens", "output_tokens", "usd",
           "usd_batch", "wall_s", "concurrency", "run_prompt_tokens", "run_output_tokens", "run_usd", "run_usd_batch",
           "run_wall_s"]
#: Columns :meth:`_Plan.priced` adds: the pending calls' and the whole run's (pending + stored) dollars and time.
PRICED = ("usd", "usd_batch", "wall_s", "run_usd", "run_usd_batch", "run_wall_s")
_TEXT, _ANSWER, _THINKING = "\x00judged-text\x00", "\x00judged-answer\x00", "\x00judged-thinking\x00"


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
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in PRICED])
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
        requests = requests_for(items, self.profile.samples_for(benchmark))
        conversations = [with_system_prompt(config, r.messages) for r in requests]
        stored = self._stored(config, conversations, [r.sample for r in requests])
        prompts = [self.tokens.count_messages(c) for c in conversations]
        billed = self.length(config).billed
        return self._row("generation", config, benchmark, benchmark, "eval", len(prompts) - sum(stored), sum(stored),
                         sum(p for p, done in zip(prompts, stored) if not done), (len(prompts) - sum(stored)) * billed,
                         run=(sum(prompts), len(prompts) * billed))

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
            samples = self.profile.samples_for(benchmark)
            judged = self._judged(config, items, judge, channel, samples)
            pending = len(items) * samples - sum(judged)
            for kind, call in calls.items():
                prompts = [call.template[i] + call.text[i] * text + call.answer[i] * lengths.answer
                           + call.thinking[i] * lengths.thinking + call.fixed for i in range(len(items))]
                output = call.per_item * call.output_tokens
                rows.append(self._row("judging", judge.judge_model, judge.name, benchmark,
                                      f"{channel} of {model}: {kind}",
                                      pending * call.per_item, sum(judged) * call.per_item,
                                      sum(p * (samples - judged[i]) for i, p in enumerate(prompts)), pending * output,
                                      run=(sum(prompts) * samples, len(items) * samples * output)))
        return rows

    # -- what is known about a model --------------------------------------------------------------
    def length(self, config: ModelConfig) -> Lengths:
        """Expected output lengths of ``config``: from its stored records, else its family's default."""
        if config.name not in self.lengths:
            records = self._sample(config)
            n = len(records)
            if n >= MIN_STORED:
                self.lengths[config.name] = Lengths(
                    sum(self.tokens.count(r.thinking or "") for r in records) / n,
                    sum(self.tokens.count(r.answer or "") for r in records) / n,
                    sum((r.reasoning_tokens or 0) + (r.answer_tokens or 0) for r in records) / n,
                    stored_count(n, "records"))
            else:
                default = _capped(DEFAULT_LENGTHS[family(config)], max_output_tokens(config))
                self.lengths[config.name] = dataclasses.replace(
                    default, source=f"{default.source}; {stored_count(n, 'records')}")
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
                                                 f"{stored_count(len(records), 'latencies')}; first token as assumed")
            else:
                self.speeds[config.name] = dataclasses.replace(
                    default, source=f"{default.source}; {stored_count(len(records), 'latencies')}")
        return self.speeds[config.name]

    def priced(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with dollars (standard and batch price) and wall time per row."""
        frame = frame.copy()
        columns: dict[str, list[float]] = {c: [] for c in PRICED}
        for row in frame.itertuples(index=False):
            config = self.profile.config(row.model) if row.model in self.profile.models else \
                self.profile.registry[row.model]
            standard, discounted = price(config), price(config, "batch")
            if pd.isna(discounted.input):  # no batch price known: these calls stay synchronous
                discounted = standard
            self.prices[config.name] = standard
            for prefix, calls, prompt, output in (("", row.calls, row.prompt_tokens, row.output_tokens),
                                                  ("run_", row.calls + row.stored, row.run_prompt_tokens,
                                                   row.run_output_tokens)):
                columns[f"{prefix}usd"].append(standard.usd(prompt, output))
                columns[f"{prefix}usd_batch"].append(discounted.usd(prompt, output))
                if not costs_money(config):  # runs here (or replays): its time is not an API's, see PERFORMANCE.md
                    columns[f"{prefix}wall_s"].append(float("nan"))
                else:
                    per_call = output / calls if calls else 0.0
                    columns[f"{prefix}wall_s"].append(
                        calls * self.speed(config).seconds(per_call) / row.concurrency if calls else 0.0)
        for column, values in columns.items():
            frame[column] = values
        return frame

    # -- helpers --------------------------------------------------------------------------------
    def _row(self, stage: str, config: ModelConfig, what: str, benchmark: str, detail: str, calls: int,
             stored: int, prompt_tokens: float, output_tokens: float,
             run: tuple[float, float] | None = None) -> dict[str, Any]:
        """One row: the pending calls' numbers and, in ``run``, the whole run's prompt and output tokens
        (pending + stored; the pending ones when nothing is stored)."""
        run_prompt, run_output = run if run is not None else (prompt_tokens, output_tokens)
        return {"stage": stage, "model": config.name, "what": what, "benchmark": benchmark, "detail": detail,
                "calls": calls, "stored": stored, "prompt_tokens": prompt_tokens, "output_tokens": output_tokens,
                "concurrency": config.max_concurrency, "run_prompt_tokens": run_prompt,
                "run_output_tokens": run_output}

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

    def _judged(self, config: ModelConfig, items: Sequence[Item], judge: Any, channel: str,
                samples: int) -> list[int]:
        """Per item, how many of its ``samples`` records of this model already hold this judge's verdict."""
        if self.store is None:
            return [0] * len(items)
        fields = config.key_fields()
        keys = [record_key(fields, with_system_prompt(config, r.messages), r.sample)
                for r in requests_for(items, samples)]
        verdicts = self.store.get_verdicts(keys, judge.name, judge.version, channel)
        done = [key in verdicts and verdicts[key].error is None for key in keys]
        return [sum(done[i * samples:(i + 1) * samples]) for i in range(len(items))]


def stored_count(n: int, what: str) -> str:
    """How many stored ``what`` of a model an estimate read, against the :data:`MIN_STORED` it needs to use them."""
    if n >= MIN_STORED:
        return f"measured on {n} stored {what} of this model (at least {MIN_STORED} needed, up to {SAMPLE} read)"
    return f"{n} stored {what} of this model, fewer than the {MIN_STORED} needed to replace these defaults"


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
