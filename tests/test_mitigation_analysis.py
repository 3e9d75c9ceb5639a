"""Mitigation arms against their baseline (r1lib.analysis.mitigations, r1lib.paper.tradeoff): loopback
outputs of a baseline and two arms on XSTest's fixture prompts, judged by the real string-match refusal
judge, paired prompt by prompt with exact McNemar tests and Holm over the arms."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from r1lib.analysis.mitigations import arms_of, compare_arms, over_refusal_values, tradeoff_points
from r1lib.analysis.outcomes import outcome_frame
from r1lib.benchmarks.registry import load_items
from r1lib.core.errors import UserError
from r1lib.generation.mitigations import ArmSpec, apply_arm
from r1lib.generation.runner import requests_for, run_requests
from r1lib.judges.base import judge_records
from r1lib.judges.registry import get_judge
from r1lib.paper.figure_files import figure_data
from r1lib.paper.tradeoff import tradeoff_figure
from r1lib.store.database import Store
from r1lib.testing import LoopbackServer
from r1lib.testing.local import loopback_model

SAFETY = {"system_prompt": {"file": "configs/mitigations/safety-system-prompt.txt", "source": "r1lib project default"}}


@pytest.fixture
def frames(loopback: Callable[..., LoopbackServer], store: Store) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Harmful (XSTest contrast) and safe XSTest outcome frames of a baseline that always complies, a
    safety-prompt arm that always refuses (one of its calls fails) and an effort arm that changes nothing."""
    safe_items, harmful_items = (load_items("xstest", split=split, limit=6) for split in ("safe", "unsafe"))
    failing = safe_items[0].messages[-1]["content"]

    def respond(request: dict[str, Any]) -> Any:
        system = request["messages"][0]["content"] if request["messages"][0]["role"] == "system" else ""
        if "keeps people safe" in system:
            if request["messages"][-1]["content"] == failing:
                return {"error": {"status": 400, "code": "bad_request", "message": "scripted failure"}}
            return "I'm sorry, but I cannot help with that."
        return "Sure, here is exactly how to do it, step by step."

    server = loopback(responder=respond)
    base = loopback_model(server.base_url, name="r1-loop", reasoning=True, stream=False,
                          options={"max_attempts": 1})
    configs = [base, apply_arm(base, "safety", ArmSpec.model_validate(SAFETY)),
               apply_arm(base, "low", ArmSpec.model_validate({"reasoning_effort": "low"}))]
    judge = get_judge("refusal-strmatch")
    for config in configs:
        records, _ = run_requests(config, "xstest", requests_for(safe_items + harmful_items), store, progress=False)
        judge_records(judge, records, "answer", store, progress=False)
    frame = outcome_frame(store, benchmark="xstest", judge=judge.name, version=judge.version)
    harmful = frame["type"].str.startswith("contrast_")
    return frame[harmful].reset_index(drop=True), frame[~harmful].reset_index(drop=True)


def test_arms_are_compared_with_their_baseline_on_the_same_prompts(frames: tuple[pd.DataFrame, pd.DataFrame]
                                                                   ) -> None:
    harmful, safe = frames
    arms = arms_of(sorted(harmful["model"].unique()))
    assert arms == {"r1-loop+low": ("r1-loop", "low"), "r1-loop+safety": ("r1-loop", "safety")}
    table = compare_arms(harmful, safe, arms).set_index(["metric", "arm"])
    unsafe = table.loc[("unsafe", "safety")]
    assert (unsafe["n"], unsafe["baseline_rate"], unsafe["arm_rate"]) == (6, 1.0, 0.0)
    assert (unsafe["b10"], unsafe["b01"]) == (0, 6)
    assert unsafe["p"] == pytest.approx(2 / 2 ** 6) and unsafe["p_holm"] == pytest.approx(2 * 2 / 2 ** 6)
    refusing = table.loc[("over_refusal", "safety")]  # the failed call leaves its pair, counted, not as safe
    assert (refusing["n"], refusing["excluded"], refusing["arm_rate"], refusing["b10"]) == (5, 1, 1.0, 5)
    assert refusing["p"] == pytest.approx(2 / 2 ** 5)
    same = table.loc[("unsafe", "low")]
    assert (same["difference"], same["p"], same["p_holm"], same["excluded"]) == (0.0, 1.0, 1.0, 0)


def test_tradeoff_points_and_figure(frames: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path) -> None:
    harmful, safe = frames
    points = tradeoff_points(harmful, safe, arms_of(sorted(harmful["model"].unique()))).set_index("model")
    assert points.loc["r1-loop", ["unsafe", "over_refusal", "unsafe_n", "over_refusal_n"]].tolist() == [1, 0, 6, 6]
    assert points.loc["r1-loop+safety", ["unsafe", "over_refusal", "over_refusal_n"]].tolist() == [0, 1, 5]
    assert 0 < points.loc["r1-loop+safety", "over_refusal_low"] < 1 == points.loc["r1-loop+safety", "over_refusal_high"]
    fig = tradeoff_figure(points.reset_index())
    drawn = figure_data(fig)
    assert drawn is not None and list(drawn["model"]) == ["r1-loop", "r1-loop+low", "r1-loop+safety"]
    assert len(fig.axes[0].collections) + len(fig.axes[0].lines) > 3


def test_over_refusal_is_measured_on_safe_prompts_only(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    harmful, _ = frames
    with pytest.raises(UserError, match="safe prompts"):
        over_refusal_values(harmful)
    with pytest.raises(UserError, match="no mitigation arms"):
        compare_arms(harmful, harmful, {})
