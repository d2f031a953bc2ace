"""What runs on a Dask worker for `tuner study --cluster` (cluster.py submits it): one
`tuner worker` process per task, with the task's worker index and its host's thread share, tied
to the Dask worker's life and stopped through a Dask Event."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping

from tuner.engine.context import WORKER_INDEX_ENV
from tuner.engine.jobs import INTERRUPTED, study_argv, thread_env
from tuner.errors import TunerError
from tuner.options import RunOptions
from tuner.spec import StudySpec
from tuner.storage.sqlite import sqlite_file
from tuner.tracking import resolve_uri

PARENT_ENV = "TUNER_DASK_WORKER_PID"
POLL_SECONDS = 2.0


def task_args(spec: StudySpec, options: RunOptions) -> tuple[list[str], dict[str, str]]:
    """`tuner worker` arguments and environment for a task: the study file with every override
    (the file, its data and the user's modules must exist at the same paths on the workers);
    the storage and tracking URIs through the environment, never on a command line."""
    local = RunOptions(storage=options.storage_url, tracking_uri=options.tracking_uri,
                       tracking=options.tracking, download=options.download,
                       data_dir=os.path.abspath(options.data_dir) if options.data_dir else None,
                       checkpoints=options.checkpoints, checkpoint_dir=options.checkpoint_dir)
    env = {"TUNER_STORAGE": absolute(options.storage_url)}
    if options.tracking:
        env["MLFLOW_TRACKING_URI"] = resolve_uri(options.tracking_uri)
    return study_argv(spec, local, None), env


def absolute(url: str) -> str:
    """A relative SQLite path made absolute (a Dask worker on this machine has its own folder)."""
    db = sqlite_file(url)
    return url if db is None or db.is_absolute() else f"sqlite:///{db.resolve()}"


def cluster_worker(index: int, argv: list[str], env: Mapping[str, str],
                   shares: Mapping[str, int], stop: str) -> int:
    """One `tuner worker` process started by a Dask task (on a Dask worker) with its host's
    thread share; it dies with the Dask worker (PARENT_ENV), and stops cleanly (SIGINT: its
    trial told FAIL "interrupted") when the client sets the Dask Event `stop`. A process of its
    own, not the task's thread: no GIL shared with the Dask worker's event loop (28 % slower
    trials on batch-1 SGD when we ran them in the thread) and no state left between tasks."""
    from distributed import Event, get_worker

    threads = shares.get(host_of(get_worker().address), 1)
    child_env = {**os.environ, **env, WORKER_INDEX_ENV: str(index), PARENT_ENV: str(os.getpid()),
                 **thread_env(threads)}
    event = Event(stop)
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen([sys.executable, "-m", "tuner", "-q", "worker", *argv],
                                env=child_env, stdout=subprocess.DEVNULL, stderr=errors)
        while True:
            try:
                code = proc.wait(timeout=POLL_SECONDS)
                break
            except subprocess.TimeoutExpired:
                if event.is_set():
                    proc.send_signal(signal.SIGINT)
        errors.seek(0)
        lines = errors.read().decode(errors="replace").strip().splitlines()
    if code not in (0, INTERRUPTED):
        last = lines[-1] if lines else f"exit code {code}"
        raise TunerError(last.removeprefix("error: "))
    return code


def bind_to_parent() -> None:
    """In a `tuner worker` started by a Dask task: die with the Dask worker (Linux's
    PR_SET_PDEATHSIG), so a killed Dask worker leaves no training behind."""
    parent = os.environ.get(PARENT_ENV, "")
    if not parent.isdigit() or not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != int(parent):  # it died before the call
        os._exit(1)


def host_of(address: str) -> str:
    """tcp://10.0.0.5:40123 -> 10.0.0.5"""
    return address.split("://")[-1].rsplit(":", 1)[0]
