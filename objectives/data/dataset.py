"""A loaded dataset: scaled train and val splits, and the one door to the test split.

`load(name)` (the built-in image datasets) and `tables.load_table` (the user's own files) hand
out train and val only; the test split is read by `Dataset.final_splits` and nowhere else, so a
search can never peek at it. Scaling statistics always come from the part that is trained on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from objectives.base import Split
from objectives.data.catalog import DATASETS, IMAGE_SHAPES, NORMALIZATIONS, Raw
from objectives.data.folds import fold_indices
from objectives.data.normalize import Normalizer
from objectives.data.sources import source
from objectives.data.splits import check_labels, split_indices, val_count
from objectives.errors import ConfigError, DataError

Scaler = Callable[[np.ndarray], Callable[[np.ndarray], np.ndarray]]
"""Fitted on the rows trained on, returns the transform applied to every split (float32)."""

CLASSIFICATION, REGRESSION = "classification", "regression"
TASKS = (CLASSIFICATION, REGRESSION)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded dataset: scaled train and val splits, and the one door to the test split.
    Classification labels are int64 class indices (0..classes-1, named by class_names);
    regression targets float64 (classes 0)."""

    name: str
    task: str
    classes: int
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int]
    train: Split
    val: Split
    seed: int
    _pool: Raw = field(repr=False)
    _train_idx: np.ndarray = field(repr=False)
    _val_idx: np.ndarray = field(repr=False)
    _read_test: Callable[[], Raw] = field(repr=False)
    _scaler: Scaler = field(repr=False)
    feature_names: tuple[str, ...] = ()
    target_name: str = ""  # the user's CSV: its target column (the models drop it if given)
    _final_scales: dict[int, Callable[[np.ndarray], np.ndarray]] = field(
        default_factory=dict, repr=False)
    """final_scale's result per monitor size: fitted once, for the splits and for the model."""

    def final_splits(self, monitor: int) -> tuple[Split, Split, Split]:
        """(train+val minus `monitor` held-out samples, the monitor split, the test split), all
        normalised with statistics of the first part. The ONLY place test files are read."""
        fit_idx, monitor_idx = self._final_parts(monitor)
        X_test, y_test = self._read_test()
        if self.task == CLASSIFICATION:
            check_labels(y_test, self.classes, f"{self.name} test split")
        X, y = self._pool
        scale = self.final_scale(monitor)
        return (
            Split(scale(X[fit_idx]), y[fit_idx]),
            Split(scale(X[monitor_idx]), y[monitor_idx]),
            Split(scale(X_test), y_test.astype(y.dtype)),
        )

    def fold_splits(self, folds: int, *, shuffle: bool = True) -> list[tuple[Split, Split]]:
        """(train, val) of each of `folds` folds over train+val (data/folds.py; stratified for
        classification), each scaled with statistics of its own train part. Never the test
        split. Rows in file order, so the folds do not depend on the val split."""
        pool_idx = np.sort(np.concatenate([self._train_idx, self._val_idx]))
        X, y = self._pool
        parts = fold_indices(y[pool_idx], folds, shuffle=shuffle, seed=self.seed,
                             stratify=self.task == CLASSIFICATION)
        splits = []
        for train, val in parts:
            train_rows, val_rows = pool_idx[train], pool_idx[val]
            scale = self._scaler(X[train_rows])
            splits.append((Split(scale(X[train_rows]), y[train_rows]),
                           Split(scale(X[val_rows]), y[val_rows])))
        return splits

    def final_scale(self, monitor: int) -> Callable[[np.ndarray], np.ndarray]:
        """The scaling final_splits applies (fitted on the same rows): raw rows -> model inputs.
        A Normalizer or Standardize, so it can be stored with the model."""
        fit_idx, _ = self._final_parts(monitor)  # checks `monitor` first
        if monitor not in self._final_scales:
            self._final_scales[monitor] = self._scaler(self._pool[0][fit_idx])
        return self._final_scales[monitor]

    def raw_rows(self, n: int) -> np.ndarray:
        """The first `n` training rows as the dataset files hold them (input examples)."""
        return self._pool[0][self._train_idx[:n]]

    def _final_parts(self, monitor: int) -> tuple[np.ndarray, np.ndarray]:
        pool_idx = np.concatenate([self._train_idx, self._val_idx])
        valid = isinstance(monitor, int) and not isinstance(monitor, bool)
        if not (valid and 0 <= monitor < len(pool_idx)):
            raise ConfigError(f"The 'monitor' size must be an int in [0, {len(pool_idx) - 1}]. "
                              f"Got {monitor!r} instead.")
        order = np.random.default_rng(self.seed).permutation(pool_idx)
        return order[monitor:], order[:monitor]


def check_options(normalize: str, train_limit: int | None) -> None:
    """ConfigError for a normalisation or train_limit no dataset can take."""
    if normalize not in NORMALIZATIONS:
        raise ConfigError(f"The 'normalize' argument must be one of: "
                          f"{', '.join(NORMALIZATIONS)}. Got {normalize!r} instead.")
    if train_limit is not None and (isinstance(train_limit, bool)
                                    or not isinstance(train_limit, int) or train_limit < 1):
        raise ConfigError(f"The 'train_limit' argument must be an int in [1, inf) or None. "
                          f"Got {train_limit!r} instead.")


def load(
    name: str,
    *,
    data_dir: str | Path | None = None,
    val_size: int | float | None = None,
    seed: int = 0,
    normalize: str = "feature",
    download: bool = False,
    train_limit: int | None = None,
) -> Dataset:
    """Load `name`, carve val from train with `seed`, normalise with train statistics.

    val_size: an int count or a float fraction in (0, 1); default 5,000 (20 % for digits).
    train_limit: keep only the first N samples of the shuffled train part (quick runs).
    """
    if name not in DATASETS:
        raise DataError(f"Unknown dataset '{name}'; valid datasets: {', '.join(DATASETS)}.")
    check_options(normalize, train_limit)
    pool, read_test, class_names = source(name, data_dir, download)
    X, y = pool
    classes = len(class_names)
    check_labels(y, classes, f"{name} training data")
    n_val = val_count(val_size, len(y), name)
    train_idx, val_idx = split_indices(y, n_val, seed, stratify=name == "digits")
    if train_limit is not None:
        train_idx = train_idx[:train_limit]
    shape = IMAGE_SHAPES[name]
    scaler = partial(Normalizer.fit, name=name, how=normalize, image_shape=shape)
    norm = scaler(X[train_idx])
    return Dataset(
        name=name,
        task=CLASSIFICATION,
        classes=classes,
        class_names=class_names,
        image_shape=shape,
        train=Split(norm(X[train_idx]), y[train_idx]),
        val=Split(norm(X[val_idx]), y[val_idx]),
        seed=seed,
        _pool=pool,
        _train_idx=train_idx,
        _val_idx=val_idx,
        _read_test=read_test,
        _scaler=scaler,
    )
