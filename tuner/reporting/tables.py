"""Tables written as files: a study's trials CSV and confusion-matrix counts."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import optuna


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """counts[i, j] = how many samples of class i were predicted as j."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return counts


def trials_csv(study: optuna.Study, path: Path) -> Path:
    """One row per trial: number, state, value, start, seconds, then every param."""
    trials = study.get_trials(deepcopy=False)
    names = sorted({name for t in trials for name in t.params})
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["number", "state", "value", "datetime_start", "seconds", *names])
        for t in trials:
            seconds = t.duration.total_seconds() if t.duration is not None else ""
            start = t.datetime_start.isoformat(timespec="seconds") if t.datetime_start else ""
            value = "" if t.value is None else t.value
            writer.writerow([t.number, t.state.name, value, start, seconds,
                             *(t.params.get(name, "") for name in names)])
    return path
