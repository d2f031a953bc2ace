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
COPIES_SUFFIX = "#copies"
"""Of the record study whose creation claims copying a refine stage's warm start
(search/warm_start.py): one worker copies, however many start the stage together."""


COPIED_ATTR = "copied_from"
"""A trial copied into a refine stage from its source (search/warm_start.py): "coarse:12"."""


def is_copy(trial: FrozenTrial) -> bool:
    """True for a copy of an earlier stage's trial, which was not trained in its stage."""
    return COPIED_ATTR in trial.user_attrs


def own_trials(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """The trials a stage ran itself (its copies left out): what its target, cost, counts and
    best are made of."""
    return [t for t in trials if not is_copy(t)]


def is_companion(name: str) -> bool:
    """True for the tuner's own companion studies (a stage's pruning study, a study's spec
    record, a stage's run claim): listings and reports skip these."""
    return name.endswith((PRUNING_SUFFIX, SPEC_SUFFIX, RUN_SUFFIX, COPIES_SUFFIX))


def is_superseded(trial: FrozenTrial, generations: int | None) -> bool:
    """True for a PBT member's trial of a generation before the last (`generations` of its
    stage; None: a search stage): its run went on in a later trial, so it is no answer."""
    return generations is not None and trial.user_attrs.get("generation", generations - 1) \
        != generations - 1


def generations_of(study: optuna.Study) -> int | None:
    """The generation count of a PBT stage study, None for a search stage."""
    pbt = study.user_attrs.get("pbt")
    return int(pbt["generations"]) if isinstance(pbt, dict) else None


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best complete trial the stage ran (copies left out; the first of equals), or None
    when none completed (and in a multi-objective study, which has a front instead:
    search/pareto.py)."""
    if len(study.directions) > 1:
        return None
    generations = generations_of(study)
    complete = [t for t in own_trials(study.get_trials(deepcopy=False))
                if t.state == TrialState.COMPLETE and t.value is not None
                and not is_superseded(t, generations)]
    if not complete:
        return None
    sign = 1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1.0
    return max(complete, key=lambda t: (sign * float(t.value or 0.0), -t.number))


def state_counts(study: optuna.Study) -> dict[str, int]:
    """How many trials the stage ran are in each state (COMPLETE, PRUNED, FAIL, ...; copies
    left out); zero counts included for COMPLETE, PRUNED and FAIL."""
    counts = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0}
    for trial in own_trials(study.get_trials(deepcopy=False)):
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
