"""Settings, the models registry, aliases, API keys and YAML errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from r1lib.config import Settings, load_models, models_registry, resolve_model
from r1lib.errors import UserError

PAPER_LABELS = {"DS-R1": "deepseek-r1", "DS-V3": "deepseek-v3", "R1-70b": "r1-distill-llama-70b",
                "Llama3.3": "llama-3.3-70b", "o3-mini": "o3-mini", "R1-7b": "r1-distill-qwen-7b",
                "R1-8b": "r1-distill-llama-8b"}


def test_paper_labels_are_aliases() -> None:
    registry = models_registry()
    for alias, name in PAPER_LABELS.items():
        assert resolve_model(alias, registry).name == name
        assert resolve_model(alias.lower(), registry).name == name


def test_paper_models_carry_vendor_sampling_and_pairs() -> None:
    registry = models_registry()
    r1 = registry["deepseek-r1"]
    assert (r1.params["temperature"], r1.params["top_p"], r1.reasoning, r1.counterpart) == (0.6, 0.95, True, "deepseek-v3")
    assert "temperature" not in registry["o3-mini"].params
    assert registry["gpt-4o"].params["temperature"] == 0.0
    assert registry["smollm2-135m-think"].counterpart == "smollm2-135m"


def test_unknown_model_lists_known_ones() -> None:
    with pytest.raises(UserError, match="known models: .*deepseek-r1"):
        resolve_model("gpt-99", models_registry())


def test_missing_api_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)
    with pytest.raises(UserError, match="TOGETHER_API_KEY"):
        models_registry()["deepseek-r1"].api_key()
    monkeypatch.setenv("TOGETHER_API_KEY", "k")
    assert models_registry()["deepseek-r1"].api_key() == "k"


def test_user_models_file_adds_and_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = tmp_path / "mine.yaml"
    extra.write_text("models:\n  my-r1:\n    backend: openai\n    model: x\n    base_url: [http://a/v1, http://b/v1]\n"
                     "    aliases: MINE\n")
    monkeypatch.setenv("R1LIB_MODELS", str(extra))
    config = resolve_model("mine", models_registry())
    assert config.base_url == ("http://a/v1", "http://b/v1")
    assert config.aliases == ("MINE",)


@pytest.mark.parametrize(("text", "message"), [
    ("models:\n  a:\n    backend: openai\n   model: x\n", "line 4"),
    ("models:\n  a:\n    backend: openai\n", "line 2 .*missing required field 'model'"),
    ("models:\n  ok:\n    backend: fake\n    model: m\n  a:\n    backend: magic\n    model: x\n", "line 5 .*magic"),
    ("models:\n  a:\n    backend: fake\n    model: x\n    temprature: 1\n", "unknown fields \\['temprature'\\]"),
    ("- just a list\n", "expected a mapping"),
    ("models:\n  a:\n    backend: openai\n    model: x\n    stream: sometimes\n",
     "line 2 .*stream must be true, false or \"auto\""),
    ("models:\n  a:\n    backend: openai\n    model: x\n    batch: yes please\n", "batch must be true or false"),
])
def test_malformed_models_yaml_is_reported_with_location(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        load_models([path])


def test_settings_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("R1LIB_STORE", str(tmp_path / "s.sqlite"))
    monkeypatch.setenv("R1LIB_DATA_MIRROR", str(tmp_path))
    settings = Settings.load()
    assert settings.store_path == tmp_path / "s.sqlite"
    assert settings.mirror_dir == tmp_path


def test_settings_file_rejects_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "r1lib.yaml"
    path.write_text("store_pth: x\n")
    with pytest.raises(UserError, match="unknown keys"):
        Settings.load(path)
