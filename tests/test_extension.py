"""Extending r1lib without editing it (a benchmark and a judge as plugin modules), and the benchmarks
room knowing nothing of how outputs are made."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from r1lib.app.profiles import Profile
from r1lib.app.run import Run
from r1lib.benchmarks import spec as benchmark_spec
from r1lib.benchmarks.registry import benchmark_names, get_benchmark
from r1lib.config.settings import PROJECT_ROOT
from r1lib.core.errors import UserError
from r1lib.judges import registry as judge_registry

#: A benchmark module of one's own: three prompts, scored by the judge below unless told otherwise.
TOY_BENCHMARK = '''
from r1lib.benchmarks.base import Item
from r1lib.benchmarks.spec import benchmark, user_turn

PROMPTS = {"hello": "Say hello.", "colour": "Name a colour.", "count": "Count to three."}


@benchmark(name="toy", title="Toy prompts", category_fields=("kind",), judge="toy-length")
def load(files, split):
    return [Item(benchmark="toy", id=key, messages=user_turn(text), category={"kind": key[0]})
            for key, text in PROMPTS.items()]
'''

#: A judge module of one's own: a text longer than 100 characters is "long".
TOY_JUDGE = '''
from r1lib.judges.base import Judge, Protocol
from r1lib.judges.registry import register
from r1lib.core.records import Verdict


@register
class LengthJudge(Judge):
    name = "toy-length"
    labels = ("long", "short")
    safe_labels = frozenset({"short"})
    protocol = Protocol(source="a length rule written for this test", paper=False)

    def judge_inputs(self, inputs, store, *, progress=True):
        return [Verdict(gen_key=i.gen_key, judge=self.name, version=self.version, channel=i.channel,
                        label="long" if len(i.text) > 100 else "short", score=None, parsed_ok=True)
                for i in inputs]
'''


@pytest.fixture
def toy_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The toy benchmark and judge written to files and named in R1LIB_PLUGINS; unregistered afterwards."""
    (tmp_path / "toy_benchmark.py").write_text(TOY_BENCHMARK)
    (tmp_path / "toy_judge.py").write_text(TOY_JUDGE)
    plugins = os.pathsep.join(str(tmp_path / name) for name in ("toy_benchmark.py", "toy_judge.py"))
    monkeypatch.setenv("R1LIB_PLUGINS", plugins)
    yield plugins
    benchmark_spec.REGISTERED.pop("toy", None)
    judge_registry.REGISTERED.pop("toy-length", None)


def test_a_plugin_benchmark_and_judge_run_through_the_pipeline(toy_plugins: str, tmp_path: Path) -> None:
    assert benchmark_names()[-1] == "toy" and get_benchmark("toy").judge == "toy-length"
    profile = Profile.from_dict({"name": "toy", "models": ["fake-r1"], "benchmarks": {"toy": None},
                                 "store": str(tmp_path / "store.sqlite")})
    run = Run(profile, tables_dir=tmp_path / "tables", figures_dir=tmp_path / "figures", progress=False)
    frames = run.evaluate("toy", channels=("answer", "thinking"))
    records = run.records(list(frames["answer"]["gen_key"]))
    assert sorted(r.prompt_id for r in records.values()) == ["colour", "count", "hello"]
    for channel, frame in frames.items():
        assert len(frame) == 3 and set(frame["judge"]) == {"toy-length"} and set(frame["model"]) == {"fake-r1"}
        for row in frame.itertuples():
            text = getattr(records[row.gen_key], channel) or ""
            expected = ("long" if len(text.strip()) > 100 else "short") if text.strip() else "no_output"
            assert row.label == expected, (channel, row.prompt_id)
    assert set(frames["thinking"]["label"]) == {"long", "short"}  # the rule tells the records apart
    assert run.judges()["protocol"].tolist() == ["a length rule written for this test"]
    # Judged again: everything comes from the store.
    with run.store() as store:
        before = store.count("verdicts")
    run.evaluate("toy", channels=("answer", "thinking"))
    with run.store() as store:
        assert store.count("verdicts") == before


def test_the_cli_sees_plugins_through_the_environment(toy_plugins: str, tmp_path: Path) -> None:
    store = str(tmp_path / "cli.sqlite")
    outputs = []
    for command in (["generate", "--model", "fake-r1", "--benchmark", "toy", "--store", store],
                    ["judge", "--judge", "toy-length", "--model", "fake-r1", "--benchmark", "toy", "--store", store]):
        out = subprocess.run([sys.executable, "-m", "r1lib", *command, "--no-progress"], capture_output=True,
                             text=True, env={**os.environ, "R1LIB_PLUGINS": toy_plugins}, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        outputs.append(out.stdout)
    assert "fake-r1 × toy: 3 records — 3 new" in outputs[0]
    assert "toy-length (version" in outputs[1] and "channel answer: 3 verdicts" in outputs[1]


def test_plugin_mistakes_name_the_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import no_such_module_here\n")
    monkeypatch.setenv("R1LIB_PLUGINS", str(broken))
    with pytest.raises(UserError, match=rf"plugin {broken} failed to load \(ModuleNotFoundError"):
        benchmark_names()
    monkeypatch.setenv("R1LIB_PLUGINS", str(tmp_path / "missing.py"))
    with pytest.raises(UserError, match="missing.py does not exist; check the path in R1LIB_PLUGINS"):
        get_benchmark("xstest")
    clash = tmp_path / "clash.py"
    clash.write_text(TOY_BENCHMARK.replace('name="toy"', 'name="xstest"'))
    monkeypatch.setenv("R1LIB_PLUGINS", str(clash))
    with pytest.raises(UserError, match="benchmark 'xstest' of .* is already registered by r1lib.benchmarks.xstest"):
        benchmark_names()


def test_no_benchmark_module_imports_the_runner_store_or_backends() -> None:
    """The benchmarks room knows nothing of models: no module under r1lib/benchmarks/ imports the runner,
    the store or a backend, at the top or inside a function."""
    forbidden = ("r1lib.generation.runner", "r1lib.store.database", "r1lib.generation.backends",
                 "r1lib.generation.solvers", "r1lib.app.run")
    found = []
    for path in sorted((PROJECT_ROOT / "r1lib" / "benchmarks").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name}: {name}" for name in names if name.startswith(forbidden)]
    assert found == []
    # And not indirectly either: importing every benchmark module loads none of them.
    script = ("import sys, pkgutil, importlib, r1lib.benchmarks as b\n"
              "[importlib.import_module('r1lib.benchmarks.' + m.name) for m in pkgutil.iter_modules(b.__path__)]\n"
              f"print(sorted(m for m in sys.modules if m.startswith({forbidden!r})))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_an_installed_package_brings_its_plugins_through_the_entry_point_group(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from r1lib.config import plugins
    package = tmp_path / "toy_plugin_pkg"
    package.mkdir()
    (package / "__init__.py").write_text(TOY_BENCHMARK + "\n" + TOY_JUDGE)
    info = tmp_path / "toy_plugin_pkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-plugin-pkg\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{plugins.ENTRY_POINTS}]\ntoy = toy_plugin_pkg\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("R1LIB_PLUGINS", raising=False)
    try:
        assert "toy" in benchmark_names() and get_benchmark("toy").judge == "toy-length"
        assert "toy-length" in judge_registry.judge_names()
    finally:
        benchmark_spec.REGISTERED.pop("toy", None)
        judge_registry.REGISTERED.pop("toy-length", None)
        plugins._LOADED.pop("toy_plugin_pkg", None)
        sys.modules.pop("toy_plugin_pkg", None)
