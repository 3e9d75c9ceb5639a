"""The rooms' layers and the checks `make check` runs: import-linter keeps every contract of
pyproject.toml on the tree as it is, and fails when a room imports a room above it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """import-linter over the r1lib package in ``tree``, with the project's contracts."""
    return subprocess.run([str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
                          cwd=tree, capture_output=True, text=True, env={"PYTHONPATH": str(tree), "PATH": ""},
                          timeout=300)


def copy_tree(tmp_path: Path) -> Path:
    """A copy of the package and its pyproject.toml to break on purpose."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "r1lib", tree / "r1lib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


@pytest.mark.slow
def test_the_rooms_keep_their_layers_and_a_judge_importing_the_notebook_api_breaks_them(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    kept = lint_imports(tree)
    assert kept.returncode == 0, kept.stdout[-2000:]
    assert "2 kept, 0 broken" in kept.stdout
    judge = tree / "r1lib" / "judges" / "jailbreak.py"
    judge.write_text(judge.read_text() + "\nfrom r1lib.app.run import Run  # an upward import, on purpose\n")
    broken = lint_imports(tree)
    assert broken.returncode != 0
    assert "rooms are layered from app down to core BROKEN" in broken.stdout
    assert "r1lib.judges.jailbreak -> r1lib.app.run" in broken.stdout


@pytest.mark.slow
def test_shipped_code_importing_the_loopback_server_breaks_the_test_equipment_contract(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    runner = tree / "r1lib" / "generation" / "runner.py"
    runner.write_text(runner.read_text() + "\nimport r1lib.testing.loopback  # on purpose\n")
    broken = lint_imports(tree)
    assert broken.returncode != 0 and "shipped code does not import the test equipment BROKEN" in broken.stdout


def test_the_public_api_resolves_every_name_it_lists() -> None:
    import r1lib
    for name in r1lib.__all__:
        assert getattr(r1lib, name).__name__ == name
    assert r1lib.parse_trace("<think>a</think>b").answer == "b"
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        r1lib.nothing  # noqa: B018
