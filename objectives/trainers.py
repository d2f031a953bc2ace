"""The trainers running on this machine, so that each fit's automatic thread count is its fair
share of the cores: two tuner processes that each took every core would make BLAS and torch
threads spin against each other (12x slower each on 2 cores: docs/performance.md).

Every fit that lets the tuner choose its threads holds an entry here while it trains: a file
named after its process in a per-user folder ($TUNER_TRAINERS_DIR, else
$XDG_RUNTIME_DIR/tuner-trainers, else <tmp>/tuner-<uid>/trainers), exclusively locked with
flock(2). The kernel drops the lock when the process ends however it ends (a SIGKILL included), so
a live entry is one whose lock is held; entries nobody holds are stale and removed by whoever
counts. A fit's share is cores // live entries (its own included), at least 1, decided when it
starts and again at each of its reports (`rebalance`).

Linux and macOS (fcntl); elsewhere nothing is registered and every fit counts itself alone.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no registry
    fcntl = None  # type: ignore[assignment]

TRAINERS_ENV = "TUNER_TRAINERS_DIR"


def folder() -> Path:
    """Where this user's trainers register."""
    if os.environ.get(TRAINERS_ENV):
        return Path(os.environ[TRAINERS_ENV])
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "tuner-trainers"
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"tuner-{uid}" / "trainers"


class Entry:
    """This process's entry while one of its fits trains (a context manager)."""

    def __init__(self, where: Path | None = None) -> None:
        self.where = where or folder()
        self.path = self.where / f"{os.getpid()}-{id(self)}"
        self._fd: int | None = None

    def __enter__(self) -> Entry:
        if fcntl is None:
            return self
        hidden = self.where / f".{self.path.name}"  # locked before it is seen (live() skips it)
        try:
            self.where.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(hidden, os.O_CREAT | os.O_RDWR, 0o600)
        except OSError:  # an unwritable folder: train as if alone rather than not at all
            return self
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.replace(hidden, self.path)
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)  # releases the lock
            self._fd = None


def live(where: Path | None = None) -> int:
    """The trainers holding an entry now (this process's own included); stale entries are
    removed. At least 1: the caller is about to train."""
    where = where or folder()
    if fcntl is None:
        return 1
    try:
        names = os.listdir(where)
    except OSError:
        return 1
    count = 0
    for name in names:
        if name.startswith("."):  # being registered
            continue
        path = where / name
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:  # removed meanwhile
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: a live trainer (flock locks are per open file, so
            count += 1           # this process's own entry counts too)
        else:
            path.unlink(missing_ok=True)  # nobody holds it: its process ended
        finally:
            os.close(fd)
    return max(count, 1)


def fair_share(cores: int, where: Path | None = None) -> int:
    """cores // live trainers, at least 1."""
    return max(1, cores // live(where))
