"""Same name, same records: a ``--benchmark`` argument names one stored benchmark in every command."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from r1lib.app.cli import main
from r1lib.benchmarks.registry import stored_benchmark_name
from r1lib.store.database import Store


@pytest.mark.parametrize("argument, stored", [
    ("jsonl:prompts.jsonl", "jsonl:prompts"), ("jsonl:/abs/dir/prompts.jsonl", "jsonl:prompts"),
    ("jsonl:../up/prompts.jsonl", "jsonl:prompts"), ("jsonl:prompts", "jsonl:prompts"), ("xstest", "xstest"),
])
def test_stored_name_of_an_argument(argument: str, stored: str) -> None:
    assert stored_benchmark_name(argument) == stored


def test_every_command_finds_the_records_of_a_relative_or_absolute_jsonl_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    prompts = tmp_path / "data" / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"question {i}"}) + "\n" for i in range(3)))
    relative, absolute = "jsonl:data/prompts.jsonl", f"jsonl:{prompts}"
    store = str(tmp_path / "store.sqlite")
    common = ["--store", store]

    assert main(["generate", "--model", "fake-r1", "--benchmark", relative, "--no-progress", *common]) == 0
    assert main(["generate", "--model", "fake-r1", "--benchmark", absolute, "--no-progress", *common]) == 0
    assert "0 new, 3 reused" in capsys.readouterr().out  # the same records, not a second benchmark
    assert main(["judge", "--judge", "refusal-strmatch", "--model", "fake-r1", "--benchmark", absolute,
                 "--no-progress", *common]) == 0
    assert "on fake-r1 × jsonl:prompts, channel answer: 3 verdicts" in capsys.readouterr().out
    assert main(["judge", "--judge", "refusal-strmatch", "--model", "fake-r1", "--benchmark", relative,
                 "--channel", "thinking", "--no-progress", *common]) == 0

    for argument in (relative, absolute):
        out = tmp_path / "results.csv"
        assert main(["export", "--with-verdicts", "--format", "csv", "--benchmark", argument, "--output", str(out),
                     *common]) == 0
        results = pd.read_csv(out)
        assert len(results) == 6 and set(results["benchmark"]) == {"jsonl:prompts"}
        page = tmp_path / "page.html"
        assert main(["browse", "--benchmark", argument, "--html", str(page), *common]) == 0
        assert page.read_text().count('class="r1-trace"') == 3
        assert main(["costs", "--benchmark", argument, *common]) == 0
        assert "generation fake-r1       3" in capsys.readouterr().out
    with Store(store) as opened:
        assert opened.distinct("benchmark") == ["jsonl:prompts"]
