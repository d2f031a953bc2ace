"""The only module touching Optuna's private API; each use says why no public one does.

The tuner drives trials by ask/tell (a stage counts its target across workers itself), while
Optuna beats heartbeats only inside study.optimize. Beating by hand needs the storage behind a
study and a trial's storage id, which Optuna keeps private (optuna.storages._heartbeat,
Study._storage, Trial._trial_id).
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled


def beats(storage: Any) -> bool:
    """True when `storage` records heartbeats (an RDBStorage with an interval)."""
    return isinstance(storage, BaseHeartbeat) and is_heartbeat_enabled(storage)  # type: ignore[arg-type]


def heartbeat_storage(study: optuna.Study) -> Any:
    """The study's storage when it records heartbeats, else None (Study._storage is the only
    handle Optuna gives on it)."""
    storage = study._storage
    return storage if beats(storage) else None


def storage_url(study: optuna.Study) -> str:
    """The URL the study's RDB storage was opened with, password included (to mask it in a
    driver's message), else "" (Optuna wraps an RDBStorage in a private _CachedStorage)."""
    storage = study._storage
    return str(getattr(getattr(storage, "_backend", storage), "url", "") or "")


def trial_id(trial: optuna.Trial) -> int:
    """The storage's id of a trial (record_heartbeat takes ids, study.ask gives Trial objects)."""
    return int(trial._trial_id)


CACHED_CALLS = ("_create_new_trial", "_set_trial_param", "_get_best_trial_id", "_get_trials",
                "_get_stale_trial_ids")
"""RDBStorage methods that Optuna's caching layer (_CachedStorage, which wraps the RDBStorage of
every study) and fail_stale_trials call directly instead of the public ones (optuna 5.1);
tuner.storage.retry retries them like the public calls, or a database restart that kills one
of their queries would stop the worker."""
