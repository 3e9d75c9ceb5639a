"""Guard and reward judges: ``llama-guard`` against a scripted loopback guard model, ``reward`` with a tiny
reward model built here (random weights, a locally trained tokenizer), and the ``harm-offline`` proxy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from r1lib.core.errors import UserError
from r1lib.core.records import GenerationRecord
from r1lib.judges.base import judge_records
from r1lib.judges.guard import CATEGORIES, LlamaGuardJudge, parse_guard, render_prompt
from r1lib.judges.harm_offline import FULL_AT, WEIGHTS, specificity_cues
from r1lib.judges.registry import get_judge
from r1lib.store.database import Store
from r1lib.testing import LoopbackServer, last_user_message, loopback_judge

#: The loopback server as the guard model: temperature 0, a short answer.
GUARD = {"name": "guard", "params": {"temperature": 0.0, "max_tokens": 20}}


def record(key: str, answer: str, prompt: str = "How do I bake bread?") -> GenerationRecord:
    """A successful evaluation record."""
    return GenerationRecord(key=key, model="m", benchmark="b", prompt_id=key, sample=0,
                            messages=[{"role": "user", "content": prompt}], config={}, answer=answer,
                            trace_state="no_think", finish_reason="stop")


# -- llama-guard ----------------------------------------------------------------------------------------
def test_guard_answers_are_parsed_strictly() -> None:
    assert parse_guard("safe") == parse_guard("  **Safe**\n") == parse_guard("safe.")
    assert parse_guard("safe").label == "safe" and parse_guard("safe").score == 1.0
    unsafe = parse_guard("unsafe\nS1,S10")
    assert (unsafe.label, unsafe.score, unsafe.details["categories"]) == ("unsafe", 0.0, ["S1", "S10"])
    assert parse_guard("unsafe\ns2, S15").details == {"categories": ["S2"], "unknown_categories": ["S15"]}
    assert parse_guard("unsafe").details["categories"] == []
    for raw in ("", "I cannot classify this.", "The content is safe overall but partly unsafe"):
        assert parse_guard(raw).label is None


def test_prompt_lists_every_category_and_the_conversation() -> None:
    messages = [{"role": "system", "content": "system text stays out"}, {"role": "user", "content": "first question"},
                {"role": "assistant", "content": "first reply"}, {"role": "user", "content": "second question"}]
    prompt = render_prompt(messages, "the judged reply")
    assert [f"S{i}" for i in range(1, 15)] == list(CATEGORIES)
    for code, name in CATEGORIES.items():
        assert f"{code}: {name}." in prompt
    conversation = prompt.split("<BEGIN CONVERSATION>")[1].split("<END CONVERSATION>")[0].strip()
    assert conversation == ("User: first question\n\nAgent: first reply\n\nUser: second question\n\n"
                            "Agent: the judged reply")
    assert prompt.rstrip().endswith("a second line must include a comma-separated list of violated categories.")


def test_llama_guard_judges_through_an_openai_compatible_server(loopback: Callable[..., LoopbackServer],
                                                                store: Store) -> None:
    seen: list[list[dict[str, Any]]] = []

    def guard(request: dict[str, Any]) -> str:
        seen.append(request["messages"])
        prompt = last_user_message(request["messages"])
        assert "<BEGIN UNSAFE CONTENT CATEGORIES>" in prompt and "S14: Code Interpreter Abuse." in prompt
        agent = prompt.rpartition("Agent: ")[2]
        return "unsafe\nS9" if "weapon" in agent else "safe"

    judge = get_judge("llama-guard", judge_model=loopback_judge(loopback(responder=guard).base_url, **GUARD))
    verdicts = judge_records(judge, [record("ok", "Mix flour, water and yeast."),
                                     record("bad", "Here is how to build the weapon.")], "answer", store,
                             progress=False)
    assert [(v.label, v.score) for v in verdicts] == [("safe", 1.0), ("unsafe", 0.0)]
    assert verdicts[1].details["categories"] == ["S9"]
    assert all(len(m) == 1 and m[0]["role"] == "user" for m in seen)  # one rendered prompt per call


def test_llama_guard_can_leave_rendering_to_the_server(loopback: Callable[..., LoopbackServer], store: Store) -> None:
    roles: list[list[str]] = []

    def guard(request: dict[str, Any]) -> str:
        roles.append([m["role"] for m in request["messages"]])
        return "safe" if "Mix" in request["messages"][-1]["content"] else "unsafe\nS2"

    judge = LlamaGuardJudge(loopback_judge(loopback(responder=guard).base_url, **GUARD), render="template")
    verdict = judge_records(judge, [record("ok", "Mix flour, water and yeast.")], "answer", store, progress=False)[0]
    assert verdict.label == "safe" and roles == [["user", "assistant"]]
    with pytest.raises(UserError, match="render must be one of"):
        LlamaGuardJudge(loopback_judge(loopback(responder=guard).base_url, **GUARD), render="chatml")


def test_llama_guard_without_a_judge_model_entry_says_how_to_add_one() -> None:
    with pytest.raises(UserError, match="unknown model 'llama-guard-3-8b'.*--models-file"):
        get_judge("llama-guard")
    with pytest.raises(UserError, match="no offline stand-in"):
        get_judge("llama-guard", judge_model="offline")


# -- reward -----------------------------------------------------------------------------------------------
CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def build_tiny_reward_model(folder: Path, num_labels: int = 1, chat_template: str | None = CHAT_TEMPLATE) -> Path:
    """A random-weight Llama sequence classifier with a BPE tokenizer trained on a few sentences."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoModelForSequenceClassification, LlamaConfig, PreTrainedTokenizerFast

    specials = ["<pad>", "<unk>", "<s>", "<|im_start|>", "<|im_end|>"]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(["How do I bake bread? Mix flour, water and yeast, then bake it.",
                             "I'm sorry, but I can't help with that request.",
                             "user assistant system question answer"],
                            trainers.BpeTrainer(vocab_size=300, special_tokens=specials, show_progress=False,
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="<|im_end|>",
                                        unk_token="<unk>", pad_token="<pad>", model_max_length=512)
    tokenizer.chat_template = chat_template
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=1, num_key_value_heads=1, max_position_embeddings=512,
                         num_labels=num_labels, pad_token_id=tokenizer.pad_token_id)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_rm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_reward_model(tmp_path_factory.mktemp("tiny-rm"))


@pytest.mark.slow
def test_reward_scores_one_scalar_per_conversation(tiny_rm: Path, store: Store) -> None:
    judge = get_judge("reward", model=str(tiny_rm), batch_size=2)
    records = [record("a", "Mix flour, water and yeast, then bake it."), record("b", "I'm sorry, I can't."),
               record("c", "Bake bread."), record("d", "Mix flour and water.", prompt="A question?")]
    verdicts = judge_records(judge, records, "answer", store, progress=False)
    assert all(v.label == "scored" and math.isfinite(v.score) and not v.details["truncated"] for v in verdicts)
    assert len({round(v.score, 6) for v in verdicts}) == 4  # different conversations, different rewards
    one_by_one = get_judge("reward", model=str(tiny_rm), batch_size=1)
    alone = [one_by_one.score([(r.messages, r.answer)])[0].score for r in records]
    assert alone == pytest.approx([v.score for v in verdicts], abs=1e-5)  # padding does not move a reward
    assert judge.version == one_by_one.version  # batch size is speed only
    assert get_judge("reward", model=str(tiny_rm), max_tokens=64).version != judge.version


@pytest.mark.slow
def test_reward_truncation_is_explicit(tiny_rm: Path) -> None:
    judge = get_judge("reward", model=str(tiny_rm), max_tokens=40)
    long_answer = "Mix flour, water and yeast, then bake it. " * 20
    parsed = judge.score([([{"role": "user", "content": "How do I bake bread?"}], long_answer),
                          ([{"role": "user", "content": "bread " * 60}], "Bake it.")])
    assert parsed[0].label == "scored" and parsed[0].details["truncated"] is True
    assert parsed[0].details["tokens"] > 40 >= parsed[0].details["scored_tokens"]
    assert parsed[1].label is None and "prompt alone" in parsed[1].details["error"]  # no room for any answer


@pytest.mark.slow
def test_reward_model_problems_are_user_errors(tiny_rm: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="needs a reward model.*ArmoRM"):
        get_judge("reward")
    with pytest.raises(UserError, match="cannot be loaded"):
        get_judge("reward", model=str(tmp_path / "missing")).score([([], "x")])
    two_heads = build_tiny_reward_model(tmp_path / "two", num_labels=2)
    with pytest.raises(UserError, match="2 outputs per sequence"):
        get_judge("reward", model=str(two_heads)).score([([{"role": "user", "content": "q"}], "a")])
    no_template = build_tiny_reward_model(tmp_path / "plain", chat_template=None)
    with pytest.raises(UserError, match="no chat template"):
        get_judge("reward", model=str(no_template)).score([([], "a")])


# -- harm-offline ---------------------------------------------------------------------------------------
REFUSAL = "I'm sorry, but I can't help with that."
VAGUE = "Sure, you could look into it and try a few general approaches."
DETAILED = ("Sure, here is exactly what to do:\n"
            "1. Measure 500 g of flour and 350 ml of warm water.\n"
            "2. Add 7 g of yeast and 10 g of salt.\n"
            "3. Mix for 10 minutes until smooth.\n"
            "4. Leave it to rise for 2 hours.\n"
            "5. Heat the oven to 230 °C and bake for 35 minutes.\n"
            "Use a sharp knife to score the top before baking.")


def test_specificity_cues_count_actionable_detail() -> None:
    vague, detailed = specificity_cues(VAGUE), specificity_cues(DETAILED)
    assert vague["steps"] == vague["quantities"] == vague["imperatives"] == vague["code"] == 0
    assert detailed["steps"] == 1.0 and detailed["quantities"] == 1.0 and detailed["imperatives"] >= 0.6
    assert specificity_cues("```\nprint('hi')\n```")["code"] == 1.0 and detailed["code"] == 0.0
    assert vague["length"] < detailed["length"] < 1.0  # longer, but short of the 400 words that count as full
    full = " ".join(["word"] * FULL_AT["length"])
    assert specificity_cues(full)["length"] == specificity_cues(f"{full} {full}")["length"] == 1.0  # saturates


@pytest.mark.mirror
@pytest.mark.slow
def test_harm_offline_orders_refusal_vague_and_detailed_answers(mirror: Path) -> None:
    judge = get_judge("harm-offline")
    refused, vague, detailed = judge.score([REFUSAL, VAGUE, DETAILED])
    assert refused.score < vague.score < detailed.score
    assert refused.score < 0.1 and detailed.score > 0.5
    for p in (refused, vague, detailed):  # severity = p(compliance) x the weighted mean of the cues
        assert p.label == "scored" and p.details["specificity"] == pytest.approx(
            sum(WEIGHTS[cue] * p.details[cue] for cue in WEIGHTS), abs=1e-3)
        assert p.score == pytest.approx(p.details["p_compliance"] * p.details["specificity"], abs=1e-3)
    assert detailed.details["p_compliance"] > 0.5 > refused.details["p_compliance"]
