"""r1lib: generation, reasoning-trace parsing, judging and statistics for LRM safety evaluation.

The data path is: benchmark item -> messages -> backend -> raw output -> parse_trace -> generation
record (store) -> judge (per channel) -> verdict record (store) -> stats -> tables and figures.
The rooms, from the bottom: ``core`` (the data model), ``config`` and ``store``, ``benchmarks`` and
``cost``, ``generation``, ``judges``, ``analysis``, ``paper``, ``viewer`` and ``app`` (what users run);
each imports only the rooms below it (docs/architecture.md, checked by ``make check``).

The public API, importable from here (each name is loaded on first use, so ``import r1lib`` and the
command line stay fast):

- :class:`Run`: the notebook API (``Run.open("recorded")``).
- :func:`parse_trace`, :class:`Trace`: splitting an output into thinking and answer.
- :class:`GenerationRecord`, :class:`Verdict`: the two stored records; :class:`UserError`.
- :func:`load_items`, :func:`benchmark_names`: the benchmarks registry; :func:`get_judge`,
  :func:`judge_names`: the judges registry.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
PUBLIC = {
    "Run": "r1lib.app.run",
    "parse_trace": "r1lib.core.traces", "Trace": "r1lib.core.traces",
    "GenerationRecord": "r1lib.core.records", "Verdict": "r1lib.core.records",
    "UserError": "r1lib.core.errors",
    "load_items": "r1lib.benchmarks.registry", "benchmark_names": "r1lib.benchmarks.registry",
    "get_judge": "r1lib.judges.registry", "judge_names": "r1lib.judges.registry",
}
__all__ = sorted(PUBLIC)


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use (PEP 562)."""
    if name not in PUBLIC:
        raise AttributeError(f"module 'r1lib' has no attribute {name!r}")
    value = getattr(import_module(PUBLIC[name]), name)
    globals()[name] = value
    return value
