"""Read a source file into normalised rows (:mod:`.rows`): the format from its suffix or an option,
the tabular readers, and the dispatch to the Inspect-log and lm-evaluation-harness readers.

Formats: ``jsonl`` (one JSON object per line), ``json`` (a list of objects, or an object with one
list of objects), ``csv`` (every cell read as text), ``parquet``, ``hf`` (a folder written by
``datasets.save_to_disk``, read with ``datasets.load_from_disk``, or data files — parquet, json,
jsonl, csv, arrow — read with ``datasets.load_dataset``; ``datasets`` is in the ``test`` extra and
imported only here), ``inspect`` (an Inspect ``.eval`` log or its ``.json`` form) and ``lm-eval``
(lm-evaluation-harness ``samples_*.jsonl``). The last two are read by the modules
``r1lib.benchmarks.imported.inspect_log`` and ``lm_eval_samples`` and return normalised rows
themselves (the field options do not apply to them).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import tempfile
from pathlib import Path
from typing import Any

from r1lib.benchmarks.imported.rows import FieldMapping, check_rows
from r1lib.core.errors import UserError

FORMATS = ("auto", "jsonl", "json", "csv", "parquet", "hf", "inspect", "lm-eval")
#: Formats read by a module of their own: format -> (module under r1lib.benchmarks.imported, function).
READERS = {"inspect": ("inspect_log", "read_inspect_log"), "lm-eval": ("lm_eval_samples", "read_lm_eval_samples")}
_SUFFIXES = {".jsonl": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet", ".eval": "inspect",
             ".arrow": "hf"}
_HF_BUILDERS = {".parquet": "parquet", ".json": "json", ".jsonl": "json", ".csv": "csv", ".arrow": "arrow"}
_SAVED_DATASET = ("dataset_info.json", "state.json", "dataset_dict.json")


def detect_format(path: Path) -> str:
    """The format of ``path`` from its suffix or folder (see the module docstring)."""
    if path.is_dir():
        return "hf"
    if path.name.startswith("samples_") and path.suffix == ".jsonl":
        return "lm-eval"
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise UserError(f"cannot tell the format of {path.name} from its suffix; give --format "
                        f"({', '.join(FORMATS[1:])})")
    if fmt == "json" and _inspect_shaped(path):
        return "inspect"
    return fmt


def _inspect_shaped(path: Path) -> bool:
    """Whether a JSON file is an Inspect log (an object with ``eval`` and ``samples``)."""
    data = _json(path)
    return isinstance(data, dict) and "eval" in data and "samples" in data


def read_rows(path: Path, fmt: str, mapping: FieldMapping) -> list[dict[str, Any]]:
    """Normalised, checked rows of ``path`` read as ``fmt`` (``auto``: :func:`detect_format`)."""
    if not path.exists():
        raise UserError(f"{path} does not exist; check the path")
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt in READERS:
        module, function = READERS[fmt]
        try:
            reader = getattr(importlib.import_module(f"r1lib.benchmarks.imported.{module}"), function)
        except (ModuleNotFoundError, AttributeError):
            raise UserError(f"format {fmt} not available: r1lib.benchmarks.imported.{module}.{function} is not "
                            "in this installation") from None
        return check_rows(reader(path), path.name)
    return check_rows(mapping.rows(read_records(path, fmt), path.name), path.name)


def read_records(path: Path, fmt: str) -> list[dict[str, Any]]:
    """The records of a tabular source as dicts (``fmt`` one of jsonl, json, csv, parquet, hf)."""
    if fmt == "jsonl":
        records = _jsonl(path)
    elif fmt == "json":
        records = _json_records(path)
    elif fmt in ("csv", "parquet"):
        records = _frame(path, fmt)
    elif fmt == "hf":
        records = _hf(path)
    else:
        raise UserError(f"format {fmt!r} is not a tabular format")
    bad = next((i for i, r in enumerate(records) if not isinstance(r, dict)), None)
    if bad is not None:
        raise UserError(f"{path.name} row {bad} is not an object with fields; each row must map field -> value")
    return records


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not valid JSON ({exc}); give --format if it is another format") from None


def _json_records(path: Path) -> list[Any]:
    data = _json(path)
    if isinstance(data, dict):
        lists = [value for value in data.values() if isinstance(value, list)]
        if len(lists) != 1:
            raise UserError(f"{path.name} is a JSON object, not a list of rows; it must hold exactly one list "
                            f"of row objects (keys: {', '.join(data)})")
        data = lists[0]
    if not isinstance(data, list):
        raise UserError(f"{path.name} does not hold a list of rows")
    return data


def _jsonl(path: Path) -> list[Any]:
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise UserError(f"{path.name} line {number}: not valid JSON ({exc.msg}); write one JSON "
                                    "object per line") from None
    return records


def _frame(path: Path, fmt: str) -> list[dict[str, Any]]:
    import pandas as pd  # pandas only for tables: the CLI starts faster without it

    try:
        frame = (pd.read_parquet(path) if fmt == "parquet"
                 else pd.read_csv(path, dtype=str, keep_default_na=False))
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise UserError(f"cannot read {path} as {fmt} ({exc}); give the right --format") from None
    return frame.to_dict("records")


def _hf(path: Path) -> list[dict[str, Any]]:
    try:
        import datasets  # optional (the test extra): only the hf format needs it
    except ImportError:
        raise UserError("--format hf needs the `datasets` package, which is not installed: "
                        "pip install 'datasets>=3,<6' (it is in r1lib's test extra)") from None
    if path.is_dir() and any((path / name).is_file() for name in _SAVED_DATASET):
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            if len(loaded) != 1:
                raise UserError(f"{path} holds the splits {', '.join(loaded)}; save the one split to import "
                                "(dataset_dict['test'].save_to_disk(...))")
            loaded = next(iter(loaded.values()))
        return loaded.to_list()
    files = sorted(p for p in path.iterdir() if p.suffix in _HF_BUILDERS) if path.is_dir() else [path]
    builders = {_HF_BUILDERS.get(p.suffix) for p in files}
    if not files or len(builders) != 1 or None in builders:
        raise UserError(f"{path}: not a saved dataset (no {_SAVED_DATASET[0]}) nor data files of one type "
                        f"({', '.join(_HF_BUILDERS)})")
    with tempfile.TemporaryDirectory() as cache:  # no copy left in the Hugging Face cache
        loaded = datasets.load_dataset(builders.pop(), data_files=[str(p) for p in files], split="train",
                                       cache_dir=cache)
        return loaded.to_list()


def source_sha256(path: Path) -> str:
    """The sha256 of a file, or of a folder's files (relative path and content, in sorted order)."""
    digest = hashlib.sha256()
    if path.is_file():
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path).as_posix()}\0{source_sha256(file)}\n".encode())
    return digest.hexdigest()
