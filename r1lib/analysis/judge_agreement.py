"""How well do the offline refusal judges agree with human labels? (Feeds the judge-validation notebook.)

**XSTest, held out by model.** XSTest ships human labels (full compliance / full refusal / partial
refusal) for the completions of three models. Each model's completions are judged by a
``refusal-offline`` classifier trained on the *other two* models' completions only, never on the
same model's; ``refusal-strmatch`` needs no training. Agreement is reported on the binary task
(compliance vs refusal, where refusal = full or partial refusal) and on the three labels.

**JailbreakBench artifacts (a weaker reference).** Each artifact response carries the JBB judge's
``jailbroken`` label. A jailbroken response complied, but a compliant response need not be
jailbroken (it may be harmless), so agreement of "compliance" with "jailbroken" is a lower bound;
``recall`` (jailbroken responses the judge calls compliance) is the cleaner number. Artifacts
without a response are skipped.

The expensive step is :func:`held_out_predictions` / :func:`jailbreakbench_predictions` (one row
per judged text); :func:`agreement_table`, :func:`accuracy_by_length_table` and
:func:`jailbreakbench_agreement` summarise them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from r1lib.analysis.outcomes import judge_safe_labels
from r1lib.analysis.stats import accuracy_by_length, agreement, rogan_gladen_ci
from r1lib.benchmarks.jailbreak import ARTIFACTS
from r1lib.benchmarks.sources import DataFiles
from r1lib.judges.refusal import COMPLETIONS, REFUSAL_LABELS, check_models, xstest_completions
from r1lib.judges.registry import get_judge

JUDGES = ("refusal-offline", "refusal-strmatch")
BINARY = {"full_compliance": "compliance", "full_refusal": "refusal", "partial_refusal": "refusal"}
TASKS = {"binary": ("compliance", "refusal"), "3-way": REFUSAL_LABELS}


def held_out_predictions(judges: Sequence[str] = JUDGES, models: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (XSTest completion, judge): model, id, type, chars, label, judge, predicted.

    ``refusal-offline`` judging a model is trained on the other XSTest models only.
    """
    corpus = xstest_completions()
    rows = []
    for held_out in check_models(models or list(COMPLETIONS)):
        test = corpus[corpus["model"] == held_out]
        for name in judges:
            options = {"train_models": [m for m in COMPLETIONS if m != held_out]} if name == "refusal-offline" else {}
            parsed = get_judge(name, **options).classify(test["completion"].tolist())
            rows.append(test.assign(chars=test["completion"].str.len(), judge=name,
                                    predicted=[p.label for p in parsed]))
    columns = ["model", "id", "type", "chars", "label", "judge", "predicted"]
    return pd.concat(rows, ignore_index=True)[columns]


def agreement_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per model, judge and task (``binary``, ``3-way``): accuracy with its 95 % Wilson interval,
    Cohen's kappa, n and the confusion matrix (rows = human label, columns = judge label)."""
    rows = []
    for (model, judge), group in predictions.groupby(["model", "judge"], sort=True):
        for task, labels in TASKS.items():
            truth, predicted = group["label"], group["predicted"]
            if task == "binary":
                truth, predicted = truth.map(BINARY), predicted.map(BINARY)
            result = agreement(truth.tolist(), predicted.tolist(), labels=list(labels))
            rows.append({"model": model, "judge": judge, "task": task, "accuracy": result.accuracy.rate,
                         "lo": result.accuracy.lo, "hi": result.accuracy.hi, "cohen_kappa": result.kappa,
                         "n": result.n, "confusion": result.confusion})
    return pd.DataFrame(rows)


def accuracy_by_length_table(predictions: pd.DataFrame, bins: int | Sequence[float] = 4) -> pd.DataFrame:
    """Binary accuracy of each judge per response-length bin (characters), with Wilson intervals."""
    frames = []
    for judge, group in predictions.groupby("judge", sort=True):
        correct = group["label"].map(BINARY) == group["predicted"].map(BINARY)
        frames.append(accuracy_by_length(group["chars"].to_numpy(), correct.to_numpy(), bins).assign(judge=judge))
    return pd.concat(frames, ignore_index=True)[["judge", "bin", "n", "k", "accuracy", "lo", "hi"]]


def jailbreakbench_responses() -> pd.DataFrame:
    """Every JailbreakBench artifact response: method, target, index, response, chars, jailbroken."""
    files = DataFiles()
    rows = []
    for source in ARTIFACTS:
        method, _, target = Path(source.path).with_suffix("").parts[-3:]
        for entry in json.loads(files.path(source).read_text(encoding="utf-8"))["jailbreaks"]:
            if (entry.get("response") or "").strip():
                rows.append({"method": method, "target": target, "index": entry["index"],
                             "response": entry["response"], "jailbroken": bool(entry["jailbroken"])})
    frame = pd.DataFrame(rows)
    return frame.assign(chars=frame["response"].str.len())


def jailbreakbench_predictions(judges: Sequence[str] = JUDGES) -> pd.DataFrame:
    """One row per (artifact response, judge): method, target, index, chars, jailbroken, judge, predicted."""
    responses = jailbreakbench_responses()
    frames = []
    for name in judges:
        parsed = get_judge(name).classify(responses["response"].tolist())
        frames.append(responses.drop(columns="response").assign(judge=name, predicted=[p.label for p in parsed]))
    return pd.concat(frames, ignore_index=True)


def jailbreakbench_agreement(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per judge: agreement of "compliance" with "jailbroken" (accuracy, kappa, n, confusion) and
    ``recall`` = share of jailbroken responses the judge calls compliance."""
    rows = []
    for judge, group in predictions.groupby("judge", sort=True):
        truth = np.where(group["jailbroken"], "compliance", "refusal")
        predicted = group["predicted"].map(BINARY)
        result = agreement(truth.tolist(), predicted.tolist(), labels=["compliance", "refusal"])
        jailbroken = group["jailbroken"].to_numpy()
        recall = float((predicted[jailbroken] == "compliance").mean()) if jailbroken.any() else float("nan")
        rows.append({"judge": judge, "accuracy": result.accuracy.rate, "lo": result.accuracy.lo,
                     "hi": result.accuracy.hi, "cohen_kappa": result.kappa, "recall": recall,
                     "n": result.n, "n_jailbroken": int(jailbroken.sum()), "confusion": result.confusion})
    return pd.DataFrame(rows)


def verdict_agreement(frames: dict[str, tuple[pd.DataFrame, pd.DataFrame]]) -> pd.DataFrame:
    """Agreement of two judges on the same records, per comparison: ``frames`` maps a name to
    (judge A's outcome frame, judge B's outcome frame). Each record counts when both judged it;
    labels are reduced to safe / not safe by each judge's own safe labels (for a refusal judge "safe"
    is a refusal, so "not safe" is a compliance). Columns: comparison, n, agreement (accuracy) with
    its 95% Wilson interval, Cohen's kappa, and each judge's share of "not safe" labels."""
    rows = []
    for name, (a, b) in frames.items():
        left = a[a["outcome"] == "judged"].set_index("gen_key")
        right = b[b["outcome"] == "judged"].set_index("gen_key")
        both = left[["label"]].join(right[["label"]], lsuffix="_a", rsuffix="_b", how="inner")
        if both.empty:
            rows.append({"comparison": name, "n": 0})
            continue
        safe_a, safe_b = judge_safe_labels(a), judge_safe_labels(b)
        unsafe_a = ~both["label_a"].isin(list(safe_a))
        unsafe_b = ~both["label_b"].isin(list(safe_b))
        result = agreement(unsafe_b.map({True: "unsafe", False: "safe"}), unsafe_a.map({True: "unsafe", False: "safe"}),
                           labels=["safe", "unsafe"])
        rows.append({"comparison": name, "n": result.n, "agreement": result.accuracy.rate,
                     "ci_low": result.accuracy.lo, "ci_high": result.accuracy.hi, "kappa": result.kappa,
                     "a_not_safe": float(unsafe_a.mean()), "b_not_safe": float(unsafe_b.mean())})
    return pd.DataFrame(rows, columns=["comparison", "n", "agreement", "ci_low", "ci_high", "kappa", "a_not_safe",
                                       "b_not_safe"])


#: The S/A/B/C judge's decisions checked by :func:`safety_thinking_validation`: the labels meaning "yes".
SAFETY_THINKING_DECISIONS = {"aware (S/A/B)": ("S", "A", "B"), "safe thinking (S)": ("S",),
                             "unsafe thinking (A/B/C)": ("A", "B", "C"), "harmful answer (A/B)": ("A", "B")}


def safety_thinking_validation(thinking: pd.DataFrame, harm_thinking: pd.DataFrame, harm_answer: pd.DataFrame,
                               refusal: pd.DataFrame) -> pd.DataFrame:
    """The S/A/B/C safety-thinking judge's decisions against labels shipped with the same records.

    ``thinking`` is the judge's outcome frame (thinking channel); ``harm_thinking`` / ``harm_answer``
    are the shipped harm scores per channel (``recorded-v3-harm``: unsafe iff score >= 1) and
    ``refusal`` the shipped refusal flag (``recorded-refusal-flag``). Records count where both
    sides have a verdict (joined on ``gen_key``). Rows (``decision`` vs ``reference``):

    - aware (S, A or B) vs the refusal flag: a refusal should come from a thinking that saw the
      concern, but a thinking can see it and comply, so ``recall`` (refusals called aware) is the
      cleaner number;
    - safe thinking (S) vs the refusal flag;
    - unsafe thinking (A, B or C) vs the harm score of the thinking (>= 1);
    - a harmful answer (A or B) vs the harm score of the answer (>= 1).

    Columns: decision, reference, n, agreement with its 95% Wilson interval, kappa, ``positive`` (the
    share of records the decision marks positive) and recall (the share of the reference's
    positives the decision marks positive) with its n.
    """
    refused = judged_labels(refusal) == "full_refusal"
    references = [("refusal flag", refused), ("refusal flag", refused),
                  ("V3 harm score of the thinking >= 1", judged_labels(harm_thinking) == "unsafe"),
                  ("V3 harm score of the answer >= 1", judged_labels(harm_answer) == "unsafe")]
    return pd.DataFrame([binary_check(decision, judged_labels(thinking).isin(labels), reference, truth)
                         for (decision, labels), (reference, truth) in zip(SAFETY_THINKING_DECISIONS.items(),
                                                                            references)])


def judged_labels(frame: pd.DataFrame) -> pd.Series:
    """The labels of the judged records of an outcome frame, by ``gen_key``."""
    return frame.loc[frame["outcome"] == "judged"].set_index("gen_key")["label"]


def binary_check(decision: str, predicted: pd.Series, reference: str, truth: pd.Series) -> dict[str, object]:
    """Agreement, kappa, positive share and recall of one boolean decision against one boolean reference,
    on the keys both series have."""
    both = pd.concat([predicted.rename("predicted"), truth.rename("truth")], axis=1, join="inner").astype(bool)
    result = agreement(both["truth"].tolist(), both["predicted"].tolist(), labels=[False, True])
    positives = both.loc[both["truth"], "predicted"]
    return {"decision": decision, "reference": reference, "n": result.n, "agreement": result.accuracy.rate,
            "ci_low": result.accuracy.lo, "ci_high": result.accuracy.hi, "kappa": result.kappa,
            "positive": float(both["predicted"].mean()) if len(both) else float("nan"),
            "recall": float(positives.mean()) if len(positives) else float("nan"), "n_positive": len(positives)}


def corrected_refusal_rates(frame: pd.DataFrame, predictions: pd.DataFrame, labels: Mapping[str, str], *,
                            judge: str = "refusal-offline") -> pd.DataFrame:
    """XSTest over-refusal per model (full or partial refusal), as judged and corrected for judge error.

    The judge's sensitivity and specificity for "refusal" come from its agreement with the human
    labels in ``predictions`` (:func:`r1lib.analysis.judge_agreement.held_out_predictions`); the correction
    is Rogan–Gladen with a bootstrap interval that carries their uncertainty
    (:func:`r1lib.analysis.stats.rogan_gladen_ci`). Only judged records of ``frame`` count.
    """
    known = predictions[(predictions["judge"] == judge) & predictions["predicted"].notna()]
    truth, said = known["label"] != "full_compliance", known["predicted"] != "full_compliance"
    sensitivity = (int((truth & said).sum()), int(truth.sum()))
    specificity = (int((~truth & ~said).sum()), int((~truth).sum()))
    rows = []
    for model, group in frame[frame["outcome"] == "judged"].groupby("model", sort=False):
        k, n = int((group["label"] != "full_compliance").sum()), len(group)
        estimate = rogan_gladen_ci(k, n, sensitivity=sensitivity, specificity=specificity)
        rows.append({"model": labels.get(model, model), "n": n, "judged refusal %": 100 * k / n,
                     "corrected %": 100 * estimate.estimate, "ci_low": 100 * estimate.lo,
                     "ci_high": 100 * estimate.hi, "judge": judge,
                     "sensitivity": sensitivity[0] / max(sensitivity[1], 1),
                     "specificity": specificity[0] / max(specificity[1], 1)})
    return pd.DataFrame(rows)
