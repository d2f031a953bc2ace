"""Readers of the user's own data: a CSV file (header row, numeric features, one target column),
a .npz file, or a "module:function" loader. Every malformed input is one DataError line."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from objectives.adapters.imports import import_attr
from objectives.errors import ConfigError, DataError


class Parts:
    """Raw arrays as read: features, targets, an optional test part, feature names and the
    target's name (a CSV's header)."""

    def __init__(self, X: Any, y: Any, X_test: Any = None, y_test: Any = None,
                 names: Sequence[str] = (), target: str = "") -> None:
        self.X, self.y, self.X_test, self.y_test = X, y, X_test, y_test
        self.names = tuple(names)
        self.target = target


def read_csv(path: Path, target: str | None) -> Parts:
    """Features as float64 and the target column's raw text."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"Cannot read {path}: {exc}.") from None
    if len(rows) < 2:
        raise DataError(f"{path} has no data rows; expected a header row and one row per sample.")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    name = target if target is not None else header[-1]
    if name not in header:
        raise DataError(f"{path} has no column '{name}' (the target); its columns: "
                        f"{', '.join(header)}.")
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DataError(f"{path}: line {number} has {len(row)} fields; the header has "
                            f"{len(header)}.")
    column = header.index(name)
    features = [i for i in range(len(header)) if i != column]
    X = np.empty((len(body), len(features)), np.float64)
    for j, i in enumerate(features):
        for number, row in enumerate(body, start=2):
            try:
                X[number - 2, j] = float(row[i])
            except ValueError:
                raise DataError(f"{path}: column '{header[i]}' is not numeric (line {number}: "
                                f"{row[i]!r}); feature columns must hold numbers.") from None
    return Parts(X, [row[column].strip() for row in body], names=[header[i] for i in features],
                 target=name)


def read_npz(path: Path) -> Parts:
    """X and y, or X_train, y_train, X_test, y_test (no pickled objects)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path} is not a readable .npz of plain arrays "
                        f"({type(exc).__name__}: {exc}).") from None
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
    except Exception as exc:  # noqa: BLE001 - the user's loader may raise anything
        raise DataError(f"Dataset '{ref}' raised {type(exc).__name__}: "
                        f"{' '.join(str(exc).split())}") from None
    if isinstance(out, Mapping):
        return _parts(out, f"Dataset '{ref}'")
    if isinstance(out, (tuple, list)) and len(out) in (2, 4):
        return Parts(*out)
    raise DataError(f"Dataset '{ref}' returned {type(out).__name__}; expected (X, y), "
                    "(X_train, y_train, X_test, y_test) or a mapping with those keys.")
