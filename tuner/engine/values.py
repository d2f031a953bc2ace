"""A finished trial's objective values: the study's metrics read from the run's last row, or
derived by the tuner (seconds: the trial's training time as measured here; epochs: the epochs
its run trained; params_count: reported by the objective, else counted on the returned model)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from objectives.size import params_count
from tuner.spec import StudySpec


class MissingMetric(Exception):
    """The run gave no value for this objective."""


def derived(row: Mapping[str, float], seconds: float, epochs: float,
            model: Any) -> dict[str, float]:
    """The derived metrics of one run (params_count only where it can be known)."""
    out = {"seconds": round(seconds, 3), "epochs": epochs}
    count = row.get("params_count")
    count = params_count(model) if count is None and model is not None else count
    if count is not None:
        out["params_count"] = float(count)
    return out


def objective_values(spec: StudySpec, row: Mapping[str, float],
                     extra: Mapping[str, float]) -> list[float]:
    """One value per objective of the study, in order; derived ones from `extra` (what
    derived() gave, which wins over a row's own "seconds")."""
    values = []
    for metric, _ in spec.objectives:
        source = extra if metric in extra else row
        if metric not in source:
            raise MissingMetric(metric)
        values.append(float(source[metric]))
    return values
