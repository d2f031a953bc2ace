"""What a tuned model takes, checked in one place: raw rows as users hold them (a NumPy array of
any real dtype, a DataFrame, a list of rows; images also as (n, C, H, W), or (n, H, W) with one
channel) turned into float64 (n, features). The tuned model (objectives.bundle, the scikit-learn
pipeline of estimator.py) and `tuner predict` all call `as_rows`, so they accept and refuse the
same inputs; every refusal is one DataError line. Nothing is dropped or added: rows in == rows
out. A column is dropped only by name: the model's own target, or pandas' unnamed index.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from objectives.errors import DataError

REAL_KINDS = "biuf"  # bool, signed and unsigned integers, floats


@dataclass(frozen=True)
class InputShape:
    """What a model takes: `features` values per row (0: not known); images (C, H, W) with
    pixel values up to `pixel_max` (None for table models); the names of a table's feature
    columns and of its target (the user's own tables: the header of their CSV)."""

    features: int
    image_shape: tuple[int, int, int] | None = None
    pixel_max: float | None = None
    feature_names: tuple[str, ...] = ()
    target: str = ""


@dataclass(frozen=True)
class Columns:
    """How named columns map onto the model's: `order[j]` is the position of the model's j-th
    feature among them (None: take them as they are); `kind` says how they were read."""

    order: tuple[int, ...] | None
    kind: str  # "the model's columns[, reordered]", "pandas' column numbers", "names, ..."
    dropped: tuple[str, ...] = ()  # notes: columns left out (the target, pandas' index)


def match_columns(names: Sequence[str], shape: InputShape, where: str = "The input") -> Columns:
    """Map a header (or a DataFrame's column names) onto the model's columns. Pandas' default
    names 0..n-1 and any names of a model that has none are taken by position; the model's own
    names in any order are reordered (its target and an unnamed first column, pandas' index,
    dropped); any other names are a DataError naming the missing and unexpected ones."""
    cells = [str(c).strip() for c in names]
    dropped: list[str] = []
    keep = list(range(len(cells)))
    if len(cells) > 1 and cells[0] in ("", "Unnamed: 0") and _known(cells[1:], shape):
        keep, dropped = keep[1:], ["pandas' index column"]
    if shape.target and shape.target in cells and shape.target not in shape.feature_names:
        keep = [i for i in keep if cells[i] != shape.target]
        dropped.append(f"the target column '{shape.target}'")
    rest = [cells[i] for i in keep]
    if rest == [str(i) for i in range(len(rest))]:
        return Columns(tuple(keep) if dropped else None, "pandas' column numbers",
                       tuple(dropped))
    names_ = list(shape.feature_names)
    if not names_:
        return Columns(tuple(keep) if dropped else None, "names, taken by position",
                       tuple(dropped))
    if sorted(rest) == sorted(names_) and len(set(rest)) == len(rest):
        order = tuple(keep[rest.index(name)] for name in names_)
        kind = "the model's columns" + (", reordered" if rest != names_ else "")
        return Columns(order if order != tuple(range(len(cells))) else None, kind,
                       tuple(dropped))
    missing = [n for n in names_ if n not in rest]
    unexpected = [n for n in rest if n not in names_]
    parts = ([f"missing {', '.join(repr(n) for n in missing)}"] if missing else []) + \
        ([f"unexpected {', '.join(repr(n) for n in unexpected)}"] if unexpected else []) + \
        ([] if missing or unexpected else ["a column named twice"])
    raise DataError(f"{where} names columns other than the model's ({'; '.join(parts)}); the "
                    f"model takes {', '.join(names_)}.")


def _known(cells: list[str], shape: InputShape) -> bool:
    """True when `cells` are pandas' column numbers or the model's names (with its target)."""
    names = set(shape.feature_names) | ({shape.target} if shape.target else set())
    return cells == [str(i) for i in range(len(cells))] or (bool(names) and set(cells) <= names)


def is_frame(X: Any) -> bool:
    """A pandas DataFrame, by its duck type (objectives does not import pandas)."""
    return hasattr(X, "columns") and hasattr(X, "dtypes") and hasattr(X, "to_numpy")


def frame_values(X: Any, shape: InputShape, where: str = "The input") -> tuple[np.ndarray,
                                                                               Columns]:
    """A DataFrame's numbers in the model's column order (see match_columns), float64 with NaN
    for missing values, and how its columns were read."""
    columns = list(X.columns)
    columns_ = (Columns(None, "pandas' column numbers")
                if columns == list(range(len(columns))) else match_columns(columns, shape, where))
    if columns_.order is not None:
        X = X.iloc[:, list(columns_.order)]
    for name, dtype in zip(X.columns, X.dtypes, strict=True):
        if getattr(dtype, "kind", "O") not in REAL_KINDS:
            raise DataError(f"{where}: column {str(name)!r} holds {dtype} values; the model "
                            f"takes numbers.")
    return X.to_numpy(dtype=np.float64, na_value=np.nan), columns_


def as_rows(X: Any, shape: InputShape, where: str = "The input") -> np.ndarray:
    """`X` as float64 rows (n, features): any real dtype, a DataFrame (see frame_values), a list
    of rows, images (n, C, H, W) or (n, H, W); one row as a 1-D array of `features` values.
    DataError for anything else: no rows, other widths, text, NaN or infinite values."""
    if is_frame(X):
        X = frame_values(X, shape, where)[0]
    array = _numbers(X, where)
    array = _fit_shape(array, shape, where)
    if len(array) == 0:
        raise DataError(f"{where} holds no rows; the model takes at least one row"
                        + (f" of {shape.features} values." if shape.features else "."))
    finite = np.isfinite(array)
    if not finite.all():
        row, column = (int(i) for i in np.argwhere(~finite)[0])
        raise DataError(f"{where} holds missing, NaN or infinite values (first at row "
                        f"{row + 1}, column {column + 1}); the model takes finite numbers.")
    return np.ascontiguousarray(array, dtype=np.float64)


def _numbers(X: Any, where: str) -> np.ndarray:
    try:
        array = np.asarray(X)
    except ValueError:  # rows of different lengths
        raise DataError(f"{where}: its rows have different lengths.") from None
    if array.dtype.kind == "O" and all(v is None or isinstance(v, numbers.Real)
                                       for v in array.flat):  # JSON null: missing
        array = np.array([np.nan if v is None else v for v in array.flat],
                         dtype=np.float64).reshape(array.shape)
    if array.dtype.kind not in REAL_KINDS:
        what = {"U": "text", "S": "bytes", "O": "non-numeric"}.get(array.dtype.kind,
                                                                  str(array.dtype))
        raise DataError(f"{where} holds {what} values; the model takes numbers (any integer, "
                        f"float or bool dtype).")
    return array.astype(np.float64, copy=False)


def _fit_shape(array: np.ndarray, shape: InputShape, where: str) -> np.ndarray:
    """(n, features) from rows, one 1-D row or images in the model's (C, H, W) layout."""
    d = shape.features
    if not d:  # a model that does not say its width
        return array if array.ndim == 2 else array.reshape(len(array), -1)
    if array.ndim == 1 and (array.size == d or d == 1):
        return array.reshape(-1, d)
    image = shape.image_shape
    images = [tuple(image)] + ([tuple(image[1:])] if image[0] == 1 else []) if image else []
    if array.ndim > 2 and array.shape[1:] in images:
        return array.reshape(len(array), d)
    if array.ndim != 2 or array.shape[1] != d:
        also = (f" or images of shape (n, {', '.join(map(str, image))})"
                + (f" or (n, {image[1]}, {image[2]})" if image[0] == 1 else "")) if image else ""
        raise DataError(f"{where} has shape {array.shape}; the model takes rows of {d} values "
                        f"(shape (n, {d})){also}.")
    return array


class RawRows:
    """`scale(as_rows(X))`: raw rows (any input as_rows takes) as the scaled rows a model was
    trained on; the first step of the user's estimator on raw rows (estimator.on_raw_rows)."""

    def __init__(self, shape: InputShape, scale: Any) -> None:
        self.shape = shape
        self.scale = scale

    def __call__(self, X: Any) -> np.ndarray:
        return np.asarray(self.scale(as_rows(X, self.shape)))
