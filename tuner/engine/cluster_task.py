"""What runs on a Dask worker for `tuner study --cluster` (cluster.py submits it): one worker
process (engine/worker_process.py) per task, with the task's worker index and its host's thread
share, tied to the Dask worker's life and stopped through a Dask Event."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import tempfile
from collections.abc import Mapping

from tuner.engine.context import WORKER_INDEX_ENV
from tuner.engine.jobs import thread_env
from tuner.engine.worker_protocol import INTERRUPTED, PARENT_ENV, WORKER_COMMAND, WORKER_ENV
from tuner.errors import TunerError
from tuner.options import RunOptions
from tuner.spec import StudySpec
from tuner.storage.sqlite import sqlite_file
from tuner.tracking import resolve_uri

POLL_SECONDS = 2.0


def task_env(spec: StudySpec, options: RunOptions) -> dict[str, str]:
    """The environment every task's worker gets: the job (the study's name and the options,
    relative folders made absolute: a Dask worker on this machine has its own folder) and the
    storage and tracking URIs, never on a command line. The study's spec, its data and the
    user's modules must exist at the same paths on the Dask workers."""
    local = dataclasses.replace(
        options, storage=absolute(options.storage_url), progress=False, jobs=None, cluster=None,
        threads=None, data_dir=os.path.abspath(options.data_dir) if options.data_dir else None,
        checkpoint_dir=options.checkpoint_dir if not options.checkpoint_dir
        or options.checkpoint_dir.startswith("s3://") else os.path.abspath(options.checkpoint_dir))
    env = {WORKER_ENV: json.dumps({"study": spec.name, "options": local.to_dict(),
                                   "log": "WARNING"}),
           "TUNER_STORAGE": absolute(options.storage_url)}
    if options.tracking:
        env["MLFLOW_TRACKING_URI"] = resolve_uri(options.tracking_uri)
    return env


def absolute(url: str) -> str:
    """A relative SQLite path made absolute (a Dask worker on this machine has its own folder)."""
    db = sqlite_file(url)
    return url if db is None or db.is_absolute() else f"sqlite:///{db.resolve()}"


def cluster_worker(index: int, env: Mapping[str, str], shares: Mapping[str, int],
                   stop: str) -> int:
    """One worker process (engine/worker_process.py) started by a Dask task (on a Dask worker)
    with its host's thread share; it dies with the Dask worker (PARENT_ENV), and stops cleanly
    (SIGINT: its trial told FAIL "interrupted") when the client sets the Dask Event `stop`. A
    process of its own, not the task's thread: it shares no GIL with the Dask worker's event
    loop (which slows trials: docs/performance.md, "Dask tasks") and leaves no state between
    tasks."""
    from distributed import Event, get_worker

    threads = shares.get(host_of(get_worker().address), 1)
    child_env = {**os.environ, **env, WORKER_INDEX_ENV: str(index), PARENT_ENV: str(os.getpid()),
                 **thread_env(threads)}
    event = Event(stop)
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(WORKER_COMMAND,
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


def host_of(address: str) -> str:
    """tcp://10.0.0.5:40123 -> 10.0.0.5"""
    return address.split("://")[-1].rsplit(":", 1)[0]
