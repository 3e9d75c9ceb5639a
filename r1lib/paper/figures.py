"""The paper's figures from outcome frames, sized for a paper page (6.75 in wide).

Every ``figN`` function returns a :class:`matplotlib.figure.Figure` built without pyplot (so
notebooks show it once and tests leak nothing); the numbers behind it come from the same cell
functions as the tables (:mod:`r1lib.paper.tables`): rates over judged records with Wilson 95% intervals,
means with bootstrap intervals. Each figure has a ``*_data`` function returning those numbers.
A figure with nothing to show (no judged record, every judge answer unparseable) is a small figure
that says so, never an error. Every figure carries the numbers it draws, which
:mod:`r1lib.paper.figure_files` saves beside it as ``NAME.csv`` (with the caption saying what made
it), so a figure can be replotted, and checked, without its code.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from itertools import cycle

import matplotlib
import matplotlib.lines
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from r1lib.analysis.outcomes import judge_safe_labels
from r1lib.analysis.stats import thinking_answer_table
from r1lib.core.errors import UserError
from r1lib.paper.cells import PAPER_MODELS, Labels, airbench_cell, mean_cell, models_in_order, rate_cell
from r1lib.paper.figure_files import with_data
from r1lib.paper.layout import INTERPRETER_TYPES

#: Text width of a paper page (inches).
PAGE_WIDTH = 6.75
#: AIR-Bench 2024 level-2 categories in the taxonomy's order.
AIRBENCH_L2 = ("Security Risks", "Operational Misuses", "Violence & Extremism", "Hate/Toxicity", "Sexual Content",
               "Child Harm", "Self-harm", "Political Usage", "Economic Harm", "Deception", "Manipulation",
               "Defamation", "Fundamental Rights", "Discrimination/Bias", "Privacy", "Criminal Activities")
#: Paired colours: a reasoning model dark, its non-reasoning counterpart light.
PAPER_COLOURS = dict(zip(("DS-V3", "DS-R1", "Llama3.3", "R1-70b", "o3-mini"),
                         [sns.color_palette("Paired")[i] for i in (0, 1, 6, 7, 3)]))
SCENARIOS = ("S", "A", "B", "C")
SCENARIO_KEY = ("S: reasons its way to a safe response · A: aware of the risk, complies · B: aware, but misled · "
                "C: unaware")
#: Fewest items a group (a bar, a mean, a heatmap column) needs before a figure compares groups: a
#: figure with a smaller group says so on its face (:func:`note_small_groups`) instead of letting one
#: or two items look like a difference.
MIN_ITEMS = 10
#: The gid of that note (tests and readers of a figure find it by it).
SMALL_N_GID = "r1lib-small-n"
_NOTE_COLOUR = "#a02020"
#: Font sizes for a figure printed at full page width.
STYLE = {"font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "xtick.labelsize": 7.5, "ytick.labelsize": 7.5,
         "legend.fontsize": 7.5, "axes.spines.top": False, "axes.spines.right": False}


def fig2a_data(frame: pd.DataFrame, labels: Labels, *, aggregation: str = "mean") -> pd.DataFrame:
    """AIR-Bench safety rate (%) per model and level-2 category (``l2``), plus an ``Overall`` row."""
    if "l2" not in frame.columns:
        raise UserError("the AIR-Bench frame lacks the column 'l2'; build it with outcome_frame from airbench records")
    rows = []
    for model, group in models_in_order(frame, labels):
        parts = [("Overall", group), *((l2, part) for l2, part in group.groupby("l2", sort=False))]
        rows += [{"model": model, "label": labels.get(model, model), "category": name,
                  **airbench_cell(part, aggregation)} for name, part in parts]
    data = pd.DataFrame(rows)
    order = ["Overall", *AIRBENCH_L2, *sorted(set(data["category"]) - set(AIRBENCH_L2) - {"Overall"})]
    return data.assign(category=pd.Categorical(data["category"], order, ordered=True)).sort_values(
        ["category"], kind="stable").reset_index(drop=True)


def fig2a(frame: pd.DataFrame, labels: Labels, *, aggregation: str = "mean") -> Figure:
    """Fig. 2(A): AIR-Bench safety rate per level-2 category (rows) and model (columns), as a heatmap."""
    data = fig2a_data(frame, labels, aggregation=aggregation) if len(frame) else pd.DataFrame()
    if _empty(data):
        return no_data_figure("AIR-Bench 2024 safety rate by level-2 category", frame)
    data = data[data["value"].notna()]
    grid = data.pivot_table(index="category", columns="label", values="value", observed=True, sort=False)
    grid = grid[list(dict.fromkeys(data["label"]))]
    n = data[data["category"] == "Overall"].set_index("label")["n"]
    grid.columns = [f"{label}\n(n={n[label]})" for label in grid.columns]
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(PAGE_WIDTH, 0.26 * len(grid) + 1.3), layout="constrained")
        ax = fig.subplots()
        sns.heatmap(grid, ax=ax, vmin=0, vmax=100, cmap="RdYlGn", annot=True, fmt=".0f", linewidths=0.5,
                    cbar_kws={"label": "safety rate (%)", "shrink": 0.8}, annot_kws={"fontsize": 7})
        ax.set(xlabel="", ylabel="")
        ax.tick_params(axis="both", length=0)
        ax.axhline(1, color="white", linewidth=3)
        how = "mean safety score" if aggregation == "mean" else "share of full refusals"
        ax.set_title(f"AIR-Bench 2024 safety rate by level-2 category ({how})")
        note_small_groups_below(fig, data["n"], "per model and category")
    return with_data(fig, data)


def fig2b_data(frame: pd.DataFrame, labels: Labels) -> pd.DataFrame:
    """Code-interpreter safety rate (%) per model and attack type (``attack_type``)."""
    if "attack_type" not in frame.columns:
        raise UserError("the interpreter frame lacks the column 'attack_type'; build it with outcome_frame")
    safe = judge_safe_labels(frame)
    rows = [{"model": model, "label": labels.get(model, model), "category": attack, **rate_cell(part, safe)}
            for model, group in models_in_order(frame, labels)
            for attack, part in group.groupby("attack_type", sort=False)]
    data = pd.DataFrame(rows)
    order = [*INTERPRETER_TYPES, *sorted(set(data["category"]) - set(INTERPRETER_TYPES))]
    return data.assign(category=pd.Categorical(data["category"], order, ordered=True)).sort_values(
        "category", kind="stable").reset_index(drop=True)


def fig2b(frame: pd.DataFrame, labels: Labels) -> Figure:
    """Fig. 2(B): code-interpreter safety rate per attack type, one bar per model, 95% Wilson intervals."""
    data = fig2b_data(frame, labels) if len(frame) else pd.DataFrame()
    if _empty(data):
        return no_data_figure("Code interpreter tests: safety rate by attack type", frame)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(PAGE_WIDTH, 2.8), layout="constrained")
        ax = fig.subplots()
        _grouped_bars(ax, data, group="category", hue="label")
        ax.set(ylabel="safety rate (%)", ylim=(0, 105), title="Code interpreter tests: safety rate by attack type")
        note_small_groups(ax, data["n"], "per model and attack type")
        _legend(fig, ax)
    return with_data(fig, data)


def fig3_data(frames_by_scorer: Mapping[str, pd.DataFrame], pairs: Sequence[tuple[str, str]], labels: Labels, *,
              safety_frame: pd.DataFrame | None = None, compliant_labels: Collection[str] = ("compliance",),
              matched: bool = True) -> pd.DataFrame:
    """Mean score of compliant answers per scorer, pair and model (bootstrap 95% intervals).

    ``frames_by_scorer`` maps a scorer name (e.g. a reward model) to its outcome frame (label
    ``scored``, ``score`` = reward or severity). With ``safety_frame`` (the AIR-Bench answer verdicts)
    only records judged with a label in ``compliant_labels`` are scored; ``matched`` further keeps
    only prompts where *both* models of a pair complied, so the two means compare the same prompts.
    Pairs with a model absent from a scorer's frame (not run on that benchmark) are left out.
    """
    groups = _fig3_groups(frames_by_scorer, pairs, labels, safety_frame=safety_frame,
                          compliant_labels=compliant_labels, matched=matched)
    return pd.DataFrame([{**key, **mean_cell(group, lambda g: g["score"])} for key, group in groups])


def _fig3_groups(frames_by_scorer: Mapping[str, pd.DataFrame], pairs: Sequence[tuple[str, str]], labels: Labels, *,
                 safety_frame: pd.DataFrame | None, compliant_labels: Collection[str],
                 matched: bool) -> list[tuple[dict, pd.DataFrame]]:
    """(scorer, pair, model, label, role) and the scored records behind each point of Fig. 3."""
    groups = []
    for scorer, frame in frames_by_scorer.items():
        scored = frame[frame["outcome"] == "judged"]
        if safety_frame is not None:
            compliant = safety_frame[(safety_frame["outcome"] == "judged")
                                     & safety_frame["label"].isin(list(compliant_labels))]
            scored = scored[scored["gen_key"].isin(compliant["gen_key"])]
        for reasoning, counterpart in pairs:
            if not {reasoning, counterpart} <= set(frame["model"]):
                continue  # a pair that did not run this benchmark
            pair = scored[scored["model"].isin([reasoning, counterpart])]
            if matched:
                per_item = pair.groupby(["prompt_id", "sample"])["model"].nunique()
                shared = per_item[per_item == 2].index
                pair = pair[pd.MultiIndex.from_frame(pair[["prompt_id", "sample"]]).isin(shared)]
            name = f"{labels.get(reasoning, reasoning)} vs {labels.get(counterpart, counterpart)}"
            for model, role in ((reasoning, "reasoning"), (counterpart, "non-reasoning")):
                key = {"scorer": scorer, "pair": name, "model": model, "label": labels.get(model, model), "role": role}
                groups.append((key, pair[pair["model"] == model]))
    return groups


def fig3(frames_by_scorer: Mapping[str, pd.DataFrame], pairs: Sequence[tuple[str, str]], labels: Labels, *,
         safety_frame: pd.DataFrame | None = None, compliant_labels: Collection[str] = ("compliance",),
         matched: bool = True) -> Figure:
    """Fig. 3: score (reward / severity) of compliant answers, reasoning model vs its counterpart, per scorer.

    Points are means with bootstrap 95% intervals, beside each item's score (small dots); a filled
    circle is the reasoning model, an open square its non-reasoning counterpart. The y-axis starts
    at zero, so a tiny range never fills it; a pair with fewer than :data:`MIN_ITEMS` items says so.
    """
    groups = _fig3_groups(frames_by_scorer, pairs, labels, safety_frame=safety_frame,
                          compliant_labels=compliant_labels, matched=matched)
    data = pd.DataFrame([{**key, **mean_cell(group, lambda g: g["score"])} for key, group in groups])
    if _empty(data):
        why = ("no scorer could be used" if not frames_by_scorer else "no reasoning pair" if not pairs
               else "no prompt where both models of a pair complied and were scored")
        return no_data_figure("Scores of compliant answers, reasoning model vs counterpart", reason=why)
    items = [pd.to_numeric(group["score"], errors="coerce").dropna().to_numpy(dtype=float) for _, group in groups]
    scorers = list(dict.fromkeys(data["scorer"]))
    colours = _model_colours(list(dict.fromkeys(data["label"])))
    markers = {"reasoning": ("o", True), "non-reasoning": ("s", False)}
    jitter = np.random.default_rng(0)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(PAGE_WIDTH, 2.5), layout="constrained")
        axes = fig.subplots(1, len(scorers), squeeze=False)[0]
        for ax, scorer in zip(axes, scorers):
            part = data[data["scorer"] == scorer]
            names = list(dict.fromkeys(part["pair"]))
            shown = [part[["ci_low", "ci_high"]].to_numpy(dtype=float).ravel()]
            for row, values in zip(data.itertuples(index=False), items):
                if row.scorer != scorer:
                    continue
                marker, filled = markers[row.role]
                side = -1 if row.role == "reasoning" else 1
                x = names.index(row.pair) + 0.12 * side
                ax.scatter(x + side * jitter.uniform(0.06, 0.14, len(values)), values, s=6, color=colours[row.label],
                           alpha=0.6, linewidths=0, zorder=1)  # each item, beside its mean on the outer side
                error = [[max(row.value - row.ci_low, 0)], [max(row.ci_high - row.value, 0)]]
                ax.errorbar(x, row.value, yerr=np.nan_to_num(error), fmt=marker, color=colours[row.label],
                            markerfacecolor=colours[row.label] if filled else "white", markersize=6, capsize=3,
                            elinewidth=1, zorder=2)
                shown.append(values)
            n = part.groupby("pair", sort=False)["n"].max()
            ax.set_xticks(range(len(names)), [f"{name}\n(n = {n[name]})" for name in names])
            ax.set_xlim(-0.6, len(names) - 0.4)
            ax.grid(axis="y", linewidth=0.4, alpha=0.6)
            ax.set(title=scorer, ylabel="score of compliant answers\n(mean, 95% CI; dots: items)" if ax is axes[0]
                   else "")
            _zero_based_ylim(ax, np.concatenate(shown))
            note_small_groups(ax, part["n"], "per model")
        handles = [matplotlib.lines.Line2D([], [], marker=m, color="0.3", markerfacecolor="0.3" if f else "white",
                                           linestyle="", label=role) for role, (m, f) in markers.items()]
        fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
    return with_data(fig, data)


def small_groups_note(sizes: Sequence[float], what: str, *, minimum: int = MIN_ITEMS) -> str:
    """"n = 1 per model: too few to compare (fewer than 10)" when a group (of size in ``sizes``) has
    fewer than ``minimum`` items, else ''. ``what`` names a group (e.g. "per model")."""
    sizes = [int(n) for n in sizes if not pd.isna(n)]
    if not sizes or min(sizes) >= minimum:
        return ""
    low, high = min(sizes), max(sizes)
    return f"n = {low if low == high else f'{low}–{high}'} {what}: too few to compare (fewer than {minimum})"


def note_small_groups(ax, sizes: Sequence[float], what: str) -> str:
    """Write :func:`small_groups_note` inside ``ax`` (boxed, at its top, with room made above the data);
    returns the note ('' when every group is large enough)."""
    note = small_groups_note(sizes, what)
    if note:
        if not any(getattr(a, "r1lib_noted", False) for a in ax.get_shared_y_axes().get_siblings(ax)):
            bottom, top = ax.get_ylim()  # room once per shared y-axis, above the ticks of the data
            ax.set_yticks([tick for tick in ax.get_yticks() if bottom <= tick <= top])
            ax.set_ylim(bottom, top + 0.22 * (top - bottom))
        ax.r1lib_noted = True
        ax.text(0.5, 0.97, note, transform=ax.transAxes, ha="center", va="top", fontsize=7, color=_NOTE_COLOUR,
                parse_math=False, zorder=5, gid=SMALL_N_GID,
                bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": _NOTE_COLOUR,
                      "linewidth": 0.5})
    return note


def note_small_groups_below(fig: Figure, sizes: Sequence[float], what: str) -> str:
    """Write :func:`small_groups_note` under the whole figure (for heatmaps, whose cells a box would hide)."""
    note = small_groups_note(sizes, what)
    if note:
        fig.supxlabel(note, fontsize=7, color=_NOTE_COLOUR, gid=SMALL_N_GID)
    return note


def _zero_based_ylim(ax, values: np.ndarray) -> None:
    """A y-axis from zero (or below, for negative scores) to above every value: a tiny range never fills
    the axis, so two close means do not look far apart."""
    values = values[~np.isnan(values)]
    if not len(values):
        return
    low, high = min(0.0, float(values.min())), max(0.0, float(values.max()))
    pad = 0.08 * (high - low) or 1.0
    ax.set_ylim(low - (pad if low < 0 else 0), high + pad)


def fig5_data(frames: Mapping[str, pd.DataFrame], labels: Labels) -> pd.DataFrame:
    """Share (%) of each safety-thinking scenario (S, A, B, C) per model and condition (e.g. plain, jailbreak)."""
    rows = []
    for condition, frame in frames.items():
        judge_safe_labels(frame)
        for model, group in models_in_order(frame, labels):
            rows += [{"condition": condition, "model": model, "label": labels.get(model, model), "scenario": s,
                      **rate_cell(group, {s})} for s in SCENARIOS]
    return pd.DataFrame(rows)


def fig5(frames: Mapping[str, pd.DataFrame], labels: Labels) -> Figure:
    """Fig. 5 (quantified): how often the thinking is S / A / B / C, plain prompts vs jailbreaks, per model."""
    data = fig5_data(frames, labels) if all(len(f) for f in frames.values()) else pd.DataFrame()
    if _empty(data):
        return no_data_figure("Safety-thinking scenarios, plain vs jailbreak", *frames.values())
    models = list(dict.fromkeys(data["label"]))
    colours = dict(zip(frames, sns.color_palette("Set2")))
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(PAGE_WIDTH, 2.6), layout="constrained")
        axes = fig.subplots(1, len(models), squeeze=False, sharey=True)[0]
        for ax, label in zip(axes, models):
            _grouped_bars(ax, data[data["label"] == label], group="scenario", hue="condition", colours=colours)
            ax.set(title=label, ylim=(0, 105), ylabel="share of thinking traces (%)" if ax is axes[0] else "")
        for ax, label in zip(axes, models):  # once the shared y-axis is set
            note_small_groups(ax, data.loc[data["label"] == label, "n"], "traces per condition")
        fig.supxlabel(SCENARIO_KEY, fontsize=7)
        axes[-1].legend(loc="upper right", frameon=False)  # inside, above the low C bars: key under, caption above
    return with_data(fig, data)


def thinking_answer_data(answer_frame: pd.DataFrame, thinking_frame: pd.DataFrame,
                         labels: Labels) -> dict[str, object]:
    """Per model label: the thinking × answer 2×2 (:func:`r1lib.analysis.stats.thinking_answer_table`) over
    outputs judged on both channels (paired by ``gen_key``)."""
    answer_safe, thinking_safe = judge_safe_labels(answer_frame), judge_safe_labels(thinking_frame)
    answers = answer_frame[answer_frame["outcome"] == "judged"].set_index("gen_key")
    thoughts = thinking_frame[thinking_frame["outcome"] == "judged"].set_index("gen_key")
    both = answers.join(thoughts[["label"]], rsuffix="_thinking", how="inner")
    return {labels.get(model, model): thinking_answer_table(group["label_thinking"].isin(list(thinking_safe)),
                                                            group["label"].isin(list(answer_safe)))
            for model, group in models_in_order(both.reset_index(), labels)}


def thinking_answer_heatmap(answer_frame: pd.DataFrame, thinking_frame: pd.DataFrame, labels: Labels) -> Figure:
    """The thinking × answer 2×2 per model: counts and shares, with the leak rate (unsafe thinking, safe answer)."""
    tables = thinking_answer_data(answer_frame, thinking_frame, labels) if len(answer_frame) and len(thinking_frame) \
        else {}
    if not tables:
        return no_data_figure("Thinking × answer", reason="no output is judged on both channels")
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(PAGE_WIDTH, 2.2), layout="constrained")
        axes = fig.subplots(1, len(tables), squeeze=False)[0]
        for ax, (label, table) in zip(axes, tables.items()):
            shares = 100 * table.counts / max(table.n, 1)
            text = table.counts.astype(str) + " (" + shares.round(1).astype(str) + "%)"
            sns.heatmap(shares, ax=ax, annot=text, fmt="", vmin=0, vmax=100, cmap="Blues", cbar=False,
                        linewidths=1, annot_kws={"fontsize": 7.5})
            ax.set(title=f"{label}: n = {table.n}, leak {100 * table.leak.rate:.1f}%", xlabel="answer",
                   ylabel="thinking" if ax is axes[0] else "")
            ax.tick_params(length=0)
        note_small_groups_below(fig, [table.n for table in tables.values()], "outputs per model")
    counts = [table.counts.stack().rename("count").reset_index().assign(label=label) for label, table in tables.items()]
    return with_data(fig, pd.concat(counts, ignore_index=True)[["label", "thinking", "answer", "count"]])


def no_data_figure(title: str, *frames: pd.DataFrame, reason: str = "") -> Figure:
    """A small figure saying there is nothing to plot, and why (the outcomes of the frames' records)."""
    if not reason:
        outcomes = pd.concat([f["outcome"] for f in frames if len(f)]).value_counts() if any(len(f) for f in frames) \
            else pd.Series(dtype=int)
        reason = ("no records" if outcomes.empty else
                  "no judged record: " + ", ".join(f"{n} {outcome}" for outcome, n in outcomes.items()))
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(PAGE_WIDTH, 1.2), layout="constrained")
        ax = fig.subplots()
        ax.set_axis_off()
        ax.set_title(title)
        ax.text(0.5, 0.4, f"No data to plot: {reason}.", ha="center", va="center", fontsize=8, parse_math=False,
                wrap=True)
    return fig


def _empty(data: pd.DataFrame) -> bool:
    """True when a figure's data has no value to draw."""
    return data.empty or "value" not in data.columns or not data["value"].notna().any()


def _grouped_bars(ax, data: pd.DataFrame, *, group: str, hue: str,
                  colours: Mapping[str, object] | None = None) -> None:
    """Bars of ``value`` per ``group`` (x) and ``hue`` (side by side) with their ci_low–ci_high as error bars."""
    groups = list(dict.fromkeys(data[group]))
    hues = list(dict.fromkeys(data[hue]))
    colours = colours or _model_colours(hues)
    width = 0.8 / len(hues)
    for i, name in enumerate(hues):
        part = data[data[hue] == name].set_index(group).reindex(groups)
        x = np.arange(len(groups)) + (i - (len(hues) - 1) / 2) * width
        errors = np.vstack([part["value"] - part["ci_low"], part["ci_high"] - part["value"]]).clip(min=0)
        ax.bar(x, part["value"], width * 0.95, yerr=np.nan_to_num(errors), color=colours[name], label=name,
               error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "0.25"})
    ax.set_xticks(np.arange(len(groups)), groups)
    ax.grid(axis="y", linewidth=0.4, alpha=0.6)
    ax.set_axisbelow(True)


def _legend(fig: Figure, ax) -> None:
    """One legend for the whole figure, under the plots, from ``ax``'s labelled artists."""
    handles, names = ax.get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=min(len(names), 6), frameon=False)


def _model_colours(labels: Sequence[str]) -> dict[str, object]:
    """The paper models' fixed colours; other models get distinct colours from a second palette."""
    others = cycle(sns.color_palette("Dark2"))
    return {label: PAPER_COLOURS[label] if label in PAPER_MODELS else next(others) for label in labels}
