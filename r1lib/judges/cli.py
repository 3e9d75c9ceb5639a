"""``r1lib judge``: judge stored generations, or an external JSONL file of responses.

- Stored: ``--model M --benchmark B`` judges M's stored generations on B (channel ``--channel``)
  and prints the count of each label, of unparsed answers, of empty channels (``no_output``), of
  failed judge calls and of failed generations (which have nothing to judge).
- External: ``--input FILE.jsonl`` (one JSON object per line: ``id``, ``prompt``, ``response`` and
  optionally ``thinking``) writes ``--output`` (default ``FILE.verdicts.jsonl``) with ``id, label,
  score, parsed_ok, judge, version, channel`` per line. The rows go through a store like any other
  record (``--store``, default ``runs/external.sqlite``, kept apart from the evaluation store), so
  judging the same file again is free and an interrupted run resumes.

``--judge-model`` names the judge model of an LLM judge (a registry name or alias; ``offline``
for its offline stand-in) or, for the ``reward`` judge, the reward model (folder or HF id).
``--judge-option KEY=VALUE`` sets a judge option (``long_text=truncate``, ``render=template``,
``trust_remote_code=true`` ...); an option the judge does not take is refused.
"""

from __future__ import annotations

import argparse
import inspect
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from r1lib.benchmarks.imported.folder import current_run
from r1lib.benchmarks.registry import stored_benchmark_name
from r1lib.config.settings import Settings, models_registry, resolve_model
from r1lib.core.errors import UserError
from r1lib.core.failures import cause_lines, failure_causes
from r1lib.core.records import GenerationRecord, Verdict, record_key
from r1lib.judges.base import NO_OUTPUT, Judge, LLMJudge, Protocol, judge_records
from r1lib.judges.registry import get_judge, judge_class, judges
from r1lib.store.database import Store
from r1lib.store.files import output_file
from r1lib.store.holdings import held_filters

EXTERNAL_MODEL = "external"
OUTPUT_FIELDS = ("id", "label", "score", "parsed_ok", "judge", "version", "channel")


def judge_command(args: argparse.Namespace) -> int:
    """Run ``r1lib judge``; returns 1 when some judge calls failed (re-run to retry them), else 0."""
    if args.input and (args.model or args.benchmark):
        raise UserError("give either --input FILE.jsonl or --model and --benchmark, not both")
    if not args.input and not (args.model and args.benchmark):
        raise UserError("say what to judge: --model M --benchmark B (stored generations) or --input FILE.jsonl "
                        "(external responses with id, prompt, response)")
    if args.output and not args.input:
        raise UserError("--output is only for --input; verdicts on stored generations stay in the store")
    options = parse_options(getattr(args, "judge_option", None) or [])
    judge = build_judge(args.judge, args.judge_model, args.models_file, options)
    if args.input:
        return judge_file(judge, Path(args.input), args)
    return judge_stored(judge, args)


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings as options; values are read as YAML (``true``, ``512``, ``[a, b]``)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--judge-option {pair!r}: expected KEY=VALUE, e.g. long_text=truncate")
        try:
            options[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise UserError(f"--judge-option {pair!r}: the value is not valid YAML; quote it") from None
    return options


def option_names(cls: type[Judge]) -> set[str]:
    """The keyword options a judge class takes (its own and its base classes')."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            names |= {p.name for p in inspect.signature(klass.__init__).parameters.values()
                      if p.kind is inspect.Parameter.KEYWORD_ONLY}
    return names


def build_judge(name: str, judge_model: str | None, models_files: list[str],
                options: dict[str, Any] | None = None) -> Judge:
    """The judge ``name``; ``judge_model`` is an LLM judge's model or the reward judge's reward model."""
    cls = judge_class(name)
    options = dict(options or {})
    unknown = set(options) - option_names(cls)
    if unknown:
        raise UserError(f"judge {name!r} has no option(s) {sorted(unknown)}; its options: "
                        f"{', '.join(sorted(option_names(cls) - {'model'}))}")
    if issubclass(cls, LLMJudge):
        judge = get_judge(name, judge_model=judge_model, models=models_registry(extra_files=models_files), **options)
        if isinstance(judge, LLMJudge):
            judge.judge_model.api_key()  # fail before any call when the key is missing
        return judge
    if judge_model is None:
        return get_judge(name, **options)
    if "model" in option_names(cls):
        return get_judge(name, model=judge_model, **options)
    raise UserError(f"judge {name!r} runs without a judge model; drop --judge-model")


def judge_stored(judge: Judge, args: argparse.Namespace) -> int:
    """Judge one model's stored generations on one benchmark and print the summary."""
    registry = models_registry(extra_files=args.models_file)
    store_path = Path(args.store) if args.store else Settings.load().store_path
    with Store(store_path, create=False) as store:
        chosen = held_filters(store, aliases=lambda name: resolve_model(name, registry).name, model=args.model,
                              benchmark=stored_benchmark_name(args.benchmark))
        model, benchmark = chosen["model"], chosen["benchmark"]
        records = list(store.iter_generations(model=model, benchmark=benchmark,
                                              run=current_run(model, registry)))  # an import's current version
        if not records:
            raise UserError(f"no stored generations of {model} on {benchmark} in {store_path}; run "
                            f"`r1lib generate --model {model} --benchmark {args.benchmark}` first (or pass --store)")
        verdicts = judge_records(judge, records, args.channel, store, progress=not args.no_progress)
    failed = [r.error for r in records if not r.ok]
    print(summary(judge, verdicts, f"{model} × {benchmark}", args.channel, failed_generations=failed))
    return 1 if any(v.error for v in verdicts) else 0


def judge_file(judge: Judge, path: Path, args: argparse.Namespace) -> int:
    """Judge the rows of an external JSONL file and write one verdict line per row."""
    rows = read_rows(path)
    output = output_file(args.output or path.with_name(f"{path.stem}.verdicts.jsonl"), "--output")
    records = [external_record(row, path) for row in rows]
    store_path = Path(args.store) if args.store else Settings.load().runs_dir / "external.sqlite"
    with Store(store_path) as store:
        for record in records:
            store.put_generation(record)
        by_key = {v.gen_key: v for v in judge_records(judge, records, args.channel, store,
                                                      progress=not args.no_progress)}
    verdicts = [by_key[record.key] for record in records]
    with output.open("w", encoding="utf-8") as out:
        for row, verdict in zip(rows, verdicts):
            line = {"id": row["id"], **{f: getattr(verdict, f) for f in OUTPUT_FIELDS[1:]}}
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(summary(judge, verdicts, str(path), args.channel))
    print(f"wrote {len(rows)} verdicts to {output}")
    return 1 if any(v.error for v in verdicts) else 0


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of an external JSONL file, checked: a malformed line raises naming its number."""
    if not path.is_file():
        raise UserError(f"input file {path} does not exist; check the path")
    rows: list[dict[str, Any]] = []
    first_line: dict[str, int] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{path} line {number}: not valid JSON ({exc.msg}); each line must be one "
                                'JSON object like {"id": "1", "prompt": "...", "response": "..."}') from None
            rows.append(check_row(row, path, number))
            row_id = rows[-1]["id"]
            if row_id in first_line:
                raise UserError(f"{path} line {number}: id {row_id!r} already used on line {first_line[row_id]}; "
                                "ids must be unique")
            first_line[row_id] = number
    if not rows:
        raise UserError(f"{path} holds no rows; expected JSON lines with id, prompt and response")
    return rows


def check_row(row: Any, path: Path, number: int) -> dict[str, Any]:
    """One external row with a string id, prompt, response and optional thinking."""
    where = f"{path} line {number}"
    if not isinstance(row, dict):
        raise UserError(f"{where}: expected a JSON object with id, prompt and response")
    missing = [key for key in ("id", "prompt", "response") if key not in row]
    if missing:
        raise UserError(f"{where}: missing field(s) {', '.join(missing)}; every line needs id, prompt and response")
    if not isinstance(row["id"], (str, int)) or isinstance(row["id"], bool):
        raise UserError(f"{where}: id must be a string or an integer")
    for key in ("prompt", "response", "thinking"):
        if row.get(key) is not None and not isinstance(row[key], str):
            raise UserError(f"{where}: {key} must be a string")
    if row["prompt"] is None or row["response"] is None:
        raise UserError(f"{where}: prompt and response must be strings (use \"\" for an empty response)")
    return {"id": str(row["id"]), "prompt": row["prompt"], "response": row["response"],
            "thinking": row.get("thinking")}


def external_record(row: dict[str, Any], path: Path) -> GenerationRecord:
    """A generation record for an external row, keyed by its content (same content, same verdicts)."""
    messages = [{"role": "user", "content": row["prompt"]}]
    config = {"source": EXTERNAL_MODEL, "thinking": row["thinking"], "response": row["response"]}
    return GenerationRecord(
        key=record_key(config, messages, 0), model=EXTERNAL_MODEL, benchmark=f"{EXTERNAL_MODEL}:{path.stem}",
        prompt_id=row["id"], sample=0, messages=messages, config={"source": EXTERNAL_MODEL},
        raw_text=row["response"], thinking=row["thinking"], answer=row["response"],
        meta={"source": EXTERNAL_MODEL, "file": str(path)})


def summary(judge: Judge, verdicts: list[Verdict], what: str, channel: str, *,
            failed_generations: Sequence[str | None] = ()) -> str:
    """Counts per label, unparsed answers, empty channels, failed judge calls (and the errors of failed
    generations), with the causes of the failures (count and first message of each)."""
    errors = sum(v.error is not None for v in verdicts)
    unparsed = sum(not v.parsed_ok and v.error is None for v in verdicts)
    labels = Counter(v.label for v in verdicts if v.parsed_ok and v.label != NO_OUTPUT)
    lines = [f"{judge.name} (version {judge.version}) on {what}, channel {channel}: {len(verdicts)} verdicts"]
    shown = [*judge.labels, *sorted(set(labels) - set(judge.labels))]
    lines += [f"  {label:24s} {labels.get(label, 0):6d}" for label in shown]
    lines += [f"  {NO_OUTPUT + ' (empty channel)':24s} {sum(v.label == NO_OUTPUT for v in verdicts):6d}",
              f"  {'unparsed':24s} {unparsed:6d}", f"  {'judge errors':24s} {errors:6d}"]
    if failed_generations:
        lines.append(f"  {'failed generations':24s} {len(failed_generations):6d} (nothing to judge), by cause:")
        lines += cause_lines(failure_causes(failed_generations), indent="    ")
    if errors:
        lines.append("  judge errors by cause (count × first message); re-run the same command to retry them:")
        lines += cause_lines(failure_causes(v.error for v in verdicts), indent="    ")
    return "\n".join(lines)


def judge_listing() -> str:
    """``r1lib judges``: every registered judge with its labels (least safe first), safe labels, judge
    model and protocol source (as built with its default judge model, since some judges read their
    protocol from pinned upstream files)."""
    blocks = []
    for name, cls in sorted(judges().items()):
        try:
            protocol: Protocol | None = get_judge(name).protocol
        except UserError as exc:
            protocol = next((vars(k)["protocol"] for k in cls.__mro__ if k is not Judge and "protocol" in vars(k)),
                            None)
            failure = str(exc).split("; ")[0]  # the problem; the fix is `r1lib data fetch`
        model = getattr(cls, "default_judge_model", None) if issubclass(cls, LLMJudge) else None
        source = (f"{protocol.source} (paper protocol: {'yes' if protocol.paper else 'no'})" if protocol
                  else f"read from pinned upstream files, not available here ({failure}; see `r1lib data fetch`)")
        blocks.append("\n".join([
            f"{name}  ({'judge model: ' + model + ' by default' if model else 'no judge model by default'})",
            f"  labels (least safe first): {', '.join(cls.labels) or '-'}",
            f"  safe labels:               {', '.join(sorted(cls.safe_labels)) or '- (scores, not labels)'}",
            f"  protocol:                  {source}"]))
    return "\n".join(blocks)
