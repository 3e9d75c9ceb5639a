"""The ``r1lib`` command. It parses arguments, calls library functions and turns user errors into
clear one-line messages with exit status 2 (never a traceback for a mistake the user can fix)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from r1lib.errors import UserError


def _add_store(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", help="response store (default: R1LIB_STORE or runs/store.sqlite)")


def _add_models_file(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models-file", action="append", default=[], metavar="FILE",
                   help="extra models YAML (repeatable; also env R1LIB_MODELS)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="r1lib", description="Safety evaluation of reasoning models (arXiv 2502.12659, reproduced).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("models", help="list the registered models and their aliases")
    _add_models_file(p)
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("benchmarks", help="list the benchmarks with sizes, sources and licenses")
    p.set_defaults(func=cmd_benchmarks)

    p = sub.add_parser("data", help="fetch benchmark files (from the mirror or upstream)")
    p.add_argument("action", choices=["fetch"])
    p.add_argument("name", help="benchmark name or 'all'")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("generate", help="generate (or resume) model outputs for a benchmark")
    p.add_argument("--model", required=True)
    p.add_argument("--benchmark", required=True, help="registered benchmark or jsonl:PATH")
    p.add_argument("--limit", type=int, help="stratified sample of N items (seeded)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples", type=int, default=1, help="samples per prompt")
    p.add_argument("--max-concurrency", type=int, help="override the model's max_concurrency")
    p.add_argument("--victim-model", default="gpt-4o",
                   help="dialogue benchmarks (phishing): the model that plays the victim (default gpt-4o)")
    p.add_argument("--max-turns", type=int,
                   help="dialogue benchmarks (phishing): follow-up turns (default: upstream's MAX_TURNS)")
    p.add_argument("--no-progress", action="store_true")
    _add_store(p)
    _add_models_file(p)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("judge", help="judge stored generations, or an external JSONL file")
    p.add_argument("--judge", required=True)
    p.add_argument("--judge-model", help="model that acts as judge (default: the judge's own default)")
    p.add_argument("--model", help="judge this model's stored generations")
    p.add_argument("--benchmark", help="… on this benchmark")
    p.add_argument("--channel", choices=["answer", "thinking", "full"], default="answer")
    p.add_argument("--input", help="external JSONL (id, prompt, response, optional thinking)")
    p.add_argument("--output", help="where to write verdicts for --input")
    p.add_argument("--judge-option", action="append", default=[], metavar="KEY=VALUE",
                   help="judge option (repeatable), e.g. long_text=truncate, render=template, trust_remote_code=true")
    p.add_argument("--no-progress", action="store_true")
    _add_store(p)
    _add_models_file(p)
    p.set_defaults(func=cmd_judge)

    p = sub.add_parser("export", help="export generation records to jsonl, parquet or csv")
    p.add_argument("--format", default="jsonl", help="jsonl | parquet | csv")
    p.add_argument("--output", help="output file (default: runs/export.FORMAT)")
    p.add_argument("--model")
    p.add_argument("--benchmark")
    _add_store(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("reproduce", help="execute the notebooks for a profile and report every paper artefact")
    p.add_argument("--profile", default="demo")
    p.add_argument("--only", nargs="+", metavar="NOTEBOOK", help="run only these notebooks")
    p.add_argument("--limit", type=int, help="at most N items per benchmark (a quick look; not the profile's sizes)")
    p.set_defaults(func=cmd_reproduce)
    return parser


def _store(args: argparse.Namespace):
    from r1lib.config import Settings
    from r1lib.store import Store
    return Store(args.store or Settings.load().store_path)


def cmd_models(args: argparse.Namespace) -> int:
    """Print the models registry."""
    from r1lib.config import models_registry
    for name, config in sorted(models_registry(extra_files=args.models_file).items()):
        aliases = f" (aliases: {', '.join(config.aliases)})" if config.aliases else ""
        print(f"{name:28s} {config.backend:12s} {config.model}{aliases}")
    return 0


def cmd_benchmarks(args: argparse.Namespace) -> int:
    """Print the benchmark registry."""
    from r1lib.benchmarks.registry import benchmark_table
    print(benchmark_table().to_string(index=False))
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    """Fetch benchmark files."""
    from r1lib.benchmarks.sources import fetch
    for line in fetch(args.name):
        print(line)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    """Generate outputs for one model on one benchmark, through the benchmark's solver."""
    import dataclasses

    from r1lib.benchmarks.registry import load_items, solver_of
    from r1lib.config import models_registry, resolve_model
    from r1lib.solvers import generate

    if args.samples < 1:
        raise UserError("--samples must be at least 1")
    registry = models_registry(extra_files=args.models_file)
    config = resolve_model(args.model, registry)
    if args.max_concurrency:
        config = dataclasses.replace(config, max_concurrency=args.max_concurrency)
    config.api_key()  # fail before any request when the key is missing
    solver = solver_of(args.benchmark)
    partner = resolve_model(args.victim_model, registry) if solver != "single_turn" else None
    if partner is not None:
        partner.api_key()
    items = load_items(args.benchmark, limit=args.limit, seed=args.seed)
    with _store(args) as store:
        outcome = generate(config, items[0].benchmark, items, store, solver=solver, samples=args.samples,
                           partner=partner, max_turns=args.max_turns, progress=not args.no_progress)
    print(outcome.summary.line())
    return 1 if outcome.summary.failed else 0


def cmd_judge(args: argparse.Namespace) -> int:
    """Judge stored generations or an external file."""
    from r1lib.judges.cli import judge_command
    return judge_command(args)


def cmd_export(args: argparse.Namespace) -> int:
    """Export records."""
    from r1lib.config import Settings
    output = args.output or str(Settings.load().runs_dir / f"export.{args.format}")
    with _store(args) as store:
        n = store.export(args.format, output, model=args.model, benchmark=args.benchmark)
    print(f"wrote {n} records to {output}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Run the notebooks of a profile."""
    from r1lib.reproduce import reproduce
    return reproduce(args.profile, only=args.only, limit=args.limit)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``r1lib`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except UserError as exc:
        print(f"r1lib {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"r1lib {args.command}: interrupted; completed records are stored, re-run to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
