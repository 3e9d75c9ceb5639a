"""Input checks shared by the statistics modules: turn user data into clean 1-D arrays or fail loudly.

Missing values are never dropped here: an outcome that is missing is a problem the user must
resolve (filter it out explicitly or fix the verdict), so it raises :class:`UserError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from r1lib.core.errors import UserError


def as_bool_array(values: Any, name: str) -> np.ndarray:
    """``values`` as a 1-D bool array; accepts bools or 0/1, rejects missing or other values."""
    series = _as_series(values, name)
    missing = int(series.isna().sum())
    if missing:
        raise UserError(f"{name} has {missing} missing value(s); drop those rows or resolve them first")
    if not series.isin([True, False]).all():
        raise UserError(f"{name} must hold booleans (True/False or 0/1); map the labels to booleans first")
    return series.astype(bool).to_numpy()


def as_float_array(values: Any, name: str) -> np.ndarray:
    """``values`` as a 1-D float array; rejects missing and non-numeric values."""
    series = _as_series(values, name)
    try:
        array = series.to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{name} must be numeric; convert it before computing statistics ({exc})") from exc
    missing = int(np.isnan(array).sum())
    if missing:
        raise UserError(f"{name} has {missing} missing value(s); drop those rows or resolve them first")
    return array


def as_labels(values: Any, name: str) -> np.ndarray:
    """``values`` as a 1-D object array of labels; rejects missing values."""
    series = _as_series(values, name)
    missing = int(series.isna().sum())
    if missing:
        raise UserError(f"{name} has {missing} missing label(s); drop those rows or resolve them first")
    return series.to_numpy(dtype=object)


def same_length(arrays: Sequence[np.ndarray], names: Sequence[str]) -> None:
    """Raise when the arrays (one per name) do not all have the same length."""
    lengths = {name: len(array) for name, array in zip(names, arrays)}
    if len(set(lengths.values())) > 1:
        raise UserError(f"lengths differ: {lengths}; pass one value per item to each argument")


def check_confidence(confidence: float) -> None:
    """Raise unless 0 < confidence < 1."""
    if not 0 < confidence < 1:
        raise UserError(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence!r}")


def check_n_boot(n_boot: int) -> None:
    """Raise unless the bootstrap has at least 100 resamples."""
    if int(n_boot) < 100:
        raise UserError(f"n_boot must be at least 100 (2000 is usual), got {n_boot!r}")


def require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise when ``frame`` lacks any of ``columns`` (``what`` names the computation)."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise UserError(f"{what} needs column(s) {missing}; the frame has {list(frame.columns)}. "
                        "Use Store.generations_frame() or Store.verdicts_frame(), or add them")


def _as_series(values: Any, name: str) -> pd.Series:
    if np.ndim(values) != 1:
        raise UserError(f"{name} must be one-dimensional (one value per item), got {np.ndim(values)} dimensions")
    return pd.Series(values).reset_index(drop=True)
