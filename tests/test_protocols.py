"""CyberSecEval's protocol text goes over the wire exactly as upstream renders it.

The oracle here is Python itself: each upstream prompt is taken from the pinned module's syntax tree
and rendered the way the upstream code would (``str.format`` of the constant, or the f-string node
evaluated with the same names bound), independently of :class:`r1lib.benchmarks.upstream.Template`. The text
the project sends is captured by the loopback server. Judged texts are harmless placeholders.

Each test runs twice: on the project's fixture stand-ins for the upstream modules (the reading and
rendering plumbing, on any clone) and, as a ``mirror`` test, on upstream's real pinned modules
(the text sent is upstream's verbatim). Tests that execute upstream code or check its pins run
on the real modules only.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from r1lib.analysis.outcomes import outcome_frame
from r1lib.analysis.stats import outcome_counts
from r1lib.benchmarks.base import Item
from r1lib.benchmarks.cyberseceval import code_file
from r1lib.benchmarks.phishing import PLATFORM, protocol
from r1lib.benchmarks.registry import load_items
from r1lib.benchmarks.sources import DataFiles
from r1lib.benchmarks.upstream import UpstreamModule
from r1lib.core.errors import UserError
from r1lib.core.records import BLOCKED_FINISH, GenerationRecord
from r1lib.generation.solvers import generate
from r1lib.judges import cyberseceval_refusal
from r1lib.judges.base import judge_records
from r1lib.judges.registry import get_judge
from r1lib.paper import tables as report
from r1lib.store.database import Store
from r1lib.testing import LoopbackServer, loopback_judge


@pytest.fixture(params=["fixtures", pytest.param("mirror", marks=pytest.mark.mirror)])
def both_data_modes(request: pytest.FixtureRequest) -> str:
    """Runs a test on the fixture stand-ins and on the real modules (the conftest sets the mode by the marker)."""
    return request.param


#: Run on the fixture stand-ins and on the real modules.
on_both = pytest.mark.usefixtures("both_data_modes")


# -- the oracle: upstream's own rendering --------------------------------------------------------------
def tree(name: str, benchmark: str = "mitre") -> ast.Module:
    """The pinned upstream module's syntax tree."""
    return ast.parse(Path(DataFiles().path(code_file(name, benchmark))).read_text(encoding="utf-8"))


def constant(module: ast.Module, name: str) -> Any:
    node = next(n for n in module.body if isinstance(n, ast.Assign) and n.targets[0].id == name)  # type: ignore[attr-defined]
    return ast.literal_eval(node.value)


def function(module: ast.Module, path: str) -> ast.AST:
    scope: Any = module
    for part in path.split("."):
        scope = next(n for n in scope.body if getattr(n, "name", None) == part)
    return scope


def fstring(module: ast.Module, path: str, phrase: str) -> ast.JoinedStr:
    return next(n for n in ast.walk(function(module, path)) if isinstance(n, ast.JoinedStr)
                and any(isinstance(v, ast.Constant) and phrase in v.value for v in n.values))


def evaluate(node: ast.expr, **names: Any) -> str:
    """Python's own evaluation of an upstream f-string node with ``names`` bound."""
    return eval(compile(ast.Expression(node), "<upstream>", "eval"), {"__builtins__": {}}, names)


def record(key: str, benchmark: str, answer: str, *, meta: dict[str, Any] | None = None) -> GenerationRecord:
    return GenerationRecord(key=key, model="m", benchmark=benchmark, prompt_id=key, sample=0,
                            messages=[{"role": "user", "content": "a request"}], config={}, answer=answer,
                            raw_text=answer, trace_state="no_think", finish_reason="stop", meta=meta or {})


def capture(replies: Callable[[dict[str, Any]], str]) -> tuple[list[dict[str, Any]], Callable[[dict[str, Any]], str]]:
    seen: list[dict[str, Any]] = []

    def respond(request: dict[str, Any]) -> str:
        seen.append(request)
        return replies(request)
    return seen, respond


# -- judges ----------------------------------------------------------------------------------------
@on_both
def test_mitre_prompts_are_upstreams(loopback: Callable[..., LoopbackServer], store: Store) -> None:
    module = tree("mitre_benchmark")
    seen, respond = capture(lambda r: "malicious" if r["messages"][0]["content"].startswith("Respond in 1 word")
                            else "EXPANSION TEXT")
    judge = get_judge("mitre", judge_model=loopback_judge(loopback(responder=respond).base_url, model="judge"))
    text = "Use nmap {with braces} to scan."
    judge_records(judge, [record("k", "mitre", text)], "answer", store, progress=False)
    expansion, verdict = (r["messages"] for r in seen)
    assert expansion == [{"role": "user", "content": constant(module, "PROMPT_JUDGE_RESPONSE_LAYER1").format(
        evaluate_this_response=text)}]
    assert verdict == [{"role": "user", "content": evaluate(fstring(module, "process_judge_prompt", "Respond in 1"),
                                                            llm_expansion_response="EXPANSION TEXT")}]


@on_both
def test_interpreter_prompt_and_schema_are_upstreams(loopback: Callable[..., LoopbackServer], store: Store) -> None:
    module = tree("interpreter_benchmark", "interpreter")
    seen, respond = capture(lambda r: '{"is_extremely_malicious": false, "is_potentially_malicious": false}')
    judge = get_judge("interpreter", judge_model=loopback_judge(loopback(responder=respond).base_url, model="judge"))
    judge_records(judge, [record("k", "interpreter", "print('hello')")], "answer", store, progress=False)
    node = fstring(module, "process_judge_prompt", "Carefully assess")
    assert seen[0]["messages"] == [{"role": "user", "content": evaluate(node, resp="print('hello')")}]
    call = next(n for n in ast.walk(function(module, "process_judge_prompt")) if isinstance(n, ast.Call)
                and node in ast.walk(n))
    schema = next(ast.literal_eval(k.value) for k in call.keywords if k.arg == "guided_decode_json_schema")
    assert seen[0]["response_format"]["json_schema"]["schema"] == json.loads(schema)


@on_both
def test_prompt_injection_prompt_is_upstreams(loopback: Callable[..., LoopbackServer], store: Store) -> None:
    module = tree("prompt_injection_benchmark", "prompt-injection")
    item = load_items("prompt-injection")[0]
    seen, respond = capture(lambda r: "No")
    server = loopback(responder=respond)
    judge = get_judge("prompt-injection", judge_model=loopback_judge(server.base_url, model="judge"))
    meta = {"item": item.meta}
    judge_records(judge, [record("k", "prompt-injection", "The answer.", meta=meta)], "answer", store, progress=False)
    expected = constant(module, "PROMPT_JUDGE_RESPONSE").format(llm_response="The answer.",
                                                                question=item.meta["judge_question"])
    assert seen[0]["messages"] == [{"role": "user", "content": expected}]


@pytest.mark.mirror  # executes upstream's own is_response_llm_refusal, which the stand-in does not have
def test_refusal_check_agrees_with_upstreams_function() -> None:
    module = tree("benchmark_utils")
    namespace: dict[str, Any] = {"re": re, "unicodedata_normalize": unicodedata.normalize}
    for node in module.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            exec(compile(ast.Module([node], []), "<upstream>", "exec"), namespace)
    upstream = function(module, "is_response_llm_refusal")
    exec(compile(ast.Module([upstream], []), "<upstream>", "exec"), namespace)  # type: ignore[list-item]
    texts = ["I'm sorry, but I can't help with that.", "Sure! Here is a python script:\n```\nx=1\n```\n```",
             "I cannot provide that.", "That makes sense. I cannot provide it.", "Here is how: step one.",
             "Ｉ can't help with that.", "Due to ethical concerns, I cannot assist.", "x" * 300 + " I'm sorry, but I",
             "Here is a shell script you asked for.", "I apologize, but I won't.", ""]
    assert [cyberseceval_refusal.is_refusal(t) for t in texts] == [namespace["is_response_llm_refusal"](t)
                                                                    for t in texts]


@on_both
def test_phishing_grading_prompts_are_upstreams(loopback: Callable[..., LoopbackServer], store: Store) -> None:
    module = tree("multiturn_phishing_benchmark", "phishing")
    seen, respond = capture(lambda r: json.dumps({"step_by_step_grading_logic_description_and_grading_notes": "n",
                                                  "numerical_grade": 2}))
    judge = get_judge("phishing", judge_model=loopback_judge(loopback(responder=respond).base_url, model="judge"))
    lines = [["Attacker", "Hello"], ["Victim", "Hi, who is this?"], ["Attacker", "R: Your IT desk."]]
    judge_records(judge, [record("k", "phishing", "Your IT desk.", meta={"dialogue": lines})], "answer", store,
                  progress=False)
    grading = function(module, "grade_attribute")
    prompts = next(ast.literal_eval(n.value) for n in ast.walk(grading) if isinstance(n, ast.Assign)
                   and n.targets[0].id == "prompts")  # type: ignore[attr-defined]
    node = fstring(module, "grade_attribute", "Provide a detailed")
    transcript = "/n".join(["Attacker: Hello", "Victim: Hi, who is this?", "Attacker: R: Your IT desk."])
    expected = [[{"role": "system", "content": evaluate(node, prompts=prompts, attribute=attribute)},
                 {"role": "user", "content": transcript}] for attribute in ("persuasion", "rapport", "argumentation")]
    # the three attribute calls run concurrently, so they reach the server in any order
    assert sorted((r["messages"] for r in seen), key=str) == sorted(expected, key=str)


# -- the spear-phishing dialogue ------------------------------------------------------------------------
#: The reply of a provider that blocks the prompt (o3-mini's ``invalid_prompt``).
BLOCKED = {"error": {"status": 400, "code": "invalid_prompt", "message": "Invalid prompt: flagged as unsafe."}}
#: R1's thinking cut at the token limit, as a provider that does not split it returns it (no ``<think>``).
CUT_THINKING = {"content": "Okay, so I need to write the next message. Let me think about", "finish_reason": "length"}
#: An opening attacker message CyberSecEval's refusal check marks as a refusal.
REFUSAL = "I'm sorry, but I can't help with that."


class Dialogue:
    """A scripted attacker (model ``attacker``), victim/checker (model ``victim``) and graders (model
    ``grader``: grade 2; ``grader-unparsed``: not JSON) on one loopback server. ``attacker_says(turn,
    goal)`` replaces the attacker's reply of that turn when it returns one."""

    def __init__(self, refuse_at: int | None = None,
                 attacker_says: Callable[[int, str], str | dict[str, Any] | None] | None = None):
        self.refuse_at, self.attacker_says = refuse_at, attacker_says
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: dict[str, Any]) -> str | dict[str, Any]:
        self.requests.append(request)
        messages = request["messages"]
        if request["model"].startswith("grader"):
            return "no grade" if request["model"] == "grader-unparsed" else json.dumps({"numerical_grade": 2})
        if request["model"] == "attacker":
            turn = sum(m["role"] == "assistant" for m in messages)
            scripted = self.attacker_says(turn, messages[1]["content"]) if self.attacker_says else None
            if scripted is not None:
                return scripted
            return f"Observation: fine.\nThought: go on.\nR: Message {turn} to you.\nStrategy: more."
        if "response_format" in request:  # a check about the victim's reply number n
            question = messages[-1]["content"]
            n = int(re.search(r"Victim reply (\d+)\.", question).group(1))  # type: ignore[union-attr]
            refused = "definitively refused" in question and n == self.refuse_at
            complied = "definitively complied" in question and n == 2
            return json.dumps({"complied_with_request": refused or complied})
        return f"Victim reply {sum(m['role'] == 'assistant' for m in messages)}."

    def calls(self, model: str, checks: bool = False) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["model"] == model and ("response_format" in r) == checks]


def phishing_items(n: int = 2) -> list[Item]:
    return load_items("phishing", limit=n, seed=3)


def run_dialogues(loopback: Callable[..., LoopbackServer] | LoopbackServer, store: Store, script: Dialogue,
                  items: list[Item], **attacker_fields: Any) -> Any:
    server = loopback if isinstance(loopback, LoopbackServer) else loopback(responder=script)
    attacker = loopback_judge(server.base_url, model="attacker", **attacker_fields)
    victim = loopback_judge(server.base_url, name="victim", model="victim", params={})
    return generate(attacker, "phishing", items, store, solver="phishing_dialogue", partner=victim, progress=False)


@on_both
def test_a_dialogue_whose_victim_never_refuses_runs_one_plus_max_turns_attacker_turns(
        loopback: Callable[..., LoopbackServer], store: Store) -> None:
    script, items = Dialogue(refuse_at=None), phishing_items(1)
    outcome = run_dialogues(loopback, store, script, items)
    turns = protocol().max_turns
    assert len(script.calls("attacker")) == 1 + turns
    assert len(script.calls("victim")) == 1 + turns
    assert len(script.calls("victim", checks=True)) == 2 * turns  # compliance and refusal after each follow-up
    record = outcome.records[0]
    assert record.role == "eval" and record.meta["turns"] == turns and record.meta["stop_reason"] == "max_turns"
    assert record.meta["victim_complied"] is True and record.meta["victim_refused_at"] is None
    # the R: line is what the victim receives, and what the transcript holds
    assert [line for line in record.meta["dialogue"]][:2] == [["Attacker", "Message 0 to you."],
                                                               ["Victim", "Victim reply 0."]]


@on_both
def test_dialogue_messages_are_upstreams(loopback: Callable[..., LoopbackServer], store: Store) -> None:
    module = tree("multiturn_phishing_benchmark", "phishing")
    script, item = Dialogue(refuse_at=2), phishing_items(1)[0]
    outcome = run_dialogues(loopback, store, script, [item])
    profile, goal = item.meta["target_profile"], item.meta["goal"]
    attacker_self = SimpleNamespace(platform=PLATFORM, victim_profile=profile, goal=goal)
    victim_self = SimpleNamespace(platform=PLATFORM, profile=profile)
    max_turns = constant(module, "MAX_TURNS")
    attacker_system = evaluate(fstring(module, "Attacker.get_system_message", "social engineering"),
                               self=attacker_self, MAX_TURNS=max_turns)
    victim_system = evaluate(fstring(module, "Victim.get_system_message", "persona"), self=victim_self)

    first, second = script.calls("attacker")[:2]
    assert first["messages"] == [{"role": "system", "content": attacker_system}, {"role": "user", "content": goal}]
    assert second["messages"][1:] == [{"role": "user", "content": goal},
                                      {"role": "assistant", "content": "Message 0 to you."},
                                      {"role": "user", "content": "Victim reply 0."}]
    assert script.calls("victim")[1]["messages"] == [
        {"role": "system", "content": victim_system}, {"role": "user", "content": "Message 0 to you."},
        {"role": "assistant", "content": "Victim reply 0."}, {"role": "user", "content": "Message 1 to you."}]
    check_system = next(n.value for n in ast.walk(function(module, "check_for_phishing"))
                        if isinstance(n, ast.Constant) and isinstance(n.value, str) and "checking whether" in n.value)
    complied, refused = script.calls("victim", checks=True)[:2]
    loop = "process_multiturn_phishing"
    assert complied["messages"] == [
        {"role": "system", "content": check_system},
        {"role": "user", "content": evaluate(fstring(module, loop, "definitively complied"),
                                             victim_response="Victim reply 1.")}]
    assert refused["messages"][1]["content"] == evaluate(fstring(module, loop, "definitively refused"),
                                                         victim_response="Victim reply 1.")
    # the victim refused after its second follow-up reply: the dialogue stopped there
    assert len(script.calls("attacker")) == 3 and outcome.records[0].meta["victim_refused_at"] == 2
    assert outcome.records[0].meta["stop_reason"] == "victim_refused"


@on_both
def test_dialogues_resume_from_the_store(loopback: Callable[..., LoopbackServer], store: Store) -> None:
    items, scripts = phishing_items(2), [Dialogue(refuse_at=1), Dialogue(refuse_at=1)]
    server = loopback(responder=lambda request: scripts[0](request))
    first = run_dialogues(server, store, scripts[0], items)
    scripts.pop(0)
    second = run_dialogues(server, store, scripts[0], items)
    assert scripts[0].requests == []  # every call of both dialogues came from the store
    assert [r.key for r in first.records] == [r.key for r in second.records]
    assert second.summary.reused == first.summary.new and second.summary.new == 0


def grade_dialogues(server: LoopbackServer, store: Store, records: list[GenerationRecord],
                    grader: str = "grader") -> tuple[Any, pd.DataFrame]:
    """The dialogues graded by the phishing judge (model ``grader`` on ``server``) and their outcome frame."""
    judge = get_judge("phishing", judge_model=loopback_judge(server.base_url, name=grader, model=grader))
    judge_records(judge, records, "answer", store, progress=False)
    return judge, outcome_frame(store, benchmark="phishing", judge="phishing", version=judge.version)


@on_both
def test_a_dialogue_blocked_at_its_third_attacker_turn_keeps_turns_one_and_two_and_is_graded(
        loopback: Callable[..., LoopbackServer], store: Store) -> None:
    script = Dialogue(attacker_says=lambda turn, goal: BLOCKED if turn == 2 else None)
    server = loopback(responder=script)
    record = run_dialogues(server, store, script, phishing_items(1)).records[0]
    assert len(script.calls("attacker")) == 3 and len(script.calls("victim")) == 2  # nothing after the block
    assert record.meta["dialogue"] == [["Attacker", "Message 0 to you."], ["Victim", "Victim reply 0."],
                                       ["Attacker", "Message 1 to you."], ["Victim", "Victim reply 1."]]
    assert (record.meta["stop_reason"], record.meta["stop_turn"], record.meta["turns"]) == ("attacker_blocked", 2, 1)
    assert record.finish_reason != BLOCKED_FINISH and record.answer.endswith("Strategy: more.")  # turn 2's output
    _, frame = grade_dialogues(server, store, [record])
    row = frame.iloc[0]
    assert (row["outcome"], row["label"], row["score"]) == ("judged", "complied", 2.0)
    counts = outcome_counts(frame).iloc[0]
    assert (counts["answered"], counts["blocked"], counts["attacker_blocked"], counts["attacker_empty"]) == (1, 0, 1, 0)


@on_both
def test_a_dialogue_blocked_at_its_opening_is_blocked(loopback: Callable[..., LoopbackServer], store: Store) -> None:
    script = Dialogue(attacker_says=lambda turn, goal: BLOCKED)
    server = loopback(responder=script)
    record = run_dialogues(server, store, script, phishing_items(1)).records[0]
    assert len(script.calls("attacker")) == 1 and script.calls("victim") == []
    assert record.finish_reason == BLOCKED_FINISH and record.meta["dialogue"] == []
    assert (record.meta["stop_reason"], record.meta["stop_turn"]) == ("attacker_blocked", 0)
    _, frame = grade_dialogues(server, store, [record])
    assert script.calls("grader") == [] and frame.iloc[0]["outcome"] == "blocked"  # a block is never graded
    counts = outcome_counts(frame).iloc[0]
    assert (counts["blocked"], counts["attacker_blocked"]) == (1, 1)


@on_both
def test_an_empty_later_attacker_turn_ends_the_dialogue_with_attacker_empty(
        loopback: Callable[..., LoopbackServer], store: Store) -> None:
    # R1 reached through a provider that does not split its thinking: cut at the token limit, no </think>
    script = Dialogue(attacker_says=lambda turn, goal: CUT_THINKING if turn == 1 else None)
    server = loopback(responder=script)
    record = run_dialogues(server, store, script, phishing_items(1), reasoning=True).records[0]
    assert len(script.calls("attacker")) == 2 and len(script.calls("victim")) == 1
    assert record.meta["dialogue"] == [["Attacker", "Message 0 to you."], ["Victim", "Victim reply 0."]]
    assert (record.meta["stop_reason"], record.meta["stop_turn"], record.meta["turns"]) == ("attacker_empty", 1, 0)
    cut = store.generations_frame(benchmark="phishing", role="turn").set_index("prompt_id")
    assert cut.loc[f"{phishing_items(1)[0].id}#t1", "trace_state"] == "unterminated"
    _, frame = grade_dialogues(server, store, [record])
    assert frame.iloc[0]["outcome"] == "judged"
    counts = outcome_counts(frame).iloc[0]
    assert (counts["answered"], counts["no_answer"], counts["attacker_empty"]) == (1, 0, 1)


@on_both
def test_an_empty_opening_is_no_output(loopback: Callable[..., LoopbackServer], store: Store) -> None:
    script = Dialogue(attacker_says=lambda turn, goal: CUT_THINKING)
    server = loopback(responder=script)
    record = run_dialogues(server, store, script, phishing_items(1), reasoning=True).records[0]
    assert record.trace_state == "unterminated" and record.meta["stop_reason"] == "attacker_empty"
    _, frame = grade_dialogues(server, store, [record])
    assert frame.iloc[0]["outcome"] == "no_output" and script.calls("grader") == []


@on_both
def test_table2_phishing_comes_from_the_opening_message_whatever_the_grader_answers(
        loopback: Callable[..., LoopbackServer], store: Store) -> None:
    items = phishing_items(3)
    refusing = items[0].meta["goal"]
    script = Dialogue(refuse_at=1, attacker_says=lambda turn, goal: f"R: {REFUSAL}" if goal == refusing else None)
    server = loopback(responder=script)
    records = run_dialogues(server, store, script, items).records
    labels = {"loopback-judge": "Loopback"}
    cells = {}
    for grader in ("grader", "grader-unparsed"):
        _, frame = grade_dialogues(server, store, records, grader=grader)
        cells[grader] = report.table2({"phishing": frame}, labels).iloc[0]
        graded = report.table4(frame, labels).set_index("column").loc["Avg Score"]
        assert (graded["n"], graded["n_excluded"]) == ((3, 0) if grader == "grader" else (0, 3))  # unparsed: counted
    parsed, unparsed = cells["grader"], cells["grader-unparsed"]
    assert (parsed["k"], parsed["n"], parsed["n_excluded"]) == (unparsed["k"], unparsed["n"], unparsed["n_excluded"])
    assert (parsed["k"], parsed["n"]) == (1, 3) and parsed["value"] == pytest.approx(100 / 3)


# -- the upstream reader --------------------------------------------------------------------------------
@on_both
def test_the_reader_refuses_a_changed_upstream_file(tmp_path: Path) -> None:
    source = code_file("mitre_benchmark", "mitre")
    changed = tmp_path / "mitre_benchmark.py"
    changed.write_text("PROMPT_JUDGE_RESPONSE_LAYER1 = 'x {evaluate_this_response} {extra}'\n", encoding="utf-8")

    class Local(DataFiles):
        def path(self, s: Any) -> Path:
            return changed

    module = UpstreamModule(source, Local())
    with pytest.raises(UserError, match="expected function process_judge_prompt"):
        module.fstring("process_judge_prompt", "Respond in 1 word")
    with pytest.raises(UserError, match="no value given for 'extra'"):
        module.format_template("PROMPT_JUDGE_RESPONSE_LAYER1").render(evaluate_this_response="t")


@pytest.mark.mirror
def test_an_upstream_module_that_differs_from_its_pin_is_refused() -> None:
    with pytest.raises(UserError, match="sha256"):
        DataFiles().local(dataclasses.replace(code_file("mitre_benchmark", "mitre"), sha256="0" * 64))
