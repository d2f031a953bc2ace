"""Riding out a database restart: storage calls that fail because the connection to a network
database was lost are retried for a bounded time ($TUNER_STORAGE_RETRY_SECONDS, default 60 s)
before the worker gives up with one line. Only connection errors are retried, and only for
network databases (a SQLite error never heals by waiting)."""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

import optuna
import sqlalchemy
from optuna.storages import RDBStorage

from tuner.errors import StorageError
from tuner.storage.optuna_private import CACHED_CALLS

log = logging.getLogger("tuner")

RETRY_ENV = "TUNER_STORAGE_RETRY_SECONDS"
DEFAULT_RETRY_SECONDS = 60.0
PAUSE_SECONDS = (0.5, 1.0, 2.0, 4.0)
T = TypeVar("T")

DISCONNECTS = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
               sqlalchemy.exc.PendingRollbackError)
"""A lost or refused connection, or a session left holding a transaction on one."""


def retry_seconds() -> float:
    """How long a lost connection is retried: $TUNER_STORAGE_RETRY_SECONDS or 60."""
    raw = os.environ.get(RETRY_ENV, "").strip()
    if not raw:
        return DEFAULT_RETRY_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise StorageError(f"{RETRY_ENV} must be a number of seconds >= 0. Got {raw!r} instead.")
    return seconds


def is_disconnect(exc: BaseException, raw: bool = False) -> bool:
    """True for a lost or refused database connection (as SQLAlchemy, or as Optuna's wrapper);
    with `raw`, any error of the database driver itself while connecting."""
    if raw:
        return type(exc).__module__.split(".")[0] in ("psycopg", "psycopg2", "pymysql",
                                                      "MySQLdb")
    if isinstance(exc, optuna.exceptions.StorageInternalError):
        exc = exc.__cause__ or exc
    return isinstance(exc, DISCONNECTS)


def retrying(call: Callable[[], T], seconds: float, what: str,
             reset: Callable[[], None] | None = None, raw: bool = False) -> T:
    """call(), retried on lost connections until `seconds` have passed; `reset()` runs before
    each retry (to drop a session that still holds the dead connection's transaction)."""
    deadline = time.monotonic() + seconds
    attempt = 0
    while True:
        try:
            return call()
        except Exception as exc:
            if not is_disconnect(exc, raw) or time.monotonic() >= deadline:
                raise
            pause = PAUSE_SECONDS[min(attempt, len(PAUSE_SECONDS) - 1)]
            if attempt == 0:
                log.warning("storage connection lost during %s; retrying for up to %.0f s",
                            what, seconds)
            attempt += 1
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            if reset is not None:
                reset()


def _retried(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: RetryingRDBStorage, *args: Any, **kwargs: Any) -> Any:
        return retrying(lambda: method(self, *args, **kwargs), self.retry_for, method.__name__,
                        reset=self.remove_session)

    return wrapper


RETRIED_METHODS = (
    "create_new_study", "delete_study", "set_study_user_attr", "set_study_system_attr",
    "get_study_id_from_name", "get_study_name_from_id", "get_study_directions",
    "get_study_user_attrs", "get_study_system_attrs", "get_trial_user_attrs",
    "get_trial_system_attrs", "get_all_studies", "create_new_trial", "set_trial_param",
    "get_trial_param", "set_trial_state_values", "set_trial_intermediate_value",
    "set_trial_user_attr", "set_trial_system_attr", "get_trial_id_from_study_id_trial_number",
    "get_trial", "get_all_trials", "get_best_trial", "record_heartbeat",
)


class RetryingRDBStorage(RDBStorage):
    """An RDBStorage that waits out a database restart: new connections are retried for
    `retry_for` seconds (so every query, Optuna's internal ones included, waits for the server
    to come back), and a public call whose connection dies under it is run again."""

    retry_for: float = DEFAULT_RETRY_SECONDS

    def retry_connections(self, seconds: float) -> None:
        """Retry refused connections for `seconds` (a SQLAlchemy do_connect hook)."""
        self.retry_for = seconds

        def connect(dialect: Any, record: Any, cargs: Any, cparams: Any) -> Any:
            return retrying(lambda: dialect.connect(*cargs, **cparams), self.retry_for,
                            "a reconnect", raw=True)

        sqlalchemy.event.listen(self.engine, "do_connect", connect)
        self.engine.dispose()  # pooled connections made before the hook reconnect through it


for _name in (*RETRIED_METHODS, *CACHED_CALLS):
    setattr(RetryingRDBStorage, _name, _retried(getattr(RDBStorage, _name)))
