"""The study file's `cv` key: k-fold cross-validation of every trial (docs/study-files.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tuner.spec.checker import Checker
from tuner.spec.model import CrossValidation

MAX_FOLDS = 100
CV_KEYS = {"folds", "shuffle"}


def parse_cv(c: Checker, raw: Mapping[str, Any]) -> CrossValidation | None:
    """`cv = 5`, `cv = { folds = 5, shuffle = true }`, `cv = true` (5 folds) or `cv = false`
    (the val split; folds 0); None when absent. `cv` and `val_size` exclude each other."""
    value = c.get(raw, "cv", (int, bool, dict), "")
    if value is None:
        return None
    if "val_size" in raw and value is not False and value != 0:
        raise c.fail("cv", "cross-validation splits train+val into folds itself; set either "
                     "cv or val_size, not both.")
    if isinstance(value, bool):
        return CrossValidation() if value else CrossValidation(folds=0)
    if isinstance(value, dict):
        c.unknown(value, CV_KEYS, "cv.")
        folds = c.get(value, "folds", (int,), "cv.", default=5)
        shuffle = c.get(value, "shuffle", (bool,), "cv.", default=True)
        where = "cv.folds"
    else:
        folds, shuffle, where = value, True, "cv"
    if folds != 0 and not 2 <= folds <= MAX_FOLDS:
        raise c.fail(where, f"must be a fold count in [2, {MAX_FOLDS}] (or 0 / false: no "
                     f"cross-validation). Got {folds!r} instead.")
    return CrossValidation(folds=folds, shuffle=shuffle)
