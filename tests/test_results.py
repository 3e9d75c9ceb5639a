"""Per-sample results (`r1lib export --with-verdicts`): one row per generation × verdict, in three formats."""

from __future__ import annotations

import math
import numbers
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from r1lib.app.cli import main
from r1lib.config.settings import models_registry
from r1lib.core.records import BLOCKED_FINISH, GenerationRecord, Verdict
from r1lib.generation.runner import Request, run_requests
from r1lib.judges.base import judge_records
from r1lib.judges.registry import get_judge, safe_labels
from r1lib.store.database import EXPORT_COLUMNS, Store
from r1lib.store.export import JUDGE_MODEL_NOT_RECORDED, results_frame
from r1lib.store.schema import SCHEMA_VERSION

READERS = {"parquet": pd.read_parquet, "csv": pd.read_csv, "jsonl": lambda p: pd.read_json(p, lines=True)}
HOSTILE = 'a "quoted", multi-line\nanswer with </pre> & \u00e9 and a comma, too'


@pytest.fixture
def judged_store(tmp_path: Path) -> Path:
    """4 fake-r1 records on 'demo' (category type/level): 3 judged on the answer by an LLM judge (fake-judge),
    2 also on the thinking by a local judge, 1 unjudged; plus a blocked record, a failed record and a
    verdict from before the store recorded judge models."""
    path = tmp_path / "store.sqlite"
    registry = models_registry()
    with Store(path) as store:
        requests = [Request(f"p{i}", [{"role": "user", "content": f"question {i}"}], 0,
                            {"category": {"type": "t" + str(i % 2), "level": str(i)}}) for i in range(4)]
        records, _ = run_requests(registry["fake-r1"], "demo", requests, store, progress=False)
        judge_records(get_judge("xstest", judge_model="fake-judge", models=registry), records[:3], "answer", store,
                      progress=False)
        judge_records(get_judge("refusal-strmatch"), records[:2], "thinking", store, progress=False)
        base = dict(model="fake-r1", benchmark="demo", sample=0, config={}, meta={"category": {"type": "t9"}})
        store.put_generation(GenerationRecord(key="blocked", prompt_id="pb", answer="", finish_reason=BLOCKED_FINISH,
                                              messages=[{"role": "user", "content": "b"}], **base))
        store.put_generation(GenerationRecord(key="failed", prompt_id="pf", error="HTTP 500",
                                              messages=[{"role": "user", "content": "f"}], **base))
        store.put_generation(GenerationRecord(key="old", prompt_id="po", answer=HOSTILE, trace_state="no_think",
                                              finish_reason="stop", messages=[{"role": "user", "content": "o"}],
                                              **base))
        store.put_verdict(Verdict("old", "refusal-offline", "v0", "answer", "full_compliance", 0.0, True))
    return path


def test_one_row_per_generation_and_verdict_with_outcomes(judged_store: Path) -> None:
    with Store(judged_store) as store:
        frame = results_frame(store)
    assert len(frame) == 3 + 2 + 1 + 1 + 1 + 1  # verdict rows, unjudged p3, blocked, failed, old
    assert list(frame.columns[:len(EXPORT_COLUMNS)]) == EXPORT_COLUMNS
    assert {"category_type", "category_level", "judge_model", "outcome", "generation_outcome"} <= set(frame.columns)
    by_prompt = frame.groupby("prompt_id")
    assert by_prompt.size().to_dict() == {"p0": 2, "p1": 2, "p2": 1, "p3": 1, "pb": 1, "pf": 1, "po": 1}
    unjudged = frame[frame["prompt_id"] == "p3"].iloc[0]
    assert pd.isna(unjudged["judge"]) and pd.isna(unjudged["label"]) and pd.isna(unjudged["parsed_ok"])
    assert (unjudged["outcome"], unjudged["generation_outcome"]) == ("unjudged", "answered")
    outcomes = frame.set_index("prompt_id")["outcome"]
    assert (outcomes["pb"], outcomes["pf"]) == ("blocked", "failed")
    llm = frame[frame["judge"] == "xstest"]
    assert set(llm["judge_model"]) == {"fake-judge"} and set(llm["channel"]) == {"answer"}
    assert set(llm["outcome"]) <= {"judged", "unparsed"}
    assert frame.loc[frame["judge"] == "refusal-strmatch", "judge_model"].isna().all()  # a local judge: null
    assert frame.loc[frame["prompt_id"] == "po", "judge_model"].item() == JUDGE_MODEL_NOT_RECORDED
    assert set(frame["store_schema_version"]) == {SCHEMA_VERSION}
    assert frame.loc[frame["prompt_id"] == "p1", "category_type"].tolist() == ["t1", "t1"]


def _same(a: object, b: object, *, csv: bool) -> bool:
    """Equal values, where every kind of missing is the same and numbers compare as numbers (in CSV an
    empty string and a missing value are the same empty field)."""
    if csv:
        a, b = (None if isinstance(v, str) and v == "" else v for v in (a, b))
    if pd.isna(a) or pd.isna(b):
        return bool(pd.isna(a) and pd.isna(b))
    if isinstance(b, (numbers.Number, np.bool_)) and (isinstance(a, (numbers.Number, np.bool_)) or str(a).isdigit()):
        return math.isclose(float(a), float(b))
    return str(a) == str(b)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_cli_export_round_trips_through_pandas(judged_store: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"results.{fmt}"
    assert main(["export", "--with-verdicts", "--format", fmt, "--store", str(judged_store),
                 "--output", str(out)]) == 0
    with Store(judged_store) as store:
        expected = results_frame(store, safe_labels=safe_labels())
    read = READERS[fmt](out)
    assert list(read.columns) == list(expected.columns) and len(read) == len(expected)
    for column in expected.columns:
        # CSV and JSON carry no types: digits read back as numbers, and booleans beside nulls as 1.0 / 0.0.
        mismatched = [(a, b) for a, b in zip(expected[column], read[column]) if not _same(a, b, csv=fmt == "csv")]
        assert not mismatched, (column, mismatched[:3])
    assert read.loc[read["prompt_id"] == "po", "answer"].item() == HOSTILE


def test_parquet_loads_with_hugging_face_datasets(judged_store: Path, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets", reason="datasets is in the test extra: pip install -e '.[test]'")
    out = tmp_path / "results.parquet"
    assert main(["export", "--with-verdicts", "--format", "parquet", "--store", str(judged_store),
                 "--output", str(out)]) == 0
    loaded = datasets.load_dataset("parquet", data_files=str(out), split="train",
                                   cache_dir=str(tmp_path / "hf-cache"))
    with Store(judged_store) as store:
        expected = results_frame(store, safe_labels=safe_labels())
    assert loaded.column_names == list(expected.columns) and loaded.num_rows == len(expected)
    assert loaded.features["parsed_ok"].dtype == "bool" and loaded.features["prompt_tokens"].dtype == "int64"
    assert loaded["outcome"] == expected["outcome"].tolist()
    assert [None if pd.isna(v) else v for v in expected["judge"]] == loaded["judge"]


def test_filters_and_default_output_beside_the_store(judged_store: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["export", "--with-verdicts", "--store", str(judged_store), "--model", "fake-r1",
                 "--benchmark", "nothing-here"]) == 2
    assert "holds no records of benchmark 'nothing-here'; it holds: demo (7)" in capsys.readouterr().err
    assert main(["export", "--with-verdicts", "--store", str(judged_store), "--model", "fake-r1",
                 "--benchmark", "demo"]) == 0
    assert "wrote 9 rows" in capsys.readouterr().out
    assert len(pd.read_json(judged_store.parent / "results.jsonl", lines=True)) == 9


def test_export_of_a_missing_store_is_an_error_and_creates_nothing(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    assert main(["export", "--with-verdicts", "--store", str(tmp_path / "typo.sqlite")]) == 2
    assert "no store at" in capsys.readouterr().err
    assert not (tmp_path / "typo.sqlite").exists()
