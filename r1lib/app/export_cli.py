"""``r1lib export``: stored records, per-sample results with their verdicts, or Inspect eval logs."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from r1lib.app.store_args import store_filters, store_path


def add_export_parser(sub: argparse._SubParsersAction,
                      common: Sequence[Callable[[argparse.ArgumentParser], None]] = ()) -> None:
    """Add the ``export`` subcommand; ``common`` adds the options every command shares (--store, ...)."""
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
    for add in common:
        add(p)
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    """Export records, or per-sample results with their verdicts, or Inspect eval logs."""
    from r1lib.store.database import Store  # inside: the command line's start-up does not pay for the store
    from r1lib.store.export import write_results
    from r1lib.store.files import check_format, output_file

    check_format(args.format)
    if args.format == "inspect":
        return _export_inspect(args)
    with Store(store_path(args), create=False) as store:
        chosen = store_filters(args, store)
        stem = "results" if args.with_verdicts else "export"
        output = output_file(args.output or store.path.parent / f"{stem}.{args.format}", "--output")
        if args.with_verdicts:
            from r1lib.judges.registry import safe_labels
            n = write_results(store, args.format, output, model=chosen["model"], benchmark=chosen["benchmark"],
                              safe_labels=safe_labels(), run=chosen["run"])
        else:
            n = store.export(args.format, output, model=chosen["model"], benchmark=chosen["benchmark"],
                             run=chosen["run"])
    print(f"wrote {n} {'rows' if args.with_verdicts else 'records'} to {output}")
    return 0


def _export_inspect(args: argparse.Namespace) -> int:
    """Write one Inspect eval log per (model, benchmark), verdicts as scores."""
    from r1lib.store.database import Store
    from r1lib.store.files import output_dir
    from r1lib.store.inspect_export import write_inspect_logs
    with Store(store_path(args), create=False) as store:
        chosen = store_filters(args, store)
        output = output_dir(args.output or store.path.parent / "inspect-logs", "--output")
        paths, n = write_inspect_logs(store, output, model=chosen["model"], benchmark=chosen["benchmark"],
                                      run=chosen["run"])
    print(f"wrote {n} samples to {len(paths)} Inspect logs in {output} "
          f"(open them with `inspect view --log-dir {output}`)")
    return 0
