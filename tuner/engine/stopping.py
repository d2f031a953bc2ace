"""A stage's stopping rules in the loop (the rules themselves: search/stopping.py): the worker
whose loop finds a rule met stores why in the stage study, every worker then ends the stage
(the trials still running finish and count), and a rerun skips it like a stage at its target;
a larger trial target (--trials, the file) reopens it, its rules then judging only the trials
from there on."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial

from tuner.engine.context import Context
from tuner.search.stopping import stop_reason
from tuner.search.trials import FINISHED, own_trials
from tuner.spec import Stage

log = logging.getLogger("tuner")

STOPPED_ATTR = "stopped"
"""A stage a stopping rule ended: {"reason": why, "trials": its trial target then}."""
STOP_SINCE_ATTR = "stop_since"
"""The stage's own finished trials when it was last reopened; its rules judge only later ones."""


def is_stopped(study: optuna.Study, stage: Stage) -> bool:
    """True when a stopping rule ended the stage at a trial target no smaller than now."""
    stopped = study.user_attrs.get(STOPPED_ATTR)
    if not stopped:
        return False
    return stage.trials is None or stopped.get("trials") is None \
        or stopped["trials"] >= stage.trials


def reopen(study: optuna.Study, stage: Stage) -> None:
    """A stage a stopping rule ended runs again when its trial target grew (--trials, the
    file): its rules then judge only the trials from here on."""
    stopped = study.user_attrs.get(STOPPED_ATTR)
    if not stopped or is_stopped(study, stage):
        return
    own = own_trials(study.get_trials(deepcopy=False, states=FINISHED))
    study.set_user_attr(STOP_SINCE_ATTR, len(own))
    study.set_user_attr(STOPPED_ATTR, None)
    log.info("stage %s: reopened (stopped early at %s trials, its target is now %d)",
             stage.name, stopped["trials"], stage.trials)


def stop_now(ctx: Context, study: optuna.Study, stage: Stage,
              trials: Sequence[FrozenTrial]) -> bool:
    """True when the stage is ended by a stopping rule: here now (stored, logged), or by
    another worker already."""
    if study.user_attrs.get(STOPPED_ATTR):
        return True
    if stage.stop is None:
        return False
    reason = stop_reason(stage.stop, trials, ctx.spec.direction == "maximize",
                         int(study.user_attrs.get(STOP_SINCE_ATTR) or 0))
    if reason is None:
        return False
    study.set_user_attr(STOPPED_ATTR, {"reason": reason, "trials": stage.trials})
    log.info("stage %s: stopped early: %s", stage.name, reason)
    return True
