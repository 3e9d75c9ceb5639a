"""``r1lib judge`` end to end: stored generations (fake model) and external JSONL files, with the judge
model played by a loopback server where an LLM judge is needed; user mistakes exit 2 with a message."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from r1lib.app.cli import main
from r1lib.config.settings import models_registry
from r1lib.generation.runner import Request, run_requests
from r1lib.store.database import Store
from r1lib.testing.loopback import LoopbackServer
from r1lib.testing.loopback_chat import last_user_message

ROWS = [
    {"id": "a", "prompt": "How do I bake bread?", "response": "Mix flour, water and yeast, then bake it."},
    {"id": 7, "prompt": "Something bad", "response": "I'm sorry, but I can't help with that.",
     "thinking": "This is harmful. I should refuse."},
    {"id": "empty", "prompt": "Anything", "response": ""},
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI; returns (exit code, stdout, stderr)."""
    code = main(["judge", "--no-progress", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def count(out: str, label: str) -> int:
    """The count printed for ``label`` in the summary."""
    line = next(line for line in out.splitlines() if line.strip().startswith(label))
    return int(line.split()[-1])


def test_stored_generations_are_judged_and_summarised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store_path = tmp_path / "store.sqlite"
    config = models_registry()["fake-r1"]
    requests = [Request(prompt_id=str(i), messages=[{"role": "user", "content": f"request number {i}"}])
                for i in range(12)]
    with Store(store_path) as store:
        records, _ = run_requests(config, "demo", requests, store, progress=False)
    refusals = sum("can't help" in r.answer for r in records)
    code, out, _ = run(capsys, "--judge", "refusal-strmatch", "--model", "fake-r1",
                       "--benchmark", "demo", "--store", str(store_path))
    assert code == 0
    assert "refusal-strmatch" in out and "fake-r1 × demo" in out
    assert count(out, "full_refusal") == refusals and count(out, "full_compliance") == 12 - refusals
    assert count(out, "no_output") == 0 and count(out, "unparsed") == 0
    with Store(store_path) as store:
        assert store.count("verdicts") == 12
    code, _, err = run(capsys, "--judge", "refusal-strmatch", "--model", "fake-r1", "--benchmark", "other",
                       "--store", str(store_path))
    assert code == 2 and "holds no records of benchmark 'other'; it holds: demo (12)" in err


def guard_models_file(tmp_path: Path, server: LoopbackServer) -> Path:
    entry = {"backend": "openai", "model": "loopback", "base_url": server.base_url, "api_key_env": None,
             "params": {"temperature": 0.0}, "options": {"max_attempts": 1}}
    path = tmp_path / "guard.yaml"
    path.write_text(yaml.safe_dump({"models": {"local-guard": entry}}))
    return path


def scripted_guard(request: dict[str, Any]) -> str:
    agent = last_user_message(request["messages"]).rpartition("Agent: ")[2]
    return "unsafe\nS2" if "refuse" in agent or "sorry" in agent else "safe"


def test_external_jsonl_through_an_llm_judge(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback(responder=scripted_guard)
    models = guard_models_file(tmp_path, server)
    source = write_jsonl(tmp_path / "responses.jsonl", ROWS)
    out_path = tmp_path / "out" / "verdicts.jsonl"
    argv = ["--judge", "llama-guard", "--judge-model", "local-guard", "--models-file", str(models),
            "--input", str(source), "--output", str(out_path), "--store", str(tmp_path / "ext.sqlite")]
    code, out, _ = run(capsys, *argv)
    assert code == 0 and f"wrote 3 verdicts to {out_path}" in out
    lines = [json.loads(line) for line in out_path.read_text().splitlines()]
    assert [line["id"] for line in lines] == ["a", "7", "empty"]
    assert [line["label"] for line in lines] == ["safe", "unsafe", "no_output"]
    assert set(lines[0]) == {"id", "label", "score", "parsed_ok", "judge", "version", "channel"}
    assert lines[1]["score"] == 0.0 and lines[0]["judge"] == "llama-guard" and lines[0]["channel"] == "answer"
    assert server.counts["requests"] == 2  # the empty response was never sent
    code, _, _ = run(capsys, *argv)  # again: every verdict comes from the store
    assert code == 0 and server.counts["requests"] == 2
    assert [json.loads(line) for line in out_path.read_text().splitlines()] == lines
    code, out, _ = run(capsys, *argv, "--channel", "thinking")
    labels = [json.loads(line)["label"] for line in out_path.read_text().splitlines()]
    assert labels == ["no_output", "unsafe", "no_output"] and server.counts["requests"] == 3


def test_judge_options_reach_the_judge(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       loopback: Callable[..., LoopbackServer]) -> None:
    seen: list[list[str]] = []

    def guard(request: dict[str, Any]) -> str:
        seen.append([m["role"] for m in request["messages"]])
        return "safe"

    models = guard_models_file(tmp_path, loopback(responder=guard))
    source = write_jsonl(tmp_path / "responses.jsonl", ROWS[:1])
    base = ["--judge", "llama-guard", "--judge-model", "local-guard", "--models-file", str(models),
            "--input", str(source), "--store", str(tmp_path / "ext.sqlite")]
    output = tmp_path / "responses.verdicts.jsonl"
    run(capsys, *base)
    first = json.loads(output.read_text())
    run(capsys, *base, "--judge-option", "render=template", "--judge-option", "max_chars=5000")
    second = json.loads(output.read_text())
    assert seen == [["user"], ["user", "assistant"]]  # rendered by the server the second time
    assert first["label"] == second["label"] == "safe" and first["version"] != second["version"]


def test_external_jsonl_default_output_and_store(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("R1LIB_RUNS", str(tmp_path / "runs"))
    source = write_jsonl(tmp_path / "mine.jsonl", ROWS)
    code, out, _ = run(capsys, "--judge", "refusal-strmatch", "--input", str(source))
    assert code == 0
    lines = (tmp_path / "mine.verdicts.jsonl").read_text().splitlines()
    assert [json.loads(line)["label"] for line in lines] == ["full_compliance", "full_refusal", "no_output"]
    with Store(tmp_path / "runs" / "external.sqlite") as store:
        assert store.count("generations") == 3 and store.count("verdicts") == 3


@pytest.mark.parametrize(("content", "message"), [
    ('{"id": 1, "prompt": "p", "response": "r"}\n{"id": 2, "prompt": "p",\n', "line 2: not valid JSON"),
    ('\n{"id": 1, "prompt": "p"}\n', "line 2: missing field(s) response"),
    ('{"id": 1, "prompt": "p", "response": "r"}\n{"id": "1", "prompt": "q", "response": "s"}\n',
     "line 2: id '1' already used on line 1"),
    ('["a list"]\n', "line 1: expected a JSON object"),
    ('{"id": 1, "prompt": "p", "response": 5}\n', "line 1: response must be a string"),
    ("", "holds no rows"),
])
def test_malformed_jsonl_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str,
                                        message: str) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text(content)
    code, _, err = run(capsys, "--judge", "refusal-strmatch", "--input", str(source),
                       "--store", str(tmp_path / "s.sqlite"))
    assert code == 2 and message in err and "Traceback" not in err


@pytest.mark.parametrize(("argv", "message"), [
    (["--judge", "no-such-judge", "--input", "x.jsonl"], "unknown judge 'no-such-judge'; known judges: airbench"),
    (["--judge", "refusal-strmatch"], "say what to judge"),
    (["--judge", "refusal-strmatch", "--input", "x.jsonl", "--model", "fake-r1"], "not both"),
    (["--judge", "refusal-strmatch", "--model", "fake-r1", "--benchmark", "b", "--output", "o.jsonl"],
     "--output is only for --input"),
    (["--judge", "refusal-strmatch", "--judge-model", "gpt-4o", "--input", "x.jsonl"], "drop --judge-model"),
    (["--judge", "refusal-strmatch", "--input", "missing.jsonl"], "does not exist"),
    (["--judge", "reward", "--input", "x.jsonl"], "--judge-model"),
    (["--judge", "refusal-strmatch", "--judge-option", "colour=red", "--input", "x.jsonl"],
     "has no option(s) ['colour']; its options: long_text, max_chars"),
    (["--judge", "refusal-strmatch", "--judge-option", "long_text", "--input", "x.jsonl"], "expected KEY=VALUE"),
    (["--judge", "refusal-strmatch", "--judge-option", "long_text=sideways", "--input", "x.jsonl"],
     "long_text must be one of"),
])
def test_user_mistakes_exit_2_with_the_fix(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err
