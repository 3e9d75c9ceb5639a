"""``r1lib import FILE --model-name NAME``: the command line of :func:`r1lib.app.importing.import_outputs`."""

from __future__ import annotations

import argparse
from typing import Any

FORMATS = ("auto", "jsonl", "json", "csv", "parquet", "hf", "inspect", "lm-eval")


def add_import_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``import`` subcommand to the parser's subcommands."""
    p = sub.add_parser("import", help="bring your own outputs (JSONL/JSON/CSV/Parquet/HF dataset, Inspect log, "
                                      "lm-eval samples) in as a model every command can use")
    p.add_argument("file", metavar="FILE", help="the outputs file (or a Hugging Face dataset folder)")
    p.add_argument("--model-name", required=True, metavar="NAME",
                   help="the model name the outputs get (then --model NAME works in every command)")
    add_source_arguments(p)
    p.add_argument("--counterpart", metavar="NAME", help="registry name of the non-reasoning model to compare with")
    p.add_argument("--store", help="response store (default: R1LIB_STORE or runs/store.sqlite)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_import)


def add_source_arguments(p: argparse.ArgumentParser) -> None:
    """The options that say how to read an outputs file (``import``, and ``assess --outputs``)."""
    p.add_argument("--format", default="auto", choices=FORMATS, help="the file's format (default: from its suffix)")
    p.add_argument("--prompt-field", help="field of the user prompt (default: prompt)")
    p.add_argument("--system-field", help="field of the system prompt (optional)")
    p.add_argument("--messages-field", help="field of a conversation list of {role, content} (replaces the prompt "
                                            "and system fields; ends with the user turn answered)")
    p.add_argument("--output-field", help="field of the raw output, inline <think> tags allowed (default: output)")
    p.add_argument("--thinking-field", help="field of the thinking, when the source split it (with --answer-field)")
    p.add_argument("--answer-field", help="field of the final answer, when the source split it")
    p.add_argument("--id-field", help="field of a unique row id (default: the row index)")
    p.add_argument("--category-field", action="append", default=[], metavar="FIELD",
                   help="field copied into the item's category (repeatable)")
    p.add_argument("--model-field", help="field of the source's model name (kept with each row)")
    p.add_argument("--benchmark", metavar="NAME", help="registered benchmark the outputs answer, e.g. xstest "
                                                       "(default: the rows' own prompts as imported/NAME)")
    p.add_argument("--judge", help="default judge of the imported/NAME benchmark (default: refusal-offline, or the "
                                   "--benchmark's own judge)")
    p.add_argument("--reasoning-parser", choices=["deepseek_r1", "none"], default="none",
                   help="read raw outputs as this live reasoning parser does (deepseek_r1: text without tags "
                        "is thinking)")
    p.add_argument("--opens-thinking", action="store_true",
                   help="the source's chat template pre-filled <think>: raw outputs start inside the thinking")
    p.add_argument("--reasoning", action=argparse.BooleanOptionalAction, default=None,
                   help="the model thinks before answering (default: yes unless only an answer field is mapped)")
    p.add_argument("--label", help="the name tables and figures show (default: NAME)")
    p.add_argument("--imports-dir", metavar="DIR", help="where import folders live (default: R1LIB_IMPORTS or "
                                                        "imports/; other commands find them through R1LIB_IMPORTS)")


def import_source(args: argparse.Namespace, path: str, model_name: str, store: str | None) -> Any:
    """Run :func:`r1lib.app.importing.import_outputs` with the options of :func:`add_source_arguments`."""
    from r1lib.app.importing import import_outputs
    from r1lib.benchmarks.imported.rows import FieldMapping

    mapping = FieldMapping(prompt=args.prompt_field, system=args.system_field, messages=args.messages_field,
                           output=args.output_field, thinking=args.thinking_field, answer=args.answer_field,
                           id=args.id_field, category=tuple(args.category_field), model=args.model_field)
    return import_outputs(
        path, mapping, model_name=model_name, benchmark=args.benchmark, store=store, fmt=args.format,
        reasoning_parser=None if args.reasoning_parser == "none" else args.reasoning_parser,
        opens_thinking=args.opens_thinking, reasoning=args.reasoning, counterpart=args.counterpart,
        label=args.label, judge=args.judge, imports_dir=args.imports_dir, progress=not args.no_progress)


def cmd_import(args: argparse.Namespace) -> int:
    """Import the outputs and print what the import did."""
    result = import_source(args, args.file, args.model_name, args.store)
    print("\n".join(result.lines()))
    return 1 if result.failed else 0
