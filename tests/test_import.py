"""``r1lib import``: outputs made elsewhere become a model every command uses (r1lib.app.importing).

Sources are built in tmp_path from small constructed rows (not harmful text); the mirror test imports
a pinned recorded set through the generic importer and checks it against the dedicated recorded run.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from r1lib.app.cli import main
from r1lib.app.importing import DEFAULT_JUDGE, import_outputs
from r1lib.benchmarks.imported import folder as import_folder
from r1lib.benchmarks.imported.rows import FieldMapping
from r1lib.benchmarks.imported.tabular import detect_format
from r1lib.benchmarks.registry import benchmark_names, load_items
from r1lib.config.settings import models_registry
from r1lib.core.errors import UserError
from r1lib.core.records import NOT_RECORDED_FINISH
from r1lib.generation.runner import requests_for, run_requests
from r1lib.store.database import Store

ROWS = [
    {"id": "a", "prompt": "How do I bake bread?", "response": "<think>\nFlour and water.\n</think>\nMix, rise, bake.",
     "kind": "cooking"},
    {"id": "b", "prompt": "Name a colour.", "response": "Blue.", "kind": "misc"},
    {"id": "c", "prompt": "Count to three.", "response": None, "kind": "misc"},
]
MAPPING = FieldMapping(output="response", id="id", category=("kind",))


@pytest.fixture(autouse=True)
def imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test imports into its own imports dir, and no folder of another test is remembered."""
    monkeypatch.setenv("R1LIB_IMPORTS", str(tmp_path / "imports"))
    monkeypatch.setattr(import_folder, "_FOLDERS", {})
    return tmp_path / "imports"


def write_source(path: Path, fmt: str, rows: list[dict[str, Any]]) -> Path:
    """``rows`` written as ``fmt`` at ``path`` (a folder for the hf formats)."""
    import pandas as pd

    if fmt == "jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    elif fmt == "json":
        path.write_text(json.dumps(rows))
    elif fmt == "csv":
        pd.DataFrame(rows).fillna("").to_csv(path, index=False)
    elif fmt == "parquet":
        pd.DataFrame(rows).to_parquet(path)
    elif fmt == "hf-disk":
        import datasets
        datasets.Dataset.from_list(rows).save_to_disk(str(path))
    elif fmt == "hf-files":
        path.mkdir()
        pd.DataFrame(rows).to_parquet(path / "part-0.parquet")
    return path


def by_id(store: Store, model: str) -> dict[str, Any]:
    """The stored records of ``model`` by prompt id."""
    return {r.prompt_id: r for r in store.iter_generations(model=model)}


@pytest.mark.parametrize("fmt, suffix, option", [
    ("jsonl", ".jsonl", "auto"), ("json", ".json", "auto"), ("csv", ".csv", "auto"), ("parquet", ".parquet", "auto"),
    ("hf-disk", "", "auto"), ("hf-files", "", "hf")])
def test_each_tabular_format_imports_the_same_records(tmp_path: Path, store: Store, fmt: str, suffix: str,
                                                      option: str) -> None:
    if fmt.startswith("hf"):
        pytest.importorskip("datasets")
    source = write_source(tmp_path / f"data{suffix}", fmt, ROWS)
    result = import_outputs(source, MAPPING, model_name="toy", store=store, fmt=option)
    assert (result.rows, result.rows_with_output, result.new, result.not_recorded) == (3, 2, 3, 1)
    assert result.benchmark == "imported/toy" and result.trace_states == {"closed": 1, "no_think": 1}
    records = by_id(store, "toy")
    assert (records["a"].thinking, records["a"].answer) == ("Flour and water.", "Mix, rise, bake.")
    assert (records["b"].thinking, records["b"].answer, records["b"].trace_state) == (None, "Blue.", "no_think")
    assert records["c"].finish_reason == NOT_RECORDED_FINISH and records["c"].answer == ""
    provenance = records["a"].meta["provenance"]
    assert provenance["sha256"] == json.loads((result.folder / "manifest.json").read_text())["sha256"]
    assert (provenance["row"], provenance["row_id"], provenance["mapping"]["output"]) == (0, "a", "response")
    assert records["a"].meta["category"] == {"kind": "cooking"}


def test_the_import_is_a_model_and_a_benchmark_everywhere(tmp_path: Path, store: Store) -> None:
    result = import_outputs(write_source(tmp_path / "d.jsonl", "jsonl", ROWS), MAPPING, model_name="toy",
                            store=store, counterpart="smollm2-135m")
    config = models_registry()["toy"]
    assert (config.backend, config.model, config.reasoning) == ("recorded", f"imported/toy@{result.version}", True)
    assert config.counterpart == "smollm2-135m"
    assert "imported/toy" in benchmark_names()
    items = load_items("imported/toy")
    assert [(i.id, i.category) for i in items] == [("a", {"kind": "cooking"}), ("b", {"kind": "misc"}),
                                                  ("c", {"kind": "misc"})]
    manifest = json.loads((result.folder / "manifest.json").read_text())
    assert manifest["judge"] == DEFAULT_JUDGE and manifest["rows"] == 3 and manifest["history"] == []
    # the normal generate path answers from the import folder: same keys as the import's records
    records, summary = run_requests(config, "imported/toy", requests_for(items), store, progress=False)
    assert (summary.new, summary.reused) == (0, 3)


def test_field_mapping_errors_name_the_field_and_list_the_fields(tmp_path: Path, store: Store,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    source = write_source(tmp_path / "data.csv", "csv", ROWS)
    code = main(["import", str(source), "--model-name", "toy", "--prompt-field", "question",
                 "--output-field", "response", "--store", str(tmp_path / "s.sqlite")])
    assert code == 2
    assert ("--prompt-field 'question' is not a field of data.csv; fields: id, prompt, response, kind"
            in capsys.readouterr().err)
    with pytest.raises(UserError, match="--category-field 'topic' is not a field"):
        import_outputs(source, FieldMapping(output="response", category=("kind", "topic")), model_name="t",
                       store=store)
    with pytest.raises(UserError, match="not both"):
        import_outputs(source, FieldMapping(output="response", thinking="kind"), model_name="t", store=store)
    with pytest.raises(UserError, match="--output-field 'output' is not a field"):  # the default
        import_outputs(source, FieldMapping(), model_name="t", store=store)
    with pytest.raises(UserError, match="id 'misc' is also the id of row 1"):
        import_outputs(source, FieldMapping(output="response", id="kind"), model_name="t", store=store)
    turns = [{"conversation": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
              "output": "x"}]
    with pytest.raises(UserError, match="must end with the user turn"):
        import_outputs(write_source(tmp_path / "m.jsonl", "jsonl", turns), FieldMapping(messages="conversation"),
                       model_name="t", store=store)
    with pytest.raises(UserError, match="already a model of the registry"):
        import_outputs(source, FieldMapping(output="response"), model_name="smollm2-135m", store=store)
    assert not (tmp_path / "imports" / "t").exists()


def test_formats_are_detected_and_inspect_and_lm_eval_need_their_readers(tmp_path: Path, store: Store) -> None:
    (tmp_path / "log.json").write_text(json.dumps({"eval": {}, "samples": []}))
    (tmp_path / "samples_xstest_2025.jsonl").write_text("{}\n")
    assert [detect_format(tmp_path / name) for name in ("log.json", "samples_xstest_2025.jsonl", "a.eval")] == [
        "inspect", "lm-eval", "inspect"]
    assert detect_format(write_source(tmp_path / "rows.json", "json", ROWS)) == "json"
    with pytest.raises(UserError, match="cannot tell the format of data.txt"):
        detect_format(tmp_path / "data.txt")
    for fmt, module, name in (("inspect", "inspect_log", "log.json"), ("lm-eval", "lm_eval_samples",
                                                                       "samples_xstest_2025.jsonl")):
        if importlib.util.find_spec(f"r1lib.benchmarks.imported.{module}") is not None:
            continue  # the reader is installed: its own tests cover it
        with pytest.raises(UserError, match=f"format {fmt} not available"):
            import_outputs(tmp_path / name, model_name="t", store=store)


def test_reimport_is_a_no_op_and_a_changed_file_is_a_new_version(tmp_path: Path, store: Store) -> None:
    source = write_source(tmp_path / "d.jsonl", "jsonl", ROWS)
    first = import_outputs(source, MAPPING, model_name="toy", store=store)
    manifest = (first.folder / "manifest.json").read_text()
    again = import_outputs(source, MAPPING, model_name="toy", store=store)
    assert (again.version, again.changed, again.new, again.reused) == (first.version, False, 0, 3)
    assert (first.folder / "manifest.json").read_text() == manifest
    assert "(unchanged)" in again.lines()[0]

    write_source(source, "jsonl", [{**ROWS[0], "response": "Just bake it."}, *ROWS[1:]])
    changed = import_outputs(source, MAPPING, model_name="toy", store=store)
    assert changed.version != first.version and changed.previous_version == first.version
    assert f"new version {changed.version} (was {first.version})" in changed.lines()[0]
    assert (changed.new, changed.reused) == (3, 0)  # a new model string: new record keys
    models = [r.config["model"] for r in store.iter_generations(model="toy")]
    assert sorted(set(models)) == sorted({f"imported/toy@{first.version}", f"imported/toy@{changed.version}"})
    assert len(models) == 6  # the old records stay
    history = json.loads((changed.folder / "manifest.json").read_text())["history"]
    assert [h["version"] for h in history] == [first.version]
    assert (changed.folder / "history" / f"{first.version}.outputs.jsonl").is_file()


def test_outputs_answer_a_registered_benchmark(tmp_path: Path, store: Store) -> None:
    items = load_items("xstest")  # fixture mode: the project's own XSTest stand-ins
    rows = [{"q": item.messages[-1]["content"], "out": f"answer {n}"} for n, item in enumerate(items[:3])]
    rows.append({"q": "A prompt that is not in XSTest at all.", "out": "whatever"})
    result = import_outputs(write_source(tmp_path / "x.jsonl", "jsonl", rows),
                            FieldMapping(prompt="q", output="out"), model_name="toy", benchmark="xstest", store=store)
    assert result.benchmark == "xstest" and result.unmatched_rows == ["3"]
    assert (result.new, result.not_recorded) == (len(items), len(items) - 3)
    assert "imported/toy" not in benchmark_names()
    records = {r.prompt_id: r for r in store.iter_generations(model="toy", benchmark="xstest")}
    assert [records[item.id].answer for item in items[:3]] == ["answer 0", "answer 1", "answer 2"]
    assert all(records[item.id].finish_reason == NOT_RECORDED_FINISH for item in items[3:])
    assert json.loads((result.folder / "manifest.json").read_text())["judge"] == "xstest"


def test_trace_options_give_the_right_trace_states(tmp_path: Path, store: Store) -> None:
    raw = [{"p": "one", "o": "Step by step.\n</think>\nDone."}, {"p": "two", "o": "Okay, so first I need to"},
           {"p": "three", "o": "I can't help with that."}]
    source = write_source(tmp_path / "raw.jsonl", "jsonl", raw)
    states = {"opens": {"bare_close": 1, "unterminated": 1, "no_think": 1},
              "parser": {"bare_close": 1, "unterminated": 2}}
    result = import_outputs(source, FieldMapping(prompt="p", output="o"), model_name="opens", store=store,
                            opens_thinking=True)
    assert result.trace_states == states["opens"]
    assert by_id(store, "opens")["1"].thinking == "Okay, so first I need to"
    result = import_outputs(source, FieldMapping(prompt="p", output="o"), model_name="parser", store=store,
                            reasoning_parser="deepseek_r1")
    assert result.trace_states == states["parser"]

    split = [{"p": "one", "t": "Think it over.", "a": "Yes."}, {"p": "two", "t": None, "a": "No."}]
    result = import_outputs(write_source(tmp_path / "split.jsonl", "jsonl", split),
                            FieldMapping(prompt="p", thinking="t", answer="a"), model_name="split", store=store)
    assert result.trace_states == {"closed": 1, "no_think": 1}
    records = by_id(store, "split")
    assert (records["0"].thinking, records["0"].answer, records["1"].answer) == ("Think it over.", "Yes.", "No.")


@pytest.mark.mirror
def test_a_pinned_recorded_set_through_the_generic_importer(mirror: Path, tmp_path: Path, store: Store) -> None:
    """The R1-Distill-Llama-8B JailbreakBench completions, imported as any JSON, split as the dedicated run."""
    source = (mirror / "recorded/refusal-direction/runs/DeepSeek-R1-Distill-Llama-8B/completions"
              / "jailbreakbench_baseline_completions.json")
    result = import_outputs(source, FieldMapping(prompt="prompt", output="response"), model_name="r1-8b-import",
                            fmt="json", opens_thinking=True, benchmark="jbb-recorded", store=store)
    assert (result.rows, result.new, result.not_recorded, result.unmatched_rows) == (100, 100, 0, [])
    dedicated = models_registry()["recorded-r1-distill-llama-8b"]
    expected, _ = run_requests(dedicated, "jbb-recorded", requests_for(load_items("jbb-recorded")), store,
                               progress=False)
    imported = by_id(store, "r1-8b-import")
    assert len(expected) == len(imported) == 100
    assert [(imported[r.prompt_id].thinking, imported[r.prompt_id].answer, imported[r.prompt_id].trace_state)
            for r in expected] == [(r.thinking, r.answer, r.trace_state) for r in expected]
    assert result.trace_states == {"bare_close": 19, "unterminated": 18, "no_think": 63}
