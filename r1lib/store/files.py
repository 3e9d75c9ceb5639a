"""Writing a frame of records to a file (JSON Lines, Parquet or CSV, chosen by name), the export formats,
and the checks of every output path a command writes (:func:`output_file`, :func:`output_dir`)."""

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
    output = output_file(output)
    if fmt == "jsonl":
        frame.to_json(output, orient="records", lines=True, force_ascii=False)
    elif fmt == "parquet":
        frame.to_parquet(output, index=False)
    else:
        frame.to_csv(output, index=False)
    return output


def output_file(path: str | Path, what: str = "output file") -> Path:
    """``path`` ready to be written as a file: its missing parent folders are created; a path that is
    a folder, or whose parent is a file, is refused with a UserError naming the fix."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{what} {path} is a folder; give a file path inside it, e.g. {path / 'NAME'}")
    _make_folder(path.parent, what, path)
    return path


def output_dir(path: str | Path, what: str = "output folder") -> Path:
    """``path`` as a folder, created with its parents when missing; a path that is a file is refused."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{what} {path} is a file, not a folder; give a folder path (it is created when missing)")
    _make_folder(path, what, path)
    return path


def _make_folder(folder: Path, what: str, path: Path) -> None:
    """Create ``folder`` and its parents, turning a file in the way or a permission problem into a UserError."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
        raise UserError(f"{what} {path}: {blocker} is a file, not a folder; choose another path") from None
    except OSError as exc:
        raise UserError(f"{what} {path}: cannot create folder {folder} ({exc.strerror}); "
                        "choose a path you can write to") from None
