"""Data given in memory (tuner.train / run_study / final with `data=`): the `Data` holder of
separate train and test parts, and the fingerprint a study stores in place of a file name, so
that a resumed study is given the very same data."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

FINGERPRINT_PREFIX = "in-memory data sha256:"
"""A study run on data given in memory stores this and the data's fingerprint as its dataset."""


@dataclass(frozen=True)
class Data:
    """Your own data with its own test split: features and targets to train and validate on
    (X_train, y_train) and the test part the final alone reads (X_test, y_test). Arrays,
    lists or pandas objects; targets may be class names."""

    X_train: Any
    y_train: Any
    X_test: Any = None
    y_test: Any = None


def fingerprint(*arrays: Any) -> str:
    """FINGERPRINT_PREFIX and the first 16 hex digits of a SHA-256 of the arrays' shapes,
    kinds and values (text values by their text), in order."""
    digest = hashlib.sha256()
    for value in arrays:
        if value is None:
            digest.update(b"none;")
            continue
        array = np.asarray(value)
        digest.update(f"{array.shape};{array.dtype.kind};".encode())
        if array.dtype.kind in "OUSV":
            digest.update(repr(array.tolist()).encode())
        else:
            digest.update(np.ascontiguousarray(array).tobytes())
    return FINGERPRINT_PREFIX + digest.hexdigest()[:16]


def is_fingerprint(dataset: str) -> bool:
    return dataset.startswith(FINGERPRINT_PREFIX)
