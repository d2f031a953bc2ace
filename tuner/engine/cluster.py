"""A study on an existing Dask cluster (`--cluster tcp://scheduler:8786 [--jobs N]`): N Dask tasks
(default: one per Dask worker thread), each running one `tuner worker` process on the Dask
worker that got it, on the shared storage (a PostgreSQL URL every Dask worker can reach; MLflow
on a tracking server). The same command, arguments and retries as `--jobs N` on one machine
(jobs.py), placed by Dask instead of started here.

Dask reschedules the task of a Dask worker that died (its `tuner worker` dies with it); the
tuner's heartbeat fails that worker's running trial after its grace period and re-queues it, so
a stage still ends at exactly its target. Each task's BLAS / torch threads are its host's cores
divided by the Dask worker threads on that host (jobs.thread_share, the --jobs rule), so one
trial per worker thread slot never oversubscribes; a study whose `device` is CUDA asks for a
`GPU` worker resource per task. This process submits, shows progress over all workers from the
storage, turns a lost scheduler or a failed worker into one line and Ctrl-C into a clean stop
of every worker; the final, if asked, runs here afterwards.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any

import optuna

from tuner.engine.context import WORKER_INDEX_ENV
from tuner.engine.jobs import INTERRUPTED, study_argv, thread_env, thread_share
from tuner.errors import TunerError
from tuner.options import RunOptions
from tuner.spec import StudySpec
from tuner.storage import mask
from tuner.storage.sqlite import sqlite_file
from tuner.tracking import resolve_uri
from tuner.trials import FINISHED

log = logging.getLogger("tuner")

CLUSTER_ENV = "TUNER_CLUSTER"
PARENT_ENV = "TUNER_DASK_WORKER_PID"
POLL_SECONDS = 2.0
STOP_SECONDS = 120
CONNECT_TIMEOUT = "15s"


def task_args(spec: StudySpec, options: RunOptions) -> tuple[list[str], dict[str, str]]:
    """`tuner worker` arguments and environment for a task: the study file with every override
    (the file, its data and the user's modules must exist at the same paths on the workers);
    the storage and tracking URIs through the environment, never on a command line."""
    local = RunOptions(storage=options.storage_url, tracking_uri=options.tracking_uri,
                       tracking=options.tracking, download=options.download,
                       data_dir=os.path.abspath(options.data_dir) if options.data_dir else None)
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

    threads = shares.get(_host(get_worker().address), 1)
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


def thread_shares(workers: Mapping[str, Mapping[str, Any]], host_cores: Mapping[str, int]
                  ) -> dict[str, int]:
    """Threads per task on each host: its cores over the Dask worker threads there (>= 1)."""
    slots: Counter[str] = Counter()
    for address, info in workers.items():
        slots[_host(address)] += int(info.get("nthreads", 1))
    return {host: thread_share(host_cores.get(host, n), n) for host, n in slots.items()}


def _host(address: str) -> str:
    """tcp://10.0.0.5:40123 -> 10.0.0.5"""
    return address.split("://")[-1].rsplit(":", 1)[0]


def _cores() -> int:
    from objectives.threads import cores

    return cores()


def run_cluster(spec: StudySpec, options: RunOptions, address: str, jobs: int | None,
                storage: Any) -> int:
    """Run `jobs` tuner workers as Dask tasks (default: one per Dask worker thread) until every
    stage has its trials; `storage` (the study's, opened here) shows the progress. Returns
    how many tuner workers ran."""
    try:
        from distributed import Client
    except ImportError:
        raise TunerError("--cluster needs Dask: pip install 'dask[distributed]' (or "
                         "pip install 'tuner[dask]').") from None
    if not log.isEnabledFor(logging.DEBUG):  # a lost scheduler: our one line, not Dask's logs
        for name in ["distributed", *logging.root.manager.loggerDict]:
            if name.startswith("distributed"):
                logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise TunerError(f"The Dask scheduler at {address} cannot be reached ({exc}); start it "
                         f"(`dask scheduler`) or check the address.") from None
    with client:
        workers = client.scheduler_info(n_workers=-1).get("workers", {})
        if not workers:
            raise TunerError(f"The Dask cluster at {address} has no workers; start some "
                             f"(`dask worker {address}`).")
        shares = thread_shares(workers, {_host(a): n for a, n in client.run(_cores).items()})
        jobs = jobs or sum(int(w.get("nthreads", 1)) for w in workers.values())
        log.info("running %d tuner workers on the Dask cluster at %s (%d Dask workers; "
                 "threads per trial: %s) on %s", jobs, address, len(workers),
                 ", ".join(f"{h} {n}" for h, n in shares.items()), mask(options.storage_url))
        argv, env = task_args(spec, options)
        tag = uuid.uuid4().hex[:8]
        stop = f"tuner-stop-{tag}"
        futures = [client.submit(cluster_worker, index, argv, env, shares, stop, pure=False,
                                 key=f"tuner-{spec.name}-{index}-{tag}",
                                 resources=task_resources(spec))
                   for index in range(jobs)]
        try:
            _follow(client, futures, spec, options, address, storage)
        except KeyboardInterrupt:
            _stop(client, futures, stop)
            raise
        if any(f.result() == INTERRUPTED for f in futures):
            raise KeyboardInterrupt
    return len(futures)


def task_resources(spec: StudySpec) -> dict[str, float] | None:
    """Dask worker resources per task: one GPU when the study trains on CUDA (start such
    workers with `dask worker ... --resources GPU=1`)."""
    return {"GPU": 1} if str(spec.fixed.get("device", "")).startswith("cuda") else None


def _stop(client: Any, futures: list[Any], stop: str) -> None:
    """Ctrl-C: every tuner worker stops at its trial's next report (told FAIL "interrupted")."""
    from distributed import Event, wait

    log.warning("stopping %d tuner workers on the cluster at their trials' next report",
                len(futures))
    try:
        Event(stop, client=client).set()
        wait(futures, timeout=STOP_SECONDS)
    except Exception:  # noqa: BLE001 - a lost scheduler: its workers stop by themselves
        pass


def _follow(client: Any, futures: list[Any], spec: StudySpec, options: RunOptions,
            address: str, storage: Any) -> None:
    """Wait for every task, showing finished trials over all stages; one line on failure."""
    from concurrent.futures import CancelledError

    from distributed import wait
    from distributed.client import FuturesCancelledError

    bar = _bar(spec, options)
    try:
        while True:
            try:
                done = wait(futures, timeout=POLL_SECONDS, return_when="ALL_COMPLETED")
            except TimeoutError:
                done = None
            except (OSError, CancelledError, FuturesCancelledError) as exc:
                raise _lost(address, exc) from None
            if bar is not None:
                bar.n = _finished(spec, storage, bar.n)
                bar.refresh()
            if done is not None:
                break
            if client.status in ("closed", "closing"):
                raise _lost(address, ConnectionError("connection closed"))
        errors = [f for f in futures if f.status != "finished"]
        if errors:
            error = errors[0].exception()
            if isinstance(error, TunerError):
                raise TunerError(str(error))
            raise TunerError(f"{len(errors)} of {len(futures)} tuner workers on the cluster "
                             f"failed ({type(error).__name__}: {str(error).splitlines()[0]}). "
                             "Finished trials are saved: fix the cause and run the same "
                             "command again.")
    finally:
        if bar is not None:
            bar.close()
    log.info("all %d tuner workers on the cluster finished", len(futures))


def _lost(address: str, exc: BaseException) -> TunerError:
    return TunerError(f"Lost the Dask scheduler at {address} ({type(exc).__name__}); finished "
                      "trials are saved: start the cluster again and run the same command.")


def _bar(spec: StudySpec, options: RunOptions) -> Any:
    if not options.progress:
        return None
    from tqdm import tqdm

    total = sum(stage.trials or 0 for stage in spec.stages) or None
    return tqdm(total=total, desc=f"{spec.name} (cluster)", unit="trial", leave=False)


def _finished(spec: StudySpec, storage: Any, before: int) -> int:
    """Finished trials over every stage, read from the storage (`before` when it cannot be
    read: the workers report storage errors themselves)."""
    total = 0
    try:
        for stage in spec.stages:
            try:
                study = optuna.load_study(study_name=spec.study_name(stage.name),
                                          storage=storage)
            except KeyError:
                continue
            total += sum(t.state in FINISHED for t in study.get_trials(deepcopy=False))
    except Exception:  # noqa: BLE001 - progress only
        return before
    return total


def cluster_address(cluster: str | None) -> str | None:
    """--cluster, else $TUNER_CLUSTER, else None (this machine)."""
    return cluster or os.environ.get(CLUSTER_ENV) or None
