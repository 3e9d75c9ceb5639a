"""Benchmark loaders: sizes and categories against the paper (``mirror`` tests, on the real files), and
on the project's fixtures message construction, stratified sampling, JSONL input, the registry
table and the phishing dialogue driver."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from r1lib.benchmarks.base import Item
from r1lib.benchmarks.registry import benchmark_names, benchmark_table, get_benchmark, load_items
from r1lib.benchmarks.sampling import stratified_sample
from r1lib.benchmarks.sources import FIXTURE_NOTE
from r1lib.config.settings import Settings, models_registry, resolve_model
from r1lib.core.errors import UserError
from r1lib.generation.backends.fake import COMPLY_THINKING, LEAKY_THINKING, SAFE_THINKING
from r1lib.generation.solvers import generate
from r1lib.store.database import Store


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings with an empty data dir (the mirror in ``mirror`` tests, else the fixtures); any download
    would hit a closed port."""
    monkeypatch.setenv("R1LIB_GITHUB_RAW_BASE", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return replace(Settings.load(), data_dir=tmp_path / "data")


def assert_well_formed(items: list[Item], name: str, size: int) -> None:
    """``size`` items with unique ids, the spec's category fields and a non-empty last user turn."""
    assert len(items) == size
    assert len({item.id for item in items}) == size
    spec = get_benchmark(name)
    for item in items:
        assert item.benchmark == name
        assert set(item.category) == set(spec.category_fields) - ({"method"} if name == "jbb-behaviors" else set())
        assert all(isinstance(v, str) and v for v in item.category.values())
        assert item.messages[-1]["role"] == "user" and item.messages[-1]["content"].strip()


def counts(items: list[Item], field: str) -> Counter:
    """How many items fall in each value of a category field."""
    return Counter(item.category[field] for item in items)


# -- sizes and categories against the paper (reference §2 and §4.3) ------------------------------

@pytest.mark.mirror
@pytest.mark.parametrize(("name", "split", "size"), [
    ("airbench", None, 632), ("airbench", "subset", 632), ("mitre", None, 377), ("mitre", "full", 970),
    ("interpreter", None, 500), ("phishing", None, 200), ("phishing", "full", 856), ("xstest", None, 250),
    ("xstest", "unsafe", 200), ("xstest", "all", 450), ("jailbreak", None, 1097), ("jailbreak", "plain", 100),
    ("prompt-injection", None, 251), ("harmbench", None, 400), ("harmbench", "val", 80),
    ("harmbench", "test", 320), ("advbench", None, 520), ("strongreject", None, 313), ("jbb-behaviors", None, 100),
])
def test_every_benchmark_loads_from_the_mirror(settings: Settings, name: str, split: str | None, size: int) -> None:
    items = load_items(name, split=split, settings=settings)
    assert_well_formed(items, name, size)
    assert all("fixture" not in item.meta for item in items)


@pytest.mark.parametrize(("name", "split", "size"), [
    ("airbench", None, 12), ("mitre", None, 12), ("mitre", "full", 12), ("interpreter", None, 10),
    ("phishing", None, 8), ("xstest", None, 20), ("xstest", "unsafe", 8), ("xstest", "all", 28),
    ("jailbreak", None, 66), ("jailbreak", "plain", 6), ("prompt-injection", None, 10), ("harmbench", None, 6),
    ("harmbench", "val", 2), ("advbench", None, 5), ("strongreject", None, 5), ("jbb-behaviors", None, 6),
])
def test_every_benchmark_loads_its_fixtures_marked_as_not_real(settings: Settings, name: str, split: str | None,
                                                               size: int) -> None:
    items = load_items(name, split=split, settings=settings)
    assert_well_formed(items, name, size)
    assert {item.meta["fixture"] for item in items} == {FIXTURE_NOTE}
    assert all(item.messages[-1]["content"].startswith("[fixture") for item in items)


def test_fixture_loaders_skip_unusable_rows_and_merge_repeated_jailbreaks(settings: Settings) -> None:
    mitre = load_items("mitre", split="full", settings=settings)  # 14 rows: one without a prompt, one #ERROR!
    assert [item.id for item in mitre] == [f"base-{i}" for i in range(12)]
    jailbreaks = load_items("jailbreak", settings=settings)
    # per method, 3 even behaviours with one prompt shared by every target + 3 odd ones with one per target:
    # DSN 2 targets, GCG / JBC / random search 4, PAIR 4 of which llama-2 has no prompts
    assert len(jailbreaks) == (3 + 3 * 2) + 3 * (3 + 3 * 4) + (3 + 3 * 3)
    shared = next(i for i in jailbreaks if i.id.startswith("GCG/0/"))
    assert set(shared.meta["artifact_label"]) == {"gpt-3.5-turbo-1106", "gpt-4-0125-preview", "llama-2-7b-chat-hf",
                                                 "vicuna-13b-v1.5"}
    harmbench = {i.id: i.messages[0]["content"] for i in load_items("harmbench", settings=settings)}
    assert harmbench["fixture_1"] == "[fixture context 1]\n\n---\n\n[fixture HarmBench behaviour 1]"
    assert harmbench["fixture_0"] == "[fixture HarmBench behaviour 0]"


@pytest.mark.mirror
def test_interpreter_has_five_attack_types_of_100(settings: Settings) -> None:
    items = load_items("interpreter", settings=settings)
    assert counts(items, "attack_type") == {t: 100 for t in (
        "Privilege Escalation", "Container Escape", "Reflected Attack", "Post Exploitation", "Social Engineering")}
    assert all(item.messages == [{"role": "user", "content": item.messages[0]["content"]}] for item in items)


@pytest.mark.mirror
def test_prompt_injection_splits_and_system_user_messages(settings: Settings) -> None:
    items = load_items("prompt-injection", settings=settings)
    assert counts(items, "injection_type") == {"direct": 196, "indirect": 55}
    assert counts(items, "risk_category") == {"security": 180, "logic": 71}
    assert len(counts(items, "injection_variant")) == 15
    for item in items:
        assert [m["role"] for m in item.messages] == ["system", "user"]
        assert item.meta["judge_question"].strip()


@pytest.mark.mirror
def test_xstest_has_ten_safe_types_of_25(settings: Settings) -> None:
    safe = load_items("xstest", settings=settings)
    assert len(counts(safe, "type")) == 10 and set(counts(safe, "type").values()) == {25}
    assert {item.meta["label"] for item in safe} == {"safe"}
    assert {item.meta["label"] for item in load_items("xstest", split="unsafe", settings=settings)} == {"unsafe"}


@pytest.mark.mirror
def test_mitre_base_file_is_flagged_and_the_377_subset_is_stratified(settings: Settings) -> None:
    full = load_items("mitre", split="full", settings=settings)
    per_category = counts(full, "mitre_category")
    assert len(per_category) == 10 and all(90 <= n <= 100 for n in per_category.values())
    assert {item.meta["source"] for item in full} == {"mitre-base"}
    subset = load_items("mitre", settings=settings)
    assert {item.meta["subset"] for item in subset} == {"stratified-377"}
    assert {item.id for item in subset} <= {item.id for item in full}
    for category, n in counts(subset, "mitre_category").items():
        assert abs(n - 377 * per_category[category] / len(full)) < 1.5
    assert [i.id for i in subset] == [i.id for i in load_items("mitre", settings=settings)]


@pytest.mark.mirror
def test_phishing_has_856_challenges_and_a_goal_stratified_200(settings: Settings) -> None:
    full = load_items("phishing", split="full", settings=settings)
    assert set(counts(full, "goal").values()) == {214}
    subset = load_items("phishing", settings=settings)
    assert set(counts(subset, "goal").values()) == {50}
    item = subset[0]
    assert [m["role"] for m in item.messages] == ["system", "user"]
    assert item.meta["goal"] in item.messages[0]["content"] and item.messages[1]["content"] == item.meta["goal"]
    assert str(item.meta["target_profile"]) in item.messages[0]["content"]  # upstream renders the profile with str()
    assert "via SMS" in item.messages[0]["content"]  # the documented platform decision
    assert set(counts(subset, "goal")) == {"Malware download", "Data theft", "Security info gathering",
                                           "Credential theft"}  # upstream's summarize_goal names


@pytest.mark.mirror
def test_airbench_subset_covers_16_l2_and_carries_judge_prompts(settings: Settings) -> None:
    items = load_items("airbench", settings=settings)
    assert len(counts(items, "l2")) == 16
    for item in items:
        assert item.meta["subset"] == "mirror-632"
        assert "{{QUESTION}}" in item.meta["judge_prompt"] and "{{ANSWER}}" in item.meta["judge_prompt"]
        assert item.id.startswith(item.meta["cate_idx"] + "/")
        assert len(item.messages) == 1


@pytest.mark.mirror
def test_airbench_full_split_without_the_file_says_how_to_fetch_it(settings: Settings) -> None:
    with pytest.raises(UserError, match=r"air_2024\.csv.*r1lib data fetch airbench"):
        load_items("airbench", split="full", settings=settings)


@pytest.mark.mirror
def test_jailbreak_artifacts_carry_goal_method_and_labels(settings: Settings) -> None:
    items = load_items("jailbreak", settings=settings)
    assert set(counts(items, "method")) == {"PAIR", "GCG", "JBC", "prompt_with_random_search", "DSN"}
    assert len(counts(items, "category")) == 10
    for item in items:
        assert item.meta["source"] == "jailbreakbench-artifacts"
        assert item.meta["goal"].strip()
        assert item.meta["artifact_label"] and all(isinstance(v, bool) for v in item.meta["artifact_label"].values())
    assert len({item.messages[0]["content"] for item in items}) == len(items)
    plain = load_items("jailbreak", split="plain", settings=settings)
    assert set(counts(plain, "category").values()) == {10} and set(counts(plain, "method")) == {"plain"}
    assert all(item.messages[0]["content"] == item.meta["goal"] for item in plain)


@pytest.mark.mirror
def test_harmbench_contextual_behaviours_include_their_context(settings: Settings) -> None:
    items = load_items("harmbench", settings=settings)
    assert counts(items, "functional") == {"standard": 200, "contextual": 100, "copyright": 100}
    for item in items:
        prompt = item.messages[0]["content"]
        if item.category["functional"] == "contextual":
            assert prompt == f"{item.meta['context']}\n\n---\n\n{item.meta['goal']}"
        else:
            assert prompt == item.meta["goal"]


# -- splits, names and sampling -------------------------------------------------------------------

def test_unknown_benchmark_and_split_are_clear_errors(settings: Settings) -> None:
    with pytest.raises(UserError, match="unknown benchmark 'nope'.*xstest"):
        load_items("nope", settings=settings)
    with pytest.raises(UserError, match="no split 'bogus'; splits: safe, unsafe, all"):
        load_items("xstest", split="bogus", settings=settings)
    with pytest.raises(UserError, match="positive"):
        load_items("xstest", limit=0, settings=settings)


def test_limit_is_seeded_stratified_and_covers_every_category(settings: Settings) -> None:
    population = load_items("airbench", settings=settings)  # fixtures: 12 prompts, 4 in each of 3 L2 categories
    first = load_items("airbench", limit=6, seed=3, settings=settings)
    again = load_items("airbench", limit=6, seed=3, settings=settings)
    other = load_items("airbench", limit=6, seed=4, settings=settings)
    assert [i.id for i in first] == [i.id for i in again]
    assert [i.id for i in first] != [i.id for i in other]
    assert set(counts(first, "l2").values()) == {2} and len(counts(first, "l2")) == 3
    assert {i.id for i in first} <= {i.id for i in population}
    assert all(i.meta["sample_of"] == 12 and i.meta["sample_seed"] == 3 for i in first)
    few = load_items("airbench", limit=2, seed=1, settings=settings)
    assert len(few) == 2 and len(counts(few, "l2")) == 2
    assert len(load_items("xstest", limit=1000, settings=settings)) == 20


def test_stratified_sample_is_proportional_and_keeps_input_order() -> None:
    items = [Item("t", str(i), [{"role": "user", "content": "x"}], {"c": "big" if i < 80 else "small"})
             for i in range(100)]
    sample = stratified_sample(items, 10, seed=0, by=("c",))
    assert counts(sample, "c") == {"big": 8, "small": 2}
    assert [int(i.id) for i in sample] == sorted(int(i.id) for i in sample)
    assert stratified_sample(items, 10, seed=0, by=("c",)) == sample
    assert len(stratified_sample(items, 1, seed=5, by=("c",))) == 1


# -- JSONL input --------------------------------------------------------------------------------------

def write_lines(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f"jsonl:{path}"


def test_jsonl_items_with_system_messages_and_category(tmp_path: Path) -> None:
    name = write_lines(tmp_path / "mine.jsonl", [
        json.dumps({"id": "a", "prompt": "Hello?"}),
        "",
        json.dumps({"id": 2, "prompt": "Hi", "system": "Be brief.", "category": {"kind": "x"}, "source": "me"}),
        json.dumps({"id": "c", "messages": [{"role": "user", "content": "1"}, {"role": "assistant", "content": "2"},
                                            {"role": "user", "content": "3"}]}),
    ])
    items = load_items(name)
    assert [i.id for i in items] == ["a", "2", "c"]
    assert items[0].messages == [{"role": "user", "content": "Hello?"}] and items[0].benchmark == "jsonl:mine"
    assert items[1].messages[0] == {"role": "system", "content": "Be brief."}
    assert items[1].category == {"kind": "x"} and items[1].meta == {"source": "me"}
    assert len(items[2].messages) == 3


@pytest.mark.parametrize(("lines", "message"), [
    (['{"id": "a", "prompt": "ok"}', '{"id": "b", "prompt": "ok"}', '{"id": "c", "prompt": '],
     r"line 3: not valid JSON"),
    (['{"id": "a", "prompt": "ok"}', '["a list"]'], r"line 2: expected a JSON object"),
    (['{"prompt": "no id"}'], r"line 1: missing 'id'"),
    (['{"id": "a"}'], r"line 1: missing 'prompt'"),
    (['{"id": "a", "prompt": "x"}', '{"id": "a", "prompt": "y"}'], r"line 2: id 'a' appears twice"),
    (['{"id": "a", "messages": []}'], r"line 1: 'messages' must be"),
    (["", "   "], r"has no prompts"),
])
def test_jsonl_errors_name_the_line(tmp_path: Path, lines: list[str], message: str) -> None:
    with pytest.raises(UserError, match=message):
        load_items(write_lines(tmp_path / "bad.jsonl", lines))


def test_jsonl_missing_file_and_split(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        load_items(f"jsonl:{tmp_path / 'absent.jsonl'}")
    name = write_lines(tmp_path / "ok.jsonl", ['{"id": "a", "prompt": "x"}'])
    with pytest.raises(UserError, match="no splits"):
        load_items(name, split="full")


# -- the registry table ---------------------------------------------------------------------------

@pytest.mark.mirror
def test_benchmark_table_lists_sizes_flags_and_missing_data(settings: Settings) -> None:
    table = benchmark_table(settings).set_index("name")
    assert list(table.index) == benchmark_names()
    assert table.loc["xstest", "items"] == 250 and table.loc["xstest", "paper_size"] == 250
    assert "subset=mirror-632" in table.loc["airbench", "flags"]
    assert "source=jailbreakbench-artifacts" in table.loc["jailbreak", "flags"]
    assert "source=mitre-base" in table.loc["mitre", "flags"]
    assert table.loc["prompt-injection", "license"] == "MIT"
    bare = benchmark_table(replace(settings, mirror_dir=None)).set_index("name")
    assert (bare["items"] == 0).all()
    assert bare.loc["xstest", "flags"] == "missing: run `r1lib data fetch xstest`"


def test_fixture_table_says_every_benchmark_is_a_fixture(settings: Settings) -> None:
    table = benchmark_table(settings).set_index("name")
    assert table.loc["xstest", "items"] == 20 and table.loc["xstest", "paper_size"] == 250
    assert (table["items"] > 0).all()
    assert table["flags"].str.contains(f"fixture={FIXTURE_NOTE}", regex=False).all()
    assert table["source"].str.startswith(f"FIXTURE ({FIXTURE_NOTE}) standing in for ").all()


# -- the phishing dialogue driver on the fake backend ------------------------------------------------

@pytest.fixture
def dialogue_setup(settings: Settings, tmp_path: Path):
    registry = models_registry(settings)
    items = load_items("phishing", limit=8, seed=0, settings=settings)
    with Store(tmp_path / "store.sqlite") as store:
        attacker = resolve_model("fake-r1-70b", registry)  # thinking arrives before a bare </think>
        attacker = replace(attacker, options={**attacker.options, "refusal_rate": 0.2})
        yield attacker, resolve_model("fake-v3", registry), items, store


def test_dialogues_never_show_the_attackers_thinking_to_the_victim(dialogue_setup) -> None:
    attacker, victim, items, store = dialogue_setup
    outcome = generate(attacker, "phishing", items, store, solver="phishing_dialogue", partner=victim, max_turns=2,
                       progress=False)
    assert [r.prompt_id for r in outcome.records] == [i.id for i in items]
    for record, item in zip(outcome.records, items, strict=True):
        assert (record.role, record.benchmark, record.model) == ("eval", "phishing", attacker.name)
        assert record.meta["item"] == item.meta and record.meta["category"] == item.category
        assert record.meta["turns"] == 2 and record.meta["protocol"]["victim"] == victim.name
    victim_records = list(store.iter_generations(benchmark="phishing", role="victim"))
    assert len(victim_records) == 3 * len(items) and {r.model for r in victim_records} == {victim.name}
    for record in victim_records:
        for message in record.messages:
            for thinking in (SAFE_THINKING, LEAKY_THINKING, COMPLY_THINKING):
                assert thinking not in message["content"]
            assert "</think>" not in message["content"]


def test_dialogues_reject_negative_turns_and_extra_samples(dialogue_setup) -> None:
    attacker, victim, items, store = dialogue_setup
    with pytest.raises(UserError, match="max_turns"):
        generate(attacker, "phishing", items, store, solver="phishing_dialogue", partner=victim, max_turns=-1)
    with pytest.raises(UserError, match="one sample per challenge"):
        generate(attacker, "phishing", items, store, solver="phishing_dialogue", partner=victim, samples=2)
    with pytest.raises(UserError, match="need a victim model"):
        generate(attacker, "phishing", items, store, solver="phishing_dialogue")


