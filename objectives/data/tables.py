"""The user's own data: a CSV file (header row, numeric features, one target column), a .npz
file (X and y, or X_train, y_train, X_test, y_test), or "module:function" returning the same
arrays. Everything is checked once, when loaded, each problem one DataError line.

The task is "classification" when the target holds integers or strings (encoded as class
indices, the original labels kept as class names) and "regression" when it holds other numbers,
unless the study says. Without a test split one is carved with the seed (`test_size`, default
20 %, stratified for classification); val is carved from the rest as for every dataset. Feature
scaling is the objective's business: user objectives get the numbers as they are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from objectives.adapters.imports import is_ref
from objectives.base import Split
from objectives.data.dataset import CLASSIFICATION, REGRESSION, TASKS, Dataset, check_options
from objectives.data.files import IN_MEMORY, Parts, call_loader, in_memory, read_csv, read_npz
from objectives.data.normalize import Standardizer
from objectives.data.splits import split_indices, val_count
from objectives.errors import ConfigError, DataError

DEFAULT_TEST_SIZE = 0.2
DEFAULT_VAL_SIZE = 0.2
SUFFIXES = (".csv", ".npz")


def is_table(ref: str) -> bool:
    """True for a reference to user data: a .csv / .npz path or "module:function"."""
    return ref.lower().endswith(SUFFIXES) or is_ref(ref)


def _features(X: Any, where: str) -> np.ndarray:
    if np.asarray(X).dtype.kind == "c":
        raise DataError(f"{where}: the features are complex numbers; expected real ones.")
    try:
        array = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{where}: the features are not all numbers.") from None
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise DataError(f"{where}: the features must be a 2-D table (rows x columns). "
                        f"Got shape {array.shape} instead.")
    if array.shape[1] == 0:
        raise DataError(f"{where}: the features have no columns; expected at least one "
                        "feature column beside the target.")
    bad = ~np.isfinite(array)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(f"{where}: the features hold NaN or infinite values (first at row "
                        f"{row}, column {col}).")
    return array


def infer_task(values: Any) -> str:
    """Integers, booleans or strings are classes; other numbers a regression target."""
    array = np.asarray(values)
    if array.dtype.kind in "iub":
        return CLASSIFICATION
    if array.dtype.kind == "f":
        return REGRESSION
    try:
        numbers = [float(v) for v in array.tolist()]
    except (TypeError, ValueError):
        return CLASSIFICATION
    texts = [str(v).strip() for v in array.tolist()]
    integral = all(t.lstrip("+-").isdigit() for t in texts)
    return CLASSIFICATION if integral and numbers else REGRESSION


def _targets(values: Any, task: str, classes: Sequence[Any], where: str) -> np.ndarray:
    if task == REGRESSION:
        if np.asarray(values).dtype.kind == "c":
            raise DataError(f"{where}: the target holds complex numbers; expected real ones.")
        try:
            y = np.asarray(values, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise DataError(f"{where}: a regression target must hold numbers.") from None
        if not np.isfinite(y).all():
            raise DataError(f"{where}: the target holds NaN or infinite values (first at row "
                            f"{int(np.argwhere(~np.isfinite(y))[0][0])}).")
        return y
    try:
        labels = np.asarray([_label(v) for v in np.asarray(values).reshape(-1).tolist()],
                            object)
    except DataError as exc:
        raise DataError(f"{where}: {exc}") from None
    index = {c: i for i, c in enumerate(classes)}
    unseen = [v for v in labels.tolist() if v not in index]
    if unseen:
        raise DataError(f"{where}: the test split has class {unseen[0]!r}, which the training "
                        "data never shows.")
    return np.asarray([index[v] for v in labels.tolist()], np.int64)


def _label(value: Any) -> Any:
    """A class label as one comparable value: "3" and 3 are the same class; NaN, None and
    blank labels are refused (a missing target is no class)."""
    if value is None:
        raise DataError("the target holds None (a missing value); every row needs a target.")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DataError("the target holds NaN or infinite values.")
        return int(value) if value.is_integer() else value
    text = str(value).strip()
    if not text:
        raise DataError("the target holds a blank label; every row needs a target.")
    return int(text) if text.lstrip("+-").isdigit() else text


def _classes(values: Any, where: str) -> list[Any]:
    try:
        labels = [_label(v) for v in np.asarray(values).reshape(-1).tolist()]
    except DataError as exc:
        raise DataError(f"{where}: {exc}") from None
    distinct = set(labels)
    numeric = all(isinstance(v, (int, float)) for v in distinct)
    return sorted(distinct, key=None if numeric else str)


def _given(parts: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return parts


def load_table(
    ref: Any,
    *,
    folder: Path | None = None,
    target: str | None = None,
    task: str | None = None,
    test_size: int | float | None = None,
    val_size: int | float | None = None,
    seed: int = 0,
    normalize: str = "none",
    train_limit: int | None = None,
) -> Dataset:
    """The user's data `ref` (see the module docstring; or the data itself, files.in_memory)
    split into train, val and test. `folder`: where relative paths and modules are looked for
    first (the study file's)."""
    check_options(normalize, train_limit)
    if task is not None and task not in TASKS:
        raise ConfigError(f"The 'task' must be one of: {', '.join(TASKS)}. Got {task!r} instead.")
    parts, where = _read(ref, folder, target)
    X = _features(parts.X, where)
    raw_y = np.asarray(parts.y).reshape(-1)
    if len(raw_y) != len(X):
        raise DataError(f"{where}: {len(X)} rows of features but {len(raw_y)} targets.")
    task = task or infer_task(raw_y)
    classes = _classes(raw_y, where) if task == CLASSIFICATION else []
    if task == CLASSIFICATION and len(classes) < 2:
        raise DataError(f"{where}: the target has {len(classes)} class; classification needs "
                        "at least 2.")
    y = _targets(raw_y, task, classes, where)
    pool, test = _test_part(parts, X, y, task, classes, test_size, seed, where)
    n_val = val_count(DEFAULT_VAL_SIZE if val_size is None else val_size, len(pool[1]), where)
    train_idx, val_idx = split_indices(pool[1], n_val, seed, stratify=_stratifiable(
        pool[1], task, n_val))
    if train_limit is not None:
        train_idx = train_idx[:train_limit]
    scaler = Standardizer(normalize)
    scale = scaler(pool[0][train_idx])
    return Dataset(
        name=ref if isinstance(ref, str) else IN_MEMORY, task=task, classes=len(classes),
        class_names=tuple(str(c) for c in classes),
        image_shape=(1, 1, X.shape[1]),
        train=Split(scale(pool[0][train_idx]), pool[1][train_idx]),
        val=Split(scale(pool[0][val_idx]), pool[1][val_idx]), seed=seed, _pool=pool,
        _train_idx=train_idx, _val_idx=val_idx, _read_test=partial(_given, test),
        _scaler=scaler, feature_names=parts.names, target_name=parts.target)


def _read(ref: Any, folder: Path | None, target: str | None) -> tuple[Parts, str]:
    if not isinstance(ref, str):
        return in_memory(ref, target), IN_MEMORY.capitalize()
    if is_ref(ref):
        return call_loader(ref, folder), f"Dataset '{ref}'"
    path = Path(ref)
    if not path.is_absolute() and folder is not None and (folder / path).is_file():
        path = folder / path
    if not path.is_file():
        raise DataError(f"Dataset file {ref} does not exist"
                        + (f" (looked in {folder} and the current folder)." if folder else "."))
    if target is not None and path.suffix.lower() != ".csv":
        raise ConfigError(f"'target' names a CSV column; {path.name} is not a CSV file.")
    return (read_csv(path, target) if path.suffix.lower() == ".csv" else read_npz(path)), str(path)


def _stratifiable(y: np.ndarray, task: str, n_part: int) -> bool:
    """Stratify a classification split when every class has two members and the part can
    hold one of each."""
    if task != CLASSIFICATION:
        return False
    counts = np.bincount(y)
    return bool(len(counts) and counts.min() >= 2
                and len(counts) <= n_part <= len(y) - len(counts))


def _test_part(parts: Parts, X: np.ndarray, y: np.ndarray, task: str, classes: Sequence[Any],
               test_size: int | float | None, seed: int, where: str
               ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(pool to train and validate on, test part): the file's own test split, or one carved
    with the seed."""
    if parts.X_test is not None:
        if test_size is not None:
            raise ConfigError(f"{where} has its own test split; leave out 'test_size'.")
        X_test = _features(parts.X_test, f"{where} (test split)")
        if X_test.shape[1] != X.shape[1]:
            raise DataError(f"{where}: the test split has {X_test.shape[1]} feature columns, "
                            f"the training data {X.shape[1]}.")
        y_test = _targets(np.asarray(parts.y_test).reshape(-1), task, classes,
                          f"{where} (test split)")
        if len(y_test) != len(X_test):
            raise DataError(f"{where}: the test split has {len(X_test)} rows of features but "
                            f"{len(y_test)} targets.")
        return (X, y), (X_test, y_test)
    n_test = val_count(DEFAULT_TEST_SIZE if test_size is None else test_size, len(y), where,
                       key="test_size")
    rest, test = split_indices(y, n_test, seed, stratify=_stratifiable(y, task, n_test))
    return (X[rest], y[rest]), (X[test], y[test])
