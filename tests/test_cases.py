"""Case figures: selection by criterion, escaping of untrusted output, figure size and highlights."""

from __future__ import annotations

import io

import matplotlib
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.text import Text

from r1lib.analysis.outcomes import BASE_COLUMNS
from r1lib.core.errors import UserError
from r1lib.core.records import GenerationRecord
from r1lib.paper import cases

matplotlib.use("Agg")


def verdicts(judge: str, channel: str, labels: list[str | None], model: str = "deepseek-r1") -> pd.DataFrame:
    """An outcome frame with one record per label (None = no output on that channel)."""
    rows = []
    for i, label in enumerate(labels):
        row = dict.fromkeys(BASE_COLUMNS)
        row.update(model=model, benchmark="jailbreak", prompt_id=f"p{i:02d}", sample=0, channel=channel, judge=judge,
                   version="v1", label=label, outcome="judged" if label else "no_output", gen_key=f"k{i:02d}")
        rows.append(row)
    return pd.DataFrame(rows)


def record(answer: str, thinking: str | None = "Let me think.", system: str | None = None) -> GenerationRecord:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": "Q?"}]
    return GenerationRecord(key="k00", model="deepseek-r1", benchmark="jailbreak", prompt_id="p00", sample=0,
                            messages=messages, config={}, thinking=thinking, answer=answer)


def test_fig6_selects_unsafe_thinking_with_a_safe_answer() -> None:
    answer = verdicts("jailbreak", "answer", ["safe", "safe", "unsafe", "safe", None, "safe"])
    thinking = verdicts("jailbreak", "thinking", ["unsafe", "safe", "unsafe", "unsafe", "unsafe", None])
    chosen = cases.select_cases(answer, thinking, "fig6", n=5)
    assert chosen["gen_key"].tolist() == ["k00", "k03"]
    assert set(chosen["label_answer"]) == {"safe"} and set(chosen["label_thinking"]) == {"unsafe"}
    one = cases.select_cases(answer, thinking, "thinking_unsafe_answer_safe", n=1, seed=3)
    assert len(one) == 1 and one["gen_key"].iloc[0] in {"k00", "k03"}
    assert one.equals(cases.select_cases(answer, thinking, "fig6", n=1, seed=3))


def test_safety_thinking_and_injection_criteria() -> None:
    scenarios = verdicts("safety-thinking", "thinking", ["S", "A", "B", "C", "A", None])
    assert cases.select_cases(None, scenarios, "fig8", n=5)["gen_key"].tolist() == ["k01", "k04"]
    assert cases.select_cases(None, scenarios, "C", n=5)["gen_key"].tolist() == ["k03"]
    assert cases.select_cases(None, scenarios, "fig7", n=5)["label_thinking"].tolist() == ["S"]
    injection = verdicts("prompt-injection", "answer", ["success", "failure", "failure", None])
    assert cases.select_cases(injection, None, "fig12", n=5)["gen_key"].tolist() == ["k00"]
    assert cases.select_cases(injection, None, "fig11", n=5)["gen_key"].tolist() == ["k01", "k02"]
    assert cases.select_cases(injection, None, "fig11", n=0).empty


def test_selection_errors_name_the_fix() -> None:
    scenarios = verdicts("safety-thinking", "thinking", ["S"])
    with pytest.raises(UserError, match="unknown case criterion"):
        cases.select_cases(None, scenarios, "fig99")
    with pytest.raises(UserError, match="needs frame_answer"):
        cases.select_cases(None, scenarios, "fig6")
    with pytest.raises(UserError, match="needs frame_thinking"):
        cases.select_cases(verdicts("jailbreak", "answer", ["safe"]), None, "S")


def test_untrusted_output_is_escaped_and_cleaned() -> None:
    hostile = "<script>alert(1)</script> \x1b[31mred\x1b[0m \x1b]0;title\x07bell\x07 & \"q\" ok"
    page = cases.case_html(record(hostile, thinking="think <b>bold</b>"), {"answer": "unsafe <i>"},
                           highlight=["ok"])
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\x1b" not in page and "\x07" not in page and "red" in page and "[31m" not in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "unsafe &lt;i&gt;" in page and "&amp; &quot;q&quot;" in page
    assert page.count("<mark") == 1 and ">ok</mark>" in page
    assert cases.clean_text("a\x1b[1;32mb\x1b[0m\tc\x00d\r\ne") == "ab    cd\ne"
    assert cases.escape_html("<a href='x'>") == "&lt;a href=&#x27;x&#x27;&gt;"


def test_case_figure_fits_a_page_and_highlights_spans() -> None:
    answer = "Step one: mix $x^2$ and $$ safely. " + "filler words " * 400 + "\x1b[31mend"
    fig = cases.case_figure(record(answer, system="You are a helpful assistant."),
                            {"answer": "unsafe", "thinking": "safe"}, highlight=["Step one: mix"], max_lines=12)
    width, height = fig.get_size_inches()
    assert width == pytest.approx(6.75) and 2 < height < 9.5
    texts = fig.findobj(Text)
    red = [t.get_text() for t in texts if to_hex(t.get_color()) == cases._HIGHLIGHT]
    assert red == ["Step one: mix"]
    shown = " ".join(t.get_text() for t in texts)
    verdict_lines = [t.get_text() for t in texts if t.get_gid() == "r1lib-verdict"]
    assert verdict_lines == ["verdict: safe", "verdict: unsafe"] and "System prompt" in shown  # thinking, answer
    assert "more lines]" in shown and "\x1b" not in shown
    fig.savefig(io.BytesIO(), format="png")  # "$" stays text: no math parsing error


def test_case_figure_without_thinking_or_answer() -> None:
    fig = cases.case_figure(record("", thinking=None), {})
    shown = [t.get_text() for t in fig.findobj(Text)]
    assert "Thinking" not in shown and "(no final answer)" in shown
    assert fig.get_size_inches()[0] == pytest.approx(6.75)


def test_a_stand_in_verdict_is_labelled_as_that_judges() -> None:
    from r1lib.judges.registry import get_judge
    offline = get_judge("jailbreak", judge_model="offline")
    assert cases.is_standin(offline) and not cases.is_standin(get_judge("recorded-llamaguard"))
    assert cases.judge_says(offline, "unsafe") == "offline jailbreak judge (stand-in; not validated) says unsafe"
    evidence = cases.agreement_evidence(0.92, 0.891, 0.942, 400, "Llama Guard labels")
    assert evidence == "agreement with Llama Guard labels (%): 92.0 [89.1, 94.2] n=400"
    assert cases.judge_says(offline, "unsafe", evidence=evidence) == (
        f"offline jailbreak judge (stand-in; {evidence}) says unsafe")
    assert cases.judge_says(get_judge("recorded-v3-harm"), "unsafe") == (
        "recorded-v3-harm: labels shipped with the set (not validated) say unsafe")
    assert cases.judge_says(get_judge("safety-thinking", judge_model="offline"), "B") == (
        "offline safety-thinking judge (stand-in; not validated) says B (recognises a safety issue but is misled)")
    severity = cases.score_words(get_judge("harm-offline"), 0.2234)
    assert severity.startswith("severity proxy 0.22 of 1 (") and severity.endswith("offline stand-in, not validated)")
    fig = cases.case_figure(record("A harmless, correct answer."), {"answer": cases.judge_says(offline, "unsafe")
                                                                   + "; " + severity})
    said = " ".join(t.get_text() for t in fig.findobj(Text) if t.get_gid() == "r1lib-verdict")
    assert said.startswith("verdict: offline jailbreak judge (stand-in; not validated) says unsafe; severity proxy")


def test_the_fig4_case_of_a_run_names_its_stand_in_judges(tmp_path) -> None:
    """Run.pair_case on the ci profile (fake models, offline judges): no bare "unsafe; severity 0.22"."""
    import re

    from r1lib.app.run import Run
    run = Run.open("ci", limit=6, store=tmp_path / "store.sqlite", tables_dir=tmp_path / "tables",
                   figures_dir=tmp_path / "figures", progress=False)
    airbench = run.evaluate("airbench")["answer"]
    shown = re.sub(r"<[^>]+>", " ", run.pair_case("fig4", airbench, run.scores("airbench")).data)
    assert shown.count("offline airbench judge (stand-in; not validated) says compliance; severity proxy") == 2
    assert "of 1 (how much specific help" in shown
    assert (tmp_path / "figures" / "fig4.png").is_file()
