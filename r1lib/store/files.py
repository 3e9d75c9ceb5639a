"""Writing a frame of records to a file: JSON Lines, Parquet or CSV, chosen by name."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from r1lib.core.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

EXPORT_FORMATS = ("jsonl", "parquet", "csv")


def check_format(fmt: str) -> None:
    """Raise a UserError unless ``fmt`` is one of :data:`EXPORT_FORMATS`."""
    if fmt not in EXPORT_FORMATS:
        raise UserError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")


def write_frame(frame: pd.DataFrame, fmt: str, output: str | Path) -> Path:
    """Write ``frame`` as jsonl (one JSON object per line, UTF-8), parquet or csv; returns the path."""
    check_format(fmt)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        frame.to_json(output, orient="records", lines=True, force_ascii=False)
    elif fmt == "parquet":
        frame.to_parquet(output, index=False)
    else:
        frame.to_csv(output, index=False)
    return output
