"""Heartbeats for ask/tell loops and the re-queueing of a dead worker's trial.

A worker that dies mid-trial stops beating; after the grace period (2 x the interval) the next
worker that checks fails that trial and re-queues its params (RetryHeartbeatStaleTrialCallback).
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial

from tuner.errors import StorageError
from tuner.storage.errors import driver_reason
from tuner.storage.optuna_private import heartbeat_storage, storage_url, trial_id

log = logging.getLogger("tuner")

HEARTBEAT_ENV = "TUNER_HEARTBEAT_SECONDS"
DEFAULT_HEARTBEAT_SECONDS = 30
MAX_RETRY = 3

StaleHook = Callable[[FrozenTrial], None]

HEARTBEAT_WARNING = "Heartbeat of storage is supposed to be used"
"""The start of the warning study.ask() gives on a storage with heartbeats (Optuna expects
study.optimize() to beat); an ask/tell loop beats with heartbeat() below."""


def heartbeat_seconds() -> int:
    """Heartbeat interval: $TUNER_HEARTBEAT_SECONDS (a positive integer) or 30 s."""
    raw = os.environ.get(HEARTBEAT_ENV)
    if raw is None or raw.strip() == "":
        return DEFAULT_HEARTBEAT_SECONDS
    try:
        seconds = int(raw)
    except ValueError:
        seconds = 0
    if seconds < 1:
        raise StorageError(
            f"{HEARTBEAT_ENV} must be a positive integer number of seconds. Got {raw!r} instead."
        )
    return seconds


class RetryStale:
    """Re-queue a dead worker's trial (up to MAX_RETRY times), then tell `on_stale` about it."""

    def __init__(self, on_stale: StaleHook | None, inherit: bool = False) -> None:
        self._retry = RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY,
                                                       inherit_intermediate_values=inherit)
        self._on_stale = on_stale

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._retry(study, trial)
        if self._on_stale is not None:
            self._on_stale(trial)


def fail_stale(study: optuna.Study) -> None:
    """Fail (and re-queue) trials whose worker stopped beating; call before each study.ask()
    when driving trials by ask/tell (study.optimize does it by itself)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


@contextmanager
def beating_by_hand() -> Iterator[None]:
    """Keep Optuna's HEARTBEAT_WARNING quiet for the duration (wrap study.ask() in it), and
    only that warning: the filter is scoped, not installed for the whole process."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=HEARTBEAT_WARNING)
        yield


@contextmanager
def heartbeat(study: optuna.Study, trial: optuna.Trial) -> Iterator[None]:
    """Beat for `trial` in a background thread while the block runs (ask/tell loops need this;
    study.optimize does it by itself). A no-op on storages without heartbeats. A failed beat
    (database gone) is one warning, not a thread traceback; the trial's own calls will fail."""
    backend = heartbeat_storage(study)
    interval = backend.get_heartbeat_interval() if backend is not None else None
    if backend is None or interval is None:
        yield
        return
    stop = threading.Event()
    url = storage_url(study)

    def beat() -> None:
        while True:
            try:
                backend.record_heartbeat(trial_id(trial))
            except Exception as exc:  # noqa: BLE001 - reported once, the trial goes on
                log.warning("heartbeat of trial %d failed: %s", trial.number,
                            driver_reason(exc, url)[:200])
                return
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial.number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
