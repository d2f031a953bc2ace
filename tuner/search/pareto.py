"""Pareto fronts of multi-objective stages, and a finished trial's value of any metric.

The front is Optuna's own (`study.best_trials`: the complete trials no other complete trial
dominates), so pruned and failed trials are never on it.
"""

from __future__ import annotations

from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial


def is_multi(study: optuna.Study) -> bool:
    return len(study.directions) > 1


def front(study: optuna.Study) -> list[FrozenTrial]:
    """The stage's Pareto-optimal complete trials, by trial number ([] for a single-objective
    stage or one without complete trials)."""
    if not is_multi(study):
        return []
    return sorted(study.best_trials, key=lambda t: t.number)


def metric_value(trial: FrozenTrial, metric: str, names: Sequence[str]) -> float | None:
    """`metric` of a finished trial: its objective value when it is one of the study's
    objectives (`names`), else its last reported metrics, else the tuner's own seconds or
    epochs; None when the trial has none."""
    if trial.values is not None and metric in names:
        return float(trial.values[list(names).index(metric)])
    last = trial.user_attrs.get("metrics") or {}
    if metric in last:
        return float(last[metric])
    value = trial.user_attrs.get(metric) if metric in ("seconds", "epochs") else None
    return None if value is None else float(value)

