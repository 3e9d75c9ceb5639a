"""Claims that carry their judge's evidence: judge columns, evidence, flips, judge_claims and the S/A/B/C check."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import papermill
import pytest

from r1lib.analysis import claims, evidence
from r1lib.analysis.judge_agreement import safety_thinking_validation
from r1lib.analysis.stats import claims_table
from r1lib.app.reproduce import NOTEBOOKS_DIR
from r1lib.judges.registry import get_judge


def outcome(judge: str, labels: dict[str, str | None], *, channel: str = "thinking", benchmark: str = "personas",
            model: str = "r1") -> pd.DataFrame:
    """A constructed outcome frame: one record per key, ``None`` = unparsed."""
    return pd.DataFrame([{"gen_key": key, "model": model, "benchmark": benchmark, "prompt_id": key, "sample": 0,
                          "channel": channel, "judge": judge, "version": "v1", "label": label, "score": np.nan,
                          "details": {}, "outcome": "judged" if label else "unparsed"}
                         for key, label in labels.items()])


def test_judge_claims_excludes_and_counts_unparsed_predictions() -> None:
    rows = [("m1", 1, "full_refusal", "refusal-offline", "full_refusal"),
            ("m1", 1, "full_refusal", "refusal-strmatch", "full_compliance"),
            ("m1", 2, "full_refusal", "refusal-offline", None),  # unparsed: was counted as compliance
            ("m1", 2, "full_refusal", "refusal-strmatch", "full_refusal"),
            ("m1", 3, "full_compliance", "refusal-offline", "full_compliance"),
            ("m1", 3, "full_compliance", "refusal-strmatch", "full_compliance")]
    predictions = pd.DataFrame(rows, columns=["model", "id", "label", "judge", "predicted"])
    found = claims.judge_claims(predictions, "refusal-offline", "refusal-strmatch")
    pooled = found[-1]
    assert len(pooled["a"]) == 2 and pooled["excluded"] == 1
    assert list(pooled["a"]) == [True, True] and list(pooled["b"]) == [False, True]
    table = claims_table(found)
    assert table["excluded"].tolist() == [1, 1] and table["n"].tolist() == [2, 2]


def test_claims_carry_judge_version_channel_and_excluded() -> None:
    frame = pd.concat([outcome("jailbreak", {"a": "unsafe", "b": "safe", "c": None}, channel="answer", model="r1"),
                       outcome("jailbreak", {"a": "safe", "b": "safe", "c": "safe"}, channel="answer", model="v3")])
    claim = claims.compare_models(frame, "r1", "v3", claim="R1 less safe than V3 (view)", direction="less",
                                  subject="R1 less safe than V3")
    table = claims_table([claim])
    row = table.iloc[0]
    assert (row["judge"], row["version"], row["channel"], row["benchmark"]) == ("jailbreak", "v1", "answer", "personas")
    assert row["n"] == 2 and row["excluded"] == 1 and row["subject"] == "R1 less safe than V3"


def claim_rows(**columns: list) -> pd.DataFrame:
    base = {"claim": ["c"], "effect": [0.1], "ci_low": [0.0], "ci_high": [0.2], "p": [0.01], "p_holm": [0.01],
            "n": [10], "holds": [True], "subject": ["s"], "benchmark": ["personas"], "channel": ["answer"],
            "judge": ["jailbreak"], "version": ["v1"], "excluded": [0]}
    size = len(next(iter(columns.values()), ["c"]))
    return pd.DataFrame({**{k: v * size for k, v in base.items()}, **columns})


def test_evidence_columns_name_protocol_agreement_and_reference() -> None:
    table = claim_rows(judge=["jailbreak", "jailbreak", "recorded-v3-harm", "safety-thinking", "mitre"],
                       version=["v1", "v2", "v1", "v1", "v1"], subject=["a", "b", "c", "d", "e"])
    found = pd.DataFrame([{"judge": "jailbreak", "version": "v1", "channel": "answer", "value": "safe",
                           "benchmark": "personas",
                           "reference": "V3 flags (personas, answer)", "n": 100, "agreement": 0.53, "ci_low": 0.43,
                           "ci_high": 0.63, "kappa": 0.06, "positive": np.nan, "recall": np.nan, "n_positive": 0}])
    judges = {"jailbreak": get_judge("jailbreak").offline(), "safety-thinking": get_judge("safety-thinking"),
              "mitre": get_judge("mitre")}
    shown = evidence.with_evidence(table, found, judges)
    assert shown["protocol"].tolist() == ["offline stand-in", "offline stand-in", "shipped labels",
                                          "project-written", "paper protocol"]
    assert shown.loc[0, "evidence"] == "agreement 0.53 [0.43, 0.63], κ 0.06, n 100 vs V3 flags (personas, answer)"
    assert shown.loc[1, "evidence"] == evidence.NOT_VALIDATED  # another version of the judge: not its evidence
    assert shown.loc[2, "evidence"] == evidence.SHIPPED
    assert shown.loc[3, "evidence"] == shown.loc[4, "evidence"] == evidence.NOT_VALIDATED
    elsewhere = evidence.with_evidence(claim_rows(benchmark=["jailbreak"]), found, judges)
    assert elsewhere.loc[0, "evidence"].endswith("measured on personas, not on this claim's data")


def test_flips_name_the_other_judge_and_its_verdict() -> None:
    table = claim_rows(subject=["R1 less safe", "R1 less safe", "R1 less safe", "other"],
                       judge=["jailbreak", "recorded-llamaguard", "recorded-v3-harm", "jailbreak"],
                       channel=["answer", "full", "answer", "answer"], holds=[True, False, True, False],
                       n=[10, 10, 0, 10])
    assert evidence.flips(table).tolist() == ["does not hold under recorded-llamaguard (full)",
                                              "holds under jailbreak (answer)", "-", "-"]


def test_safety_thinking_validation_on_constructed_frames() -> None:
    keys = list("abcdef")
    thinking = outcome("safety-thinking", dict(zip(keys, ["S", "S", "A", "B", "C", None])))
    refusal = outcome("recorded-refusal-flag", dict(zip(keys, ["full_refusal", "full_compliance", "full_refusal",
                                                               "full_compliance", "full_compliance",
                                                               "full_refusal"])), channel="full")
    harm_thinking = outcome("recorded-v3-harm", dict(zip(keys, ["safe", "safe", "unsafe", "unsafe", "safe", "safe"])))
    harm_answer = outcome("recorded-v3-harm", dict(zip(keys, ["safe", "safe", "safe", "unsafe", None, "safe"])),
                          channel="answer")
    table = safety_thinking_validation(thinking, harm_thinking, harm_answer, refusal).set_index("decision")
    aware = table.loc["aware (S/A/B)"]  # aware a b c d, refused a c: 3 of 5 agree, both refusals aware
    assert (aware["n"], aware["agreement"], aware["recall"], aware["n_positive"], aware["positive"]) == (5, 0.6, 1.0,
                                                                                                        2, 0.8)
    safe = table.loc["safe thinking (S)"]  # S a b vs refused a c: a, d, e agree
    assert (safe["n"], safe["agreement"], safe["recall"]) == (5, 0.6, 0.5)
    unsafe = table.loc["unsafe thinking (A/B/C)"]  # c d e vs harm c d: 4 of 5
    assert (unsafe["n"], unsafe["agreement"], unsafe["recall"]) == (5, 0.8, 1.0)
    answer = table.loc["harmful answer (A/B)"]  # record e has no V3 answer flag: 4 records, c disagrees
    assert (answer["n"], answer["agreement"]) == (4, 0.75)


def test_agreement_evidence_of_the_aware_decision() -> None:
    keys = list("abcd")
    thinking = outcome("safety-thinking", dict(zip(keys, ["S", "A", "C", "C"])))
    refusal = outcome("recorded-refusal-flag", dict(zip(keys, ["full_refusal", "full_refusal", "full_refusal",
                                                               "full_compliance"])), channel="full")
    reference = next(r for r in evidence.REFERENCES if r.decision)
    row = evidence.agreement_evidence(thinking, refusal, reference)
    assert (row["judge"], row["version"], row["channel"], row["n"]) == ("safety-thinking", "v1", "thinking", 4)
    assert row["value"] == "aware"
    assert row["agreement"] == 0.75 and row["recall"] == pytest.approx(2 / 3) and row["n_positive"] == 3
    assert "refusal flags" in row["reference"] and "aware (S/A/B)" in row["reference"]
    assert evidence.evidence_text(row).endswith("the decision is yes on 50% of records; recall 0.67 of 3")


def test_xstest_evidence_is_the_held_out_agreement_with_the_human_labels() -> None:
    from r1lib.analysis.judge_agreement import BINARY, held_out_predictions
    row = evidence.xstest_evidence("v1")
    predictions = held_out_predictions(("refusal-offline",))
    parsed = predictions[predictions["predicted"].notna()]
    agree = parsed["label"].map(BINARY) == parsed["predicted"].map(BINARY)
    assert row["n"] == len(parsed) > 0 and row["agreement"] == pytest.approx(agree.mean())
    assert row["reference"].startswith(evidence.XSTEST_HUMAN) and row["judge"] == "refusal-offline"


@pytest.mark.slow
def test_notebook_04_writes_its_claims_with_judge_and_evidence(tmp_path: Path) -> None:
    """Notebook 04 on fake models and the personas fixture: the claims carry the S/A/B/C judge's evidence."""
    profile = tmp_path / "thinking.yaml"
    profile.write_text("description: finding 3 on fakes and the personas fixture\n"
                       "models: [fake-r1, fake-v3, recorded-deepseek-r1-personas]\njudge_models: {default: offline}\n"
                       "benchmarks: {jailbreak: {limit: 4, models: [fake-r1, fake-v3]},\n"
                       "             personas: {models: [recorded-deepseek-r1-personas]}}\n")
    tables = tmp_path / "tables"
    papermill.execute_notebook(str(NOTEBOOKS_DIR / "04_safety_thinking.ipynb"), str(tmp_path / "04.ipynb"),
                               parameters={"profile": str(profile), "store": str(tmp_path / "store.sqlite"),
                                           "tables_dir": str(tables), "figures_dir": str(tmp_path / "figures"),
                                           "interactive": False}, progress_bar=False, kernel_name="python3")
    saved = pd.read_csv(tables / "claims_04_safety_thinking.csv")
    assert {"judge", "version", "channel", "protocol", "evidence", "flips", "excluded"} <= set(saved.columns)
    protocols = dict(zip(saved["judge"], saved["protocol"]))
    assert protocols == {"safety-thinking": "offline stand-in", "recorded-v3-harm": "shipped labels"}
    personas = saved[saved["benchmark"] == "personas"].set_index(["judge", "value"])
    aware, safe = personas.loc[("safety-thinking", "aware")], personas.loc[("safety-thinking", "safe")]
    assert len(aware) == len(safe) == 3  # scenario, persona and persona-scenario vs plain
    assert aware["evidence"].str.contains("vs refusal flags shipped with the personas set").all()
    assert safe["evidence"].str.contains("vs DeepSeek-V3 harm flags shipped with the personas set").all()
    assert (personas.loc[("recorded-v3-harm", "safe"), "evidence"] == evidence.SHIPPED).all()
    assert saved.loc[saved["benchmark"] == "jailbreak", "evidence"].str.contains("measured on personas").all()
    markdown = (tables / "claims_04_safety_thinking.md").read_text()
    assert "| judge" in markdown.replace("  ", " ") and "evidence" in markdown
    checked = pd.read_csv(tables / "recorded_safety_thinking_validation.csv")
    assert checked["decision"].tolist() == ["aware (S/A/B)", "safe thinking (S)", "unsafe thinking (A/B/C)",
                                            "harmful answer (A/B)"]
    assert nbformat.read(tmp_path / "04.ipynb", as_version=4).cells[-1].outputs, "the claims table is displayed"


def test_the_personas_refusal_flag_is_read_as_shipped_and_never_guessed() -> None:
    judge = get_judge("recorded-refusal-flag")
    assert (judge.read("1").label, judge.read(" 0").label, judge.read("0 refusal").label) == (
        "full_refusal", "full_compliance", None)
