"""k-fold splits of the rows a search trains and validates on (train+val; the test split is
never part of them)."""

from __future__ import annotations

import numpy as np

from objectives.errors import ConfigError


def fold_indices(y: np.ndarray, folds: int, *, shuffle: bool, seed: int, stratify: bool
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train indices, val indices) of each of `folds` folds over `y`'s rows: scikit-learn's
    StratifiedKFold when `stratify` and every class has `folds` members, else KFold; shuffled
    with `seed` when `shuffle`, else in row order."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if not isinstance(folds, int) or isinstance(folds, bool) or not 2 <= folds <= len(y):
        raise ConfigError(f"The 'cv' folds must be an int in [2, {len(y)}] (the rows to "
                          f"train and validate on). Got {folds!r} instead.")
    state = seed if shuffle else None
    rows = np.zeros((len(y), 1))
    counts = np.bincount(y) if stratify else np.zeros(0, dtype=int)
    counts = counts[counts > 0]  # labels absent from these rows are no class here
    if len(counts) and counts.min() >= folds:
        parts = StratifiedKFold(folds, shuffle=shuffle, random_state=state).split(rows, y)
    else:
        parts = KFold(folds, shuffle=shuffle, random_state=state).split(rows)
    return [(np.asarray(train), np.asarray(val)) for train, val in parts]
