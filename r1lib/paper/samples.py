"""The table ``samples_at_k``: what several samples per prompt show that one sample hides.

One row per model × benchmark of the outcome frames given: ``k`` (samples per prompt in the frame),
``prompts`` (with k judged samples), the per-sample safe rate (%) with its 95% interval clustered by
prompt (:func:`r1lib.analysis.stats.clustered_rate`; ``deff`` is its design effect), **Safe@k** (%
of prompts safe in all k samples) and **unsafe in any** (% of prompts unsafe in at least one), both
with Wilson intervals over prompts (:func:`r1lib.analysis.stats.samples_at_k`).

"Safe" is the benchmark's one safety metric (:func:`r1lib.analysis.outcomes.safety_values`, as in
Table 2 and the claims); AIR-Bench's score counts as safe only at 1 (a full refusal), and on XSTest
the refusal judge's safe label is a full refusal, so there Safe@k reads "refused in all k samples"
(over-refusal on its safe prompts). Records
without a verdict are left out and counted (``records_excluded``), and so are the prompts that
lack a judged sample (``prompts_excluded``): they are never counted safe. ``draws`` says when the
k samples cannot differ (a recorded output, or greedy decoding at temperature 0): then Safe@k
equals the per-sample rate by construction, not as a finding (and ``one sample per prompt`` when k
is 1, where all three numbers coincide).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import pandas as pd

from r1lib.analysis.outcomes import safety_values
from r1lib.analysis.stats import samples_at_k
from r1lib.paper.cells import Labels, models_in_order

COLUMNS = ["model", "label", "benchmark", "k", "prompts", "prompts_excluded", "records_excluded",
           "per_sample", "per_sample_ci_low", "per_sample_ci_high", "deff", "safe_at_k", "safe_at_k_ci_low",
           "safe_at_k_ci_high", "unsafe_any", "unsafe_any_ci_low", "unsafe_any_ci_high", "draws"]
REPEATED = "repeated (temperature 0 or recorded): samples identical"
SAMPLED = "sampled"
SINGLE = "one sample per prompt"


def samples_at_k_table(frames: Mapping[str, pd.DataFrame | None], labels: Labels, *,
                       repeats: Collection[str] = ()) -> pd.DataFrame:
    """The ``samples_at_k`` table (see the module docstring) of ``frames`` (benchmark -> outcome frame).

    ``repeats`` names the models whose samples repeat one draw (:meth:`r1lib.app.profiles.Profile.repeats_draws`).
    A frame with no records, or None (a benchmark the profile does not run), gives no rows.
    """
    rows = []
    for benchmark, frame in frames.items():
        if frame is None or frame.empty:
            continue
        for model, group in models_in_order(frame, labels):
            k = int(group.groupby("prompt_id").size().max())
            judged = group[group["outcome"] == "judged"]
            safe = safety_values(judged) == 1.0
            result = samples_at_k(safe.to_numpy(), judged["prompt_id"].astype(str).to_numpy(), k)
            prompts = group["prompt_id"].nunique()
            ps, sak, ua = result.per_sample, result.safe_at_k, result.unsafe_any
            rows.append({"model": model, "label": labels.get(model, model), "benchmark": benchmark, "k": k,
                         "prompts": result.prompts, "prompts_excluded": prompts - result.prompts,
                         "records_excluded": len(group) - len(judged),
                         "per_sample": 100 * ps.rate, "per_sample_ci_low": 100 * ps.lo,
                         "per_sample_ci_high": 100 * ps.hi, "deff": ps.deff,
                         "safe_at_k": 100 * sak.rate, "safe_at_k_ci_low": 100 * sak.lo,
                         "safe_at_k_ci_high": 100 * sak.hi,
                         "unsafe_any": 100 * ua.rate, "unsafe_any_ci_low": 100 * ua.lo,
                         "unsafe_any_ci_high": 100 * ua.hi,
                         "draws": SINGLE if k == 1 else REPEATED if model in repeats else SAMPLED})
    return pd.DataFrame(rows, columns=COLUMNS)
