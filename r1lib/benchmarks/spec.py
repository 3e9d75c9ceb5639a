"""What a benchmark declares (:class:`BenchmarkSpec`) and the small helpers every loader shares."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from r1lib.benchmarks.base import Item
from r1lib.benchmarks.sources import DataFiles, FileSource
from r1lib.core.errors import UserError
from r1lib.core.records import Messages

if TYPE_CHECKING:
    import pandas as pd

#: Seed of the fixed paper-sized subsets (MITRE 377, phishing 200); independent of ``load_items(seed=)``.
PAPER_SUBSET_SEED = 0

Loader = Callable[[DataFiles, "str | None"], list[Item]]


@dataclass(frozen=True)
class BenchmarkSpec:
    """A registered benchmark: where its files come from, its sizes, categories and loader.

    ``load`` turns the files into items for a split (``None`` = the default, see ``splits``).
    ``files`` are always needed (none for a benchmark whose loader reads its own data);
    ``preferred`` are the paper's files that replace a fallback when they are present locally
    (e.g. the full AIR-Bench set instead of the mirror's subset). ``stratify_by`` names the category
    fields ``--limit`` samples across. ``solver`` names how an item becomes model calls
    (:data:`r1lib.generation.solvers.SOLVERS`: ``single_turn`` or a dialogue) and ``judge`` the judge its
    outputs are scored with unless another is named. ``runs_item(model config, item)`` says which
    items a model is sent, for a set whose items belong to one recorded run each (None: every item
    to every model). A module makes its benchmark known with :func:`register`.
    """

    name: str
    title: str
    load: Loader
    paper_size: int | None = None
    license: str = "not stated"
    category_fields: tuple[str, ...] = ()
    stratify_by: tuple[str, ...] = ()
    files: tuple[FileSource, ...] = ()
    splits: tuple[str, ...] = ()
    preferred: tuple[FileSource, ...] = ()
    notes: str = ""
    solver: str = "single_turn"
    judge: str | None = None
    runs_item: Callable[[Any, Item], bool] | None = None

    def items_for(self, config: Any, items: list[Item]) -> list[Item]:
        """The ``items`` a model (its :class:`~r1lib.config.settings.ModelConfig`) is sent (see ``runs_item``)."""
        return items if self.runs_item is None else [item for item in items if self.runs_item(config, item)]


#: Every registered benchmark by name, in the order registered; read it through
#: :func:`r1lib.benchmarks.registry.benchmarks`, which also loads the shipped modules and plugins.
REGISTERED: dict[str, BenchmarkSpec] = {}


def benchmark(**fields: Any) -> Callable[[Loader], Loader]:
    """Function decorator on a benchmark's loader: registers ``BenchmarkSpec(load=loader, **fields)``::

        @benchmark(name="my-bench", title="My prompts", category_fields=("area",), judge="jailbreak")
        def load(files: DataFiles, split: str | None) -> list[Item]: ...

    The loader is returned unchanged; its spec is :func:`r1lib.benchmarks.registry.get_benchmark`'s.
    """
    def add(load: Loader) -> Loader:
        register(BenchmarkSpec(load=load, **fields))
        return load
    return add


def register(spec: BenchmarkSpec) -> BenchmarkSpec:
    """Make a benchmark known by its name (what :func:`benchmark` does with the spec it builds).

    Registering the same name again from the same module (a re-imported module) replaces the spec;
    a name another module registered already is a :class:`UserError`.
    """
    known = REGISTERED.get(spec.name)
    if known is not None and known.load.__module__ != spec.load.__module__:
        raise UserError(f"benchmark {spec.name!r} of {spec.load.__module__} is already registered by "
                        f"{known.load.__module__}; give yours another name")
    REGISTERED[spec.name] = spec
    return spec


def user_turn(text: str) -> Messages:
    """A single-turn conversation: one user message."""
    return [{"role": "user", "content": text}]


def read_json(source: FileSource, path: Path) -> Any:
    """Parse a JSON file; a parse error names the file and how to fix it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{source.dataset}: {path} is not valid JSON ({exc}); delete it and run "
                        f"`r1lib data fetch {source.benchmark}`") from None


def read_table(source: FileSource, path: Path, columns: Iterable[str]) -> pd.DataFrame:
    """Read a CSV or Parquet file as strings (empty cells = ""), checking that ``columns`` exist."""
    import pandas as pd  # here, not at the top: JSON benchmarks and API runs start 1 s faster without it

    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise UserError(f"{source.dataset}: cannot read {path} ({exc}); delete it and run "
                        f"`r1lib data fetch {source.benchmark}`") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UserError(f"{source.dataset}: {path} lacks the columns {missing} (it has "
                        f"{list(frame.columns)}); it is not the pinned file: fetch it again")
    return frame


def text_id(*parts: str) -> str:
    """A short stable id from text (used where a file has no id column)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:10]


def unique_ids(items: list[Item]) -> list[Item]:
    """Suffix ``-2``, ``-3`` ... to repeated ids so every item id is unique (first one unchanged)."""
    seen: dict[str, int] = {}
    result = []
    for item in items:
        count = seen.get(item.id, 0) + 1
        seen[item.id] = count
        result.append(item if count == 1 else replace(item, id=f"{item.id}-{count}"))
    return result

