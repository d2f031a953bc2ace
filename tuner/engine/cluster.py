"""A study on an existing Dask cluster (`--cluster tcp://scheduler:8786 [--jobs N]`): N Dask tasks
(default: one per Dask worker thread), each running one worker process on the Dask worker that
got it, on the shared storage (a PostgreSQL URL every Dask worker can reach; MLflow on a
tracking server). The same worker process as `--jobs N` on one machine (jobs.py), placed by
Dask instead of started here; it runs the spec the study stored (engine/spec_store.py).

Dask reschedules the task of a Dask worker that died (its worker process dies with it); the
tuner's heartbeat fails that worker's running trial after its grace period and re-queues it, so
a stage still ends at exactly its target. Each task's BLAS / torch threads are its host's cores
divided by the Dask worker threads on that host (thread_share), so one trial per worker thread
slot never oversubscribes, even where Dask workers in containers share a host but not a
trainer registry (objectives/trainers.py, which `--jobs` relies on instead); a study whose
`device` is CUDA asks for a `GPU` worker resource per task. This process submits, shows progress
over all workers from the storage, turns a lost scheduler or a failed worker into one line and
Ctrl-C into a clean stop of every worker; the final, if asked, runs here afterwards.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import optuna

from objectives.threads import cores
from tuner.engine.cluster_task import cluster_worker, host_of, task_env
from tuner.engine.worker_protocol import INTERRUPTED
from tuner.errors import SpecError, TunerError
from tuner.options import CLUSTER_ENV, RunOptions
from tuner.search.trials import FINISHED, own_trials
from tuner.spec import StudySpec
from tuner.storage import mask

log = logging.getLogger("tuner")

POLL_SECONDS = 2.0
STOP_SECONDS = 120
CONNECT_TIMEOUT = "15s"
ADDRESS = re.compile(r"^(?:(?P<scheme>[a-z]+)://)?(?P<host>\[[0-9a-fA-F:.]+\]|[^\s/:\[\]]+)"
                     r":(?P<port>\d{1,5})/?$")
SCHEMES = (None, "tcp", "tls", "ws", "wss", "ucx")


def thread_share(cores: int, slots: int) -> int:
    """Threads for each of `slots` tasks on a host with `cores`."""
    return max(1, cores // max(1, slots))


def thread_shares(workers: Mapping[str, Mapping[str, Any]], host_cores: Mapping[str, int]
                  ) -> dict[str, int]:
    """Threads per task on each host: its cores over the Dask worker threads there (>= 1)."""
    slots: Counter[str] = Counter()
    for address, info in workers.items():
        slots[host_of(address)] += int(info.get("nthreads", 1))
    return {host: thread_share(host_cores.get(host, n), n) for host, n in slots.items()}


def run_cluster(spec: StudySpec, options: RunOptions, address: str, storage: Any) -> int:
    """Run `options.jobs` tuner workers as Dask tasks (default: one per Dask worker thread)
    until every stage has its trials; `storage` (the study's, opened here, its spec stored)
    shows the progress; `options.threads` (--threads) replaces every host's share. Returns how
    many tuner workers ran."""
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
    except (OSError, TimeoutError, ValueError) as exc:
        raise TunerError(f"The Dask scheduler at {address} cannot be reached ({exc}); start it "
                         f"(`dask scheduler`) or check the address.") from None
    with client:
        workers = client.scheduler_info(n_workers=-1).get("workers", {})
        if not workers:
            raise TunerError(f"The Dask cluster at {address} has no workers; start some "
                             f"(`dask worker {address}`).")
        shares = thread_shares(workers, {host_of(a): n for a, n in client.run(cores).items()})
        if options.threads is not None:
            shares = dict.fromkeys(shares, options.threads)
        jobs = options.jobs or sum(int(w.get("nthreads", 1)) for w in workers.values())
        log.info("running %d tuner workers on the Dask cluster at %s (%d Dask workers; "
                 "threads per trial: %s) on %s", jobs, address, len(workers),
                 ", ".join(f"{h} {n}" for h, n in shares.items()), mask(options.storage_url))
        env = task_env(spec, options)
        tag = uuid.uuid4().hex[:8]
        stop = f"tuner-stop-{tag}"
        futures = [client.submit(cluster_worker, index, env, shares, stop, pure=False,
                                 key=f"tuner-{spec.name}-{index}-{tag}",
                                 resources=task_resources(spec))
                   for index in range(jobs)]
        try:
            with _sigterm_as_ctrl_c():
                _follow(client, futures, spec, options, address, storage)
        except KeyboardInterrupt:
            _stop(client, futures, stop)
            raise
        if any(f.result() == INTERRUPTED for f in futures):
            raise KeyboardInterrupt
    return len(futures)


@contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM to this process stops the workers on the cluster as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
            total += sum(t.state in FINISHED
                         for t in own_trials(study.get_trials(deepcopy=False)))
    except Exception:  # noqa: BLE001 - progress only
        return before
    return total


def cluster_address(cluster: str | None) -> str | None:
    """--cluster, else $TUNER_CLUSTER, else None (this machine); a SpecError line when it is not
    a scheduler address (tcp://HOST:PORT; tls, ws, wss, ucx, or HOST:PORT alone)."""
    address = cluster or os.environ.get(CLUSTER_ENV) or None
    if address is None:
        return None
    found = ADDRESS.match(address)
    if found is None or found["scheme"] not in SCHEMES or not 0 < int(found["port"]) < 65536:
        where = "--cluster" if cluster else f"${CLUSTER_ENV}"
        raise SpecError(f"{where} {address!r} is not a Dask scheduler address; expected "
                        f"tcp://HOST:PORT, e.g. tcp://scheduler:8786.")
    return address
