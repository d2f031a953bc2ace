"""Pruning for every stage, multi-objective ones included.

Optuna's Trial.report and should_prune raise in a multi-objective study, so there the tuner
keeps the watched metric's curve (the stage's `prune_on`, default the first metric) in a
companion single-objective study `NAME/STAGE#pruning` in the same storage, one companion trial
per trial of the stage (user attrs link the two: "pruning_trial" on the stage's trial, "trial"
on the companion). The stage's own pruner, built as for any stage, judges the companion trials
exactly as it judges a single-objective stage: median, percentile, successive halving and
hyperband compare each curve with the other trials' curves at the same steps. A companion trial
ends like its trial: COMPLETE with the watched metric's last value, PRUNED or FAIL.

Limits: the stage's sampler does not see the pruner (Optuna's TPE groups trials by Hyperband
bracket only when the pruner is on its own study), and a companion trial of a dead worker's
trial is failed by the next worker's stage loop, not by a heartbeat of its own.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from contextlib import suppress

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.engine.context import Context
from tuner.search.samplers import build_pruner, optuna_direction
from tuner.search.trials import PRUNING_SUFFIX
from tuner.spec import Stage
from tuner.storage import beating_by_hand


def open_pruning_study(ctx: Context, stage: Stage) -> optuna.Study:
    """The stage's companion study, created on first use, with the stage's pruner."""
    spec = ctx.spec
    metric = spec.prune_on(stage)
    study = optuna.create_study(
        storage=ctx.storage, study_name=spec.study_name(stage.name) + PRUNING_SUFFIX,
        direction=optuna_direction(spec.direction_of(metric)),
        sampler=optuna.samplers.RandomSampler(),
        pruner=build_pruner(stage), load_if_exists=True)
    if study.metric_names != [metric]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([metric])
    return study


class Pruning:
    """A trial's reports to its pruner: on the trial itself in a single-objective stage, on its
    companion trial in a multi-objective one."""

    def __init__(self, trial: optuna.Trial, companion: optuna.Study | None) -> None:
        self.companion = companion
        self.watched: optuna.Trial = trial
        if companion is not None:
            with beating_by_hand():
                self.watched = companion.ask()
            self.watched.set_user_attr("trial", trial.number)
            trial.set_user_attr("pruning_trial", self.watched.number)

    def report(self, value: float, step: int) -> None:
        self.watched.report(value, step)

    def should_prune(self) -> bool:
        return self.watched.should_prune()

    def finish(self, state: TrialState, value: float | None) -> None:
        """End the companion trial like the trial (COMPLETE with the watched metric's last
        value, PRUNED or FAIL); nothing to do in a single-objective stage."""
        if self.companion is None:
            return
        with suppress(optuna.exceptions.UpdateFinishedTrialError):
            if state == TrialState.COMPLETE and value is not None:
                self.companion.tell(self.watched, value)
            else:
                self.companion.tell(self.watched, state=(
                    TrialState.PRUNED if state == TrialState.PRUNED else TrialState.FAIL))


def fail_orphan_companions(companion: optuna.Study, trials: Sequence[FrozenTrial]) -> None:
    """End running companion trials whose trial (among the stage's `trials`) ended FAIL (its
    worker died and the heartbeat failed it) or PRUNED, in the same state, so that no stale
    curve waits forever among the running ones. The trial's own worker ends the companion
    right after the trial and would end it the same way (whichever tells first wins); a
    COMPLETE trial's companion is left to it, which has the watched metric's value."""
    running = companion.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if not running:
        return
    ended = {t.number: t.state for t in trials
             if t.state in (TrialState.FAIL, TrialState.PRUNED)}
    for trial in running:
        state = ended.get(trial.user_attrs.get("trial"))  # type: ignore[arg-type]
        if state is not None:
            with suppress(optuna.exceptions.UpdateFinishedTrialError, ValueError,
                          RuntimeError):
                companion.tell(trial.number, state=state)
