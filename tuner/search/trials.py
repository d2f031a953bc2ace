"""Small facts about Optuna trials and studies that several parts of the tuner need."""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
"""The states that count towards a stage's target."""
PRUNING_SUFFIX = "#pruning"
"""Of a multi-objective stage's companion study, which carries its pruner's curves
(tuner/engine/pruning.py)."""
SPEC_SUFFIX = "#spec"
"""Of the record study that holds a study's spec as data (tuner/engine/spec_store.py)."""
RUN_SUFFIX = "#run"
"""Of the record study whose creation claims a stage's MLflow run (tuner/engine/stage_run.py)."""


def is_companion(name: str) -> bool:
    """True for the tuner's own companion studies (a stage's pruning study, a study's spec
    record, a stage's run claim): listings and reports skip these."""
    return name.endswith((PRUNING_SUFFIX, SPEC_SUFFIX, RUN_SUFFIX))


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best complete trial, or None when no trial completed (and in a multi-objective
    study, which has a front instead: search/pareto.py)."""
    if len(study.directions) > 1:
        return None
    try:
        return study.best_trial
    except ValueError:
        return None


def state_counts(study: optuna.Study) -> dict[str, int]:
    """How many trials are in each state (COMPLETE, PRUNED, FAIL, ...); zero counts included
    for COMPLETE, PRUNED and FAIL."""
    counts = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    return counts


def objective_names(study: optuna.Study) -> list[str]:
    """The stage's metric names (set by the tuner), one per objective."""
    names = list(study.metric_names or [])
    return names if len(names) == len(study.directions) else \
        [f"objective_{i}" for i in range(len(study.directions))]


def directions_text(study: optuna.Study) -> str:
    """"maximize" for a single-objective stage; "maximize val_accuracy, minimize seconds" for
    a multi-objective one."""
    names = objective_names(study)
    if len(names) == 1:
        return study.directions[0].name.lower()
    return ", ".join(f"{d.name.lower()} {m}" for m, d in
                     zip(names, study.directions, strict=True))
