"""Opening an Optuna storage: an RDBStorage (SQLite file by default, PostgreSQL for many machines)
with heartbeats on, or one StorageError line when it cannot be used.

SQLite files are created once, under a lock, into a temporary file renamed into place (sqlite.py),
then used in WAL mode with a long busy timeout, so workers started together never race on the
schema and several local processes share one file. A network database is wrapped in
RetryingRDBStorage (retry.py), so a database restart pauses the workers instead of stopping them.
"""

from __future__ import annotations

import random
import re
import sqlite3
import time
import warnings
from typing import Any

import optuna
import sqlalchemy
from optuna.storages import RDBStorage
from sqlalchemy.engine import URL

from tuner.errors import StorageError
from tuner.storage.heartbeat import RetryStale, StaleHook, heartbeat_seconds
from tuner.storage.retry import RetryingRDBStorage, retry_seconds
from tuner.storage.sqlite import SQLITE_BUSY_TIMEOUT, create_once, normal_sync, sqlite_file, use_wal
from tuner.storage.urls import check_driver, mask, parse_url, reason

OPTUNA_REVISION = re.compile(r"v\d+\.\d+\.\d+\.\w+")
CREATE_ATTEMPTS = 5


def engine_kwargs(parsed: URL) -> dict[str, Any]:
    if parsed.get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}}
    if parsed.get_backend_name() == "postgresql":
        return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    return {"pool_pre_ping": True}


def open_storage(
    url: str, *, heartbeat: int | None = None, on_stale: StaleHook | None = None,
    inherit: bool = False,
) -> RDBStorage:
    """An Optuna RDBStorage for `url` with heartbeats every `heartbeat` seconds (default:
    heartbeat_seconds()); `on_stale(trial)` runs for each dead worker's trial after it is failed
    and re-queued (e.g. to end its MLflow run); `inherit`: the re-queued trial keeps the dead
    one's intermediate values (it continues from a checkpoint). StorageError (one line) if it
    cannot be used."""
    parsed = parse_url(url)
    check_driver(parsed, url)
    interval = heartbeat if heartbeat is not None else heartbeat_seconds()
    path = sqlite_file(url)
    try:
        if path is not None:
            create_once(path, lambda tmp: RDBStorage(f"sqlite:///{tmp}").engine.dispose())
            use_wal(path)
        _check_is_optuna(url, parsed)
        for attempt in range(CREATE_ATTEMPTS):
            try:
                return _rdb_storage(url, parsed, interval, on_stale, inherit)
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as exc:
                # Workers started at the same instant on an empty network database race to
                # create the tables; the loser sees "already exists" and simply tries again.
                if "already exists" not in str(exc) or attempt == CREATE_ATTEMPTS - 1:
                    raise
                time.sleep(0.5 + random.random())
        raise AssertionError("unreachable")
    except (sqlalchemy.exc.SQLAlchemyError, sqlite3.Error, OSError) as exc:
        raise StorageError(f"Cannot open storage '{mask(url)}': {reason(exc, url)}.") from None
    except RuntimeError as exc:  # Optuna's schema-version check
        raise StorageError(f"Cannot use storage '{mask(url)}': {reason(exc, url)}.") from None


def require_existing(url: str) -> None:
    """StorageError when `url` names a SQLite file that does not exist: commands that only read
    a study (list, show, report, final) must not create an empty storage for a mistyped path."""
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        raise StorageError(
            f"No storage file {path} (storage '{mask(url)}'); expected an existing study "
            "storage: the --storage (or $TUNER_STORAGE) the study ran with.")


def open_existing(url: str) -> RDBStorage:
    """open_storage for a storage that must exist already (see require_existing)."""
    require_existing(url)
    return open_storage(url)


def _check_is_optuna(url: str, parsed: URL) -> None:
    """StorageError when the database belongs to another application (e.g. an MLflow store):
    Optuna would add its tables to it, then fail with a misleading "update optuna" message.
    Optuna names its schema revisions after its versions (v3.2.0.a); other tools (MLflow:
    hex ids) do not. A new, empty or non-Alembic database passes."""
    engine = sqlalchemy.create_engine(url, **engine_kwargs(parsed))
    try:
        with engine.connect() as conn:
            if not sqlalchemy.inspect(conn).has_table("alembic_version"):
                return
            revision = conn.execute(
                sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
    if revision is not None and not OPTUNA_REVISION.fullmatch(str(revision)):
        raise StorageError(
            f"Storage '{mask(url)}' is not an Optuna study storage: its tables belong to "
            f"another application (schema revision '{revision}', e.g. an MLflow store); "
            "expected a new database or one written by Optuna, e.g. sqlite:///tuner.db."
        )


def _rdb_storage(url: str, parsed: URL, interval: int, on_stale: StaleHook | None,
                 inherit: bool) -> RDBStorage:
    sqlite = parsed.get_backend_name() == "sqlite"
    kind = RDBStorage if sqlite else RetryingRDBStorage
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = kind(
            url,
            engine_kwargs=engine_kwargs(parsed),
            heartbeat_interval=interval,
            heartbeat_stale_trial_callback=RetryStale(on_stale, inherit),
        )
    if sqlite:
        sqlalchemy.event.listen(storage.engine, "connect", normal_sync)
        storage.engine.dispose()  # pooled connections made before the listener reconnect
    else:
        storage.retry_connections(retry_seconds())  # type: ignore[attr-defined]
    return storage
