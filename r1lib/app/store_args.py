"""The store options shared by the commands that read or write a store: ``--store`` and ``--profile``
(one default store per profile, as ``r1lib reproduce`` uses it), and the check of their filters
(:func:`r1lib.store.holdings.held_filters`) with models resolved as ``generate`` resolves them.

Imports of the library stay inside the functions: the command line's start-up is measured (see
:mod:`r1lib.app.cli`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from r1lib.store.database import Store

DEFAULT_STORE = "R1LIB_STORE or runs/store.sqlite"


def add_store_arguments(p: argparse.ArgumentParser, default: str = DEFAULT_STORE) -> None:
    """``--profile P`` and ``--store`` (its help states ``default``)."""
    p.add_argument("--profile", metavar="P", help="use profile P's store (runs/P/store.sqlite unless the profile "
                                                   "sets store:), the one `r1lib reproduce --profile P` fills")
    p.add_argument("--store", help=f"response store (default: {default}; with --profile P, P's store); "
                                   "overrides --profile")


def store_path(args: argparse.Namespace) -> Path:
    """The store a command uses: ``--store``, else ``--profile``'s store, else the settings' default."""
    from r1lib.config.settings import Settings
    if args.store:
        return Path(args.store)
    if getattr(args, "profile", None):
        from r1lib.app.profiles import Profile
        return Profile.load(args.profile).store_path
    return Settings.load().store_path


def store_filters(args: argparse.Namespace, store: Store) -> dict[str, str | None]:
    """The command's filters (``--model``, ``--benchmark``, ``--judge``, ``--verdict``, ``--trace-state``;
    those it has), checked against ``store``, the model resolved to its stored name; ``run`` is the model
    string of an imported model's current version (its earlier versions' records share its name and are
    left out), else None."""
    from r1lib.benchmarks.imported.folder import current_run
    from r1lib.benchmarks.registry import stored_benchmark_name
    from r1lib.config.settings import models_registry, resolve_model
    from r1lib.store.holdings import held_filters

    registry = models_registry(extra_files=getattr(args, "models_file", None) or [])
    benchmark = getattr(args, "benchmark", None)
    filters = held_filters(store, aliases=lambda name: resolve_model(name, registry).name,
                           model=getattr(args, "model", None),
                           benchmark=stored_benchmark_name(benchmark) if benchmark else None,
                           trace_state=getattr(args, "trace_state", None), judge=getattr(args, "judge", None),
                           label=getattr(args, "verdict", None))
    return {**filters, "run": current_run(filters["model"], registry)}
