"""Settings, the models registry, aliases, API keys and YAML errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from r1lib.config.settings import Settings, load_models, models_registry, resolve_model
from r1lib.core.errors import UserError
from r1lib.core.records import record_key

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
    assert (r1.params["temperature"], r1.params["top_p"]) == (0.6, 0.95)
    assert (r1.reasoning, r1.counterpart) == (True, "deepseek-v3")
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
    ("models:\n  a:\n    backend: openai\n", r"line 2 \(model 'a'\): missing required key 'model'\. model: "),
    ("models:\n  ok:\n    backend: fake\n    model: m\n  a:\n    backend: magic\n    model: x\n",
     r"line 6 \(model 'a'\): backend must be one of .*'openai'.*not 'magic'"),
    ("models:\n  a:\n    backend: fake\n    model: x\n    temprature: 1\n",
     r"line 5 \(model 'a'\): unknown key 'temprature'; allowed keys: backend, model, base_url"),
    ("models:\n  a:\n    backend: fake\n    model: x\n    reasonning: true\n", r"did you mean 'reasoning'\?"),
    ("- just a list\n", "expected a mapping"),
    ("models:\n  a:\n    backend: openai\n    model: x\n    stream: sometimes\n",
     "line 5 .*stream must be true, false or \"auto\", not 'sometimes'"),
    ("models:\n  a:\n    backend: openai\n    model: x\n    batch: yes please\n", "batch must be true or false"),
    # Type errors surface when the file is read, not when a call is made.
    ("models:\n  a:\n    backend: openai\n    model: x\n    max_concurrency: \"32\"\n",
     r"line 5 \(model 'a'\): max_concurrency must be an integer, not '32' \(quoted, so YAML reads it as text: "
     r"remove the quotes\)\. max_concurrency: how many calls"),
    ("models:\n  a:\n    backend: openai\n    model: x\n    max_concurrency: 0\n", "must be at least 1, not 0"),
    ("models:\n  a:\n    backend: openai\n    model: x\n    params: [temperature, 0]\n",
     r"params must be a mapping .*e\.g\. \{temperature: 0\.6"),
    ("models:\n  a:\n    backend: openai\n    model: x\n    base_url: [http://a/v1, 8000]\n",
     "line 5 .*base_url.1 must be a text, not 8000"),
    ("models:\n  a:\n    backend: openai\n    model: x\n    aliases: {A: B}\n", "aliases must be a list"),
    ("models:\n  a:\n    backend: openai\n    model: x\n    reasoning_parser: qwen3\n",
     "reasoning_parser must be one of 'deepseek_r1', not 'qwen3'"),
    ("models:\n  a:\n    name: b\n    backend: openai\n    model: x\n", "remove 'name'"),
])
def test_malformed_models_yaml_is_reported_with_location(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        load_models([path])


def test_every_mistake_of_an_entry_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("models:\n  a:\n    backend: fake\n    model: x\n    reasoning: 'yes'\n    think_budget: 1.5\n")
    with pytest.raises(UserError) as caught:
        load_models([path])
    lines = str(caught.value).splitlines()
    assert len(lines) == 2 and "line 5" in lines[0] and "line 6" in lines[1]


#: Record keys (first 16 hex digits) of a fixed prompt for every shipped model, as they were before the
#: models file was type-checked: validation must not change any value that enters a key.
SHIPPED_KEYS = {
    "deepseek-r1": "b49c43edd4955e04", "deepseek-v3": "cd4be2b243536f74", "r1-distill-llama-70b": "56dabd655452534c",
    "llama-3.3-70b": "1c58ca6f9a1b55aa", "o3-mini": "8b4d6a8d7a8e720e", "r1-distill-qwen-7b": "52ec401e7f88191f",
    "qwen2.5-7b": "5eba2767a10ae941", "r1-distill-llama-8b": "bad5fd6f8c91a5b4", "llama-3.1-8b": "a984668e29fcdf4e",
    "deepseek-reasoner-api": "7cb6ca0cac2771ad", "deepseek-r1-vllm": "e73ab72f7b889f42", "gpt-4o": "9a262b1caad9fc55",
    "smollm2-135m": "8ea20e6a642a0d21", "smollm2-135m-think": "ce2ad346f30dfced",
    "recorded-r1-distill-llama-8b": "b4a6e29412de18cc", "recorded-llama-3-8b": "afeee7275afe69fa",
    "recorded-llama-3.1-8b": "7005397b84cbd782", "recorded-qwen2.5-7b": "dfc7b9242ef22d13",
    "recorded-deepseek-r1-personas": "3061af062f7e2011", "recorded-r1-distill-qwen-14b": "e1b98c3a1df5464c",
    "recorded-deepseek-r1-volcengine": "7ada963b3745cd9e", "recorded-deepseek-v3-volcengine": "9f2b2a9434bd7266",
    "recorded-deepseek-r1-alibaba": "5cc6675581cf1169", "recorded-deepseek-v3-alibaba": "8c21611a7c709131",
    "recorded-deepseek-r1-tencent": "e7049ef3a795f97f", "recorded-deepseek-v3-tencent": "e4f9ddc5f91e7596",
    "fake-r1": "273c88221e343f40", "fake-v3": "fe2d1e463e451829", "fake-r1-70b": "b55635c6bd1b2fef",
    "fake-llama": "fda05ec866901557", "fake-o3": "c8819bab37d8566a", "fake-judge": "9f140ca21d9901ad",
    # the newer reasoning models (deepseek-r1-0528 is the route of deepseek-reasoner-api, so shares its key)
    "deepseek-r1-0528": "7cb6ca0cac2771ad", "deepseek-v3-0324": "e89135cfc2e2f0a9",
    "qwen3-32b-think": "7d637e0b57c5a4af", "qwen3-32b-nothink": "520bd6f74d352e3b", "qwq-32b": "682ddf5d47180353",
    "qwen2.5-32b": "3f7e5c527aef80fc", "gpt-oss-20b": "25ab74cc54087cdb", "gpt-oss-20b-low": "d84e3de49dbdd9f8",
    "gpt-oss-20b-high": "f34aed5e05da5854", "gpt-oss-120b": "ca5e7772e1a234e2", "gpt-oss-120b-low": "07dde0e29233473a",
    "gpt-oss-120b-high": "2e48a57dbdc80653", "o4-mini": "2e01be37f90741f1",
}


def test_record_keys_of_the_shipped_models_are_unchanged() -> None:
    registry = models_registry()
    keys = {name: record_key(config.key_fields(), [{"role": "user", "content": "Hello"}], 0)[:16]
            for name, config in registry.items()}
    assert keys == SHIPPED_KEYS


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
