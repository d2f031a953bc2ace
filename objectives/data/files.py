"""Readers of the user's own data: a CSV file (header row, numeric features, one target column),
a .npz file, or a "module:function" loader. Every malformed input is one DataError line."""

from __future__ import annotations

import csv
import math
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from objectives.adapters.imports import describe, import_attr
from objectives.data.given import Data, fingerprint
from objectives.errors import ConfigError, DataError
from objectives.rows import is_frame


class Parts:
    """Raw arrays as read: features, targets, an optional test part, feature names and the
    target's name (a CSV's header)."""

    def __init__(self, X: Any, y: Any, X_test: Any = None, y_test: Any = None,
                 names: Sequence[str] = (), target: str = "") -> None:
        self.X, self.y, self.X_test, self.y_test = X, y, X_test, y_test
        self.names = tuple(names)
        self.target = target


def read_csv(path: Path, target: str | None) -> Parts:
    """Features as float64 and the target column's raw text. The file is UTF-8 (a byte-order
    mark is allowed) with commas between fields, as pandas' to_csv writes it; blank lines are
    skipped; every feature cell must be a finite number and every target cell filled in."""
    lines = csv_lines(path)
    if len(lines) < 2:
        raise DataError(f"{path} has no data rows; expected a header row and one row per sample.")
    header, body = [h.strip() for h in lines[0][1]], lines[1:]
    _check_header(path, header)
    name = target if target is not None else header[-1]
    if name not in header:
        raise DataError(f"{path} has no column '{name}' (the target); its columns: "
                        f"{', '.join(header)}.")
    for number, row in body:
        if len(row) != len(header):
            raise DataError(f"{path}: line {number} has {len(row)} fields; the header has "
                            f"{len(header)}.")
    column = header.index(name)
    features = [i for i in range(len(header)) if i != column]
    X = np.empty((len(body), len(features)), np.float64)
    for j, i in enumerate(features):
        for k, (number, row) in enumerate(body):
            X[k, j] = _number(path, header[i], number, row[i])
    y = [row[column].strip() for _, row in body]
    for (number, _), label in zip(body, y, strict=True):
        if label in MISSING:
            raise DataError(f"{path}: line {number}: the target '{name}' is "
                            f"{'blank' if not label else f'missing ({label!r})'}; every row "
                            "needs a target (drop the row or fill it in).")
    return Parts(X, y, names=[header[i] for i in features], target=name)


MISSING = ("", "NA", "N/A", "n/a", "NaN", "nan", "-nan", "null", "NULL", "#N/A", "<NA>")
"""Target cells that mean "no value" (pandas' own missing markers, less None)."""


def csv_lines(path: Path, name: str | None = None) -> list[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank line of a UTF-8 CSV file (a BOM dropped);
    `name` is the file in the messages (default: its path)."""
    name = name or str(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except UnicodeDecodeError as exc:
        raise DataError(f"{name} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at "
                        f"offset {exc.start}); expected a CSV file saved as UTF-8.") from None
    except (OSError, csv.Error) as exc:
        raise DataError(f"{name} cannot be read ({exc}).") from None
    if any("\0" in cell for row in rows for cell in row):
        raise DataError(f"{name} holds NUL bytes; expected a CSV text file, not a binary one.")
    return [(number, row) for number, row in enumerate(rows, start=1) if row]


def _check_header(path: Path, header: list[str]) -> None:
    """At least two named columns, each named once; a header of one column holding ';' or tabs
    is a file with another delimiter."""
    if len(header) < 2:
        other = next((d for d in (";", "\t", "|") if d in header[0]), None)
        found = f"its fields look separated by {other!r}" if other else "it has one column"
        raise DataError(f"{path}: {found}; expected commas between a header row of feature "
                        "columns and a target column (as pandas' to_csv writes it).")
    seen = set()
    for name in header:
        if not name:
            raise DataError(f"{path}: the header row has a blank column name; expected a name "
                            "for every column.")
        if name in seen:
            raise DataError(f"{path}: column '{name}' appears twice in the header row; "
                            "expected each column named once.")
        seen.add(name)


def _number(path: Path, column: str, number: int, cell: str) -> float:
    """A feature cell as a finite float; DataError naming its column and line."""
    try:
        value = float(cell)
    except ValueError:
        what = "blank" if not cell.strip() else f"not numeric (line {number}: {cell!r})"
        where = f" at line {number}" if not cell.strip() else ""
        raise DataError(f"{path}: column '{column}' is {what}{where}; feature columns must "
                        "hold numbers.") from None
    if not math.isfinite(value):
        raise DataError(f"{path}: the features hold NaN or infinite values (first at line "
                        f"{number}, column '{column}': {cell.strip()!r}); expected finite "
                        "numbers in every feature cell.")
    return value


def read_npz(path: Path) -> Parts:
    """X and y, or X_train, y_train, X_test, y_test (no pickled objects)."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise DataError(f"{path} is a single .npy array, not a .npz archive; expected "
                            "np.savez(path, X=features, y=targets).")
        with loaded:
            arrays = {key: loaded[key] for key in loaded.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{path} is not a readable .npz of plain arrays "
                        f"({describe(exc)}).") from None
    return _parts(arrays, str(path))


def _parts(arrays: Mapping[str, Any], where: str) -> Parts:
    if {"X", "y"} <= set(arrays):
        return Parts(arrays["X"], arrays["y"])
    if {"X_train", "y_train", "X_test", "y_test"} <= set(arrays):
        return Parts(arrays["X_train"], arrays["y_train"], arrays["X_test"], arrays["y_test"])
    raise DataError(f"{where} holds {', '.join(sorted(arrays)) or 'nothing'}; expected X and y, "
                    "or X_train, y_train, X_test and y_test.")


def call_loader(ref: str, folder: Path | None) -> Parts:
    """The arrays a "module:function" returns: (X, y), (X_train, y_train, X_test, y_test), or
    a mapping with those keys."""
    try:
        loader = import_attr(ref, folder)
    except ConfigError as exc:
        raise DataError(f"Dataset '{ref}': {exc}.") from None
    try:
        out = loader()
    except SystemExit as exc:
        raise DataError(f"Dataset '{ref}': {describe(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - the user's loader may raise anything
        raise DataError(f"Dataset '{ref}' raised {describe(exc)}") from None
    parts = parts_of(out, f"Dataset '{ref}'")
    if parts is None:
        raise DataError(f"Dataset '{ref}' returned {type(out).__name__}; expected (X, y), "
                        "(X_train, y_train, X_test, y_test) or a mapping with those keys.")
    return parts


IN_MEMORY = "the data given"


def in_memory(data: Any, target: str | None) -> Parts:
    """Data given as objects (tuner.train(dataset=...)): (X, y), (X_train, y_train, X_test,
    y_test), a mapping with those keys, or a pandas DataFrame whose `target` column (default:
    the last) holds the targets and whose other columns the features."""
    if is_frame(data):
        columns = [str(c) for c in data.columns]
        name = target if target is not None else (columns[-1] if columns else "")
        if name not in columns:
            raise DataError(f"The DataFrame given has no column {name!r} (the target); its "
                            f"columns: {', '.join(columns) or 'none'}.")
        at = columns.index(name)
        return Parts(data.drop(columns=data.columns[at]).to_numpy(),
                     data.iloc[:, at].to_numpy(), names=[c for c in columns if c != name],
                     target=name)
    if target is not None:
        raise ConfigError(f"'target' names a column of a CSV file or DataFrame; {IN_MEMORY} is "
                          f"a {type(data).__name__}.")
    if isinstance(data, Data):
        return Parts(data.X_train, data.y_train, data.X_test, data.y_test)
    parts = parts_of(data, f"The {type(data).__name__} given")
    if parts is None:
        raise DataError(f"The dataset given is of type {type(data).__name__}; expected a name, a "
                        ".csv / .npz path, \"module:function\", (X, y), (X_train, y_train, "
                        "X_test, y_test), a mapping with those keys, a tuner.Data or a pandas "
                        "DataFrame.")
    return parts


def given_fingerprint(data: Any, target: str | None) -> str:
    """The fingerprint (data/given.py) of data given in memory, as in_memory reads it."""
    parts = in_memory(data, target)
    return fingerprint(parts.X, parts.y, parts.X_test, parts.y_test, list(parts.names),
                       parts.target)


def parts_of(out: Any, where: str) -> Parts | None:
    """(X, y), (X_train, y_train, X_test, y_test) or a mapping with those keys as Parts; None
    for anything else."""
    if isinstance(out, Mapping):
        return _parts(out, where)
    if isinstance(out, (tuple, list)) and len(out) in (2, 4):
        return Parts(*out)
    return None
