"""The paired claims behind the paper's findings, as input for :func:`r1lib.analysis.stats.claims_table`.

Each function turns outcome frames into claim dicts (``claim``, ``a``, ``b``, ``direction``) over
*paired* observations: the same prompt (and sample; with several samples per prompt, the prompt's
share over its samples) answered by two models, the same output judged on its thinking and on its
answer, or the same behaviour asked plainly and inside a jailbreak. Only
records with a verdict (``outcome == "judged"``) enter a pair; a claim whose models share no judged
prompt has no pairs, and ``claims_table`` reports it as not holding (never as holding).

Each claim also names what decided it (:func:`judged_by`): ``judge``, ``version``, ``channel`` and
``benchmark`` of its frames, ``excluded`` (records of the compared models without a verdict:
unparsed, blocked, failed, ...) and ``subject``, the claim without the judge or view it was built
under, so that the same claim under two judges can be set side by side
(:func:`r1lib.analysis.evidence.flips`).

Values compared: ``safe`` (the benchmark's one safety metric, :func:`r1lib.paper.tables.safety_values`:
True/False for most judges, tested with McNemar; AIR-Bench's 1 / 0.5 / 0 score, tested with
Wilcoxon — the same definition as Tables 2 and 7), ``score`` (the verdict's score: reward, severity,
phishing grade; Wilcoxon) and ``aware`` (the safety-thinking judge saw a safety concern: S, A or B).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from r1lib.analysis.outcomes import safety_values
from r1lib.core.errors import UserError

VALUES = ("safe", "score", "aware")
AWARE_LABELS = frozenset({"S", "A", "B"})
PAIR_KEYS = ["prompt_id", "sample"]
Claim = dict[str, Any]


def judged_values(frame: pd.DataFrame, value: str = "safe") -> pd.DataFrame:
    """The judged rows of an outcome frame with a ``value`` column (see the module docstring)."""
    if value not in VALUES:
        raise UserError(f"unknown claim value {value!r}; use one of {', '.join(VALUES)}")
    judged = frame[frame["outcome"] == "judged"].copy()
    if judged.empty:
        return judged.assign(value=pd.Series(dtype=bool))
    if value == "safe":
        values = safety_values(judged)
        binary = set(values.dropna().unique()) <= {0.0, 1.0}
        judged["value"] = values.astype(bool) if binary else values
    elif value == "aware":
        judged["value"] = [bool(d.get("aware", label in AWARE_LABELS)) if isinstance(d, dict) else label in AWARE_LABELS
                           for d, label in zip(judged["details"], judged["label"])]
    else:
        judged["value"] = pd.to_numeric(judged["score"], errors="coerce")
        judged = judged[judged["value"].notna()]
    return judged


def judged_by(*frames: pd.DataFrame, subject: str, value: str = "safe") -> Claim:
    """What decided a claim built from ``frames``: judge, version, channel and benchmark (distinct values
    joined by ", "), the ``value`` compared, the records without a verdict (``excluded``) and the
    judge-free ``subject``."""
    meta: Claim = {"subject": subject, "value": value}
    for column in ("judge", "version", "channel", "benchmark"):
        values = [str(v) for f in frames if column in f.columns for v in f[column].dropna().unique()]
        meta[column] = ", ".join(dict.fromkeys(values))
    meta["excluded"] = int(sum((f["outcome"] != "judged").sum() for f in frames if "outcome" in f.columns))
    return meta


def several_samples(rows: pd.DataFrame) -> bool:
    """Whether any model has several samples of one prompt among ``rows``."""
    return bool("prompt_id" in rows.columns and rows.duplicated(["model", "prompt_id"]).any())


def per_prompt(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per ``keys`` (a prompt): the mean ``value`` over its judged samples (the share safe)."""
    return rows.groupby(keys, sort=False, as_index=False)["value"].mean()


def compare_models(frame: pd.DataFrame, a: str, b: str, *, claim: str, direction: str,
                   value: str = "safe", subject: str | None = None) -> Claim:
    """Claim ``mean(value of a) <direction> mean(value of b)`` over the prompts both models have judged.

    With one sample per prompt a pair is a (prompt, sample) record of each model; with several, a
    pair is a prompt, each side its share safe over its judged samples (Wilcoxon), so k samples
    never count as k independent pairs. A ``cluster`` column in ``frame`` (one label per prompt,
    e.g. the goal a jailbreak rewrites) makes the claim's interval resample whole clusters."""
    rows = judged_values(frame, value)
    keys = [*PAIR_KEYS, *(["cluster"] if "cluster" in rows.columns else [])]
    left = rows.loc[rows["model"] == a, [*keys, "value"]]
    right = rows.loc[rows["model"] == b, [*keys, "value"]]
    if several_samples(rows[rows["model"].isin([a, b])]):
        keys.remove("sample")
        left, right = per_prompt(left, keys), per_prompt(right, keys)
    paired = left.merge(right, on=keys, suffixes=("_a", "_b"))
    clusters = {"clusters": paired["cluster"].to_numpy()} if "cluster" in paired.columns else {}
    return {"claim": claim, "a": paired["value_a"].to_numpy(), "b": paired["value_b"].to_numpy(),
            "direction": direction, **clusters,
            **judged_by(frame[frame["model"].isin([a, b])], subject=subject or claim, value=value)}


def reference_claims(frames: Mapping[str, pd.DataFrame], reference: str | None,
                     labels: Mapping[str, str]) -> list[Claim]:
    """Finding 1: the reference model (o3-mini in the paper) is safer than every other model, per benchmark."""
    if reference is None:
        return []
    claims = []
    for benchmark, frame in frames.items():
        for model in dict.fromkeys(frame["model"]):
            if model != reference:
                claims.append(compare_models(frame, reference, model, direction="greater",
                                             claim=f"{_l(labels, reference)} safer than {_l(labels, model)} "
                                                   f"on {benchmark}"))
    return claims


def versus_claims(frames: Mapping[str, pd.DataFrame], reasoning: Sequence[str],
                  labels: Mapping[str, str]) -> list[Claim]:
    """Finding 1 in small: each reasoning model is less safe than each non-reasoning model of the same
    frame, on the same prompts (one claim per frame, e.g. per judge view, and per model pair)."""
    claims = []
    for name, frame in frames.items():
        present = list(dict.fromkeys(frame["model"]))
        for model in (m for m in present if m in reasoning):
            claims += [compare_models(frame, model, other, direction="less",
                                      claim=f"{_l(labels, model)} less safe than {_l(labels, other)} ({name})",
                                      subject=f"{_l(labels, model)} less safe than {_l(labels, other)}")
                       for other in present if other not in reasoning]
    return claims


def pair_claims(frames: Mapping[str, pd.DataFrame], pairs: Sequence[tuple[str, str]],
                labels: Mapping[str, str]) -> list[Claim]:
    """Finding 2 (v1): each reasoning model is less safe than its non-reasoning counterpart, per benchmark."""
    return [compare_models(frame, reasoning, counterpart, direction="less",
                           claim=f"{_l(labels, reasoning)} less safe than {_l(labels, counterpart)} on {benchmark}")
            for benchmark, frame in frames.items() for reasoning, counterpart in pairs
            if {reasoning, counterpart} <= set(frame["model"])]


def score_claims(frames_by_scorer: Mapping[str, pd.DataFrame], pairs: Sequence[tuple[str, str]],
                 labels: Mapping[str, str], *, safety_frame: pd.DataFrame | None = None,
                 compliant_labels: Sequence[str] = ("compliance",), what: str = "compliant answers") -> list[Claim]:
    """Finding 2/3: a reasoning model's answers score higher (more harmful help) than its counterpart's.

    With ``safety_frame`` only answers judged with a label in ``compliant_labels`` are compared, so
    both models are compared on prompts where both complied. Pairs that did not run the benchmark
    (a model absent from the scorer's frame) make no claim.
    """
    claims = []
    for scorer, frame in frames_by_scorer.items():
        ran = set(frame["model"])
        if safety_frame is not None:
            compliant = safety_frame[(safety_frame["outcome"] == "judged")
                                     & safety_frame["label"].isin(list(compliant_labels))]
            frame = frame[frame["gen_key"].isin(compliant["gen_key"])]
        claims += [compare_models(frame, reasoning, counterpart, value="score", direction="greater",
                                  claim=f"{_l(labels, reasoning)} scores higher than {_l(labels, counterpart)} "
                                        f"({scorer}, {what})",
                                  subject=f"{_l(labels, reasoning)} scores higher than {_l(labels, counterpart)} "
                                          f"({what})")
                   for reasoning, counterpart in pairs if {reasoning, counterpart} <= ran]
    return claims


def channel_claims(answer_frames: Mapping[str, pd.DataFrame], thinking_frames: Mapping[str, pd.DataFrame],
                   labels: Mapping[str, str]) -> list[Claim]:
    """Finding 4: the thinking is judged safe less often than the final answer of the same output
    (with several samples per prompt, of the same prompt: the shares safe over its samples)."""
    claims = []
    for benchmark, answers in answer_frames.items():
        if benchmark not in thinking_frames:
            continue
        a = judged_values(answers).set_index("gen_key")
        t = judged_values(thinking_frames[benchmark]).set_index("gen_key")
        columns = ["model", *(["prompt_id"] if "prompt_id" in t.columns else []), "value"]
        both = t[columns].join(a[["value"]], lsuffix="_thinking", rsuffix="_answer", how="inner")
        if several_samples(both):  # one pair per prompt: the shares safe over its samples
            both = both.groupby(["model", "prompt_id"], sort=False)[["value_thinking", "value_answer"]].mean()
            both = both.reset_index()
        for model, group in both.groupby("model", sort=False):
            sets = ", ".join(dict.fromkeys(answers["benchmark"])) if "benchmark" in answers.columns else benchmark
            thinking = thinking_frames[benchmark]
            by = judged_by(answers[answers["model"] == model], thinking[thinking["model"] == model],
                           subject=f"{_l(labels, model)} thinking less safe than its answer on {sets}")
            claims.append({"claim": f"{_l(labels, model)} thinking less safe than its answer on {benchmark}",
                           "a": group["value_thinking"].to_numpy(), "b": group["value_answer"].to_numpy(),
                           "direction": "less", **by})
    return claims


def condition_claims(plain: pd.DataFrame, attacked: pd.DataFrame, *, by: str | None, labels: Mapping[str, str],
                     value: str = "aware", what: str = "safety-aware thinking") -> list[Claim]:
    """Finding 3 (v4): ``what`` is rarer under attack than on the plain request, per model.

    With ``by`` (e.g. ``behavior``), pairs are behaviours: the attacked value is averaged over all
    jailbreaks of a behaviour and compared with the plain request's value (Wilcoxon). With ``by``
    None the two frames are independent groups (WildGuardTest's vanilla vs adversarial prompts):
    an unpaired claim (Fisher's exact test on the two shares).
    """
    claims = []
    for model in dict.fromkeys(attacked["model"]):
        hit = judged_values(attacked[attacked["model"] == model], value)
        base = judged_values(plain[plain["model"] == model], value)
        claim = f"{_l(labels, model)}: {what} rarer under jailbreak than on the plain request"
        meta = judged_by(attacked[attacked["model"] == model], plain[plain["model"] == model], subject=claim,
                         value=value)
        if by is None:
            claims.append({"claim": claim, "a": hit["value"].to_numpy(dtype=bool),
                           "b": base["value"].to_numpy(dtype=bool), "direction": "less", "paired": False, **meta})
            continue
        both = pd.concat([hit.groupby(by)["value"].mean().rename("attacked"),
                          base.groupby(by)["value"].mean().rename("plain")], axis=1, join="inner")
        claims.append({"claim": claim, "a": both["attacked"].to_numpy(dtype=float),
                       "b": both["plain"].to_numpy(dtype=float), "direction": "less", **meta})
    return claims


def persona_claims(views: Sequence[tuple[pd.DataFrame, str, str]], labels: Mapping[str, str]) -> list[Claim]:
    """Finding 3 on the personas set: per wrapped condition (scenario, persona, persona-scenario), the
    ``value`` is rarer than on the plain request, paired by goal. ``views`` holds (outcome frame with
    a ``condition`` column, value, what), so the same claim can be built under several judges."""
    found = []
    for frame, value, what in views:
        parts = {c: frame[frame["condition"] == c] for c in dict.fromkeys(frame["condition"])}
        found += [c for name, part in parts.items() if name != "plain"
                  for c in condition_claims(parts["plain"], part, by="goal", labels=labels, value=value,
                                            what=f"{what} ({name})")]
    return found


def _l(labels: Mapping[str, str], model: str) -> str:
    return labels.get(model, model)


def judge_claims(predictions: pd.DataFrame, better: str, worse: str) -> list[Claim]:
    """Judge validation: ``better`` agrees with the human label (compliance vs refusal) more often than
    ``worse`` on the same completions, per held-out model and pooled.

    ``predictions`` has one row per (completion, judge) with ``model``, ``id``, ``label`` (human),
    ``judge`` and ``predicted``, as :func:`r1lib.analysis.judge_agreement.held_out_predictions` returns.
    A completion either judge left unparsed (``predicted`` None) leaves the pair; each claim counts
    those completions in ``excluded``.
    """
    parsed = predictions[predictions["predicted"].notna()]
    scored = parsed.assign(correct=(parsed["label"] != "full_compliance") == (parsed["predicted"] != "full_compliance"))
    wide = scored.pivot_table(index=["model", "id"], columns="judge", values="correct", aggfunc="first")
    missing = [j for j in (better, worse) if j not in wide.columns]
    if missing:
        raise UserError(f"no predictions of judge(s) {missing}; judges present: {sorted(wide.columns)}")
    wide = wide[[better, worse]].dropna().astype(bool)
    completions = predictions[predictions["judge"].isin([better, worse])][["model", "id"]].drop_duplicates()
    groups = [(f"{model} completions", model, part) for model, part in wide.groupby(level="model")]
    return [{"claim": f"{better} matches the human refusal label more often than {worse} ({name})",
             "a": part[better].to_numpy(), "b": part[worse].to_numpy(), "direction": "greater",
             "judge": "XSTest human labels", "channel": "answer", "benchmark": "xstest",
             "excluded": int((completions["model"] == model).sum() if model else len(completions)) - len(part)}
            for name, model, part in [*groups, ("all completions", None, wide)]]
