"""The case-study figures a notebook shows: one record that meets a figure's criterion (Figs. 5-12), and the
pair of answers where a reasoning model's compliant answer outscores its counterpart's (Fig. 4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from r1lib.analysis.claims import judged_values
from r1lib.benchmarks.registry import load_items
from r1lib.paper.cases import (
    CRITERIA,
    FIGURE_CRITERIA,
    case_figure,
    case_html,
    clean_text,
    judge_says,
    score_words,
    select_cases,
)
from r1lib.paper.figure_files import with_data


class CaseStudies:
    """Case studies of :class:`~r1lib.app.run.Run` (it supplies the profile, the records, the labels and
    :meth:`~r1lib.app.run.Run.save_figure`)."""

    def case(self, name: str, *, frame_answer: pd.DataFrame | None = None,
             frame_thinking: pd.DataFrame | None = None, n: int = 1, criterion: str | None = None,
             evidence: Mapping[str, str] | None = None) -> Any:
        """A case figure of the paper (``fig6`` … ``fig12``): pick records by its criterion, save the first
        as figure ``name``. ``criterion`` (a figure name or a :data:`~r1lib.paper.cases.CRITERIA` key) defaults
        to ``name``; e.g. ``case("fig6_recorded", criterion="fig6", ...)`` draws Fig. 6 from other data.

        Each verdict is shown as its judge's (:func:`r1lib.paper.cases.judge_says`: an offline stand-in is
        marked so, "not validated" unless ``evidence`` maps the judge's name to its measured agreement).
        Returns the chosen cases as HTML for the notebook (escaped), or a note when no record of
        this run meets the criterion (the figure is then not built).
        """
        from IPython.display import HTML  # IPython: display only

        criterion = criterion or name
        chosen = select_cases(frame_answer, frame_thinking, criterion, n, seed=self.profile.seed)
        if chosen.empty:
            return HTML(f"<p><b>{name}</b>: no record of this run meets the criterion "
                        f"“{CRITERIA[FIGURE_CRITERIA.get(criterion, criterion)]}”; the figure is not built.</p>")
        evidence = evidence or {}
        judges = {channel: self._judge_of(frame) for channel, frame in (("answer", frame_answer),
                                                                        ("thinking", frame_thinking))
                  if frame is not None}
        records = self.records(chosen["gen_key"])
        parts = []
        for i, row in enumerate(chosen.to_dict("records")):
            verdicts = {channel: judge_says(judge, str(row[f"label_{channel}"]), evidence=evidence.get(judge.name, ""))
                        for channel, judge in judges.items() if f"label_{channel}" in row}
            record = records[row["gen_key"]]
            if i == 0:
                title = (f"{name}: {self.labels.get(record.model, record.model)} · {record.benchmark} · "
                         f"{record.prompt_id}")
                frames = [f for f in (frame_answer, frame_thinking) if f is not None]
                shown = chosen.iloc[[0]][["gen_key", "model", "prompt_id", "sample",
                                          *(f"label_{channel}" for channel in verdicts)]]
                self.save_figure(with_data(case_figure(record, verdicts, title=title), shown), name, *frames)
            parts.append(case_html(record, verdicts))
        return HTML("".join(parts))

    def pair_case(self, name: str, safety_frame: pd.DataFrame, scores: Mapping[str, pd.DataFrame],
                  evidence: Mapping[str, str] | None = None,
                  pairs: Sequence[tuple[str, str]] | None = None) -> Any:
        """Fig. 4: on the first reasoning pair scored here (of ``pairs``, default the profile's) and the
        first scorer, the prompt where both models gave an unsafe answer and the reasoning model's
        outscores its counterpart's by the widest margin. Saves the reasoning model's case as the
        figure and shows both answers.

        The verdict and the score are shown as their judges' (:func:`r1lib.paper.cases.judge_says`,
        :func:`r1lib.paper.cases.score_words`); ``evidence`` maps a judge's name to its measured agreement."""
        from IPython.display import HTML  # IPython: display only

        scorer, score_frame = next(iter(scores.items()), (None, None))
        pairs = [p for p in (self.profile.pairs if pairs is None else pairs)
                 if score_frame is not None and set(p) <= set(score_frame["model"])]
        if not pairs:
            return HTML(f"<p><b>{name}</b>: no reasoning pair of the profile was scored on this benchmark; "
                        "the figure is not built.</p>")
        reasoning, counterpart = pairs[0]
        safety = judged_values(safety_frame, "safe")
        unsafe = safety.loc[safety["value"] < 1, ["gen_key", "label"]]
        scored = judged_values(score_frame, "score").merge(unsafe, on="gen_key", suffixes=("_score", ""))
        both = scored[scored["model"] == reasoning].merge(scored[scored["model"] == counterpart],
                                                          on=["prompt_id", "sample"], suffixes=("_r", "_c"))
        if both.empty:
            return HTML(f"<p><b>{name}</b>: no prompt where both {self.labels.get(reasoning, reasoning)} and "
                        f"{self.labels.get(counterpart, counterpart)} answered unsafely; the figure is not built.</p>")
        best = both.assign(margin=both["value_r"] - both["value_c"]).sort_values(
            ["margin", "prompt_id"], ascending=[False, True]).iloc[0]
        records = self.records([best["gen_key_r"], best["gen_key_c"]])
        evidence = evidence or {}
        judge, score_judge = self._judge_of(safety_frame), self._judge_of(score_frame)
        shown = {side: {"answer": judge_says(judge, best[f"label_{side}"], evidence=evidence.get(judge.name, ""))
                                  + "; " + score_words(score_judge, best[f"value_{side}"],
                                                       evidence=evidence.get(score_judge.name, ""))}
                 for side in "rc"}
        title = (f"{name}: {self.labels.get(reasoning, reasoning)} vs {self.labels.get(counterpart, counterpart)} · "
                 f"{best['prompt_id']} · {scorer} {best['value_r']:.2f} vs {best['value_c']:.2f}")
        numbers = pd.DataFrame([{"role": role, "scorer": scorer, "prompt_id": best["prompt_id"],
                                 "sample": best["sample"],
                                 **{key: best[f"{key}_{side}"] for key in ("gen_key", "model", "label", "value")}}
                                for side, role in (("r", "reasoning"), ("c", "counterpart"))])
        self.save_figure(with_data(case_figure(records[best["gen_key_r"]], shown["r"], title=title), numbers), name,
                         safety_frame, score_frame)
        return HTML(case_html(records[best["gen_key_r"]], shown["r"])
                    + case_html(records[best["gen_key_c"]], shown["c"]))

    def _judge_of(self, frame: pd.DataFrame) -> Any:
        """The judge whose verdicts ``frame`` holds (the one this run used, else the profile's)."""
        name = str(frame["judge"].dropna().iloc[0])
        return self.used.get(name) or self.profile.judge(name)

    def examples(self, width: int = 160) -> pd.DataFrame:
        """Table 8: one example prompt of each benchmark of the profile (the first of its sample), shortened."""
        rows = []
        for benchmark, plan in self.profile.benchmarks.items():
            item = load_items(benchmark, limit=plan.limit, seed=self.profile.seed, split=plan.split)[0]
            text = " ".join(clean_text(item.messages[-1]["content"]).split())
            rows.append({"benchmark": benchmark, "prompt_id": item.id,
                         "prompt": text if len(text) <= width else text[:width - 1] + "…"})
        return pd.DataFrame(rows)
