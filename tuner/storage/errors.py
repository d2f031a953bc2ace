"""A storage failure in the middle of a run is one StorageError line, never a traceback, and it
says what is wrong: a read-only database or a full disk is not "lost"."""

from __future__ import annotations

import sqlite3
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import sqlalchemy

from tuner.errors import StorageError, chain
from tuner.storage.retry import RETRY_ENV, retry_seconds
from tuner.storage.urls import mask, reason

DRIVER_ERRORS = (sqlalchemy.exc.SQLAlchemyError, sqlite3.Error)
READ_ONLY = ("readonly database", "read-only", "permission denied")
DISK_FULL = ("disk is full", "no space left", "could not extend file", "disk full")


def explain(cause: str, url: str) -> str:
    """The message for a storage failure with driver message `cause`."""
    lowered = cause.lower()
    where = mask(url)
    if any(text in lowered for text in READ_ONLY):
        return (f"The storage '{where}' is read-only ({cause[:200]}); finished trials are "
                "saved. Make it writable (or pass another --storage) and run the same command.")
    if any(text in lowered for text in DISK_FULL):
        return (f"The disk of the storage '{where}' is full ({cause[:200]}); finished trials "
                "are saved. Free some space and run the same command again.")
    waited = "" if url.startswith("sqlite") else (
        f" (after retrying for {retry_seconds():g} s, ${RETRY_ENV})")
    return (f"Lost the storage '{where}'{waited}: {cause[:300]}. Finished trials are saved and "
            "a running trial is retried (from its checkpoint, if it has one); run the same "
            "command again once the database is back.")


def from_storage(exc: BaseException) -> bool:
    """True when `exc` (or an exception it was raised from) is a database error raised inside
    Optuna's storage: the study's storage failed, not the trial (an objective's own database
    errors are the trial's)."""
    for current in chain(exc):
        if isinstance(current, optuna.exceptions.StorageInternalError):
            return True
        if isinstance(current, DRIVER_ERRORS) and any(
                "storages" in Path(frame.filename).parts and "optuna" in Path(frame.filename).parts
                for frame in traceback.extract_tb(current.__traceback__)):
            return True
    return False


@contextmanager
def storage_errors(url: str) -> Iterator[None]:
    """Turn a storage failure in the middle of a run (database down, connection lost, file
    read-only, disk full) into one StorageError line; finished trials are already stored."""
    try:
        yield
    except (*DRIVER_ERRORS, optuna.exceptions.StorageInternalError) as exc:
        raise StorageError(explained(exc, url)) from None


def explained(exc: BaseException, url: str) -> str:
    """explain() for a storage exception."""
    return explain(driver_reason(exc, url), url)


def driver_reason(exc: BaseException, url: str) -> str:
    """The database driver's message under Optuna's wrapper ("... e.g. exceeding max length"),
    on one line, the storage's password masked."""
    return reason(exc.__cause__ if exc.__cause__ is not None else exc, url)
