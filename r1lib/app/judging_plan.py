"""The judging the notebooks do, declared once: what `r1lib estimate` plans for, and which judgings of a
run the plan misses (every run records its judgings in its status file; `r1lib reproduce` checks them).
"""

from __future__ import annotations

from collections.abc import Sequence

from r1lib.app.profiles import Profile

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
