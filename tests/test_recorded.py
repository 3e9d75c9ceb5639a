"""Recorded outputs of real models, on the real mirror files (``mirror`` tests): pinned sources, the
recorded prompt sets as benchmarks, the ``recorded`` backend (matching, trace hand-over, provenance,
not-recorded items) and the judges that return the shipped labels, checked against the shipped
aggregate rates through run_requests, a real SQLite store, judge_records and the outcome frame.
The same plumbing on the project's fixture traces runs on any clone (the last section).

The files hold harmful prompts and outputs: tests assert on counts and flags, never print texts.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from r1lib.analysis.outcomes import outcome_frame
from r1lib.benchmarks.base import Item
from r1lib.benchmarks.recorded import RUNS, SOURCES, file_rows, get_run, normalise_text, read_run
from r1lib.benchmarks.registry import load_items
from r1lib.benchmarks.sources import DataFiles
from r1lib.config.settings import ModelConfig, Settings, models_registry
from r1lib.core.errors import UserError
from r1lib.core.records import NOT_RECORDED_FINISH, GenerationRecord, generation_outcome
from r1lib.core.traces import OPEN_TAG, parse_trace
from r1lib.generation.backends import make_backend
from r1lib.generation.backends.recorded import DELIMITING, RecordedBackend, hand_over, recorded_completion
from r1lib.generation.runner import Request, requests_for, run_requests
from r1lib.judges.base import judge_records
from r1lib.judges.registry import get_judge
from r1lib.store.database import Store

#: Registry name of the model entry of every recorded run.
MODEL_OF = {
    "refusal-direction/DeepSeek-R1-Distill-Llama-8B": "recorded-r1-distill-llama-8b",
    "refusal-direction/meta-llama-3-8b-instruct": "recorded-llama-3-8b",
    "cosmic/Llama-3.1-8B-Instruct": "recorded-llama-3.1-8b",
    "cosmic/Qwen2.5-7B-Instruct": "recorded-qwen2.5-7b",
    "personas/DeepSeek-R1": "recorded-deepseek-r1-personas",
    "age-bias/DeepSeek-R1-Distill-Qwen-14B": "recorded-r1-distill-qwen-14b",
}
#: The benchmarks whose prompts each run recorded.
BENCHMARKS_OF = {
    "refusal-direction/DeepSeek-R1-Distill-Llama-8B": ("jbb-recorded", "alpaca-harmless"),
    "refusal-direction/meta-llama-3-8b-instruct": ("jbb-recorded", "alpaca-harmless"),
    "cosmic/Llama-3.1-8B-Instruct": ("jbb-recorded",),
    "cosmic/Qwen2.5-7B-Instruct": ("jbb-recorded",),
    "personas/DeepSeek-R1": ("personas",),
    "age-bias/DeepSeek-R1-Distill-Qwen-14B": ("xstest-age",),
}
R1_DISTILL = "refusal-direction/DeepSeek-R1-Distill-Llama-8B"
#: Shipped V3 harm flags that count as harmful.
HARMFUL = ("1", "2", "3")


def model(run: str) -> ModelConfig:
    """The models.yaml entry of a recorded run."""
    return models_registry()[MODEL_OF[run]]


def generate(run: str, benchmark: str, store: Store, *, split: str | None = None) -> list[GenerationRecord]:
    """Records of a recorded run on a whole benchmark, through run_requests into ``store``."""
    records, _ = run_requests(model(run), benchmark, requests_for(load_items(benchmark, split=split)), store,
                              progress=False)
    return records


def states(run: str) -> Counter:
    """(condition, trace state, finish reason) counts of every row of a run, as the backend hands them over."""
    recorded = get_run(run)
    counts: Counter = Counter()
    for row in read_run(run):
        completion = recorded_completion(recorded, row)
        counts[(row.file.condition, parse_trace(completion.text).state, completion.finish_reason)] += 1
    return counts


# -- pinned sources ---------------------------------------------------------------------------------

@pytest.mark.mirror
def test_every_recorded_file_is_pinned_verified_and_has_its_row_count() -> None:
    assert len(SOURCES) == 20
    files = DataFiles(download=False)
    for source in SOURCES:
        assert source.host == "github" and len(source.revision or "") == 40 and source.repo.count("/") == 1
        assert source.mirror and source.mirror.startswith("recorded/") and source.license
        assert files.local(source) is not None, source.mirror  # the sha256 check runs here
    rows = Counter()
    for file in {f for run in RUNS.values() for f in run.files}:
        for row in file_rows(file, files):
            rows[row.file.outputs] += 1
            assert row.prompt.strip()
    assert dict(rows) == {source: source.rows for source in rows}
    # the evaluations files are checked as they are read; deepseek-api-jailbreak: 70 + 150 rows, GLM-4-Air included
    assert sum(rows.values()) == 2 * 200 + 2 * 100 + 640 + 100 + 220
    assert sum(len(read_run(run)) for run in RUNS if run.startswith("deepseek-api-jailbreak/")) == 180  # GLM left out
    assert len({s.local_name for s in SOURCES}) == 20, "data/raw names must not collide"


@pytest.mark.mirror
def test_reassembled_and_unlicensed_files_say_so() -> None:
    reassembled = {s.mirror for s in SOURCES if "reassembled" in s.dataset or "reconstructed" in s.dataset}
    assert len(reassembled) == 5  # four R1-Distill files and the age-bias CSV
    assert all("DeepSeek-R1-Distill" in m or "age-bias" in m for m in reassembled)
    unlicensed = {s.mirror for s in SOURCES if "internal test use only" in s.license}
    assert len(unlicensed) == 5 and all("personas" in m or "age-bias" in m for m in unlicensed)


@pytest.mark.mirror
def test_a_changed_mirror_file_is_refused(tmp_path: Path, mirror: Path) -> None:
    source = get_run("personas/DeepSeek-R1").files[0].outputs
    copy = tmp_path / "mirror" / source.mirror
    copy.parent.mkdir(parents=True)
    copy.write_text(json.dumps(json.loads((mirror / source.mirror).read_text())[:9]))
    files = DataFiles(replace(Settings.load(), mirror_dir=tmp_path / "mirror", data_dir=tmp_path / "data"),
                      download=False)
    with pytest.raises(UserError, match="sha256"):
        files.local(source)


# -- the recorded prompt sets as benchmarks ---------------------------------------------------------

@pytest.mark.mirror
@pytest.mark.parametrize(("name", "split", "size"), [
    ("jbb-recorded", None, 100), ("alpaca-harmless", None, 112), ("alpaca-harmless", "both", 88),
    ("personas", None, 640), ("personas", "plain", 10), ("personas", "scenario", 30), ("personas", "persona", 150),
    ("personas", "persona-scenario", 450), ("xstest-age", None, 100),
])
def test_recorded_prompt_sets_load_with_unique_ids(name: str, split: str | None, size: int) -> None:
    items = load_items(name, split=split)
    assert len(items) == size == len({item.id for item in items})
    assert all(item.meta["source"].startswith("recorded-") for item in items)
    assert load_items(name, split=split) == items  # ids and order are stable


@pytest.mark.mirror
def test_recorded_jbb_prompts_are_jbb_behaviors_but_five() -> None:
    recorded = load_items("jbb-recorded")
    behaviours = {item.id: item for item in load_items("jbb-behaviors")}
    same = [item.id for item in recorded if normalise_text(item.messages[0]["content"])
            == normalise_text(behaviours[item.id].messages[0]["content"])]
    assert len(same) == 95
    assert sorted({item.id for item in recorded} - set(same), key=int) == ["3", "40", "43", "47", "82"]
    assert all(item.category == behaviours[item.id].category for item in recorded)
    for run in BENCHMARKS_OF:  # all four JBB recordings list the same prompts in the same order
        if "jbb-recorded" in BENCHMARKS_OF[run]:
            prompts = [row.prompt for row in read_run(run) if row.file.condition == "jailbreakbench"]
            assert prompts == [item.messages[0]["content"] for item in recorded]


@pytest.mark.mirror
def test_personas_pair_every_attacked_prompt_with_its_plain_goal() -> None:
    items = load_items("personas")
    assert Counter(item.category["condition"] for item in items) == {
        "plain": 10, "scenario": 30, "persona": 150, "persona-scenario": 450}
    assert set(Counter(item.category["goal"] for item in items).values()) == {64}
    plain = {item.category["goal"]: item.meta["goal"] for item in items if item.category["condition"] == "plain"}
    for item in items:
        assert [m["role"] for m in item.messages] == ["system", "user"]
        assert item.meta["goal"] == plain[item.category["goal"]]
        assert normalise_text(item.meta["goal"]) == normalise_text(item.messages[1]["content"])
    ps = [i for i in items if i.category["condition"] == "persona-scenario"]
    assert Counter(i.category["scenario_type"] for i in ps) == {"goodfaith": 150, "neutral": 150, "adversarial": 150}
    assert Counter(i.category["persona_type"] for i in ps) == {
        "trait-based": 150, "motivation-based": 150, "domain-specific": 150}
    sample = load_items("personas", limit=40, seed=1)
    assert Counter(i.category["condition"] for i in sample) == {
        "plain": 10, "scenario": 10, "persona": 10, "persona-scenario": 10}


@pytest.mark.mirror
def test_xstest_age_has_25_prompts_per_age_with_xstest_types() -> None:
    items = load_items("xstest-age")
    assert Counter(item.category["age"] for item in items) == {"neutral": 25, "child": 25, "adult": 25, "elderly": 25}
    xstest = {item.id: item for item in load_items("xstest")}
    for item in items:
        original = xstest[item.meta["xstest_id"]]
        assert item.category["type"] == original.category["type"]
        assert item.messages[0]["content"].endswith(original.messages[0]["content"])


# -- the backend: how each source's text is split -----------------------------------------------------

@pytest.mark.mirror
def test_r1_distill_bare_close_unterminated_and_no_think_on_real_rows() -> None:
    assert states(R1_DISTILL) == {
        ("jailbreakbench", "bare_close", "stop"): 13, ("jailbreakbench", "bare_close", "length"): 6,
        ("jailbreakbench", "no_think", "stop"): 63, ("jailbreakbench", "unterminated", "length"): 18,
        ("harmless", "bare_close", "stop"): 19, ("harmless", "bare_close", "length"): 12,
        ("harmless", "no_think", "stop"): 25, ("harmless", "no_think", "length"): 2,
        ("harmless", "unterminated", "length"): 40, ("harmless", "unterminated", "stop"): 2}
    run = get_run(R1_DISTILL)
    refusals = 0
    for row in read_run(R1_DISTILL):
        text, how = hand_over(run, row)
        trace = parse_trace(text)
        if how == "bare_close":  # the model's own </think>: thinking before it, answer after it
            assert trace.state == "bare_close" and text == row.output
            assert row.output.strip().startswith(trace.thinking[:40])
            assert row.output.rstrip().endswith(trace.answer[-40:])
        elif how == "prefill_restored":  # thinking cut (or stopped) before </think>: all of it is thinking
            assert text == f"{OPEN_TAG}\n{row.output}" and trace.thinking == row.output.strip() and trace.answer == ""
        else:  # a direct answer: all of it is the answer
            assert how == "direct_answer" and trace.answer == row.output.strip() and trace.thinking is None
            refusals += row.output.startswith("I'm sorry, but I can't")
    assert refusals == 62


@pytest.mark.mirror
def test_r1_distill_opening_rule_agrees_with_first_person_planning() -> None:
    """An independent cue on the rows without </think>: R1's thinking plans in the first person
    ("I need to", "Let me" ...) within its first 300 characters, answers address the user."""
    run = get_run(R1_DISTILL)
    planning = re.compile(r"\b(I need to|I'm trying to|I want to|I have to|Let me|I should)\b")
    found = Counter()
    for row in read_run(R1_DISTILL):
        how = hand_over(run, row)[1]
        if how != "bare_close":
            found[(how, bool(planning.search(row.output[:300])))] += 1
            if how == "direct_answer" and planning.search(row.output[:300]):  # answers that say "Let me explain"
                assert row.output.startswith("Sure, I'd be happy to help")
    assert found == {("prefill_restored", True): 60, ("direct_answer", False): 87, ("direct_answer", True): 3}
    cut_answers = [row for row in read_run(R1_DISTILL) if hand_over(run, row)[1] == "direct_answer"
                   and recorded_completion(run, row).finish_reason == "length"]
    assert len(cut_answers) == 2 and all(row.file.condition == "harmless" for row in cut_answers)


@pytest.mark.mirror
def test_personas_raw_answer_splits_like_the_datasets_cot_and_response() -> None:
    rows = read_run("personas/DeepSeek-R1")
    run = get_run("personas/DeepSeek-R1")
    agree = Counter()
    for row in rows:
        trace = parse_trace(hand_over(run, row)[0])
        if row.fields["cot"]:
            agree[(trace.thinking == row.fields["cot"].strip(), trace.answer == row.fields["response"].strip())] += 1
        else:
            agree[("no cot", trace.state)] += 1
    assert agree == {(True, True): 532, ("no cot", "empty_think"): 88, ("no cot", "unterminated"): 19,
                     ("no cot", "closed"): 1}
    cut_thinking = Counter()
    for (_, state, finish), count in states("personas/DeepSeek-R1").items():
        if state == "unterminated":
            cut_thinking[finish] += count
    assert cut_thinking == {"length": 19}


@pytest.mark.mirror
def test_age_bias_thinking_is_the_trace_and_the_answer_is_empty() -> None:
    run = get_run("age-bias/DeepSeek-R1-Distill-Qwen-14B")
    found = Counter()
    for row in read_run(run.name):
        trace = parse_trace(hand_over(run, row)[0])
        assert trace.answer == "" and trace.thinking == row.output.strip()
        found[trace.state] += 1
    assert found == {"closed": 91, "empty_think": 9}


@pytest.mark.mirror
@pytest.mark.parametrize("run", ["refusal-direction/meta-llama-3-8b-instruct", "cosmic/Llama-3.1-8B-Instruct",
                                 "cosmic/Qwen2.5-7B-Instruct"])
def test_non_reasoning_runs_are_all_answer(run: str) -> None:
    recorded = get_run(run)
    for row in read_run(run):
        trace = parse_trace(hand_over(recorded, row)[0])
        assert trace.state == "no_think" and trace.answer == row.output.strip()


# -- not recorded ------------------------------------------------------------------------------------

@pytest.mark.mirror
def test_items_without_a_recording_are_stored_not_recorded_and_not_sent_again(store: Store) -> None:
    config = model(R1_DISTILL)
    made_up = Item(benchmark="mine", id="made-up", messages=[{"role": "user", "content": "Name three rivers."}])
    plain_goal = load_items("personas", split="plain")[0]
    without_system = Item(benchmark="mine", id="no-system", messages=plain_goal.messages[1:])
    jbb = load_items("jbb-behaviors")
    requests = requests_for([*jbb, made_up, without_system])
    records, first = run_requests(config, "jbb-behaviors", requests, store, progress=False)
    outcomes = {r.prompt_id: generation_outcome(r.error, r.finish_reason, r.trace_state, r.answer) for r in records}
    missing = sorted(p for p, o in outcomes.items() if o == "not_recorded")
    assert missing == sorted(["3", "40", "43", "47", "82", "made-up", "no-system"])
    for record in records:
        if record.prompt_id in missing:
            assert record.finish_reason == NOT_RECORDED_FINISH and record.raw_text == "" and record.error is None
            assert record.meta["provenance"]["row"] is None and record.meta["provenance"]["not_recorded"]
    assert first.new == 102 and first.failed == 0
    _, second = run_requests(config, "jbb-behaviors", requests, store, progress=False)
    assert (second.new, second.reused) == (0, 102)
    judge = get_judge("recorded-strmatch")
    judge_records(judge, records, "full", store, progress=False)
    frame = outcome_frame(store, benchmark="jbb-behaviors", judge=judge.name, version=judge.version, channel="full")
    assert frame.set_index("prompt_id").loc[missing, "outcome"].eq("not_recorded").all()
    assert frame["outcome"].value_counts().to_dict() == {"judged": 95, "not_recorded": 7}


@pytest.mark.mirror
def test_multi_turn_and_another_runs_prompts_are_not_recorded() -> None:
    backend = RecordedBackend(model("cosmic/Qwen2.5-7B-Instruct"))
    prompt = load_items("jbb-recorded")[0].messages
    assert backend.complete(prompt).finish_reason != NOT_RECORDED_FINISH
    turns = [*prompt, {"role": "assistant", "content": "No."}, *prompt]
    assert backend.complete(turns).finish_reason == NOT_RECORDED_FINISH
    assert backend.complete(load_items("xstest-age")[0].messages).finish_reason == NOT_RECORDED_FINISH
    spaced = [{"role": "user", "content": "  " + prompt[0]["content"].replace(" ", "\n ") + " "}]
    assert backend.complete(spaced).finish_reason != NOT_RECORDED_FINISH  # matched after whitespace normalisation


def test_unknown_recorded_run_lists_the_runs() -> None:
    config = ModelConfig(name="mine", backend="recorded", model="cosmic/GPT-5")
    with pytest.raises(UserError, match="recorded runs: .*refusal-direction/DeepSeek-R1-Distill-Llama-8B.*"
                                        "age-bias/DeepSeek-R1-Distill-Qwen-14B"):
        make_backend(config)


# -- provenance ------------------------------------------------------------------------------------

@pytest.mark.mirror
def test_every_record_carries_its_provenance(store: Store) -> None:
    for run, benchmarks in BENCHMARKS_OF.items():
        recorded = get_run(run)
        rows = {(row.file.outputs.mirror, row.index): row for row in read_run(run)}
        for benchmark in benchmarks:
            for record in generate(run, benchmark, store):
                provenance = record.meta["provenance"]
                assert provenance["run"] == run and provenance["repo"] and len(provenance["commit"]) == 40
                if record.finish_reason == NOT_RECORDED_FINISH:
                    continue
                row = rows[(provenance["mirror"], provenance["row"])]
                assert normalise_text(row.prompt) == normalise_text(record.prompt)
                assert provenance["file"] == row.file.outputs.path and provenance["sha256"] == row.file.outputs.sha256
                assert provenance["delimiting"] in DELIMITING.values()
                assert provenance["max_new_tokens"] == recorded.max_new_tokens


# -- shipped labels through the real pipeline ----------------------------------------------------------

def shipped(run: str, condition: str) -> dict:
    """The evaluations JSON of a pipeline run's prompt set (aggregate rates)."""
    file = next(f for f in get_run(run).files if f.condition == condition)
    return json.loads(DataFiles(download=False).path(file.labels).read_text())


@pytest.mark.mirror
@pytest.mark.parametrize(("run", "benchmark", "condition", "judge", "label", "rate_key"), [
    (R1_DISTILL, "jbb-recorded", "jailbreakbench", "recorded-llamaguard", "unsafe", "llamaguard2"),
    (R1_DISTILL, "jbb-recorded", "jailbreakbench", "recorded-strmatch", "full_compliance", "substring_matching"),
    (R1_DISTILL, "alpaca-harmless", "harmless", "recorded-strmatch", "full_compliance", "substring_matching"),
    ("refusal-direction/meta-llama-3-8b-instruct", "jbb-recorded", "jailbreakbench", "recorded-llamaguard", "unsafe",
     "llamaguard2"),
    ("refusal-direction/meta-llama-3-8b-instruct", "jbb-recorded", "jailbreakbench", "recorded-strmatch",
     "full_compliance", "substring_matching"),
    ("refusal-direction/meta-llama-3-8b-instruct", "alpaca-harmless", "harmless", "recorded-strmatch",
     "full_compliance", "substring_matching"),
    ("cosmic/Llama-3.1-8B-Instruct", "jbb-recorded", "jailbreakbench", "recorded-llamaguard", "unsafe", "llamaguard3"),
    ("cosmic/Llama-3.1-8B-Instruct", "jbb-recorded", "jailbreakbench", "recorded-strmatch", "full_compliance",
     "substring_matching"),
    ("cosmic/Qwen2.5-7B-Instruct", "jbb-recorded", "jailbreakbench", "recorded-llamaguard", "unsafe", "llamaguard3"),
    ("cosmic/Qwen2.5-7B-Instruct", "jbb-recorded", "jailbreakbench", "recorded-strmatch", "full_compliance",
     "substring_matching"),
])
@pytest.mark.mirror
def test_recorded_judges_reproduce_the_shipped_rates(store: Store, run: str, benchmark: str, condition: str,
                                                     judge: str, label: str, rate_key: str) -> None:
    records = generate(run, benchmark, store)
    chosen = get_judge(judge)
    judge_records(chosen, records, "full", store, progress=False)
    frame = outcome_frame(store, benchmark=benchmark, judge=chosen.name, version=chosen.version, channel="full",
                          models=[MODEL_OF[run]])
    judged = frame[frame["outcome"] == "judged"]
    assert len(judged) == 100
    expected = shipped(run, condition)
    assert round((judged["label"] == label).mean(), 10) == expected[f"{rate_key}_success_rate"]
    if condition == "jailbreakbench":
        per_category = judged.groupby("category")["label"].apply(lambda s: round((s == label).mean(), 10)).to_dict()
        assert per_category == expected[f"{rate_key}_per_category"]


@pytest.mark.mirror
def test_r1_distill_llama_guard_2_attack_success_rate_is_013(store: Store) -> None:
    records = generate(R1_DISTILL, "jbb-recorded", store)
    verdicts = judge_records(get_judge("recorded-llamaguard"), records, "full", store, progress=False)
    assert Counter(v.label for v in verdicts) == {"unsafe": 13, "safe": 87}
    assert {v.details["label_key"] for v in verdicts} == {"is_jailbreak_llamaguard2"}


@pytest.mark.mirror
def test_personas_v3_harm_counts_thinking_vs_answer(store: Store) -> None:
    records = generate("personas/DeepSeek-R1", "personas", store, split="persona-scenario")
    harm = get_judge("recorded-v3-harm")
    rows = {(row.file.outputs.mirror, row.index): row for row in read_run("personas/DeepSeek-R1")}
    for channel, field, judged_unsafe, shipped_unsafe in (("thinking", "cot", 88, 91), ("answer", "response", 12, 21)):
        judge_records(harm, records, channel, store, progress=False)
        frame = outcome_frame(store, benchmark="personas", judge=harm.name, version=harm.version, channel=channel)
        assert len(frame) == 450
        flags = {r.key: str(rows[(r.meta["provenance"]["mirror"], r.meta["provenance"]["row"])]
                          .labels[f"harmful_completion_flag_{field}"]).strip() for r in records}
        assert sum(flag in HARMFUL for flag in flags.values()) == shipped_unsafe  # the MANIFEST's 91/450 and 21/450
        assert (frame["label"] == "unsafe").sum() == judged_unsafe
        # every other shipped harm flag belongs to a text the parser does not put in this channel
        others = frame[(frame["label"] != "unsafe") & frame["gen_key"].map(lambda k: flags[k] in HARMFUL)]  # noqa: B023
        assert len(others) == shipped_unsafe - judged_unsafe
        assert set(others["outcome"]) <= {"no_output", "unparsed"}
        assert all("not_applicable" in d for d in others.loc[others["outcome"] == "unparsed", "details"])


@pytest.mark.mirror
def test_personas_judge_chatter_is_stored_unparsed_with_the_raw_flag(store: Store) -> None:
    records = generate("personas/DeepSeek-R1", "personas", store, split="persona")
    verdicts = judge_records(get_judge("recorded-v3-harm"), records, "thinking", store, progress=False)
    chatter = [v for v in verdicts if v.label is None and "not_applicable" not in v.details]
    assert len(chatter) == 3 and not any(v.parsed_ok for v in chatter)
    assert all(str(v.details["shipped"]).strip() not in ("0", "1", "2", "3") for v in chatter)
    assert any(v.raw.startswith("0The score is 0") for v in verdicts)


@pytest.mark.mirror
def test_age_bias_human_labels_of_the_thinking(store: Store) -> None:
    records = generate("age-bias/DeepSeek-R1-Distill-Qwen-14B", "xstest-age", store)
    verdicts = judge_records(get_judge("recorded-human"), records, "thinking", store, progress=False)
    assert Counter(v.label for v in verdicts) == {"full_compliance": 91, "no_output": 9}
    empty = {r.key for r in records if r.trace_state == "empty_think"}
    assert {v.gen_key for v in verdicts if v.label == "no_output"} == empty


@pytest.mark.mirror
def test_recorded_judges_refuse_what_they_have_no_label_for(store: Store) -> None:
    r1 = generate(R1_DISTILL, "jbb-recorded", store)
    with pytest.raises(UserError, match="channel"):
        judge_records(get_judge("recorded-llamaguard"), r1, "thinking", store, progress=False)
    with pytest.raises(UserError, match="no 'harmful_completion_flag_cot' label"):
        judge_records(get_judge("recorded-v3-harm"), r1, "thinking", store, progress=False)
    harmless = generate(R1_DISTILL, "alpaca-harmless", store)
    with pytest.raises(UserError, match="no 'is_jailbreak_llamaguard' label"):
        judge_records(get_judge("recorded-llamaguard"), harmless, "full", store, progress=False)
    ages = generate("age-bias/DeepSeek-R1-Distill-Qwen-14B", "xstest-age", store)
    with pytest.raises(UserError, match="channel"):
        judge_records(get_judge("recorded-human"), ages, "full", store, progress=False)
    live, _ = run_requests(models_registry()["fake-v3"], "jbb-recorded", [Request("0", r1[0].messages)], store,
                           progress=False)
    with pytest.raises(UserError, match="no recorded provenance"):
        judge_records(get_judge("recorded-strmatch"), live, "full", store, progress=False)


@pytest.mark.mirror
def test_whole_output_labels_apply_to_the_answer_only_without_thinking(store: Store) -> None:
    records = generate(R1_DISTILL, "jbb-recorded", store)
    verdicts = {v.gen_key: v for v in judge_records(get_judge("recorded-strmatch"), records, "answer", store,
                                                    progress=False)}
    def kind(record: GenerationRecord) -> str:
        verdict = verdicts[record.key]
        return "not_applicable" if "not_applicable" in verdict.details else verdict.label or "unparsed"

    found = Counter((r.trace_state, kind(r)) for r in records)
    assert found == {("no_think", "full_refusal"): 62, ("no_think", "full_compliance"): 1,
                     ("bare_close", "not_applicable"): 19, ("unterminated", "no_output"): 18}


# -- the same plumbing on the project's fixture traces (no mirror needed) ------------------------------

def test_every_recorded_fixture_loads_with_its_manifest_row_count() -> None:
    files = DataFiles(download=False)
    manifest = {name: fixture.rows for name, fixture in (files.fixtures or {}).items()}
    for source in SOURCES:
        path = files.local(source)
        assert path is not None and files.pinned_sha256(source) != source.sha256, source.local_name
    rows = Counter(row.file.outputs for file in {f for run in RUNS.values() for f in run.files}
                   for row in file_rows(file, files))
    assert {source.local_name: n for source, n in rows.items()} == {
        source.local_name: manifest[f"{source.benchmark}/{source.local_name}"] for source in rows}
    assert sum(rows.values()) == 4 * 4 + 4 * 2 + 8 + 4 + 14 + 10


@pytest.mark.parametrize(("name", "split", "size"), [
    ("jbb-recorded", None, 4), ("alpaca-harmless", None, 5), ("alpaca-harmless", "both", 3), ("personas", None, 8),
    ("personas", "plain", 2), ("xstest-age", None, 4),
])
def test_recorded_fixture_sets_load_marked_as_fixtures(name: str, split: str | None, size: int) -> None:
    items = load_items(name, split=split)
    assert len(items) == size == len({item.id for item in items})
    assert all(item.meta["source"].startswith("recorded-") and item.meta["fixture"] for item in items)


def test_fixture_traces_are_handed_over_in_every_shape() -> None:
    assert states(R1_DISTILL) == {("jailbreakbench", "bare_close", "stop"): 2,
                                  ("jailbreakbench", "unterminated", "stop"): 1,
                                  ("jailbreakbench", "no_think", "stop"): 1, ("harmless", "bare_close", "stop"): 4}
    assert states("personas/DeepSeek-R1") == {(c, "closed", "stop"): 2 for c in
                                              ("plain", "scenario", "persona", "persona-scenario")}
    assert states("age-bias/DeepSeek-R1-Distill-Qwen-14B") == {("xstest-age", "closed", "stop"): 3,
                                                               ("xstest-age", "empty_think", "stop"): 1}


def test_fixture_items_without_a_recording_are_not_recorded_and_not_sent_again(store: Store) -> None:
    config = model(R1_DISTILL)
    made_up = Item(benchmark="mine", id="made-up", messages=[{"role": "user", "content": "Name three rivers."}])
    requests = requests_for([*load_items("jbb-behaviors"), made_up])  # fixture behaviours 0-3 were recorded, 4-5 not
    records, first = run_requests(config, "jbb-behaviors", requests, store, progress=False)
    missing = sorted(r.prompt_id for r in records if r.finish_reason == NOT_RECORDED_FINISH)
    assert missing == ["4", "5", "made-up"] and (first.new, first.failed) == (7, 0)
    assert all(r.raw_text == "" and r.error is None for r in records if r.prompt_id in missing)
    _, second = run_requests(config, "jbb-behaviors", requests, store, progress=False)
    assert (second.new, second.reused) == (0, 7)


def test_fixture_records_carry_the_fixtures_provenance(store: Store) -> None:
    records = generate(R1_DISTILL, "jbb-recorded", store)
    rows = {(row.file.outputs.mirror, row.index): row for row in read_run(R1_DISTILL)}
    files = DataFiles(download=False)
    for record in records:
        provenance = record.meta["provenance"]
        row = rows[(provenance["mirror"], provenance["row"])]
        assert normalise_text(row.prompt) == normalise_text(record.prompt)
        assert provenance["sha256"] == files.pinned_sha256(row.file.outputs) != row.file.outputs.sha256
        assert record.meta["item"]["fixture"]


def test_recorded_judges_return_the_fixtures_shipped_labels(store: Store) -> None:
    r1 = generate(R1_DISTILL, "jbb-recorded", store)
    guard = judge_records(get_judge("recorded-llamaguard"), r1, "full", store, progress=False)
    assert [v.label for v in sorted(guard, key=lambda v: int(v.details["row"]))] == ["safe", "safe", "safe", "unsafe"]
    personas = generate("personas/DeepSeek-R1", "personas", store)
    harm = get_judge("recorded-v3-harm")
    for channel, scores in (("thinking", {"0": "safe", "1": "unsafe"}), ("answer", {"0": "safe", "2": "unsafe"})):
        verdicts = judge_records(harm, personas, channel, store, progress=False)
        assert Counter(v.label for v in verdicts) == {label: 4 for label in scores.values()}
    ages = generate("age-bias/DeepSeek-R1-Distill-Qwen-14B", "xstest-age", store)
    human = judge_records(get_judge("recorded-human"), ages, "thinking", store, progress=False)
    assert Counter(v.label for v in human) == {"full_compliance": 2, "full_refusal": 1, "no_output": 1}


def test_recorded_judges_refuse_what_the_fixtures_have_no_label_for(store: Store) -> None:
    r1 = generate(R1_DISTILL, "jbb-recorded", store)
    with pytest.raises(UserError, match="channel"):
        judge_records(get_judge("recorded-llamaguard"), r1, "thinking", store, progress=False)
    harmless = generate(R1_DISTILL, "alpaca-harmless", store)
    with pytest.raises(UserError, match="no 'is_jailbreak_llamaguard' label"):
        judge_records(get_judge("recorded-llamaguard"), harmless, "full", store, progress=False)
    live, _ = run_requests(models_registry()["fake-v3"], "jbb-recorded", [Request("0", r1[0].messages)], store,
                           progress=False)
    with pytest.raises(UserError, match="no recorded provenance"):
        judge_records(get_judge("recorded-strmatch"), live, "full", store, progress=False)
