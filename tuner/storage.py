"""Study storage: URL resolution, opening Optuna storages with heartbeats, masking secrets.

Every storage is an Optuna RDBStorage (SQLite file by default, PostgreSQL for many machines) with
heartbeats on: a worker that dies mid-trial stops beating, and after the grace period (2 x the
interval) the next worker that checks fails that trial and re-queues its params
(RetryHeartbeatStaleTrialCallback). SQLite files are put in WAL mode with a long busy timeout so
several local processes (`--jobs N`) can share one file without "database is locked" errors.
Workers that start together on an empty database retry the schema creation they race on.
Any problem opening a storage, or losing it mid-run (storage_errors), is one StorageError line;
passwords never appear in it.
"""

from __future__ import annotations

import logging
import os
import random
import re
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.trial import FrozenTrial
from sqlalchemy.engine import URL, make_url

from tuner.errors import StorageError

log = logging.getLogger("tuner")

DEFAULT_STORAGE = "sqlite:///tuner.db"
HEARTBEAT_ENV = "TUNER_HEARTBEAT_SECONDS"
DEFAULT_HEARTBEAT_SECONDS = 30
MAX_RETRY = 3
CREATE_ATTEMPTS = 5
SQLITE_BUSY_TIMEOUT = 120.0
OPTUNA_REVISION = re.compile(r"v\d+\.\d+\.\d+\.\w+")
EXAMPLE = "sqlite:///tuner.db or postgresql+psycopg://USER:PASSWORD@HOST:5432/DB"

StaleHook = Callable[[FrozenTrial], None]

# An ask/tell loop beats with heartbeat() below; Optuna warns about heartbeats outside optimize().
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")


def resolve_url(url: str | None) -> str:
    """--storage, else $TUNER_STORAGE, else the local SQLite file tuner.db."""
    return url or os.environ.get("TUNER_STORAGE") or DEFAULT_STORAGE


def mask(url: str) -> str:
    """The URL with any password (user:PASSWORD@ or ?password=) replaced by ***, safe to log."""
    masked = re.sub(r"(://[^:/@?#]*):.*@", r"\1:***@", url)  # up to the last @: safest
    return re.sub(r"(?i)([?&]password=)[^&]*", r"\1***", masked)


def scrub(text: str, url: str) -> str:
    """`text` with the URL and its raw password replaced by their masked forms."""
    text = text.replace(url, mask(url))
    try:
        password = make_url(url).password
    except (sqlalchemy.exc.ArgumentError, ValueError):
        password = None
    if password:
        text = text.replace(str(password), "***")
    return text


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


def parse_url(url: str) -> URL:
    """The SQLAlchemy URL of a storage, or StorageError naming the expected form."""
    try:
        parsed = make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        raise StorageError(
            f"Malformed storage URL '{mask(url)}'; expected e.g. {EXAMPLE}."
        ) from None
    if parsed.get_backend_name() == "sqlite" and not parsed.database:
        raise StorageError(
            f"Storage URL '{mask(url)}' names no SQLite file; expected e.g. sqlite:///tuner.db."
        )
    return parsed


def _check_driver(parsed: URL, url: str) -> None:
    """Raise StorageError when the URL's dialect or its DBAPI module cannot be loaded."""
    try:
        dialect = parsed.get_dialect()
    except sqlalchemy.exc.NoSuchModuleError:
        raise StorageError(
            f"Unknown database driver '{parsed.drivername}' in storage URL '{mask(url)}'; "
            f"expected e.g. {EXAMPLE}."
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError:
        hint = " (psycopg 3 is installed: use postgresql+psycopg://)" if (
            parsed.get_backend_name() == "postgresql") else ""
        raise StorageError(
            f"The Python driver for '{parsed.drivername}' is not installed{hint}; "
            f"storage URL '{mask(url)}'."
        ) from None


def _prepare_sqlite(parsed: URL) -> None:
    """Create the file's folder and switch the file to WAL mode (persistent), so readers never
    block the writer and parallel local workers only ever wait on each other's short writes."""
    database = parsed.database or ""
    if database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT)
    try:
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError:
        pass  # another process holds the file right now; it still works, with the busy timeout
    finally:
        conn.close()


def _engine_kwargs(parsed: URL) -> dict[str, Any]:
    if parsed.get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}}
    if parsed.get_backend_name() == "postgresql":
        return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    return {"pool_pre_ping": True}


def _reason(exc: BaseException, url: str) -> str:
    """The driver's own message (not SQLAlchemy's wrapper) on one line, with secrets masked."""
    orig = getattr(exc, "orig", None) or exc
    lines = [" ".join(line.split()).rstrip(".?") for line in str(orig).splitlines()]
    return scrub("; ".join(line for line in lines if line), url)


class _RetryStale:
    """Re-queue a dead worker's trial (up to MAX_RETRY times), then tell `on_stale` about it."""

    def __init__(self, on_stale: StaleHook | None) -> None:
        self._retry = RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)
        self._on_stale = on_stale

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._retry(study, trial)
        if self._on_stale is not None:
            self._on_stale(trial)


def open_storage(
    url: str, *, heartbeat: int | None = None, on_stale: StaleHook | None = None
) -> RDBStorage:
    """An Optuna RDBStorage for `url` with heartbeats every `heartbeat` seconds (default:
    heartbeat_seconds()); `on_stale(trial)` runs for each dead worker's trial after it is failed
    and re-queued (e.g. to end its MLflow run). StorageError (one line) if it cannot be used."""
    parsed = parse_url(url)
    _check_driver(parsed, url)
    interval = heartbeat if heartbeat is not None else heartbeat_seconds()
    try:
        if parsed.get_backend_name() == "sqlite":
            _prepare_sqlite(parsed)
        _check_is_optuna(url, parsed)
        for attempt in range(CREATE_ATTEMPTS):
            try:
                return _rdb_storage(url, parsed, interval, on_stale)
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as exc:
                # Workers started at the same instant on an empty database race to create
                # the tables; the loser sees "already exists" and simply tries again.
                if "already exists" not in str(exc) or attempt == CREATE_ATTEMPTS - 1:
                    raise
                time.sleep(0.5 + random.random())
        raise AssertionError("unreachable")
    except (sqlalchemy.exc.SQLAlchemyError, sqlite3.Error, OSError) as exc:
        raise StorageError(f"Cannot open storage '{mask(url)}': {_reason(exc, url)}.") from None
    except RuntimeError as exc:  # Optuna's schema-version check
        raise StorageError(f"Cannot use storage '{mask(url)}': {_reason(exc, url)}.") from None


def _check_is_optuna(url: str, parsed: URL) -> None:
    """StorageError when the database belongs to another application (e.g. an MLflow store):
    Optuna would add its tables to it, then fail with a misleading "update optuna" message.
    Optuna names its schema revisions after its versions (v3.2.0.a); other tools (MLflow:
    hex ids) do not. A new, empty or non-Alembic database passes."""
    engine = sqlalchemy.create_engine(url, **_engine_kwargs(parsed))
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


def _rdb_storage(url: str, parsed: URL, interval: int, on_stale: StaleHook | None) -> RDBStorage:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = RDBStorage(
            url,
            engine_kwargs=_engine_kwargs(parsed),
            heartbeat_interval=interval,
            heartbeat_stale_trial_callback=_RetryStale(on_stale),
        )
    if parsed.get_backend_name() == "sqlite":
        sqlalchemy.event.listen(storage.engine, "connect", _sqlite_normal_sync)
        storage.engine.dispose()  # pooled connections made before the listener reconnect
    return storage


def _sqlite_normal_sync(dbapi_connection: Any, connection_record: Any) -> None:
    """synchronous=NORMAL: in WAL mode a commit no longer waits for an fsync (the file is synced
    at checkpoints). A crash of the process loses nothing; a power cut may lose the last few
    commits but never corrupts the file. Per-epoch trial.report writes stop costing an fsync."""
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def fail_stale(study: optuna.Study) -> None:
    """Fail (and re-queue) trials whose worker stopped beating; call before each study.ask()
    when driving trials by ask/tell (study.optimize does it by itself)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


@contextmanager
def heartbeat(study: optuna.Study, trial: optuna.Trial) -> Iterator[None]:
    """Beat for `trial` in a background thread while the block runs (ask/tell loops need this;
    study.optimize does it by itself). A no-op on storages without heartbeats. A failed beat
    (database gone) is one warning, not a thread traceback; the trial's own calls will fail."""
    backend = study._storage
    interval = backend.get_heartbeat_interval() if isinstance(backend, BaseHeartbeat) else None
    if interval is None:
        yield
        return
    assert isinstance(backend, BaseHeartbeat)
    stop = threading.Event()

    def beat() -> None:
        while True:
            try:
                backend.record_heartbeat(trial._trial_id)
            except Exception as exc:  # noqa: BLE001 - reported once, the trial goes on
                log.warning("heartbeat of trial %d failed: %s", trial.number,
                            " ".join(str(exc).split())[:200])
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


@contextmanager
def storage_errors(url: str) -> Iterator[None]:
    """Turn a storage failure in the middle of a run (database down, connection lost) into one
    StorageError line instead of a traceback; finished trials are already safe in storage."""
    try:
        yield
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as exc:
        reason = _reason(exc.__cause__ if exc.__cause__ is not None else exc, url)
        raise StorageError(
            f"Lost the storage '{mask(url)}': {reason[:300]}. Finished trials are saved; "
            "run the same command again once the database is back."
        ) from None
