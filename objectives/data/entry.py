"""One way in for every dataset: a built-in name (MNIST, Fashion-MNIST, CIFAR-10, digits) or the
user's own data (a .csv / .npz path or "module:function", objectives.data.tables)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from objectives.data.catalog import DATASETS
from objectives.data.dataset import Dataset, load
from objectives.data.given import is_fingerprint
from objectives.data.tables import is_table, load_table
from objectives.errors import ConfigError, DataError


def load_dataset(
    ref: str | Any,
    *,
    folder: Path | None = None,
    data_dir: str | Path | None = None,
    val_size: int | float | None = None,
    seed: int = 0,
    normalize: str = "feature",
    download: bool = False,
    train_limit: int | None = None,
    target: str | None = None,
    task: str | None = None,
    test_size: int | float | None = None,
) -> Dataset:
    """The dataset `ref` names (or the data itself: (X, y), a DataFrame...), split and scaled
    (see load and load_table)."""
    if not isinstance(ref, str):
        return load_table(ref, folder=folder, target=target, task=task, test_size=test_size,
                          val_size=val_size, seed=seed, normalize=normalize,
                          train_limit=train_limit)
    if ref in DATASETS:
        extra = [k for k, v in (("target", target), ("test_size", test_size)) if v is not None]
        if extra:
            raise ConfigError(f"'{extra[0]}' applies to your own data files; {ref} is a "
                              "built-in dataset with its own test split.")
        if task not in (None, "classification"):
            raise ConfigError(f"{ref} is a classification dataset; task = {task!r} does not "
                              "fit it.")
        return load(ref, data_dir=data_dir, val_size=val_size, seed=seed, normalize=normalize,
                    download=download, train_limit=train_limit)
    if is_fingerprint(ref):
        raise DataError(f"This study ran on data given in memory ({ref}); give the same data "
                        "again (tuner.run_study(..., data=...), tuner.final(..., data=...)): "
                        "the command line and workers can only load files and names.")
    if is_table(ref):
        return load_table(ref, folder=folder, target=target, task=task, test_size=test_size,
                          val_size=val_size, seed=seed, normalize=normalize,
                          train_limit=train_limit)
    raise DataError(f"Unknown dataset '{ref}'; valid datasets: {', '.join(DATASETS)}, or your "
                    "own data: a .csv or .npz file, or \"module:function\".")
