"""A storage failure in the middle of a run is one StorageError line, never a traceback, and it
says what is wrong: a read-only database or a full disk is not "lost"."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import optuna
import sqlalchemy

from tuner.errors import StorageError
from tuner.storage.urls import mask, reason

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
    return (f"Lost the storage '{where}': {cause[:300]}. Finished trials are saved; run the "
            "same command again once the database is back.")


@contextmanager
def storage_errors(url: str) -> Iterator[None]:
    """Turn a storage failure in the middle of a run (database down, connection lost, file
    read-only, disk full) into one StorageError line; finished trials are already stored."""
    try:
        yield
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError,
            sqlite3.Error) as exc:
        cause = reason(exc.__cause__ if exc.__cause__ is not None else exc, url)
        raise StorageError(explain(cause, url)) from None
