"""Filters checked against what a store holds, so a filter that names nothing is an error, not 0 records.

Every command that filters stored records (``export``, ``browse``, ``judge``, ``costs``) passes its
filters through :func:`held_filters`: a model is first looked up as stored, then through the
caller's alias resolution (the models registry, as ``generate`` resolves it), and a model,
benchmark, trace state, judge or verdict label the store does not hold raises a UserError listing
what it does hold, with counts.
"""

from __future__ import annotations

from collections.abc import Callable

from r1lib.core.errors import UserError
from r1lib.store.database import Store

#: The command-line flag of each filter, named in the messages.
FLAGS = {"model": "--model", "benchmark": "--benchmark", "trace_state": "--trace-state", "judge": "--judge",
         "label": "--verdict"}
#: How many held values a message lists before it says how many more there are.
SHOWN = 20


def held_filters(store: Store, *, aliases: Callable[[str], str] | None = None, model: str | None = None,
                 benchmark: str | None = None, trace_state: str | None = None, judge: str | None = None,
                 label: str | None = None, role: str | None = "eval") -> dict[str, str | None]:
    """The filters with ``model`` resolved to its stored name; raises a UserError for a filter that
    matches nothing of ``role`` in the store (``label`` among ``judge``'s verdicts when both are given).

    ``aliases`` maps a model name or alias to its registry name (it may raise a UserError for a
    name it does not know); it is asked only when ``model`` is not a stored name itself.
    """
    filters = {"model": model, "benchmark": benchmark, "trace_state": trace_state, "judge": judge, "label": label}
    for column, value in filters.items():
        if value is None:
            continue
        held = store.value_counts(column, role=role, judge=judge if column == "label" else None)
        asked = value
        if column == "model" and value not in held and aliases is not None:
            try:
                value = filters["model"] = aliases(value)
            except UserError:
                pass  # not a registry name either: the message below lists what the store holds
        if value not in held:
            named = repr(asked) if value == asked else f"{asked!r} (registry name {value!r})"
            raise UserError(_nothing_held(store, column, named, held, judge))
    return filters


def _nothing_held(store: Store, column: str, named: str, held: dict[str, int], judge: str | None) -> str:
    """The message for a filter value (``named``, quoted) the store does not hold: what it holds, and the fix."""
    what = {"model": f"records of model {named}", "benchmark": f"records of benchmark {named}",
            "trace_state": f"records in trace state {named}", "judge": f"verdicts of judge {named}",
            "label": f"verdicts labelled {named}" + (f" by judge {judge!r}" if judge else "")}[column]
    listed = ", ".join(f"{name} ({n:,})" for name, n in list(held.items())[:SHOWN])
    if len(held) > SHOWN:
        listed += f" and {len(held) - SHOWN} more"
    holds = f"it holds: {listed}" if held else "it holds none at all"
    return f"the store {store.path} holds no {what}; {holds}. Check {FLAGS[column]} (or pass another --store)"
