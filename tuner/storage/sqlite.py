"""SQLite files shared by several processes: created once, never half-made, then used in WAL mode.

Processes started at the same moment on a new file would race on creating its tables ("table
studies already exists", "duplicate column name", a half-migrated MLflow store left broken for
good), so `create_once` builds the file under an exclusive lock on its folder, into a temporary
file that is renamed into place only when complete: a process killed while creating leaves
nothing a later one would trip over. Optuna's storage and MLflow's tracking store both go
through it.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SQLITE_BUSY_TIMEOUT = 120.0


def sqlite_file(url: str) -> Path | None:
    """The database file of a sqlite:/// URL (relative or absolute); None for other URLs,
    in-memory databases and file: URIs."""
    if not url.startswith("sqlite:///"):
        return None
    database = url.removeprefix("sqlite:///").split("?", 1)[0]
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive flock on `folder` itself (no lock file is left behind)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def create_once(path: Path, create: Callable[[Path], None]) -> None:
    """Make sure the SQLite file `path` exists, built by `create(tmp)` at most once across
    processes (see the module docstring)."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with folder_lock(path.parent):
        if path.exists():
            return
        for stale in path.parent.glob(f".{path.name}.tmp-*"):  # left by a killed creator
            stale.unlink(missing_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            create(tmp)
            with sqlite3.connect(tmp) as conn:  # fold any WAL back into the file
                conn.execute("PRAGMA journal_mode=DELETE")
            conn.close()
            os.replace(tmp, path)
        finally:
            for leftover in (tmp, tmp.with_name(tmp.name + "-journal"),
                             tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
                leftover.unlink(missing_ok=True)


def use_wal(path: Path) -> None:
    """Switch the file to WAL mode (persistent), so readers never block the writer and parallel
    local workers only ever wait on each other's short writes."""
    conn = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT)
    try:
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError:
        pass  # another process holds the file right now; it still works, with the busy timeout
    finally:
        conn.close()


def normal_sync(dbapi_connection: Any, connection_record: Any) -> None:
    """synchronous=NORMAL: in WAL mode a commit no longer waits for an fsync (the file is synced
    at checkpoints). A crash of the process loses nothing; a power cut may lose the last few
    commits but never corrupts the file. Per-epoch trial.report writes stop costing an fsync."""
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")
