"""Interoperability: Inspect eval logs out (`r1lib export --format inspect`) and in (`read_inspect_log`, also on a
log `inspect eval` made against the loopback server), and lm-evaluation-harness `--log_samples` files in."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from inspect_ai.log import EvalLog, EvalSample, EvalSpec, read_eval_log, write_eval_log
from inspect_ai.model import (
    ChatMessageAssistant,
    ChatMessageTool,
    ChatMessageUser,
    ContentImage,
    ContentReasoning,
    ContentText,
)
from inspect_ai.tool import ToolCall

from r1lib.app.cli import main
from r1lib.benchmarks.imported.inspect_log import read_inspect_log
from r1lib.benchmarks.imported.lm_eval_samples import read_lm_eval_samples
from r1lib.config.settings import models_registry
from r1lib.core.errors import UserError
from r1lib.core.records import GenerationRecord, Verdict
from r1lib.generation.runner import Request, run_requests
from r1lib.judges.base import judge_records
from r1lib.judges.registry import get_judge
from r1lib.store.database import Store
from r1lib.testing.loopback_chat import scripted_answer, scripted_thinking

INTEROP = Path(__file__).resolve().parent / "fixtures" / "interop"
LM_EVAL = INTEROP / "samples_tiny_gen_2026-01-01T00-00-00.000000.jsonl"
INSPECT = Path(sys.executable).parent / "inspect"


@pytest.fixture
def judged_store(tmp_path: Path) -> Path:
    """fake-r1 records on 'demo' (3 single-turn with categories, a second sample, a multi-turn conversation) judged
    on the answer, one re-judged later under another version, one with an errored thinking verdict; and on 'other'
    a record without thinking, one cut in its thinking and one failed call."""
    path = tmp_path / "runs" / "store.sqlite"
    path.parent.mkdir()
    with Store(path) as store:
        system = {"role": "system", "content": "Be careful."}
        requests = [Request(f"p{i}", [system, {"role": "user", "content": f"question {i}"}], 0,
                            {"category": {"type": f"t{i % 2}", "level": str(i)}}) for i in range(3)]
        requests.append(Request("p0", requests[0].messages, 1, {"category": {"type": "t0", "level": "0"}}))
        requests.append(Request("dialogue", [{"role": "user", "content": "hello"}, {"role": "assistant",
                                             "content": "hi, how can I help?"}, {"role": "user", "content": "go on"}],
                                0, {}))
        records, _ = run_requests(models_registry()["fake-r1"], "demo", requests, store, progress=False)
        judge_records(get_judge("refusal-strmatch"), records, "answer", store, progress=False)
        store.put_verdict(Verdict(records[1].key, "refusal-strmatch", "v0", "answer", "full_refusal", 1.0, True,
                                  created_at=1.0))
        store.put_verdict(Verdict(records[2].key, "refusal-strmatch", "v9", "thinking", None, None, False,
                                  error="judge timed out", judge_model="none"))
        base = dict(model="fake-r1", benchmark="other", sample=0, config={}, finish_reason="stop")
        store.put_generation(GenerationRecord(key="plain", prompt_id="q1", answer="Only an answer.",
                                              trace_state="no_think", messages=[{"role": "user", "content": "a"}],
                                              meta={"category": {"type": "t9"}}, **base))
        store.put_generation(GenerationRecord(key="cut", prompt_id="q2", thinking="Thinking that never ends",
                                              answer="", trace_state="unterminated",
                                              messages=[{"role": "user", "content": "b"}], **base))
        store.put_generation(GenerationRecord(key="failed", prompt_id="q3", error="HTTP 500",
                                              messages=[{"role": "user", "content": "c"}],
                                              **{**base, "finish_reason": None}))
    return path


def _exported(store_path: Path) -> list[Path]:
    assert main(["export", "--format", "inspect", "--store", str(store_path)]) == 0
    return sorted((store_path.parent / "inspect-logs").glob("*.eval"))


def test_export_then_read_gives_back_every_conversation_thinking_and_answer(judged_store: Path) -> None:
    paths = _exported(judged_store)
    assert [p.name for p in paths] == ["fake-r1__demo.eval", "fake-r1__other.eval"]
    with Store(judged_store) as store:
        records = {r.key: r for r in store.iter_generations()}
    rows = [row for path in paths for row in read_inspect_log(path)]
    assert sorted(row["meta"]["r1lib"]["key"] for row in rows) == sorted(records)
    for row in rows:
        record = records[row["meta"]["r1lib"]["key"]]
        assert row["messages"] == record.messages
        assert (row["thinking"], row["answer"]) == (record.thinking, record.answer)
        assert row["category"] == record.meta.get("category", {})
        assert row["model"] == "fake-r1" and row["meta"]["inspect"]["task"] == record.benchmark
        assert row["meta"]["r1lib"]["trace_state"] == record.trace_state
    by_key = {row["meta"]["r1lib"]["key"]: row for row in rows}
    assert by_key["plain"]["output"] == "Only an answer."  # no reasoning block: the text goes to the trace parser
    assert by_key["failed"]["meta"]["inspect"]["error"] == "HTTP 500" and by_key["failed"]["output"] is None
    demo_ids = sorted((row["id"], row["sample"]) for row in rows if row["meta"]["inspect"]["task"] == "demo")
    assert demo_ids == [("dialogue", 0), ("p0", 0), ("p0", 1), ("p1", 0), ("p2", 0)]  # the epoch is the sample + 1


def test_export_writes_latest_verdicts_as_scores_and_names_model_and_benchmark(judged_store: Path) -> None:
    demo, other = _exported(judged_store)
    log = read_eval_log(str(demo))
    assert (log.eval.model, log.eval.task, log.eval.dataset.name, log.eval.config.epochs) == ("fake-r1", "demo",
                                                                                               "demo", 2)
    with Store(judged_store) as store:
        verdicts = store.verdicts_frame(model="fake-r1", benchmark="demo")
    samples = {s.metadata["r1lib"]["key"]: s for s in log.samples}
    latest = verdicts.sort_values("created_at").drop_duplicates(["gen_key", "judge", "channel"], keep="last")
    assert sum(len(s.scores or {}) for s in samples.values()) == len(latest) == 6
    for v in latest.itertuples():
        score = samples[v.gen_key].scores[f"{v.judge}/{v.channel}"]
        assert score.metadata["judge_version"] == v.version and score.metadata["parsed_ok"] == bool(v.parsed_ok)
        if isinstance(v.label, str):
            assert score.value == v.label and score.metadata["outcome"] == "judged"
            assert score.metadata["judge_model"] == "none" and score.metadata["score"] == v.score
    rejudged = samples[verdicts.loc[verdicts["version"] == "v0", "gen_key"].item()]
    assert rejudged.scores["refusal-strmatch/answer"].metadata["judge_version"] != "v0"
    errored = next(s for s in samples.values() if "refusal-strmatch/thinking" in (s.scores or {}))
    score = errored.scores["refusal-strmatch/thinking"]
    assert (score.value, score.metadata["error"]) == ("judge_error", "judge timed out")  # never a label, never safe
    first = samples[next(k for k, s in samples.items() if s.id == "p0" and s.epoch == 1)]
    assert first.metadata["category"] == {"type": "t0", "level": "0"}
    assert first.metadata["r1lib"]["finish_reason"] == "stop" and first.metadata["r1lib"]["sample"] == 0
    assert [block.type for block in first.output.message.content] == ["reasoning", "text"]
    failed = next(s for s in read_eval_log(str(other)).samples if s.metadata["r1lib"]["key"] == "failed")
    assert failed.error.message == "HTTP 500" and not failed.output.choices


def test_export_filters_and_output_dir(judged_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "logs"
    assert main(["export", "--format", "inspect", "--store", str(judged_store), "--benchmark", "other",
                 "--output", str(out)]) == 0
    assert [p.name for p in out.glob("*")] == ["fake-r1__other.eval"]
    assert "wrote 3 samples to 1 Inspect logs" in capsys.readouterr().out
    assert main(["export", "--format", "inspect", "--store", str(judged_store), "--model", "no-such-model",
                 "--output", str(out)]) == 2
    assert "holds no records of model 'no-such-model'" in capsys.readouterr().err  # the filter check names it
    assert main(["export", "--format", "eval", "--store", str(judged_store)]) == 2
    assert "use one of jsonl, parquet, csv, inspect" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "inspect_ai.log", None)  # as if inspect_ai were not installed
    assert main(["export", "--format", "inspect", "--store", str(judged_store), "--output", str(out)]) == 2
    assert 'needs inspect_ai, which is not installed' in capsys.readouterr().err


def test_json_logs_read_like_eval_logs(judged_store: Path, tmp_path: Path) -> None:
    demo = _exported(judged_store)[0]
    as_json = tmp_path / "demo.json"
    write_eval_log(read_eval_log(str(demo)), str(as_json), format="json")
    assert read_inspect_log(as_json) == read_inspect_log(demo)


def _log(tmp_path: Path, *samples: EvalSample) -> Path:
    """A minimal Inspect log of these samples, written by inspect_ai itself."""
    template = read_eval_log(str(next(tmp_path.glob("runs/inspect-logs/*.eval"))), header_only=True)
    path = tmp_path / f"made-{len(list(tmp_path.glob('made-*')))}.eval"
    write_eval_log(EvalLog(status="success", eval=EvalSpec(**{**template.eval.model_dump(), "task": "made"}),
                           samples=list(samples)), str(path))
    return path


def test_inspect_reader_refuses_tools_and_images_and_marks_redacted_reasoning(judged_store: Path,
                                                                             tmp_path: Path) -> None:
    _exported(judged_store)
    user = ChatMessageUser(content="What is the weather?")
    call = ToolCall(id="c1", function="weather", arguments={})
    tools = EvalSample(id="t", epoch=1, input=[user], target="", messages=[
        user, ChatMessageAssistant(content="", tool_calls=[call]), ChatMessageTool(content="sunny", tool_call_id="c1"),
        ChatMessageAssistant(content="It is sunny.")])
    with pytest.raises(UserError, match="uses tools"):
        read_inspect_log(_log(tmp_path, tools))
    image = ChatMessageUser(content=[ContentText(text="Describe it."), ContentImage(image="data:image/png;base64,")])
    with pytest.raises(UserError, match="holds image content"):
        read_inspect_log(_log(tmp_path, EvalSample(id="i", epoch=1, input=[image], target="",
                                                   messages=[image, ChatMessageAssistant(content="A square.")])))
    hidden = ChatMessageAssistant(content=[ContentReasoning(reasoning="opaque", redacted=True, summary="A summary."),
                                           ContentText(text="Done.")])
    (row,) = read_inspect_log(_log(tmp_path, EvalSample(id=7, epoch=1, input="Do it.", target="", messages=[
        ChatMessageUser(content="Do it."), hidden], metadata={"type": "x", "n": 2})))
    assert (row["id"], row["thinking"], row["answer"], row["output"]) == ("7", "A summary.", "Done.", None)
    assert row["meta"]["inspect"]["thinking_redacted"] is True and row["category"] == {"type": "x"}


def test_inspect_reader_errors_name_the_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserError, match="no Inspect log at"):
        read_inspect_log(tmp_path / "missing.eval")
    garbage = tmp_path / "garbage.eval"
    garbage.write_text("not a log")
    with pytest.raises(UserError, match="is not a readable Inspect eval log"):
        read_inspect_log(garbage)
    monkeypatch.setitem(sys.modules, "inspect_ai.log", None)  # as if inspect_ai were not installed
    with pytest.raises(UserError, match=r'pip install -e "\.\[inspect\]"'):
        read_inspect_log(garbage)


@pytest.mark.slow
def test_log_made_by_inspect_eval_against_the_loopback_server(tmp_path: Path, loopback) -> None:
    server = loopback()
    shutil.copy(INTEROP / "inspect_task.py", tmp_path)
    logs = tmp_path / "logs"
    env = {**os.environ, "LOOPBACK_BASE_URL": server.base_url, "LOOPBACK_API_KEY": "loopback",
           "INSPECT_LOG_DIR": str(logs), "XDG_DATA_HOME": str(tmp_path / "xdg")}
    done = subprocess.run([str(INSPECT), "eval", "inspect_task.py", "--model", "openai-api/loopback/deepseek-reasoner",
                           "--log-dir", str(logs), "--display", "none", "--epochs", "2"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    (log,) = logs.glob("*.eval")
    rows = read_inspect_log(log)
    assert sorted((row["id"], row["sample"]) for row in rows) == [(name, k) for name in ("deepseek", "plain", "tags")
                                                                 for k in (0, 1)]
    for row in rows:
        prompt = row["messages"][-1]["content"]
        assert row["messages"] == [{"role": "system", "content": "Answer in one sentence."},
                                   {"role": "user", "content": prompt}]
        assert row["answer"] == scripted_answer(prompt)
        assert row["category"] == {"type": row["id"]} and row["meta"]["size"] == 1
        assert row["model"] == "openai-api/loopback/deepseek-reasoner"
        assert row["meta"]["inspect"]["task"] == "tiny_interop"
        if row["id"].startswith("plain"):
            assert row["thinking"] is None and row["output"] == row["answer"]
        else:  # reasoning_content and inline <think> tags both reach the log as reasoning blocks
            assert row["thinking"] == scripted_thinking(prompt) and row["output"] is None
    assert server.counts["ok"] == 6


def test_lm_eval_samples_both_argument_shapes_filters_and_repeats() -> None:
    rows = read_lm_eval_samples(LM_EVAL)
    assert [(row["id"], row["sample"]) for row in rows] == [("0", 0), ("1", 0), ("2", 0), ("2", 1)]
    assert [row["row"] for row in rows] == [0, 1, 3, 3]
    first, chat, *repeats = rows
    assert first["messages"] == [{"role": "user", "content": "[fixture prompt 0]"}]
    assert first["output"] == "<think>\n[fixture thinking 0]\n</think>\n\n[fixture answer 0]"
    assert (first["thinking"], first["answer"], first["model"], first["category"]) == (None, None, None, {})
    assert first["meta"]["doc"] == {"prompt": "[fixture prompt 0]", "type": "t0"}
    assert first["meta"]["target"] == "[fixture target 0]"
    assert first["meta"]["lm_eval"]["task"] == "tiny_gen"
    assert first["meta"]["lm_eval"]["gen_kwargs"]["max_gen_toks"] == 256
    assert chat["messages"] == [{"role": "system", "content": "Answer briefly."},
                                {"role": "user", "content": "[fixture prompt 1]"}]
    assert chat["meta"]["lm_eval"]["filtered_resps"] == {"strict-match": ["[fixture answer 1]"],
                                                         "flexible-extract": ["1"]}
    assert chat["meta"]["lm_eval"]["metrics"] == {"exact_match,strict-match": 1.0, "exact_match,flexible-extract": 0.0}
    assert [row["output"] for row in repeats] == ["[fixture answer 2a]", "<think>\n[fixture thinking 2b]"]
    (legacy,) = read_lm_eval_samples(INTEROP / "samples_tiny_legacy.jsonl")
    assert legacy["messages"] == first["messages"] and legacy["output"] == "[fixture answer 0]"
    assert (legacy["meta"]["lm_eval"]["task"], legacy["meta"]["lm_eval"]["date"]) == ("tiny_legacy", None)


def test_lm_eval_reader_refuses_what_it_cannot_import(tmp_path: Path) -> None:
    def samples(*lines: object) -> Path:
        path = tmp_path / "samples_x_2026-01-01T00-00-00.jsonl"
        path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
        return path

    loglikelihood = {"doc_id": 0, "arguments": {"gen_args_0": {"arg_0": "Q", "arg_1": " A"}},
                     "resps": [[["-1.5", "False"]]], "filtered_resps": [["-1.5", "False"]]}
    with pytest.raises(UserError, match="generate_until samples only"):
        read_lm_eval_samples(samples(loglikelihood))
    line = json.loads(LM_EVAL.read_text().splitlines()[0])
    with pytest.raises(UserError, match="line 2 is not JSON"):
        read_lm_eval_samples(samples(line, "{truncated"))
    with pytest.raises(UserError, match="different prompts or responses"):
        read_lm_eval_samples(samples(line, {**line, "resps": [["another answer"]]}))
    with pytest.raises(UserError, match="has no arguments"):
        read_lm_eval_samples(samples({"doc_id": 0, "resps": [["x"]]}))
    with pytest.raises(UserError, match="holds no samples"):
        read_lm_eval_samples(samples(""))
    with pytest.raises(UserError, match="no lm-evaluation-harness samples file"):
        read_lm_eval_samples(tmp_path / "nothing.jsonl")
