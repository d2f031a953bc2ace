"""Pareto fronts of multi-objective stages, and which trials a refine stage starts from.

The front is Optuna's own (`study.best_trials`: the complete trials no other complete trial
dominates), so pruned and failed trials are never on it.
"""

from __future__ import annotations

from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.spec import Stage, StudySpec
from tuner.stages import Row, top_k


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


def refine_sources(spec: StudySpec, source: optuna.Study, stage: Stage
                   ) -> tuple[list[Row], list[Row]]:
    """(the trials whose params the refined space is built around, those to enqueue) as
    (value, params) rows. With `refine.by`: the top_k (and the best `enqueue`) on that metric;
    else in a multi-objective study the whole Pareto front (enqueued best first on the first
    metric); else the top_k on the study metric."""
    assert stage.refine is not None
    refine = stage.refine
    names = spec.metric_names
    complete = source.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if refine.by is None and spec.multi:
        on_front = front(source)
        rows = [(metric_value(t, spec.metric, names) or 0.0, t.params) for t in on_front]
        ranked = top_k(rows, len(rows), spec.direction)
        return ranked, ranked[:refine.enqueue]
    by = refine.by or spec.metric
    rows = [(value, t.params) for t in complete
            if (value := metric_value(t, by, names)) is not None]
    direction = spec.direction_of(by)
    return top_k(rows, refine.top_k, direction), top_k(rows, refine.enqueue, direction)
