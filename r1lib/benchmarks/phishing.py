"""CyberSecEval multi-turn spear phishing: the model under test is the *attacker*.

Each of the 856 challenges pairs a synthetic victim profile with one of 4 goals (214 each). The
paper used 200 challenges (which ones is not known); the default split is a goal-stratified sample
of 200 with seed 0 (``meta["subset"] = "stratified-200"``); ``split="full"`` gives all 856.
``category`` = ``{"goal": upstream's short goal name}`` (``summarize_goal``); ``meta`` =
``{"goal", "target_profile"}`` as stored (the profile is a one-element list holding a dict; four
challenges, prompt ids 193-196, have an empty profile and are kept, as CyberSecEval keeps them).

**The protocol is CyberSecEval's, read from its pinned code** (``multiturn_phishing_benchmark.py``,
see :func:`protocol`; nothing of it is retyped here): the attacker's system message
(``Attacker.get_system_message``) and first user message (the goal itself, as upstream's
``attacker.compose_message(goal)`` sends it), the victim's system message, ``MAX_TURNS``, the
``R:`` pattern that extracts the attacker's message, the compliance and refusal checks after each
follow-up turn, the dialogue transcript format and the three grading prompts. An item's
``messages`` are the attacker's opening conversation; :mod:`r1lib.generation.solvers` plays the dialogue.

Decisions where upstream is broken or silent (kept visible in :data:`DECISIONS`, in every dialogue
record and in the phishing judge's version):

- **platform**: upstream reads ``test_case["platform"]``, which the pinned data does not have, so
  upstream renders "None" into both system messages; here the attacker and victim classes' own
  default, "SMS", is used.
- **transcript separator**: upstream joins the transcript lines with the two characters "/n" (a
  typo for a newline); kept as upstream sends it, since the paper's grades were made that way.
- **reasoning attackers**: the ``R:`` pattern is applied to the attacker's visible answer; its
  thinking (``<think>`` or a reasoning field) never reaches the victim or the grader.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from r1lib.benchmarks.base import Item
from r1lib.benchmarks.cyberseceval import code_module, cyberseceval_file
from r1lib.benchmarks.sampling import stratified_sample
from r1lib.benchmarks.sources import DataFiles, fixture_mode
from r1lib.benchmarks.spec import PAPER_SUBSET_SEED, benchmark, read_json
from r1lib.benchmarks.upstream import Template
from r1lib.core.errors import UserError

PAPER_SUBSET = 200
PLATFORM = "SMS"
DECISIONS = (
    "platform 'SMS' (upstream reads a 'platform' field the pinned data lacks and renders 'None')",
    "transcript lines joined with upstream's literal '/n'",
    "the R: pattern reads the attacker's visible answer; its thinking never reaches victim or grader",
)

SOURCE = cyberseceval_file("CyberSecEval multi-turn phishing challenges", "phishing",
                           "spear_phishing/multiturn_phishing_challenges.json", rows=856,
                           sha256="ffb1acb16a4aab8637b912ca45cb496bca46e79b30981c70c751aba760a82228")


@dataclass(frozen=True)
class PhishingProtocol:
    """CyberSecEval's spear-phishing protocol text, read from ``multiturn_phishing_benchmark.py``."""

    origin: str
    max_turns: int
    attacker_system: Template
    victim_system: Template
    message_pattern: str
    check_system: str
    check_schema: str
    complied_check: Template
    refused_check: Template
    attacker_line: Template
    victim_line: Template
    line_separator: str
    grade_system: Template
    grade_prompts: dict[str, str]
    grade_schema: dict[str, Any]
    attributes: tuple[str, ...]
    goal_names: dict[str, str]

    def attacker_messages(self, goal: str, profile: Any) -> list[dict[str, str]]:
        """The attacker's opening conversation: its system message, then the goal as the first user turn."""
        system = self.attacker_system.render(MAX_TURNS=self.max_turns, platform=PLATFORM,
                                             victim_profile=profile, goal=goal)
        return [{"role": "system", "content": system}, {"role": "user", "content": goal}]

    def victim_system_message(self, profile: Any) -> str:
        """The victim's system message for a profile."""
        return self.victim_system.render(platform=PLATFORM, profile=profile)

    def transcript(self, lines: list[tuple[str, str]]) -> str:
        """The dialogue as upstream hands it to the grader (``Attacker: ...`` / ``Victim: ...`` lines)."""
        line = {"Attacker": self.attacker_line, "Victim": self.victim_line}
        return self.line_separator.join(line[speaker].fill(text) for speaker, text in lines)

    def text(self) -> dict[str, Any]:
        """Every piece of protocol text, for version hashes."""
        return {"origin": self.origin, "max_turns": self.max_turns, "attacker": self.attacker_system.text,
                "victim": self.victim_system.text, "pattern": self.message_pattern, "check": self.check_system,
                "check_schema": self.check_schema, "complied": self.complied_check.text,
                "refused": self.refused_check.text, "lines": [self.attacker_line.text, self.victim_line.text],
                "separator": self.line_separator, "grade": self.grade_system.text, "prompts": self.grade_prompts,
                "schema": self.grade_schema, "decisions": DECISIONS}


def protocol() -> PhishingProtocol:
    """The protocol read from the pinned upstream module (checksum verified)."""
    return _protocol(fixture_mode())


@cache
def _protocol(fixtures: str) -> PhishingProtocol:
    """:func:`protocol`, read once per fixture mode (``fixtures`` is the cache key only)."""
    m = code_module("multiturn_phishing_benchmark", "phishing")
    loop = "process_multiturn_phishing"
    return PhishingProtocol(
        origin=f"{m.origin} (sha256 {m.sha256[:12]})",
        max_turns=int(m.constant("MAX_TURNS")),
        attacker_system=m.fstring("Attacker.get_system_message", "social engineering"),
        victim_system=m.fstring("Victim.get_system_message", "persona"),
        message_pattern=m.string("Attacker.compose_message", "R:", alike=True),
        check_system=m.string("check_for_phishing", "You're checking whether"),
        check_schema=m.call_keyword("check_for_phishing", "You're checking whether", "guided_decode_json_schema"),
        complied_check=m.fstring(loop, "definitively complied"),
        refused_check=m.fstring(loop, "definitively refused"),
        attacker_line=m.fstring(loop, "Attacker: ", alike=True),
        victim_line=m.fstring(loop, "Victim: ", alike=True),
        line_separator=m.string(loop, "/n"),
        grade_system=m.fstring("grade_attribute", "Provide a detailed"),
        grade_prompts=dict(m.local("grade_attribute", "prompts")),
        grade_schema=dict(m.local("grade_attribute", "schema")),
        attributes=tuple(m.local("grading_function", "attributes")),
        goal_names=dict(m.local("summarize_goal", "goal_summary_map")),
    )


def goal_name(goal: str) -> str:
    """Upstream's short name of one of the dataset's goals; an unknown goal is an error, not a guess."""
    names = protocol().goal_names
    if goal not in names:
        raise UserError(f"{SOURCE.dataset}: unknown goal {goal[:60]!r}; the file is not the pinned version")
    return names[goal]


@benchmark(name="phishing", title="CyberSecEval multi-turn spear phishing", paper_size=PAPER_SUBSET, license="MIT",
    category_fields=("goal",), stratify_by=("goal",), files=(SOURCE,), splits=("full",), solver="phishing_dialogue",
    judge="phishing",
    notes="default = seeded goal-stratified 200 of 856 (paper's subset unknown); the model under test "
          "is the attacker, the judge model plays the victim (r1lib.generation.solvers)")
def load(files: DataFiles, split: str | None) -> list[Item]:
    """Phishing challenges: the 200-item goal-stratified subset by default, all 856 with ``split="full"``."""
    path = files.path(SOURCE)
    rows = read_json(SOURCE, path)
    files.expect_rows(SOURCE, path, len(rows))
    spec = protocol()
    items = [Item(benchmark="phishing", id=str(row["prompt_id"]),
                  messages=spec.attacker_messages(row["goal"], row["target_profile"]),
                  category={"goal": goal_name(row["goal"])},
                  meta={"goal": row["goal"], "target_profile": row["target_profile"]})
             for row in rows]
    if split == "full":
        return items
    subset = stratified_sample(items, PAPER_SUBSET, seed=PAPER_SUBSET_SEED, by=("goal",))
    return [replace(item, meta={**item.meta, "subset": f"stratified-{PAPER_SUBSET}"}) for item in subset]


