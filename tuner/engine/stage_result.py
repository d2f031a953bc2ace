"""A stage's result, counted from storage (all workers' trials): states, best trial, cost."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from tuner.engine.stopping import STOPPED_ATTR
from tuner.results import FrontTrial, StageResult
from tuner.search.pareto import front, is_multi
from tuner.search.trials import best_trial, objective_names, own_trials, state_counts


def summarize(study: optuna.Study, stage: str, *, wall: float | None, ran: int) -> StageResult:
    """Counts, best trial (in a multi-objective stage: best on the first metric, and the
    Pareto front) and cost of stage `stage`. "Epochs without pruning" charges every
    pruned trial the longest complete trial's epochs."""
    trials = own_trials(study.get_trials(deepcopy=False))
    counts = state_counts(study)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    epochs = {t.number: float(t.user_attrs.get("epochs", 0.0)) for t in trials}
    full = max((epochs[t.number] for t in complete), default=0.0)
    best = best_trial(study)
    on_front = front(study)
    if is_multi(study):  # best on the first metric, the default pick rule
        first = max if study.directions[0] == StudyDirection.MAXIMIZE else min
        best = first(complete, key=lambda t: t.values[0], default=None)
    names = objective_names(study)
    return StageResult(
        front=tuple(FrontTrial(t.number, dict(zip(names, t.values, strict=True)),
                               dict(t.params)) for t in on_front),
        name=stage, study_name=study.study_name, complete=counts["COMPLETE"],
        pruned=counts["PRUNED"], failed=counts["FAIL"],
        best_value=None if best is None else best.values[0],
        best_params=None if best is None else dict(best.params),
        best_trial=None if best is None else best.number,
        epochs_trained=sum(epochs[t.number] for t in complete + pruned),
        epochs_without_pruning=sum(epochs[t.number] for t in complete) + full * len(pruned),
        trial_seconds=sum(float(t.user_attrs.get("seconds", 0.0)) for t in trials),
        wall_seconds=wall, ran_here=ran,
        stopped=(study.user_attrs.get(STOPPED_ATTR) or {}).get("reason"))


def end_stage_info(result: StageResult) -> Mapping[str, Any]:
    """The cost figures the tracker logs on the stage's parent run."""
    return {"complete": result.complete, "pruned": result.pruned, "failed": result.failed,
            "epochs_trained": result.epochs_trained,
            "epochs_without_pruning": result.epochs_without_pruning,
            "trial_seconds": result.trial_seconds, "wall_seconds": result.wall_seconds,
            "ran_here": result.ran_here,
            **({"stopped_early": result.stopped} if result.stopped else {})}
