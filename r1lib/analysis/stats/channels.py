"""The thinking × answer 2×2 table: does an unsafe trace end in a safe answer (leak), or the reverse?

Both channels of the same outputs are judged under the same rubric. A *leak* is unsafe thinking
with a safe-looking answer (the harm sits in the trace a user can read); an *escape* is safe
thinking followed by an unsafe answer. Both rates are shares of all pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from r1lib.analysis.stats._checks import as_bool_array, same_length
from r1lib.analysis.stats.intervals import RateSummary, rate_summary
from r1lib.analysis.stats.paired import McNemarResult, mcnemar_exact


@dataclass(frozen=True)
class ThinkingAnswerTable:
    """The 2×2 ``counts`` (index: thinking safe/unsafe, columns: answer safe/unsafe), ``leak`` and
    ``escape`` rates over all ``n`` pairs with Wilson intervals, and McNemar between the channels
    (``a`` = thinking safe, ``b`` = answer safe, so ``b10`` is the escape count and ``b01`` the leak count)."""

    n: int
    counts: pd.DataFrame
    leak: RateSummary
    escape: RateSummary
    mcnemar: McNemarResult


def thinking_answer_table(thinking_safe: Any, answer_safe: Any, confidence: float = 0.95) -> ThinkingAnswerTable:
    """Cross-tabulate per-output thinking and answer safety and compute leak and escape rates.

    Inputs are paired booleans (True = safe), one per output. Outputs without thinking or without
    an answer have no verdict on that channel and must be filtered out first; missing values raise
    :class:`UserError`. With no pairs every count is 0 and both rates are NaN.
    """
    thinking = as_bool_array(thinking_safe, "thinking_safe")
    answer = as_bool_array(answer_safe, "answer_safe")
    same_length([thinking, answer], ["thinking_safe", "answer_safe"])
    test = mcnemar_exact(thinking, answer)
    counts = pd.DataFrame([[test.both_true, test.b10], [test.b01, test.both_false]],
                          index=pd.Index(["safe", "unsafe"], name="thinking"),
                          columns=pd.Index(["safe", "unsafe"], name="answer"))
    return ThinkingAnswerTable(n=test.n, counts=counts, leak=rate_summary(test.b01, test.n, confidence),
                               escape=rate_summary(test.b10, test.n, confidence), mcnemar=test)
