"""Cross-validated trials: the objective fitted on each fold of train+val in turn, its value
the mean over the folds.

Which studies cross-validate (`folds_for`): those that set `cv`, and those of a small table of
the user's own (under CV_DEFAULT_ROWS rows of train+val) that set neither `cv` nor `val_size`.
Within a fold the objective reports as usual: its rows go to the trial's MLflow run (with a
`fold` metric, steps counted across the folds) and are not judged. After each fold the pruner
judges the running mean of its metric over the folds done, at step = the fold's number, so a
trial whose first folds are poor is pruned before the rest are trained. The trial's history
holds one row per fold (its last metrics, `fold`, and the epochs trained so far); its final row
holds the mean of every metric over the folds, `<metric>_std` (their spread, ddof 0) for the
study's metrics, and the epochs of all folds together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from objectives.base import Objective, Split
from objectives.data import Dataset
from objectives.data.catalog import DATASETS
from tuner.engine.interrupts import check_interrupted
from tuner.spec.model import CV_DEFAULT, CV_DEFAULT_ROWS, CrossValidation, StudySpec

Folds = Sequence[tuple[Split, Split]]


def chosen_cv(spec: StudySpec, data: Dataset) -> CrossValidation | None:
    """The cross-validation `spec` runs with on `data` (None: its val split)."""
    if spec.cv is not None:
        return spec.cv if spec.cv.folds else None
    own = data.name not in DATASETS
    small = len(data.train) + len(data.val) < CV_DEFAULT_ROWS
    return CV_DEFAULT if own and small and spec.val_size is None else None


def folds_for(spec: StudySpec, data: Dataset) -> Folds | None:
    """The (train, val) folds every trial of `spec` is fitted on, or None (one val split)."""
    cv = chosen_cv(spec, data)
    return None if cv is None else data.fold_splits(cv.folds, shuffle=cv.shuffle)


def folds_text(spec: StudySpec, data: Dataset) -> str:
    """What chosen_cv chose and why, for the run's log."""
    cv = chosen_cv(spec, data)
    rows = len(data.train) + len(data.val)
    why = ("cv in the study" if spec.cv is not None else
           f"the default for a table under {CV_DEFAULT_ROWS:,} rows; cv = false for one "
           "val split")
    return f"{cv} of {rows} train+val rows ({why})"


@dataclass(frozen=True)
class FoldsResult:
    mean: dict[str, float]
    """Every metric all folds gave, averaged; <metric>_std for the study's; total epochs."""
    values: dict[str, list[float]]
    """The study metrics' value on each fold."""
    model: Any
    """The last fold's model (its size is every fold's)."""


def fit_folds(objective: Objective, config: Mapping[str, Any], folds: Folds, seed: int,
              image_shape: tuple[int, int, int], metrics: Sequence[str], watch: str,
              log: Callable[[int, Mapping[str, float]], None],
              judge: Callable[[int, dict[str, float], float | None], None]) -> FoldsResult:
    """Fit `objective` on each fold; `log(step, row)` takes every row reported within a fold
    (steps counted across folds) and, last, the mean row; `judge(fold, row, running mean of
    watch)` takes each fold's row when it ends and may raise (optuna.TrialPruned)."""
    step = 0
    rows: list[dict[str, float]] = []
    epochs = 0.0
    model = None
    for number, (train, val) in enumerate(folds, start=1):
        def report(_: int, row: Mapping[str, float], fold: int = number) -> None:
            nonlocal step
            check_interrupted()
            step += 1
            log(step, {**row, "fold": float(fold)})

        result = objective.fit(config, train, val, report, seed, image_shape)
        if not result.history:
            raise ValueError(f"the objective returned no metrics on fold {number}")
        last = result.history[-1]
        epochs += float(last.get("epoch", len(result.history)))
        rows.append({**last, "fold": float(number), "epoch": epochs})
        model = result.model
        done = [row[watch] for row in rows if watch in row]
        judge(number, rows[-1], float(np.mean(done)) if len(done) == len(rows) else None)
    keys = [k for k in rows[0] if k != "fold" and all(k in row for row in rows)]
    mean = {k: float(np.mean([row[k] for row in rows])) for k in keys}
    mean["epoch"] = epochs
    values = {m: [float(row[m]) for row in rows] for m in metrics if m in mean}
    mean.update({f"{m}_std": float(np.std(v)) for m, v in values.items()})
    log(step + 1, mean)
    return FoldsResult(mean=mean, values=values, model=model)
