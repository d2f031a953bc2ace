"""Validation sizes, seeded (optionally stratified) splits and label checks."""

from __future__ import annotations

import numpy as np

from objectives.data.catalog import DEFAULT_VAL_SIZE, DIGITS_VAL_FRACTION
from objectives.errors import ConfigError, DataError


def val_count(val_size: int | float | None, n: int, name: str, key: str = "val_size") -> int:
    """The number of samples a split of `val_size` (a count or a fraction; None: the dataset's
    default validation size) takes from the `n` available, checked; `key` names the setting in
    messages."""
    if val_size is None:
        val_size = DIGITS_VAL_FRACTION if name == "digits" else DEFAULT_VAL_SIZE
    if isinstance(val_size, bool) or not isinstance(val_size, (int, float)):
        raise ConfigError(f"The '{key}' argument must be an int count or a float in (0, 1). "
                          f"Got {val_size!r} instead.")
    if isinstance(val_size, float):
        if not 0.0 < val_size < 1.0:
            raise ConfigError(f"The '{key}' fraction must be in (0, 1). "
                              f"Got {val_size!r} instead.")
        count = int(round(val_size * n))
    else:
        count = val_size
    if not 1 <= count < n:
        raise ConfigError(f"The '{key}' must leave at least one sample on each side: "
                          f"{name} has {n} samples to split, {key}={val_size!r} gives {count}.")
    return count


def split_indices(y: np.ndarray, n_val: int, seed: int, *, stratify: bool
           ) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, val indices): a seeded shuffle, stratified by label when asked."""
    if stratify:
        from sklearn.model_selection import train_test_split

        idx = np.arange(len(y))
        train_idx, val_idx = train_test_split(idx, test_size=n_val, stratify=y, random_state=seed)
        return np.asarray(train_idx), np.asarray(val_idx)
    order = np.random.default_rng(seed).permutation(len(y))
    return order[n_val:], order[:n_val]


def check_labels(y: np.ndarray, classes: int, what: str) -> None:
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= classes):
        bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
        raise DataError(f"Label {bad} in the {what} is out of range: expected 0..{classes - 1}.")
