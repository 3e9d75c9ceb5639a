"""The ``imported/<NAME>`` benchmarks: the prompts of an import made without ``--benchmark``.

:func:`register_imports` (called by :func:`r1lib.benchmarks.registry.benchmarks`, like the plugins)
registers one benchmark per import folder whose manifest names no benchmark. Its items are the
rows' conversations, with the rows' ids and categories (every row, also those without an output:
the import's model answers them ``not_recorded``); its judge is the manifest's ``judge``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from r1lib.benchmarks.base import Item
from r1lib.benchmarks.imported.folder import MODEL_PREFIX, OUTPUTS, find_folder, folders, read_manifest, read_rows
from r1lib.benchmarks.sources import DataFiles
from r1lib.benchmarks.spec import REGISTERED, BenchmarkSpec, Loader, register
from r1lib.config.settings import Settings


def benchmark_name(name: str) -> str:
    """The benchmark of an import's own prompts: ``imported/NAME``."""
    return f"{MODEL_PREFIX}{name}"


def items_of(name: str, rows: list[dict[str, Any]], version: str) -> list[Item]:
    """The items of an import's rows, one per id (its first row; see the module docstring)."""
    first: dict[str, dict[str, Any]] = {}
    for row in rows:
        first.setdefault(row["id"], row)
    return [Item(benchmark=benchmark_name(name), id=row["id"], messages=row["messages"], category=row["category"],
                 meta={"source": f"import {name}@{version}", "row": row["row"], "imported": row["meta"]})
            for row in first.values()]


def _loader(manifest: dict[str, Any], folder: Path) -> Loader:
    def load(files: DataFiles, split: str | None) -> list[Item]:
        return items_of(manifest["name"], read_rows(folder / OUTPUTS), manifest["version"])
    return load


def register_imports(settings: Settings | None = None) -> None:
    """Register the benchmark of every import folder without a ``benchmark`` (see the module docstring);
    the benchmarks of imports that are gone, or now answer a registered benchmark, are dropped."""
    current = [m for m in map(read_manifest, folders(settings)) if not m.get("benchmark")]
    names = {benchmark_name(m["name"]) for m in current}
    for stale in [n for n, spec in REGISTERED.items() if spec.load.__module__ == __name__ and n not in names]:
        del REGISTERED[stale]
    for manifest in current:
        folder = find_folder(manifest["name"], settings)
        register(BenchmarkSpec(
            name=benchmark_name(manifest["name"]), title=f"prompts of the import {manifest['name']}",
            load=_loader(manifest, folder), license="as the imported source's",
            category_fields=tuple(manifest["mapping"].get("category") or ()),
            stratify_by=tuple(manifest["mapping"].get("category") or ()), judge=manifest["judge"],
            notes=f"not in the paper; imported from {manifest['source']} (version {manifest['version']})"))
