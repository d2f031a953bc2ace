"""How a stage ends at exactly its target with any number of workers, and how trials of dead
workers are found.

A stage's target is its count of finished (COMPLETE + PRUNED) trials in storage, across every
process: a new trial runs only while fewer than `trials` non-failed trials have lower numbers;
otherwise it is told FAIL with user attr reason "surplus" (trial numbers are unique and ordered,
so the finished count ends exactly at the target however many workers run). When every remaining
slot is held by another worker's running trial, a worker waits; a dead worker's trial is failed
and re-queued by the storage's heartbeat.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import suppress
from datetime import datetime
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.search.trials import own_trials
from tuner.storage.optuna_private import beats, trial_id

log = logging.getLogger("tuner")


def slots_taken(trials: Sequence[FrozenTrial], target: int) -> bool:
    """True when non-failed trials already fill the target and none is waiting to be run."""
    live = sum(t.state != TrialState.FAIL for t in trials)
    waiting = any(t.state == TrialState.WAITING for t in trials)
    return live >= target and not waiting


def is_surplus(study: optuna.Study, trial: optuna.Trial, target: int) -> bool:
    """True when `target` non-failed trials have lower numbers than `trial` (copies of an
    earlier stage's trials, search/warm_start.py, do not count)."""
    lower = sum(1 for t in own_trials(study.get_trials(deepcopy=False))
                if t.number < trial.number and t.state != TrialState.FAIL)
    return lower >= target


def first_beat(storage: Any, trial: optuna.Trial) -> None:
    """Record the trial's first heartbeat now, then mark it "beating": Optuna never fails a
    RUNNING trial that has no heartbeat row, so a process killed right after ask() would leave
    an eternal RUNNING trial; fail_orphans catches those by the missing mark."""
    if beats(storage):
        storage.record_heartbeat(trial_id(trial))
        trial.set_user_attr("beating", trial.number)  # a retry's copy of it names another


def fail_orphans(storage: Any, study: optuna.Study) -> None:
    """Fail RUNNING trials that never got their first heartbeat and are older than 3 grace
    periods (their process was killed between ask() and first_beat; Ctrl-C there is caught)."""
    if not beats(storage):
        return
    interval = storage.get_heartbeat_interval()
    limit = 3 * (getattr(storage, "grace_period", None) or 2 * interval)
    now = datetime.now()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        started = t.datetime_start
        mark = t.user_attrs.get("beating")  # True: an older tuner's mark
        if mark is True or type(mark) is int and mark == t.number or started is None:
            continue
        if (now - started).total_seconds() > limit:
            log.warning("trial %d never started beating (its process died); failing it",
                        t.number)
            with suppress(optuna.exceptions.UpdateFinishedTrialError, ValueError,
                          RuntimeError):
                study.tell(t.number, state=TrialState.FAIL)
