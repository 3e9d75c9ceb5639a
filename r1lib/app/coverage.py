"""What a profile can build: the benchmarks, reasoning models and pairs each paper artefact needs.

A profile may run only some of the paper's benchmarks, one model, or no reasoning model. The
notebooks then build what it allows (:meth:`r1lib.app.run.Run.builds`) and ``r1lib reproduce``
marks the rest :data:`NOT_RUN` with the reason (:func:`missing`), from this one table, so the two
never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from r1lib.analysis.stats import OUTCOMES, outcome_counts
from r1lib.app.profiles import Profile

#: The status of an artefact the profile cannot build (a benchmark, a reasoning model or a pair is missing).
NOT_RUN = "not run in this profile"


@dataclass(frozen=True)
class Needs:
    """What one artefact needs: every benchmark of ``benchmarks`` and at least one of ``any_of``; with
    ``reasoning`` a reasoning model that runs them, with ``pair`` a (reasoning model, counterpart) pair
    that both run them."""

    benchmarks: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    reasoning: bool = False
    pair: bool = False


TABLE2 = ("airbench", "mitre", "interpreter", "phishing")
TABLE7 = ("airbench", "mitre", "interpreter", "jailbreak")
_JAILBREAK_THINKING = Needs(("jailbreak",), reasoning=True)

#: File stem of every paper artefact a notebook writes (see ``ARTEFACTS`` in :mod:`r1lib.app.reproduce`) →
#: what it needs. Tables 1 and 8 need nothing beyond a profile (Table 8 shows the benchmarks it runs).
NEEDS: dict[str, Needs] = {
    "table1": Needs(), "table8": Needs(),
    "table2": Needs(any_of=TABLE2),
    "table3": Needs(("xstest",)), "table9": Needs(("xstest",)),
    "table10": Needs(("interpreter",)), "fig2b": Needs(("interpreter",)),
    "fig2a": Needs(("airbench",)),
    "table5": Needs(("jailbreak",)),
    "table6": Needs(("prompt-injection",)), "fig11": Needs(("prompt-injection",)),
    "fig12": Needs(("prompt-injection",)),
    "table4": Needs(("phishing",)),
    "fig3": Needs(("airbench",), pair=True), "fig4": Needs(("airbench",), pair=True),
    "fig5": _JAILBREAK_THINKING, "fig7": _JAILBREAK_THINKING, "fig8": _JAILBREAK_THINKING,
    "fig9": _JAILBREAK_THINKING, "fig10": _JAILBREAK_THINKING,
    "table7": Needs(any_of=TABLE7, reasoning=True),
    "fig6": Needs(("airbench",), reasoning=True),
}


def models_running(profile: Profile, benchmark: str) -> tuple[str, ...]:
    """The models of ``profile`` that run ``benchmark`` (none when the profile does not run it)."""
    if benchmark not in profile.benchmarks:
        return ()
    return profile.benchmarks[benchmark].models or profile.models


def missing(profile: Profile, stem: str) -> str | None:
    """Why ``profile`` cannot build the artefact ``stem`` (e.g. "needs benchmark 'airbench'; add it under
    'benchmarks:' in the profile"), or None when it can. A stem not in :data:`NEEDS` is a :class:`KeyError`."""
    needs = NEEDS[stem]
    absent = [b for b in needs.benchmarks if b not in profile.benchmarks]
    if absent:
        return (f"needs benchmark{'s' if len(absent) > 1 else ''} {', '.join(map(repr, absent))}; add "
                f"{'them' if len(absent) > 1 else 'it'} under 'benchmarks:' in the profile")
    chosen = [b for b in needs.any_of if b in profile.benchmarks]
    if needs.any_of and not chosen:
        return (f"needs one of the benchmarks {', '.join(map(repr, needs.any_of))}; add one under 'benchmarks:' "
                "in the profile")
    used = [*needs.benchmarks, *chosen]
    running = set.intersection(*(set(models_running(profile, b)) for b in used)) if used else set(profile.models)
    if needs.reasoning and not any(m in running for m in profile.reasoning_models):
        return ("needs a reasoning model (one with thinking to judge) running " + ", ".join(map(repr, used))
                + f"; the profile's models there are {', '.join(sorted(running)) or 'none'}")
    if needs.pair and not any(set(pair) <= running for pair in profile.pairs):
        return ("needs a pair (reasoning model, counterpart) that both run " + ", ".join(map(repr, used))
                + "; add both to 'models' (and to 'pairs' when the registry does not pair them)")
    return None


def left_out(profile: Profile, stem: str) -> list[str]:
    """The benchmarks of an artefact built from any subset (Tables 2 and 7) that ``profile`` does not run."""
    return [b for b in NEEDS[stem].any_of if b not in profile.benchmarks]


def artefact_name(stem: str) -> str:
    """The paper's name of an artefact's file stem: ``table10`` → Table 10, ``fig2a`` → Fig 2A."""
    kind, number = ("Table", stem[5:]) if stem.startswith("table") else ("Fig", stem[3:])
    return f"{kind} {number.upper()}"


class Coverage:
    """The parts of :class:`~r1lib.app.run.Run` that let a notebook build what its profile allows (it
    supplies ``profile`` and ``evaluate``)."""

    profile: Profile
    evaluate: Callable[..., dict[str, pd.DataFrame]]

    def runs(self, benchmark: str) -> bool:
        """True when the profile runs ``benchmark`` (notebooks skip the parts of a finding it does not)."""
        return benchmark in self.profile.benchmarks

    def running(self, *benchmarks: str) -> list[str]:
        """The ``benchmarks`` the profile runs, in the order given."""
        return [b for b in benchmarks if self.runs(b)]

    def answers(self, benchmark: str) -> pd.DataFrame | None:
        """The answer-channel outcome frame of ``benchmark`` (:meth:`evaluate`); None when the profile does not
        run it."""
        return self.evaluate(benchmark)["answer"] if self.runs(benchmark) else None

    def builds(self, stem: str) -> bool:
        """True when the profile can build the paper artefact ``stem`` (see :data:`NEEDS`); otherwise the
        notebook shows that it is not run in this profile, and why, and this returns False."""
        reason = missing(self.profile, stem)
        if reason is None:
            return True
        from IPython.display import Markdown, display  # IPython: display only

        display(Markdown(f"**{artefact_name(stem)}**: {NOT_RUN} — {reason}."))
        return False

    def outcome_counts(self, *frames: pd.DataFrame | None,
                       by: Sequence[str] = ("model", "benchmark")) -> pd.DataFrame:
        """:func:`r1lib.analysis.stats.outcome_counts` of the given frames together; a None (a benchmark the
        profile does not run) adds nothing, and no frame at all gives an empty table."""
        given = [f for f in frames if f is not None]
        if not given:
            return pd.DataFrame(columns=["records", *OUTCOMES], index=pd.MultiIndex.from_tuples([], names=list(by)))
        return outcome_counts(pd.concat(given, ignore_index=True), by=by)
