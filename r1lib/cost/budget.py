"""A spending limit for one command: every priced call reserves its worst case before it is sent.

One :class:`Budget` is active per process (:func:`active`): ``r1lib generate|judge --max-cost USD``
sets it with :func:`spending_limit`; a process started with the environment variable
:data:`MAX_COST_ENV` (as ``r1lib reproduce --max-cost`` starts each notebook's kernel) gets one on
first use. The runner (:func:`r1lib.generation.runner.run_requests_async`) consults it for every call of a
model that is billed — generations, dialogue turns and judge calls alike, since judges call their
model through the runner — so generation and judging draw on the same budget.

Before a call is sent it reserves the call's worst case (:func:`r1lib.cost.pricing.worst_case_usd`:
every prompt byte as a token plus the whole ``max_tokens`` at the output price). When the call
ends the reservation is replaced by what the provider's reported usage costs. The first call whose
worst case no longer fits stops the run: no further call is sent, calls in flight finish and are
stored, the requests not sent are left unstored (never recorded as failed) and the runner raises
:class:`BudgetExhausted` with what was spent and what remains. A re-run (with a higher limit)
resumes from the store, so no call is paid twice.

What a budget cannot see: calls a provider bills without reporting usage (a timed-out or cut
attempt that is retried) count 0, as they do in :mod:`r1lib.cost.spent`.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from r1lib.core.errors import UserError

#: The environment variable that gives a process a budget in USD (what ``--max-cost`` passes on).
MAX_COST_ENV = "R1LIB_MAX_COST"
#: Exit status of a command its budget stopped (2 is a user error, 1 failed calls).
BUDGET_EXIT = 3


class BudgetExhausted(Exception):
    """The next call could exceed the budget: the run stopped cleanly (re-run with a higher limit).

    Deliberately not a :class:`UserError`, which some steps catch to carry on without a part.
    """


class Budget:
    """Dollars a process may spend: what finished calls cost, what calls in flight have reserved."""

    def __init__(self, limit_usd: float):
        if isinstance(limit_usd, bool) or not math.isfinite(limit_usd) or limit_usd < 0:
            raise UserError(f"the budget must be a number of US dollars, 0 or more; not {limit_usd!r}")
        self.limit_usd = float(limit_usd)
        self.spent_usd = 0.0
        self.reserved_usd = 0.0
        self.calls = 0
        self.not_sent = 0
        self.refused_usd = 0.0
        self._lock = threading.Lock()

    @property
    def stopped(self) -> bool:
        """True once a call was refused: every later call is refused too."""
        return self.not_sent > 0

    @property
    def remaining_usd(self) -> float:
        """The limit less what was spent and what calls in flight have reserved."""
        return self.limit_usd - self.spent_usd - self.reserved_usd

    def reserve(self, usd: float) -> bool:
        """Reserve a call's worst case; False (and the budget stops) when it does not fit."""
        with self._lock:
            if self.stopped or usd > self.remaining_usd + 1e-12:
                self.not_sent += 1
                self.refused_usd = self.refused_usd or usd
                return False
            self.reserved_usd += usd
            return True

    def settle(self, reserved_usd: float, spent_usd: float) -> None:
        """A call ended: replace its reservation by what it cost."""
        with self._lock:
            self.reserved_usd = max(0.0, self.reserved_usd - reserved_usd)
            self.spent_usd += spent_usd
            self.calls += 1

    def report(self) -> str:
        """What was spent, what remains and what was not sent, for the stop message."""
        return (f"stopped before the budget of ${self.limit_usd:,.4f} could be exceeded: spent ${self.spent_usd:,.4f} "
                f"on {self.calls:,} calls, ${self.limit_usd - self.spent_usd:,.4f} remains; the next call could "
                f"cost up to ${self.refused_usd:,.4f}; {self.not_sent:,} requests were not sent (nothing is stored "
                "for them). Completed records are stored: re-run with a higher --max-cost to continue.")


_ACTIVE: Budget | None = None
_FROM_ENV = False
_LOCK = threading.Lock()


def active() -> Budget | None:
    """The process's budget: the one set by :func:`spending_limit`, else one from :data:`MAX_COST_ENV`."""
    global _ACTIVE, _FROM_ENV
    with _LOCK:
        if _ACTIVE is None and not _FROM_ENV:
            _FROM_ENV = True
            raw = os.environ.get(MAX_COST_ENV)
            if raw:
                _ACTIVE = Budget(parse_usd(raw, MAX_COST_ENV))
        return _ACTIVE


@contextmanager
def spending_limit(limit_usd: float | None) -> Iterator[Budget | None]:
    """Make ``Budget(limit_usd)`` the process's budget inside the block (None: leave it as it is)."""
    global _ACTIVE
    if limit_usd is None:
        yield active()
        return
    budget = Budget(limit_usd)
    with _LOCK:
        previous, _ACTIVE = _ACTIVE, budget
    try:
        yield budget
    finally:
        with _LOCK:
            _ACTIVE = previous


def parse_usd(raw: str, where: str) -> float:
    """A dollar amount from text (``12``, ``12.5``, ``$12``); a clear error otherwise."""
    try:
        value = float(raw.strip().lstrip("$"))
    except ValueError:
        raise UserError(f"{where} must be a number of US dollars, e.g. 25 or 12.50; not {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise UserError(f"{where} must be a number of US dollars, 0 or more; not {raw!r}")
    return value
