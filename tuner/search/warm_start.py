"""An informed fine stage: a refine stage starts with copies of the source stage's completed
trials that lie inside its refined box, so its sampler (TPE) models from its first trial rather
than spending its startup trials on random points the source already measured there.

A copy is a COMPLETE trial added to the stage study (Optuna's add_trials) with the source's
values, params (those of the refined space; each inside its bounds or choices, with the params
the source did not sample left out as they were) and intermediate values (the pruner reads the
curves too), and user attr `copied_from = "coarse:12"`. It is never trained again and counts
neither toward the stage's target, nor its cost, nor the answer (search/trials.is_copy).
Copies are made only where their values mean the same thing: a single-objective study whose
source and refine stage train with the same fixed params."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.search.space import distribution
from tuner.search.trials import COPIED_ATTR, is_copy
from tuner.spec.model import ParamSpace


def inside(params: dict[str, Any], space: Sequence[ParamSpace]) -> bool:
    """True when every param of `space` the trial sampled lies in its bounds or choices, and
    the trial sampled nothing outside `space`."""
    by_name = {p.name: p for p in space}
    if any(name not in by_name for name in params):
        return False
    for name, value in params.items():
        param = by_name[name]
        if param.kind == "categorical":
            if value not in (param.choices or ()):
                return False
        elif not (param.low is not None and param.high is not None
                  and param.low <= value <= param.high):
            return False
    return True


def copies(source: Iterable[FrozenTrial], source_name: str, space: Sequence[ParamSpace],
           done: set[str]) -> list[FrozenTrial]:
    """Copies of the complete `source` trials inside `space` (none of a copy, none already in
    `done`, the copied_from keys the stage holds)."""
    by_name = {p.name: p for p in space}
    out = []
    for trial in source:
        key = f"{source_name}:{trial.number}"
        if (trial.state != TrialState.COMPLETE or is_copy(trial) or key in done
                or not inside(trial.params, space)):
            continue
        try:
            out.append(optuna.trial.create_trial(
                state=TrialState.COMPLETE, values=trial.values, params=dict(trial.params),
                distributions={name: distribution(by_name[name]) for name in trial.params},
                intermediate_values=dict(trial.intermediate_values),
                user_attrs={COPIED_ATTR: key, "metrics": trial.user_attrs.get("metrics") or {}}))
        except ValueError:  # off the stage's own grid (another step or kind): not a point of it
            continue
    return out


def warm_start(study: optuna.Study, source: optuna.Study, source_name: str,
               space: Sequence[ParamSpace]) -> int:
    """Add the copies to `study`; how many were added."""
    done = {t.user_attrs[COPIED_ATTR] for t in study.get_trials(deepcopy=False) if is_copy(t)}
    added = copies(source.get_trials(deepcopy=False), source_name, space, done)
    study.add_trials(added)
    return len(added)
