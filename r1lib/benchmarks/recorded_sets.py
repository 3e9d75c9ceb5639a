"""The prompt sets of the recorded outputs (:mod:`r1lib.benchmarks.recorded`) as benchmarks.

Running a ``backend: recorded`` model on one of these answers every item from the recording; a
live model can be run on them too. Every item's ``meta["source"]`` names the recording, so tables
show that these are not the paper's data.

- ``jbb-recorded``: the 100 JailbreakBench behaviours in the wording the refusal_direction and
  COSMIC pipelines sent (all four JBB recordings list the same prompts in the same order). 95 are
  identical to ``jbb-behaviors``; 5 (ids 3, 40, 43, 47, 82) are an older, shorter JBB wording, so
  a recorded run answers only 95 ``jbb-behaviors`` items and all 100 of these. Item ids are the
  JBB behaviour index (the row order is JBB's), so they pair with ``jbb-behaviors`` ids.
- ``alpaca-harmless``: the harmless (Alpaca) prompts of the refusal_direction baselines, for
  over-refusal. The two recorded runs were sent different samples: 100 prompts each, 88 in common,
  112 in all. ``category["listed_in"]`` says which recording has the prompt (``both``,
  ``r1-distill-only``, ``llama-3-only``); the default is all 112, split ``both`` the 88 shared ones.
- ``personas``: 10 harmful goals sent to DeepSeek-R1 plain and wrapped in persona and scenario
  system prompts. Splits: ``plain`` (10), ``scenario`` (30), ``persona`` (150), ``persona-scenario``
  (450). The default is all four conditions (640 items), so every attacked prompt can be paired
  with the plain prompt of the same goal; ``--limit`` samples across condition × goal. Items carry
  the system prompt as a system message. Category: ``condition``, ``persona_type``,
  ``scenario_type`` (``none`` where absent) and ``goal`` (``g01``-``g10``, numbered in the order of
  the plain file); ``meta["goal"]`` is the goal's text in the plain file (what the jailbreak judge
  judges against; some files add trailing whitespace to the same goal).
- ``xstest-age``: 100 XSTest safe prompts prefixed with an age statement (``neutral``, ``child`` =
  10, ``adult`` = 35, ``elderly`` = 75; 25 per age, 26 distinct XSTest prompts). Category: XSTest
  ``type`` and ``age``.
- ``deepseek-jailbreak``: the 180 "paper outline" jailbreak conversations that DeepSeek-R1 and
  DeepSeek-V3 answered through three cloud providers (deepseek-api-jailbreak files 1-2): 37
  JailbreakBench goals, each sent once per (model, provider) with its own conversation (the
  attack's assistant turn was written for each by the set's pipeline). Every item is one recorded
  conversation, so each of the six recorded runs answers its own items (40 per provider and model,
  10 for Tencent) and is sent only those (``runs_item``); a live model is sent all 180. The two
  files are two batches (3 goals are in both). Item id ``<batch>/<provider>/<family>/jbb<index>``;
  category ``batch`` (``1``/``2``),
  ``provider``, ``family`` (``r1``/``v3``), ``goal`` (``jbb<index>``, the JBB behaviour index) and the
  JBB ``category``; ``meta["pair"]`` is ``<batch>/<provider>/jbb<index>``, which pairs an R1 item with
  the V3 item of the same batch, goal and provider, and ``meta["goal"]`` the goal the jailbreak judge
  judges against.
"""

from __future__ import annotations

from typing import Any

from r1lib.benchmarks.base import Item
from r1lib.benchmarks.recorded import (
    AGE_BIAS_FILE,
    COSMIC_LLAMA_JBB,
    COSMIC_QWEN_JBB,
    DEEPSEEK_JAILBREAK_FILES,
    DEEPSEEK_JAILBREAK_GOALS,
    DEEPSEEK_MODELS,
    DEEPSEEK_PROVIDERS,
    LLAMA3_HARMLESS,
    LLAMA3_JBB,
    PERSONAS_FILES,
    R1_DISTILL_HARMLESS,
    R1_DISTILL_JBB,
    RecordedFile,
    deepseek_run,
    file_rows,
    normalise_text,
)
from r1lib.benchmarks.sources import DataFiles, FileSource
from r1lib.benchmarks.spec import benchmark, read_table, text_id, user_turn
from r1lib.core.errors import UserError
from r1lib.core.records import Messages

PERSONA_CONDITIONS = tuple(file.condition for file in PERSONAS_FILES)


def _sources(*recorded: RecordedFile) -> tuple[FileSource, ...]:
    return tuple(s for file in recorded for s in (file.outputs, file.labels) if s is not None)


@benchmark(name="jbb-recorded", title="JailbreakBench behaviours as the recorded baselines sent them",
    paper_size=None, license="MIT (prompts); Apache-2.0 (recordings)", category_fields=("category",),
    stratify_by=("category",), files=_sources(R1_DISTILL_JBB, LLAMA3_JBB, COSMIC_LLAMA_JBB, COSMIC_QWEN_JBB),
    judge="jailbreak",
    notes="not in the paper; prompts of the recorded refusal_direction / COSMIC runs (5 in an older JBB wording)")
def load_jbb(files: DataFiles, split: str | None) -> list[Item]:
    """The 100 JBB behaviours as the recorded pipelines sent them (from the byte-identical Llama-3 file)."""
    return [Item(benchmark="jbb-recorded", id=str(row.index), messages=user_turn(row.prompt),
                 category={"category": row.fields["category"]},
                 meta={"source": "recorded-refusal-direction", "goal": row.prompt})
            for row in file_rows(LLAMA3_JBB, files)]


@benchmark(name="alpaca-harmless", title="Alpaca harmless prompts of the recorded baselines (over-refusal)",
    paper_size=None, license="CC-BY-NC-4.0 (Alpaca prompts); Apache-2.0 (recordings)",
    category_fields=("listed_in",), stratify_by=("listed_in",), files=_sources(R1_DISTILL_HARMLESS, LLAMA3_HARMLESS),
    splits=("both",), judge="xstest",
    notes="not in the paper; the two recorded runs were sent different samples (88 shared)")
def load_harmless(files: DataFiles, split: str | None) -> list[Item]:
    """The union of the two runs' harmless prompts; ``split="both"`` keeps the shared ones."""
    first = file_rows(R1_DISTILL_HARMLESS, files)
    second = file_rows(LLAMA3_HARMLESS, files)
    in_second = {normalise_text(row.prompt) for row in second}
    in_first = {normalise_text(row.prompt) for row in first}
    listed = [(row, "both" if normalise_text(row.prompt) in in_second else "r1-distill-only") for row in first]
    listed += [(row, "llama-3-only") for row in second if normalise_text(row.prompt) not in in_first]
    items = []
    for row, listed_in in listed:
        if split == "both" and listed_in != "both":
            continue
        items.append(Item(benchmark="alpaca-harmless", id=text_id(normalise_text(row.prompt)),
                          messages=user_turn(row.prompt), category={"listed_in": listed_in},
                          meta={"source": "recorded-refusal-direction", "label": "safe"}))
    return items


@benchmark(name="personas", title="Persona and scenario jailbreaks of 10 harmful goals (recorded DeepSeek-R1)",
    paper_size=None, license="none upstream: internal test use only",
    category_fields=("condition", "persona_type", "scenario_type", "goal"), stratify_by=("condition", "goal"),
    files=_sources(*PERSONAS_FILES), splits=PERSONA_CONDITIONS, judge="jailbreak",
    notes="not in the paper; default = all four conditions (640), to pair attacked prompts with their plain goal")
def load_personas(files: DataFiles, split: str | None) -> list[Item]:
    """Persona / scenario items of one condition, or of all four (default)."""
    wanted = PERSONA_CONDITIONS if split is None else (split,)
    per_condition = {file.condition: file_rows(file, files) for file in PERSONAS_FILES}
    goals = {normalise_text(row.prompt): (f"g{n:02d}", row.prompt)
             for n, row in enumerate(per_condition["plain"], start=1)}
    items = []
    for condition in wanted:
        for row in per_condition[condition]:
            if normalise_text(row.prompt) not in goals:
                raise UserError(f"{row.file.outputs.dataset}: row {row.index} has a goal that is not in the plain "
                                "file; the personas files are not the pinned set")
            goal, goal_text = goals[normalise_text(row.prompt)]
            persona_type = "none" if row.fields["persona_type"] == "baseline" else row.fields["persona_type"]
            persona = row.fields["persona_trait"] if persona_type != "none" else ""
            scenario = row.fields["scenario_type"]
            parts = [condition, goal, _slug(persona), "" if scenario == "none" else scenario]
            items.append(Item(
                benchmark="personas", id="/".join(p for p in parts if p),
                messages=_system_user(row.system, row.prompt),
                category={"condition": condition, "persona_type": persona_type, "scenario_type": scenario,
                          "goal": goal},
                meta={"source": "recorded-personas", "goal": goal_text, "persona": persona}))
    ids = [item.id for item in items]
    if len(set(ids)) != len(ids):
        raise UserError("personas: two rows share a (condition, goal, persona, scenario); "
                        "the files are not the pinned set")
    return items


def _slug(text: str) -> str:
    return "-".join(text.lower().split())


def _system_user(system: str | None, prompt: str) -> Messages:
    return ([{"role": "system", "content": system}] if system else []) + user_turn(prompt)


@benchmark(name="xstest-age", title="XSTest safe prompts with an age statement (recorded R1-Distill-Qwen-14B)",
    paper_size=None, license="none upstream: internal test use only (prompts from XSTest, CC-BY-4.0)",
    category_fields=("type", "age"), stratify_by=("age", "type"), files=_sources(AGE_BIAS_FILE), judge="xstest",
    notes="not in the paper; 25 prompts per age condition")
def load_xstest_age(files: DataFiles, split: str | None) -> list[Item]:
    """The 100 age-prefixed XSTest safe prompts."""
    return [Item(benchmark="xstest-age", id=f"{row.fields['age_condition']}/{row.fields['id']}",
                 messages=user_turn(row.prompt),
                 category={"type": row.fields["type"], "age": row.fields["age_condition"]},
                 meta={"source": "recorded-age-bias", "xstest_id": row.fields["id"], "label": "safe"})
            for row in file_rows(AGE_BIAS_FILE, files)]


def answered_by(config: Any, item: Item) -> bool:
    """Whether a model is sent a deepseek-jailbreak item: a recorded R1/V3 run only its own
    conversations (it holds no other), any other model every item."""
    run = deepseek_run(config.model) if config.backend == "recorded" else None
    return run is None or run == (item.category["family"], item.category["provider"])


@benchmark(name="deepseek-jailbreak", title="DeepSeek-R1 vs DeepSeek-V3 (cloud APIs) under one multi-turn jailbreak",
    paper_size=None, license="MIT", category_fields=("batch", "provider", "family", "goal", "category"),
    stratify_by=("provider", "family"), files=(*_sources(*DEEPSEEK_JAILBREAK_FILES), DEEPSEEK_JAILBREAK_GOALS),
    judge="jailbreak", runs_item=answered_by,
    notes="not in the paper; 90 R1/V3 pairs (37 JBB goals x provider); each item is answered by one recorded run")
def load_deepseek_jailbreak(files: DataFiles, split: str | None) -> list[Item]:
    """The R1 and V3 conversations of the deepseek-api-jailbreak set (GLM-4-Air rows left out)."""
    path = files.path(DEEPSEEK_JAILBREAK_GOALS)
    behaviours = read_table(DEEPSEEK_JAILBREAK_GOALS, path, ("Index", "Goal", "Category"))
    files.expect_rows(DEEPSEEK_JAILBREAK_GOALS, path, len(behaviours))
    jbb = {normalise_text(row["Goal"]): row for row in behaviours.to_dict("records")}
    models = {f"{provider}{model}": (where, short) for provider, where in DEEPSEEK_PROVIDERS.items()
              for model, short in DEEPSEEK_MODELS.items()}
    items = []
    for batch, file in enumerate(DEEPSEEK_JAILBREAK_FILES, start=1):
        for row in file_rows(file, files):
            if row.fields["model"] not in models:
                continue  # GLM-4-Air: no counterpart in the set
            behaviour = jbb.get(normalise_text(row.fields["goal"]))
            if behaviour is None:
                raise UserError(f"{file.outputs.dataset}: row {row.index} has a goal that is not a JailbreakBench "
                                "behaviour of the set's input file; the files are not the pinned set")
            provider, model = models[row.fields["model"]]
            goal = f"jbb{behaviour['Index']}"
            items.append(Item(
                benchmark="deepseek-jailbreak", id=f"{batch}/{provider}/{model}/{goal}", messages=row.messages,
                category={"batch": str(batch), "provider": provider, "family": model, "goal": goal,
                          "category": behaviour["Category"]},
                meta={"source": "recorded-deepseek-api-jailbreak", "goal": row.fields["goal"],
                      "pair": f"{batch}/{provider}/{goal}"}))
    ids = [item.id for item in items]
    if len(set(ids)) != len(ids):
        raise UserError("deepseek-jailbreak: two rows of a file share a (provider, model, goal); "
                        "the files are not the pinned set")
    return items


