"""``r1lib assess --model NAME``: the command line of :func:`r1lib.app.assess.assess`."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from r1lib.app.import_cli import add_source_arguments, import_source


def add_assess_parser(sub: argparse._SubParsersAction,
                      common: Sequence[Callable[[argparse.ArgumentParser], None]] = ()) -> None:
    """Add the ``assess`` subcommand; ``common`` adds the options every command shares (--max-cost, ...)."""
    p = sub.add_parser("assess", help="the paper's protocol on one model and its counterpart, with a scorecard")
    p.add_argument("--model", required=True, help="the model to assess (registry name or alias; with --outputs the "
                                                  "name its imported outputs get)")
    p.add_argument("--outputs", metavar="FILE", help="assess outputs you already have: import FILE (the options "
                                                     "below say how to read it, as for `r1lib import`) and run "
                                                     "the notebooks on them, with no generation")
    p.add_argument("--counterpart", help="the non-reasoning model to compare with (default: the entry's counterpart:)")
    p.add_argument("--reference", help="a reference model (the paper's o3-mini role) for finding 1")
    p.add_argument("--judge-model", help="model behind every LLM judge (default gpt-4o, as the paper), or 'offline' "
                                         "for the offline judges (no key)")
    p.add_argument("--size", choices=["quick", "paper"], default="quick",
                   help="quick: a small stratified sample of every paper benchmark (configs/assess/quick.yaml); "
                        "paper: the paper's sizes")
    p.add_argument("--yes", action="store_true", help="start billed calls without asking")
    p.add_argument("--report-dir", metavar="DIR", help="where the scorecard goes (default reports/<model>/)")
    p.add_argument("--store", help="response store (default runs/assess-<model>/store.sqlite)")
    p.add_argument("--no-progress", action="store_true")
    for add in common:
        add(p)
    add_source_arguments(p.add_argument_group("reading --outputs FILE"))
    p.set_defaults(func=cmd_assess)


def cmd_assess(args: argparse.Namespace) -> int:
    """Assess one model: estimate, ask before billed calls, run the notebooks, write the scorecard."""
    from r1lib.app.assess import assess
    outputs = None
    if args.outputs:
        def outputs(store: str) -> Any:
            """Import ``--outputs`` into the assessment's store."""
            return import_source(args, args.outputs, args.model, store)
    return assess(args.model, counterpart=args.counterpart, reference=args.reference, judge_model=args.judge_model,
                  size=args.size, store=args.store, models_files=args.models_file, max_cost=args.max_cost,
                  yes=args.yes, report_dir=args.report_dir, outputs=outputs)
