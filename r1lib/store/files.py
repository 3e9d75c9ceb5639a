"""Writing a frame of records to a file: JSON Lines, Parquet or CSV, chosen by name; the export formats."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from r1lib.core.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

#: Formats a frame is written in.
FRAME_FORMATS = ("jsonl", "parquet", "csv")
#: Formats of `r1lib export`: a frame, or Inspect eval logs (:mod:`r1lib.store.inspect_export`).
EXPORT_FORMATS = (*FRAME_FORMATS, "inspect")


def check_format(fmt: str, formats: tuple[str, ...] = EXPORT_FORMATS) -> None:
    """Raise a UserError unless ``fmt`` is one of ``formats`` (by default :data:`EXPORT_FORMATS`)."""
    if fmt not in formats:
        raise UserError(f"unknown export format {fmt!r}; use one of {', '.join(formats)}")


def write_frame(frame: pd.DataFrame, fmt: str, output: str | Path) -> Path:
    """Write ``frame`` as jsonl (one JSON object per line, UTF-8), parquet or csv; returns the path."""
    check_format(fmt, FRAME_FORMATS)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        frame.to_json(output, orient="records", lines=True, force_ascii=False)
    elif fmt == "parquet":
        frame.to_parquet(output, index=False)
    else:
        frame.to_csv(output, index=False)
    return output
