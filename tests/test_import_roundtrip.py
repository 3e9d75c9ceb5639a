"""Export and import together, through the command line: records exported as an Inspect log and imported
back are the same records; logs `inspect eval` made and lm-eval's samples files import; a re-imported (changed)
file's earlier version stays in the store but `judge`, `export` and `browse` see the current version only.

Stores are built with `r1lib generate` against the loopback server (xstest prompts from the mirror, never
printed) or from small constructed rows; the only subprocess runs (`inspect eval`, `python -m r1lib`) are slow.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from inspect_ai.log import read_eval_log

from r1lib.app.cli import main
from r1lib.benchmarks.imported import folder as import_folder
from r1lib.benchmarks.imported.inspect_log import read_inspect_log
from r1lib.benchmarks.imported.rows import has_output
from r1lib.config.settings import models_registry
from r1lib.core.records import BLOCKED_FINISH, NOT_RECORDED_FINISH
from r1lib.store.database import Store
from r1lib.testing.loopback_chat import scripted_answer, scripted_thinking

INTEROP = Path(__file__).resolve().parent / "fixtures" / "interop"
LM_EVAL = INTEROP / "samples_tiny_gen_2026-01-01T00-00-00.000000.jsonl"
INSPECT = Path(sys.executable).parent / "inspect"
#: Loopback-served models, by the reply shape (loopback behaviour) they get: thinking in ``reasoning_content``
#: (with a system prompt), after a bare ``</think>``, cut at the token limit inside the thinking, stopped by a
#: provider's content filter.
SHAPES = {"lb-api": "deepseek", "lb-bare": "bare_close", "lb-cut": "truncated", "lb-block": "content_filter"}
SAME = ("messages", "thinking", "answer", "trace_state", "trace_source", "finish_reason")


@pytest.fixture(autouse=True)
def imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test imports into its own imports dir, and no folder of another test is remembered."""
    monkeypatch.setenv("R1LIB_IMPORTS", str(tmp_path / "imports"))
    monkeypatch.setattr(import_folder, "_FOLDERS", {})
    return tmp_path / "imports"


def records(store_path: Path, model: str) -> dict[tuple[str, int], Any]:
    """The stored evaluation records of ``model`` by (prompt id, sample)."""
    with Store(store_path) as store:
        return {(r.prompt_id, r.sample): r for r in store.iter_generations(model=model)}


def labels(store_path: Path, model: str) -> dict[tuple[str, int], str]:
    """The refusal-strmatch answer labels of ``model``'s records by (prompt id, sample)."""
    keyed = {r.key: k for k, r in records(store_path, model).items()}
    with Store(store_path) as store:
        frame = store.verdicts_frame(model=model, judge="refusal-strmatch")
    return {keyed[v.gen_key]: v.label for v in frame.itertuples() if v.gen_key in keyed}


@pytest.mark.mirror
def test_export_then_import_gives_the_same_records(mirror: Path, tmp_path: Path, loopback,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture) -> None:
    server = loopback()
    entries = {name: {"backend": "openai", "model": shape, "base_url": server.base_url, "api_key_env": None,
                      "reasoning": True, "options": {"max_attempts": 1}} for name, shape in SHAPES.items()}
    entries["lb-api"]["system_prompt"] = "You are a careful assistant."
    models = tmp_path / "models.yaml"
    models.write_text(yaml.safe_dump({"models": entries}))
    monkeypatch.setenv("R1LIB_MODELS", str(models))
    store = tmp_path / "store.sqlite"
    common = ["--benchmark", "xstest", "--store", str(store), "--no-progress"]
    for name in SHAPES:
        samples = ["--samples", "2"] if name == "lb-api" else []
        assert main(["generate", "--model", name, "--limit", "4", *samples, *common]) == 0
        assert main(["judge", "--judge", "refusal-strmatch", "--model", name, *common]) == 0
    logs = tmp_path / "logs"
    assert main(["export", "--format", "inspect", "--store", str(store), "--output", str(logs)]) == 0
    capsys.readouterr()
    for name in SHAPES:
        log = logs / f"{name}__xstest.eval"  # the format comes from the suffix
        assert main(["import", str(log), "--model-name", f"back-{name}", *common]) == 0
        assert "rows matching no item of xstest: 0" in capsys.readouterr().out
        original, back = records(store, name), records(store, f"back-{name}")
        assert len(original) == (8 if name == "lb-api" else 4)
        for key, record in original.items():
            assert {f: getattr(back[key], f) for f in SAME} == {f: getattr(record, f) for f in SAME}, key
        assert {r.finish_reason for k, r in back.items() if k not in original} == {NOT_RECORDED_FINISH}
        assert main(["judge", "--judge", "refusal-strmatch", "--model", f"back-{name}", *common]) == 0
        assert labels(store, f"back-{name}").items() >= labels(store, name).items()
    states = {name: {r.trace_state for r in records(store, name).values()} for name in SHAPES}
    assert states == {"lb-api": {"api_field"}, "lb-bare": {"bare_close"}, "lb-cut": {"unterminated"},
                      "lb-block": {"no_think"}}
    assert {r.finish_reason for r in records(store, "back-lb-cut").values()} == {"length", NOT_RECORDED_FINISH}
    assert {r.finish_reason for r in records(store, "back-lb-block").values()} == {BLOCKED_FINISH, NOT_RECORDED_FINISH}
    assert records(store, "back-lb-api")[next(iter(records(store, "lb-api")))].messages[0]["role"] == "system"
    again = tmp_path / "again"
    assert main(["export", "--format", "inspect", "--model", "back-lb-api", "--store", str(store), "--output",
                 str(again)]) == 0
    rows = read_inspect_log(again / "back-lb-api__xstest.eval")
    assert (len(rows), sum(map(has_output, rows))) == (500, 8)  # not_recorded: no output, never an empty answer


def write_rows(path: Path, answers: list[str | None]) -> Path:
    """Three constructed rows with these raw outputs."""
    rows = [{"id": f"r{i}", "prompt": f"Name thing number {i}.", "output": answer} for i, answer in enumerate(answers)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_after_a_reimport_judge_export_and_browse_see_the_current_version(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture) -> None:
    store = tmp_path / "store.sqlite"
    source = tmp_path / "outputs.jsonl"
    where = ["--store", str(store), "--no-progress"]
    write_rows(source, ["<think>\nA list.\n</think>\nA chair.", "I'm sorry, I can't.", None])
    assert main(["import", str(source), "--model-name", "toy", *where]) == 0
    write_rows(source, ["<think>\nA list.\n</think>\nA table.", "I'm sorry, I can't.", "A lamp."])
    assert main(["import", str(source), "--model-name", "toy", *where]) == 0
    with Store(store) as opened:
        every = list(opened.iter_generations(model="toy"))
    runs = {r.config["model"] for r in every}
    assert len(every) == 6 and len(runs) == 2  # the earlier version's records stay
    current = {r.key for r in every if r.config["model"] == models_registry()["toy"].model}
    assert len(current) == 3
    assert main(["judge", "--judge", "refusal-strmatch", "--model", "toy", "--benchmark", "imported/toy", *where]) == 0
    with Store(store) as opened:
        assert set(opened.verdicts_frame(model="toy")["gen_key"]) == current
    out = tmp_path / "toy.jsonl"
    assert main(["export", "--format", "jsonl", "--model", "toy", "--store", str(store), "--output", str(out)]) == 0
    assert {json.loads(line)["key"] for line in out.read_text().splitlines()} == current
    logs = tmp_path / "logs"
    assert main(["export", "--format", "inspect", "--model", "toy", "--store", str(store), "--output", str(logs)]) == 0
    samples = read_eval_log(str(logs / "toy__imported_toy.eval")).samples
    assert {s.metadata["r1lib"]["key"] for s in samples} == current
    capsys.readouterr()
    assert main(["browse", "--html", str(tmp_path / "toy.html"), "--model", "toy", "--store", str(store)]) == 0
    assert "wrote 3 records" in capsys.readouterr().out


def test_lm_eval_fixture_files_through_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = tmp_path / "store.sqlite"
    assert main(["import", str(LM_EVAL), "--format", "lm-eval", "--model-name", "lm", "--store", str(store),
                 "--no-progress"]) == 0
    assert "records 6 new, 0 reused, 0 failed, 2 not_recorded" in capsys.readouterr().out  # 3 documents x 2 samples
    got = records(store, "lm")
    assert (got["0", 0].thinking, got["0", 0].answer, got["0", 0].trace_state) == (
        "[fixture thinking 0]", "[fixture answer 0]", "closed")
    assert got["1", 0].messages[0] == {"role": "system", "content": "Answer briefly."}
    assert (got["2", 0].answer, got["2", 0].trace_state) == ("[fixture answer 2a]", "no_think")
    assert (got["2", 1].thinking, got["2", 1].answer, got["2", 1].trace_state) == (
        "[fixture thinking 2b]", "", "unterminated")  # the second repeat is sample 1
    assert {got[k].finish_reason for k in (("0", 1), ("1", 1))} == {NOT_RECORDED_FINISH}
    legacy = INTEROP / "samples_tiny_legacy.jsonl"  # the format from the file name
    assert main(["import", str(legacy), "--model-name", "lm-old", "--store", str(store), "--no-progress"]) == 0
    (old,) = records(store, "lm-old").values()
    assert (old.answer, old.trace_state) == ("[fixture answer 0]", "no_think")


@pytest.mark.slow
def test_log_made_by_inspect_eval_imports_through_the_command_line(tmp_path: Path, loopback) -> None:
    server = loopback()
    shutil.copy(INTEROP / "inspect_task.py", tmp_path)
    logs = tmp_path / "logs"
    env = {**os.environ, "LOOPBACK_BASE_URL": server.base_url, "LOOPBACK_API_KEY": "loopback",
           "INSPECT_LOG_DIR": str(logs), "XDG_DATA_HOME": str(tmp_path / "xdg"),
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([str(INSPECT), "eval", "inspect_task.py", "--model", "openai-api/loopback/deepseek-reasoner",
                           "--log-dir", str(logs), "--display", "none", "--epochs", "2"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    (log,) = logs.glob("*.eval")
    store = tmp_path / "store.sqlite"
    done = subprocess.run([sys.executable, "-m", "r1lib", "import", str(log), "--model-name", "insp", "--store",
                           str(store), "--no-progress"], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "records 6 new, 0 reused, 0 failed, 0 not_recorded" in done.stdout
    got = records(store, "insp")
    assert sorted(got) == [(name, k) for name in ("deepseek", "plain", "tags") for k in (0, 1)]
    for (name, _), record in got.items():
        prompt = record.messages[-1]["content"]
        assert record.messages[0] == {"role": "system", "content": "Answer in one sentence."}
        assert record.answer == scripted_answer(prompt) and record.meta["category"] == {"type": name}
        if name == "plain":
            assert (record.thinking, record.trace_state) == (None, "no_think")
        else:  # Inspect delivers reasoning_content and inline tags alike as a reasoning block
            assert (record.thinking, record.trace_state, record.trace_source) == (
                scripted_thinking(prompt), "api_field", "api_field")
