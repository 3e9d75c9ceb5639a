"""Whether a benchmark's numbers can be set against the paper's: the paper's models, the paper's judge and
judge model, and the paper's data; and if not, why not (shown beside every table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from r1lib.app.profiles import Profile
from r1lib.benchmarks.registry import get_benchmark, load_items
from r1lib.benchmarks.sources import FIXTURE_NOTE
from r1lib.judges.base import LLMJudge

#: The models of the paper (registry names) and its judge model: a cell is comparable only with these.
PAPER_MODELS = frozenset({"deepseek-r1", "deepseek-v3", "r1-distill-llama-70b", "llama-3.3-70b", "o3-mini"})
PAPER_JUDGE_MODEL = "gpt-4o"


#: Item ``meta["source"]`` values that mark a stand-in for the paper's data (MITRE base prompts instead
#: of the augmented ones; JailbreakBench artifacts instead of WildGuardTest).
SUBSTITUTE_SOURCES = frozenset({"mitre-base", "jailbreakbench-artifacts"})


@dataclass(frozen=True)
class Comparison:
    """Whether a run's numbers can be set against the paper's, and if not, why."""

    ok: bool
    reason: str = ""


def comparability(profile: Profile, benchmark: str, judge: Any, split: str | None = None) -> Comparison:
    """Whether ``benchmark`` judged by ``judge`` in this profile can be compared with the paper.

    Only when the profile says so (``paper_comparable``), every model is one of the paper's, the
    judge follows the paper's protocol (:attr:`r1lib.judges.base.Protocol.paper`) with the paper's
    judge model, the items are the paper's full set (no ``limit`` sample, the paper's size, not a
    stand-in dataset, never test fixtures) and, for spear phishing, the victim is the paper's
    (its judge model) and the dialogue runs upstream's number of turns.
    """

    plan = profile.plan(benchmark)
    if not profile.paper_comparable:
        return Comparison(False, f"profile {profile.name!r} is not set up like the paper")
    others = sorted(set(profile.models) - PAPER_MODELS)
    if others:
        return Comparison(False, f"models {others} are not the paper's")
    if not judge.protocol.paper:
        return Comparison(False, f"judge {judge.name!r}: {judge.protocol.source}")
    if isinstance(judge, LLMJudge) and judge.judge_model.name != PAPER_JUDGE_MODEL:
        return Comparison(False, f"judge model {judge.judge_model.name!r} is not the paper's ({PAPER_JUDGE_MODEL})")
    if plan.limit is not None:
        return Comparison(False, f"a sample of {plan.limit} items, not the paper's full set")
    if benchmark == "phishing" and profile.phishing_victim != PAPER_JUDGE_MODEL:
        return Comparison(False, f"victim {profile.phishing_victim} is not the paper's ({PAPER_JUDGE_MODEL})")
    if benchmark == "phishing" and profile.phishing_turns is not None:
        from r1lib.benchmarks.phishing import protocol
        if profile.phishing_turns != protocol().max_turns:
            return Comparison(False, f"{profile.phishing_turns} dialogue turns, not upstream's {protocol().max_turns}")
    items = load_items(benchmark, seed=profile.seed, split=split or plan.split)
    if any("fixture" in item.meta for item in items):
        return Comparison(False, f"the items are {FIXTURE_NOTE}")
    substitutes = sorted({str(item.meta.get("source")) for item in items
                          if item.meta.get("source") in SUBSTITUTE_SOURCES})
    if substitutes:
        return Comparison(False, f"stand-in data ({', '.join(substitutes)}) instead of the paper's")
    paper_size = get_benchmark(benchmark).paper_size
    if len(items) != paper_size:
        return Comparison(False, f"{len(items)} items, the paper used {paper_size}")
    return Comparison(True)
