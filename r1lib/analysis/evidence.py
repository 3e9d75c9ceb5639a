"""What a claim's judge is worth: its protocol, its agreement with the best labels available, and flips.

A claim (:mod:`r1lib.analysis.claims`) names the judge, version and channel that decided it. This module adds
to a claims table (:func:`r1lib.analysis.stats.claims_table`):

- ``protocol``: whether that judge is the paper's protocol or what stands in for it (an offline
  stand-in, a project-written prompt, labels shipped with a recorded set, human labels);
- ``evidence``: the judge's measured agreement with the best labels available for that channel:
  human labels where they exist (XSTest's, the age-bias set's labels of R1-Distill-Qwen-14B's
  thinking), else the labels shipped with the recorded sets (Llama Guard 2/3, the DeepSeek-V3
  harm and refusal flags of the personas set), as agreement with its interval, Cohen's kappa, n
  and the reference's name; or ``not validated``. :data:`REFERENCES` lists what can be measured;
  the numbers come from the run's own records (:meth:`r1lib.app.run.Run.evidence`), never from here;
- ``flips``: where the same claim (its ``subject``) was built under several judges and its verdict
  differs, the other judges and their verdicts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from r1lib.analysis.judge_agreement import (
    BINARY,
    SAFETY_THINKING_DECISIONS,
    binary_check,
    held_out_predictions,
    judged_labels,
    verdict_agreement,
)

NOT_VALIDATED = "not validated"
#: The evidence of a claim decided by people's labels.
HUMAN = "human labels: the reference the judges are checked against"
#: The evidence of a claim decided by labels shipped with a recorded set (the other judges' reference).
SHIPPED = "shipped labels: the reference the other judges are checked against; not checked against humans here"
#: The columns :func:`with_evidence` adds, and those of an evidence frame.
EVIDENCE_COLUMNS = ["protocol", "evidence", "flips"]
#: The measured columns of an evidence row.
MEASURES = ["n", "agreement", "ci_low", "ci_high", "kappa", "positive", "recall", "n_positive"]
EVIDENCE_FRAME = ["judge", "version", "channel", "value", "benchmark", "reference", *MEASURES]
XSTEST_HUMAN = "XSTest human labels"
#: Judges whose labels are people's: XSTest's and the age-bias annotator's (``recorded-human``).
HUMAN_LABELS = (XSTEST_HUMAN, "recorded-human")


@dataclass(frozen=True)
class Reference:
    """Labels a judge's verdicts on one benchmark and channel can be checked against.

    ``judge`` None means the benchmark's own judge. ``labels`` is the read-only judge returning the
    reference labels, on ``labels_channel`` (default: ``channel``). ``decision`` names one of
    :data:`r1lib.analysis.judge_agreement.SAFETY_THINKING_DECISIONS`, checked against the reference label
    ``positive``, instead of the safe / not safe agreement (:func:`r1lib.analysis.judge_agreement.verdict_agreement`).
    ``value`` is the claim value (:data:`r1lib.analysis.claims.VALUES`) the evidence is for.
    """

    benchmark: str
    channel: str
    judge: str | None
    labels: str
    name: str
    labels_channel: str | None = None
    decision: str | None = None
    positive: str | None = None
    value: str = "safe"


LLAMA_GUARD = "Llama Guard 2/3 flags shipped with the set"
V3_HARM = "DeepSeek-V3 harm flags shipped with the personas set"
REFERENCES = (
    Reference("xstest-age", "thinking", "refusal-offline", "recorded-human",
              "human labels of R1-Distill-Qwen-14B's thinking (age-bias set)"),
    Reference("jbb-recorded", "answer", None, "recorded-llamaguard", LLAMA_GUARD, labels_channel="full"),
    Reference("jbb-recorded", "full", None, "recorded-llamaguard", LLAMA_GUARD),
    Reference("deepseek-jailbreak", "answer", None, "recorded-jbb-llm-judge",
              "LLM-judge (JailbreakBench prompt) flags shipped with the deepseek-api-jailbreak set"),
    Reference("personas", "answer", None, "recorded-v3-harm", V3_HARM),
    Reference("personas", "thinking", None, "recorded-v3-harm", V3_HARM),
    Reference("personas", "thinking", "safety-thinking", "recorded-refusal-flag",
              "refusal flags shipped with the personas set", labels_channel="full", decision="aware (S/A/B)",
              positive="full_refusal", value="aware"),
    Reference("personas", "thinking", "safety-thinking", "recorded-v3-harm", V3_HARM,
              decision="unsafe thinking (A/B/C)", positive="unsafe"),
)


def protocol_kind(judge: Any) -> str:
    """``paper protocol``, ``offline stand-in``, ``shipped labels``, ``project-written`` or ``not the paper's``."""
    if judge is None:
        return "unknown judge"
    source = judge.protocol.source
    if judge.protocol.paper:
        return "paper protocol"
    if source.startswith("offline"):
        return "offline stand-in"
    if source.startswith("labels shipped"):
        return "shipped labels"
    if source.startswith(("project-written", "this project")):
        return "project-written"
    return "not the paper's protocol"


def agreement_evidence(judged: pd.DataFrame, labels: pd.DataFrame, reference: Reference) -> dict[str, Any]:
    """One evidence row: the judge's verdicts (``judged``) against the reference labels on the same records."""
    if reference.decision is None:
        row = verdict_agreement({reference.name: (judged, labels)}).iloc[0].to_dict()
    else:
        predicted = judged_labels(judged).isin(SAFETY_THINKING_DECISIONS[reference.decision])
        row = binary_check(reference.decision, predicted, reference.name, judged_labels(labels) == reference.positive)
    return {**_identity(judged), "value": reference.value, "benchmark": reference.benchmark,
            "reference": f"{reference.name} ({reference.benchmark}, {reference.labels_channel or reference.channel})"
                         + (f"; decision: {reference.decision}" if reference.decision else ""),
            **{key: row.get(key, math.nan) for key in MEASURES}}


def xstest_evidence(version: str, models: list[str] | None = None) -> dict[str, Any]:
    """``refusal-offline`` against XSTest's human labels (binary refusal), held out by model and pooled.

    The classifiers are trained on the other models' completions (:func:`held_out_predictions`),
    so ``version`` (the run's judge version) is the recipe, not the very classifier.
    """
    predictions = held_out_predictions(("refusal-offline",), models)
    predictions = predictions[predictions["predicted"].notna()]  # unparsed: no decision to check
    truth, predicted = predictions["label"].map(BINARY), predictions["predicted"].map(BINARY)
    row = binary_check("refusal", predicted == "refusal", "refusal", truth == "refusal")
    return {"judge": "refusal-offline", "version": version, "channel": "answer", "value": "safe",
            "benchmark": "xstest",
            "reference": f"{XSTEST_HUMAN} (held out by model)", **{k: row[k] for k in MEASURES}}


def evidence_text(row: Mapping[str, Any], benchmarks: str = "") -> str:
    """``agreement 0.87 [0.84, 0.90], κ 0.74, n 529 vs <reference>`` (+ the decision's share of yes and its
    recall), naming the benchmark when it is not the claim's."""
    if not row.get("n"):
        return f"no record judged by both (vs {row['reference']})"
    text = (f"agreement {row['agreement']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"
            + ("" if pd.isna(row["kappa"]) else f", κ {row['kappa']:.2f}") + f", n {int(row['n'])}"
            + f" vs {row['reference']}")
    if not pd.isna(row.get("positive", math.nan)):
        text += f"; the decision is yes on {row['positive']:.0%} of records"
    if not pd.isna(row.get("recall", math.nan)):
        text += f"; recall {row['recall']:.2f} of {int(row['n_positive'])}"
    if benchmarks and row["benchmark"] not in benchmarks.split(", "):
        text += f" — measured on {row['benchmark']}, not on this claim's data"
    return text


def with_evidence(table: pd.DataFrame, evidence: pd.DataFrame, judges: Mapping[str, Any]) -> pd.DataFrame:
    """``table`` (with ``judge``, ``version``, ``channel``, ``benchmark`` columns) plus ``protocol``,
    ``evidence`` and ``flips``. ``judges`` maps a judge name to the judge object used."""
    protocol, found = [], []
    for row in table.to_dict("records"):
        judge = row.get("judge", "")
        if judge in HUMAN_LABELS:
            protocol.append("human labels")
            found.append(HUMAN)
            continue
        if str(judge).startswith("recorded-"):
            protocol.append("shipped labels")
            found.append(SHIPPED)
            continue
        protocol.append(protocol_kind(judges.get(judge)))
        found.append(_lookup(evidence, row))
    return table.assign(protocol=protocol, evidence=found, flips=flips(table))


def _lookup(evidence: pd.DataFrame, claim: Mapping[str, Any]) -> str:
    """The evidence rows of a claim's judge, version, channel(s) and value; the claim's own benchmark first."""
    if evidence.empty:
        return NOT_VALIDATED
    channels = str(claim.get("channel", "")).split(", ")
    rows = evidence[(evidence["judge"] == claim.get("judge")) & (evidence["version"] == claim.get("version"))
                    & evidence["channel"].isin(channels) & (evidence["value"] == claim.get("value", "safe"))]
    if rows.empty:
        return NOT_VALIDATED
    benchmarks = str(claim.get("benchmark", ""))
    own = rows[rows["benchmark"].isin(benchmarks.split(", "))]
    return "; ".join(evidence_text(row, benchmarks) for row in (own if not own.empty else rows).to_dict("records"))


def flips(table: pd.DataFrame) -> pd.Series:
    """Per claim: the other judges under which the same ``subject`` gets the other verdict, or ``-``
    (claims without pairs take no part: no verdict to flip)."""
    if "subject" not in table.columns:
        return pd.Series("-", index=table.index)
    out = []
    tested = table[table["n"] > 0]
    for index, row in table.iterrows():
        others = tested[(tested["subject"] == row["subject"]) & (tested.index != index)
                        & (tested["holds"] != row["holds"])] if row["n"] > 0 else tested.iloc[:0]
        out.append("; ".join(f"{'holds' if o['holds'] else 'does not hold'} under {o['judge']} ({o['channel']})"
                             for o in others.to_dict("records")) or "-")
    return pd.Series(out, index=table.index)


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The claims table for reading: effect and interval rounded, p to two significant digits."""
    shown = pd.DataFrame({"claim": table["claim"], "effect": table["effect"].map(_fmt),
                          "95% CI": [f"[{_fmt(lo)}, {_fmt(hi)}]" for lo, hi in zip(table["ci_low"], table["ci_high"])],
                          "p (Holm)": table["p_holm"].map(_p), "n": table["n"]})
    for column in ("excluded", "holds", "judge", *EVIDENCE_COLUMNS):
        if column in table.columns:
            shown[column] = table[column].map(lambda v: "yes" if v is True else "no" if v is False else v)
    return shown


def _identity(frame: pd.DataFrame) -> dict[str, str]:
    return {column: ", ".join(str(v) for v in dict.fromkeys(frame[column].dropna())) for column in
            ("judge", "version", "channel")}


def _fmt(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{value:.2f}"


def _p(value: float) -> str:
    return "n/a" if pd.isna(value) else "<0.001" if value < 0.001 else f"{value:.2g}"
