"""Everything one process needs to run a study's trials, built once before the first trial."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial

from objectives.data import Dataset
from objectives.threads import set_budget
from tuner import tracking
from tuner.engine.checkpoint_store import ArtifactStore, checkpoint_location, checkpoint_store
from tuner.engine.cross_validation import Folds, folds_for
from tuner.options import RunOptions
from tuner.spec import StudySpec
from tuner.storage import open_storage

log = logging.getLogger("tuner")

WORKER_INDEX_ENV = "TUNER_WORKER_INDEX"


@dataclass
class Context:
    """The study, how it runs, its storage and tracker, this worker's index and the data."""

    spec: StudySpec
    options: RunOptions
    storage: RDBStorage
    tracker: tracking.Tracker
    worker_index: int | None
    data: Dataset
    checkpoints: ArtifactStore | None = None
    """Trial checkpoints (engine/checkpoints.py); None when off, when the objective can't or
    when trials cross-validate (a fold is trained again whole)."""
    folds: Folds | None = None
    """The folds every trial cross-validates on (engine/cross_validation.py); None: one fit
    on train, judged on val."""


def worker_index(role: str) -> int | None:
    """$TUNER_WORKER_INDEX (set for --jobs workers); a plain study is worker 0, a bare worker
    None (it draws fresh sampler seeds)."""
    raw = os.environ.get(WORKER_INDEX_ENV)
    if raw is not None and raw.strip().isdigit():
        return int(raw)
    return 0 if role == "study" else None


def open_context(spec: StudySpec, options: RunOptions, data: Dataset, role: str,
                 index: int | None = None) -> Context:
    """Take `options.threads` as this process's thread budget, check the tracking store, open
    the storage (a dead worker's trial, once failed and
    re-queued, gets its MLflow run closed) and put them together with the data. `index`: the
    worker's index when its caller knows it (Dask tasks), else from the environment."""
    if options.threads is not None:
        set_budget(options.threads)
    tracker = tracking.make_tracker(options.tracking_uri, not options.tracking)
    tracker.check()

    def on_stale(trial: FrozenTrial) -> None:
        run_id = trial.user_attrs.get("mlflow_run_id")
        log.warning("trial %d of a dead worker failed after its heartbeat stopped; retrying it",
                    trial.number)
        if run_id:
            tracker.end_trial_run(run_id, "FAIL", "worker died (heartbeat stale)")

    folds = folds_for(spec, data)
    resumable = (options.checkpoints and getattr(spec.objective, "resumable", False)
                 and folds is None)
    storage = open_storage(options.storage_url, on_stale=on_stale, inherit=resumable)
    store = None
    if resumable:
        store = checkpoint_store(checkpoint_location(options.storage_url,
                                                     options.checkpoint_dir))
    return Context(spec=spec, options=options, storage=storage, tracker=tracker,
                   worker_index=worker_index(role) if index is None else index, data=data,
                   checkpoints=store, folds=folds)
