"""Small facts about Optuna trials and studies that several parts of the tuner need."""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
"""The states that count towards a stage's target."""
PRUNING_SUFFIX = "#pruning"
"""Of a multi-objective stage's companion study, which carries its pruner's curves
(tuner/engine/pruning.py)."""


def is_pruning_study(name: str) -> bool:
    """True for a companion study (listings and reports skip these)."""
    return name.endswith(PRUNING_SUFFIX)


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best complete trial, or None when no trial completed (and in a multi-objective
    study, which has a front instead: tuner/pareto.py)."""
    if len(study.directions) > 1:
        return None
    try:
        return study.best_trial
    except ValueError:
        return None


def better(value: float, than: float | None, direction: str) -> bool:
    """True when `value` beats `than` (None is beaten by anything) in `direction`."""
    if than is None:
        return True
    return value > than if direction == "maximize" else value < than


def state_counts(study: optuna.Study) -> dict[str, int]:
    """How many trials are in each state (COMPLETE, PRUNED, FAIL, ...); zero counts included
    for COMPLETE, PRUNED and FAIL."""
    counts = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    return counts
