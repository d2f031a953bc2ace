"""Tables written as files: a stage's trials CSV and its Pareto front CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import optuna

from tuner.search.pareto import front
from tuner.search.trials import COPIED_ATTR, objective_names


def trials_csv(study: optuna.Study, path: Path) -> Path:
    """One row per trial: number, state, value (one column per objective in a multi-objective
    study, then whether the trial is on its Pareto front), start, seconds, copied_from (a
    refine stage's warm-start copy: the trial it copies, not trained here), then every
    param."""
    trials = study.get_trials(deepcopy=False)
    names = sorted({name for t in trials for name in t.params})
    objectives = objective_names(study)
    on_front = {t.number for t in front(study)}
    multi = len(objectives) > 1
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        heads = [*objectives, "pareto_front"] if multi else ["value"]
        writer.writerow(["number", "state", *heads, "datetime_start", "seconds", COPIED_ATTR,
                         *names])
        for t in trials:
            seconds = t.duration.total_seconds() if t.duration is not None else ""
            start = t.datetime_start.isoformat(timespec="seconds") if t.datetime_start else ""
            values = list(t.values) if t.values is not None else [""] * len(objectives)
            if multi:
                values.append(t.number in on_front)
            writer.writerow([t.number, t.state.name, *values, start, seconds,
                             t.user_attrs.get(COPIED_ATTR, ""),
                             *(t.params.get(name, "") for name in names)])
    return path


def front_csv(study: optuna.Study, path: Path) -> Path:
    """The Pareto-optimal trials of a multi-objective stage: number, one column per objective,
    the trial's epochs and seconds, then its params."""
    trials = front(study)
    names = sorted({name for t in trials for name in t.params})
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["number", *objective_names(study), "epochs", "seconds", *names])
        for t in trials:
            writer.writerow([t.number, *(t.values or ()), t.user_attrs.get("epochs", ""),
                             t.user_attrs.get("seconds", ""),
                             *(t.params.get(name, "") for name in names)])
    return path
