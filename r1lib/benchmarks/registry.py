"""The benchmark registry: load any benchmark's items by name, and describe them all in a table.

``load_items("xstest")`` reads a registered benchmark; ``load_items("jsonl:PATH")`` reads your own
prompts (one JSON object per line: ``id``, ``prompt``, optional ``system``, optional ``messages``
(a chat list that replaces prompt/system), optional ``category`` (a mapping); other keys go to
``meta``). ``limit`` draws a seeded category-stratified sample (see
:func:`r1lib.benchmarks.sampling.stratified_sample`); sampled items record the population size and
seed in ``meta["sample_of"]`` and ``meta["sample_seed"]``.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from r1lib.benchmarks.base import Item
from r1lib.benchmarks.imported.benchmark import register_imports
from r1lib.benchmarks.sampling import stratified_sample
from r1lib.benchmarks.sources import FIXTURE_NOTE, DataFiles
from r1lib.benchmarks.spec import REGISTERED, BenchmarkSpec
from r1lib.config.plugins import load_plugins
from r1lib.config.settings import Settings
from r1lib.core.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

JSONL_PREFIX = "jsonl:"
#: The shipped benchmark modules (each registers its specs when imported): the paper's seven first,
#: then the extras, then the recorded prompt sets. Benchmarks of your own live in a plugin
#: (:mod:`r1lib.config.plugins`); nothing here needs an edit.
SHIPPED = ("airbench", "mitre", "interpreter", "phishing", "xstest", "jailbreak", "prompt_injection", "harmbench",
           "advbench", "strongreject", "recorded_sets")
#: Item meta keys that flag a substitute for the paper's data (shown in ``benchmark_table``).
FLAG_KEYS = ("fixture", "subset", "source")


def benchmarks() -> dict[str, BenchmarkSpec]:
    """Every registered benchmark: the shipped ones in :data:`SHIPPED` order, then the plugins' ones and
    the ``imported/NAME`` ones of the import folders (:mod:`r1lib.benchmarks.imported.benchmark`)."""
    for module in SHIPPED:
        importlib.import_module(f"r1lib.benchmarks.{module}")
    load_plugins()
    register_imports()
    rank = {f"r1lib.benchmarks.{module}": i for i, module in enumerate(SHIPPED)}
    return dict(sorted(REGISTERED.items(), key=lambda item: rank.get(item[1].load.__module__, len(rank))))


def benchmark_names() -> list[str]:
    """The names of every registered benchmark (see :func:`benchmarks`)."""
    return list(benchmarks())


def get_benchmark(name: str) -> BenchmarkSpec:
    """The spec of a registered benchmark; unknown names list the known ones."""
    known = benchmarks()
    if name not in known:
        raise UserError(f"unknown benchmark {name!r}; known benchmarks: {', '.join(known)} "
                        f"(or {JSONL_PREFIX}PATH for your own prompts; your own benchmark module goes in "
                        "R1LIB_PLUGINS)")
    return known[name]


def solver_of(name: str) -> str:
    """The solver of a registered benchmark (``single_turn`` for ``jsonl:PATH`` prompts)."""
    return "single_turn" if name.startswith(JSONL_PREFIX) else get_benchmark(name).solver


def stored_benchmark_name(argument: str) -> str:
    """The benchmark name records are stored under for a ``--benchmark`` argument.

    ``jsonl:PATH`` becomes ``jsonl:<file stem>`` (so ``jsonl:data/p.jsonl``, ``jsonl:/abs/data/p.jsonl`` and
    the stored name ``jsonl:p`` itself all name the same records); every other name is already the
    stored name. Every command that takes ``--benchmark`` goes through this function.
    """
    if argument.startswith(JSONL_PREFIX):
        return f"{JSONL_PREFIX}{Path(argument[len(JSONL_PREFIX):]).expanduser().stem}"
    return argument


def load_items(name: str, *, limit: int | None = None, seed: int = 0, split: str | None = None,
               settings: Settings | None = None) -> list[Item]:
    """Items of a registered benchmark (or ``jsonl:PATH``), optionally a stratified sample of ``limit``."""
    if limit is not None and limit < 1:
        raise UserError(f"limit must be a positive number of items, not {limit}")
    if name.startswith(JSONL_PREFIX):
        if split is not None:
            raise UserError(f"{name}: a JSONL file has no splits; leave split unset")
        items, by = read_jsonl(Path(name[len(JSONL_PREFIX):])), None
    else:
        spec = get_benchmark(name)
        if split is not None and split not in spec.splits:
            choices = ", ".join(spec.splits) if spec.splits else "none (leave split unset)"
            raise UserError(f"benchmark {name!r} has no split {split!r}; splits: {choices}")
        items, by = load_spec(spec, DataFiles(settings), split), spec.stratify_by
    if limit is None or limit >= len(items):
        return items
    sample = stratified_sample(items, limit, seed=seed, by=by)
    return [replace(item, meta={**item.meta, "sample_of": len(items), "sample_seed": seed}) for item in sample]


def load_spec(spec: BenchmarkSpec, files: DataFiles, split: str | None) -> list[Item]:
    """A benchmark's items for ``split``; in fixture mode each says so in ``meta["fixture"]``."""
    items = spec.load(files, split)
    if files.fixtures is None:
        return items
    return [replace(item, meta={**item.meta, "fixture": FIXTURE_NOTE}) for item in items]


def read_jsonl(path: Path) -> list[Item]:
    """Items from a JSONL file of your own prompts (see the module docstring)."""
    if not path.is_file():
        raise UserError(f"JSONL file {path} does not exist; check the path after '{JSONL_PREFIX}'")
    benchmark = stored_benchmark_name(f"{JSONL_PREFIX}{path}")
    items: list[Item] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path} line {number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{where}: not valid JSON ({exc.msg}); write one JSON object per line") from None
            item = _jsonl_item(row, benchmark, where)
            if item.id in seen:
                raise UserError(f"{where}: id {item.id!r} appears twice; give every line a unique id")
            seen.add(item.id)
            items.append(item)
    if not items:
        raise UserError(f"JSONL file {path} has no prompts; write one JSON object per line with 'id' and 'prompt'")
    return items


def _jsonl_item(row: Any, benchmark: str, where: str) -> Item:
    if not isinstance(row, dict):
        raise UserError(f"{where}: expected a JSON object with 'id' and 'prompt', got {type(row).__name__}")
    if "id" not in row or not isinstance(row["id"], (str, int)):
        raise UserError(f"{where}: missing 'id' (a string or number); add one to every line")
    messages = row.get("messages")
    if messages is not None:
        valid = isinstance(messages, list) and messages and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in messages)
        if not valid:
            raise UserError(f"{where}: 'messages' must be a non-empty list of {{'role': ..., 'content': ...}}")
    else:
        prompt, system = row.get("prompt"), row.get("system")
        if not isinstance(prompt, str) or not prompt.strip():
            raise UserError(f"{where}: missing 'prompt' (a non-empty string) or 'messages'")
        if system is not None and not isinstance(system, str):
            raise UserError(f"{where}: 'system' must be a string")
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    category = row.get("category", {})
    if not isinstance(category, dict):
        raise UserError(f"{where}: 'category' must be a mapping of field to value, e.g. {{\"type\": \"x\"}}")
    meta = {k: v for k, v in row.items() if k not in ("id", "prompt", "system", "messages", "category")}
    return Item(benchmark=benchmark, id=str(row["id"]), messages=messages,
                category={str(k): str(v) for k, v in category.items()}, meta=meta)


def benchmark_table(settings: Settings | None = None) -> pd.DataFrame:
    """One row per benchmark: items available now (default split), paper size, flags, license, source.

    Never downloads: a benchmark whose files are missing shows 0 items and how to fetch them.
    """
    import pandas as pd  # pandas only for this table: the CLI starts faster without it

    files = DataFiles(settings, download=False)
    rows = []
    for spec in benchmarks().values():
        try:
            items = load_spec(spec, files, None)
        except UserError:
            items, flags = [], f"missing: run `r1lib data fetch {spec.name}`"
        else:
            flags = ", ".join(sorted({f"{key}={item.meta[key]}" for item in items
                                      for key in FLAG_KEYS if key in item.meta}))
        rows.append({
            "name": spec.name, "items": len(items),
            "paper_size": spec.paper_size if spec.paper_size is not None else "not in paper",
            "flags": flags or "-", "splits": ", ".join(spec.splits) or "-", "license": spec.license,
            "source": _source_summary(spec, files), "notes": spec.notes or "-"})
    return pd.DataFrame(rows)


def _source_summary(spec: BenchmarkSpec, files: DataFiles) -> str:
    """The upstream of a benchmark's files: one citation, or repo@commit and a file count (fixtures say so)."""
    if not spec.files:
        return f"no upstream files (loaded by {spec.load.__module__})"
    first = spec.files[0]
    if len(spec.files) > 1 and all((f.host, f.repo, f.revision) == (first.host, first.repo, first.revision)
                                   for f in spec.files):
        return files.marked(f"{first.host}:{first.repo}@{(first.revision or 'main')[:12]} ({len(spec.files)} files)")
    return "; ".join(files.cite(f) for f in spec.files)
