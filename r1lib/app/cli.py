"""The ``r1lib`` command. It parses arguments, calls library functions and turns user errors into
clear one-line messages with exit status 2 (never a traceback for a mistake the user can fix).

Every command imports what it uses inside its own function, on purpose: start-up is measured
(PERFORMANCE.md, the first request after about 0.5 s), and a command must not pay for pandas,
openai or the judges that another command needs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from r1lib.app.import_cli import add_import_parser
from r1lib.app.store_args import DEFAULT_STORE, add_store_arguments, store_filters, store_path
from r1lib.core.errors import UserError
from r1lib.cost.budget import BUDGET_EXIT, BudgetExhausted


def _add_store(p: argparse.ArgumentParser, default: str = DEFAULT_STORE) -> None:
    add_store_arguments(p, default)


def _add_max_cost(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-cost", type=_usd, metavar="USD",
                   help="stop before spending more than USD on API calls (each call reserves its worst case; "
                        "re-run with a higher limit to continue)")


def _usd(raw: str) -> float:
    from r1lib.cost.budget import parse_usd
    try:
        return parse_usd(raw, "--max-cost")
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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

    p = sub.add_parser("judges", help="list the judges with their labels, safe labels and protocol sources")
    p.set_defaults(func=cmd_judges)

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
    _add_max_cost(p)
    _add_store(p)
    _add_models_file(p)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("judge", help="judge stored generations, or an external JSONL file")
    p.add_argument("--judge", required=True)
    p.add_argument("--judge-model", help="model that acts as judge (default: the judge's own default)")
    p.add_argument("--model", help="judge this model's stored generations")
    p.add_argument("--benchmark", help="… on this benchmark")
    p.add_argument("--channel", choices=["answer", "thinking", "full"], default="answer",
                   help="what the judge reads: the final answer, the thinking, or both (default: answer)")
    p.add_argument("--input", help="external JSONL (id, prompt, response, optional thinking)")
    p.add_argument("--output", help="where to write verdicts for --input")
    p.add_argument("--judge-option", action="append", default=[], metavar="KEY=VALUE",
                   help="judge option (repeatable), e.g. long_text=truncate, render=template, trust_remote_code=true")
    p.add_argument("--no-progress", action="store_true")
    _add_max_cost(p)
    _add_store(p, f"{DEFAULT_STORE}; with --input, runs/external.sqlite")
    _add_models_file(p)
    p.set_defaults(func=cmd_judge)

    add_import_parser(sub)

    p = sub.add_parser("export", help="export generation records (with --with-verdicts: per-sample results) "
                                      "to jsonl, parquet or csv, or as Inspect eval logs with their verdicts")
    p.add_argument("--format", default="jsonl",
                   help="jsonl | parquet | csv | inspect (one Inspect .eval log per model and benchmark)")
    p.add_argument("--output", help="output file (default: export.FORMAT or results.FORMAT beside the store); "
                                    "with --format inspect a directory (default: inspect-logs/ beside the store)")
    p.add_argument("--with-verdicts", action="store_true",
                   help="one row per (generation, judge, judge version, channel) with label, score and outcome")
    p.add_argument("--model", help="only this model's records (registry name, alias or stored name)")
    p.add_argument("--benchmark", help="registered benchmark, stored name or jsonl:PATH")
    _add_store(p)
    _add_models_file(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("browse", help="write one self-contained HTML page of stored traces with in-page filters")
    p.add_argument("--html", required=True, metavar="OUT", help="the HTML file to write")
    p.add_argument("--model", help="only this model's records (registry name, alias or stored name)")
    p.add_argument("--benchmark", help="registered benchmark, stored name or jsonl:PATH")
    p.add_argument("--judge", help="show (and filter on) this judge's verdicts only")
    p.add_argument("--verdict", metavar="LABEL", help="only records with a latest verdict of this label")
    p.add_argument("--trace-state", help="only records of this trace state (e.g. unterminated)")
    p.add_argument("--limit", type=int, help="at most N records (the page says how many matched)")
    _add_store(p)
    _add_models_file(p)
    p.set_defaults(func=cmd_browse)

    p = sub.add_parser("costs", help="tokens and dollars per model: prompt / reasoning / answer, generation vs judging")
    p.add_argument("--benchmark", help="only this benchmark's records and the judge calls about them")
    p.add_argument("--csv-dir", metavar="DIR", help="also write the table to DIR/costs.csv")
    _add_store(p)
    _add_models_file(p)
    p.set_defaults(func=cmd_costs)

    p = sub.add_parser("estimate", help="calls, tokens, dollars and wall time of a profile's run, before any call")
    p.add_argument("--profile", default="demo")
    p.add_argument("--csv", metavar="FILE", help="also write every row (benchmark, judge, channel, model) to FILE")
    _add_models_file(p)
    p.set_defaults(func=cmd_estimate)

    p = sub.add_parser("store", help="delete a response store (shows what it holds, asks first)")
    p.add_argument("action", choices=["delete"])
    p.add_argument("--store", required=True, help="the store file (no default: deleting needs its name)")
    p.add_argument("--yes", action="store_true", help="delete without asking")
    _add_models_file(p)
    p.set_defaults(func=cmd_store)

    p = sub.add_parser("reproduce", help="execute the notebooks for a profile and report every paper artefact")
    p.add_argument("--profile", default="demo")
    p.add_argument("--only", nargs="+", metavar="NOTEBOOK", help="run only these notebooks")
    p.add_argument("--limit", type=int, help="at most N items per benchmark (a quick look; not the profile's sizes)")
    _add_max_cost(p)
    _add_models_file(p)
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("rehearse", help="run the paper profile against a loopback imitation of its providers (no keys)")
    p.add_argument("--limit", type=int, default=3, help="items per benchmark (default 3)")
    p.add_argument("--route", choices=["together", "deepseek"], default="together",
                   help="how DS-R1 answers: <think> in content (Together) or reasoning_content (DeepSeek API)")
    p.add_argument("--judge", choices=["realistic", "one-word"], default="realistic",
                   help="GPT-4o answers each protocol in its format, or one word to everything")
    p.add_argument("--only", nargs="+", metavar="NOTEBOOK", help="run only these notebooks")
    p.set_defaults(func=cmd_rehearse)
    return parser


def _store(args: argparse.Namespace, *, create: bool = True):
    from r1lib.store.database import Store
    return Store(store_path(args), create=create)


def _benchmark(args: argparse.Namespace) -> str | None:
    """The stored benchmark name of ``--benchmark`` (None when not given)."""
    from r1lib.benchmarks.registry import stored_benchmark_name
    return stored_benchmark_name(args.benchmark) if args.benchmark else None


def _run(model: str | None) -> str | None:
    """The model string of ``--model``'s current version when it is an import (its earlier versions' records
    share its name and are left out), else None."""
    from r1lib.benchmarks.imported.folder import current_run
    from r1lib.config.settings import models_registry
    return current_run(model, models_registry()) if model else None


def cmd_models(args: argparse.Namespace) -> int:
    """Print the models registry."""
    from r1lib.config.settings import models_registry
    for name, config in sorted(models_registry(extra_files=args.models_file).items()):
        aliases = f" (aliases: {', '.join(config.aliases)})" if config.aliases else ""
        print(f"{name:28s} {config.backend:12s} {config.model}{aliases}")
    return 0


def cmd_benchmarks(args: argparse.Namespace) -> int:
    """Print the benchmark registry."""
    from r1lib.benchmarks.registry import benchmark_table
    print(benchmark_table().to_string(index=False))
    return 0


def cmd_judges(args: argparse.Namespace) -> int:
    """Print the judges registry."""
    from r1lib.judges.cli import judge_listing
    print(judge_listing())
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
    from r1lib.config.settings import models_registry, resolve_model
    from r1lib.cost.budget import spending_limit
    from r1lib.generation.solvers import generate

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
    with _store(args) as store, spending_limit(args.max_cost):
        outcome = generate(config, _benchmark(args), items, store, solver=solver, samples=args.samples,
                           partner=partner, max_turns=args.max_turns, progress=not args.no_progress)
    print(outcome.summary.line())
    return 1 if outcome.summary.failed else 0


def cmd_judge(args: argparse.Namespace) -> int:
    """Judge stored generations or an external file."""
    from r1lib.cost.budget import spending_limit
    from r1lib.judges.cli import judge_command
    if args.profile and args.input:
        raise UserError("--profile picks the store of stored generations; an --input file is judged in "
                        "runs/external.sqlite or in --store PATH: drop --profile")
    if args.profile:
        args.store = str(store_path(args))
    with spending_limit(args.max_cost):
        return judge_command(args)


def cmd_export(args: argparse.Namespace) -> int:
    """Export records, or per-sample results with their verdicts, or Inspect eval logs."""
    from r1lib.store.export import write_results
    from r1lib.store.files import check_format, output_file

    check_format(args.format)
    if args.format == "inspect":
        return _export_inspect(args)
    with _store(args, create=False) as store:
        chosen = store_filters(args, store)
        stem = "results" if args.with_verdicts else "export"
        output = output_file(args.output or store.path.parent / f"{stem}.{args.format}", "--output")
        if args.with_verdicts:
            from r1lib.judges.registry import safe_labels
            n = write_results(store, args.format, output, model=chosen["model"], benchmark=chosen["benchmark"],
                              safe_labels=safe_labels(), run=_run(chosen["model"]))
        else:
            n = store.export(args.format, output, model=chosen["model"], benchmark=chosen["benchmark"],
                             run=_run(chosen["model"]))
    print(f"wrote {n} {'rows' if args.with_verdicts else 'records'} to {output}")
    return 0


def _export_inspect(args: argparse.Namespace) -> int:
    """Write one Inspect eval log per (model, benchmark), verdicts as scores."""
    from r1lib.store.files import output_dir
    from r1lib.store.inspect_export import write_inspect_logs
    with _store(args, create=False) as store:
        chosen = store_filters(args, store)
        output = output_dir(args.output or store.path.parent / "inspect-logs", "--output")
        paths, n = write_inspect_logs(store, output, model=chosen["model"], benchmark=chosen["benchmark"],
                                      run=_run(chosen["model"]))
    print(f"wrote {n} samples to {len(paths)} Inspect logs in {output} "
          f"(open them with `inspect view --log-dir {output}`)")
    return 0


def cmd_browse(args: argparse.Namespace) -> int:
    """Write the static trace page."""
    from r1lib.store.files import output_file
    from r1lib.viewer.widget import write_static_page
    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be a positive number of records")
    with _store(args, create=False) as store:
        chosen = store_filters(args, store)
        output_file(args.html, "--html")
        n = write_static_page(store, args.html, model=chosen["model"], benchmark=chosen["benchmark"],
                              judge=args.judge, label=args.verdict, trace_state=args.trace_state, limit=args.limit)
    print(f"wrote {n} records to {args.html}")
    return 0


def cmd_costs(args: argparse.Namespace) -> int:
    """Print tokens and dollars per model."""
    from r1lib.config.settings import models_registry
    from r1lib.cost.spent import costs_table, format_costs
    from r1lib.store.files import output_dir

    if args.csv_dir:
        output_dir(args.csv_dir, "--csv-dir")
    with _store(args, create=False) as store:
        path = store.path
        table = costs_table(store, models_registry(extra_files=args.models_file),
                            benchmark=store_filters(args, store)["benchmark"], output_dir=args.csv_dir)
    print(f"costs of store {path}" + (f", benchmark {_benchmark(args)}" if args.benchmark else ""))
    print(format_costs(table) if len(table) else "the store holds no records")
    if args.csv_dir:
        print(f"wrote {args.csv_dir}/costs.csv")
    return 0


def cmd_estimate(args: argparse.Namespace) -> int:
    """Print what a profile's run would cost."""
    import dataclasses
    from pathlib import Path

    from r1lib.app.estimate import estimate_profile
    from r1lib.app.estimate_report import format_estimate
    from r1lib.app.profiles import Profile
    from r1lib.config.settings import Settings
    from r1lib.store.database import Store
    from r1lib.store.files import output_file

    if args.csv:
        output_file(args.csv, "--csv")
    settings = Settings.load()
    settings = dataclasses.replace(settings, models_files=(*settings.models_files, *map(Path, args.models_file)))
    profile = Profile.load(args.profile, settings=settings)
    if profile.store_path.is_file():
        with Store(profile.store_path, create=False) as store:
            estimate = estimate_profile(profile, store)
    else:
        estimate = estimate_profile(profile)
    print(format_estimate(estimate, profile))
    if args.csv:
        estimate.rows.to_csv(args.csv, index=False)
        print(f"wrote {len(estimate.rows)} rows to {args.csv}")
    return 0


def cmd_store(args: argparse.Namespace) -> int:
    """Delete a store after showing what it holds and asking."""
    from r1lib.app.store_admin import delete_store, describe_store
    from r1lib.config.settings import models_registry

    summary = describe_store(args.store, models_registry(extra_files=args.models_file))
    print("\n".join(summary.lines()))
    if not args.yes:
        try:
            answer = input(f"delete {summary.path} for good? type 'yes' to delete: ")
        except EOFError:
            answer = ""
        if answer.strip() != "yes":
            print("not deleted")
            return 1
    for path in delete_store(summary.path):
        print(f"deleted {path}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Run the notebooks of a profile."""
    from r1lib.app.reproduce import reproduce
    return reproduce(args.profile, only=args.only, limit=args.limit, max_cost=args.max_cost,
                     models_files=args.models_file)


def cmd_rehearse(args: argparse.Namespace) -> int:
    """Dress rehearsal of the paper profile on the loopback server."""
    from r1lib.app.rehearse import rehearse
    return rehearse(limit=args.limit, route=args.route, judge=args.judge, only=args.only)


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
    except BudgetExhausted as exc:
        print(f"r1lib {args.command}: {exc}", file=sys.stderr)
        return BUDGET_EXIT
    except KeyboardInterrupt:
        print(f"r1lib {args.command}: interrupted; completed records are stored, re-run to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
