"""A study on N worker processes of this machine (`--jobs N`, run_study(jobs=N)), sharing one
storage.

Processes, not threads: Python training loops hold the GIL, and a worker that crashes takes
nothing else down. Each worker is engine/worker_process.py, given the study's name and the run
options as data in its environment (it reads the study's spec from the storage, where the study
stored it), a TUNER_WORKER_INDEX (0..N-1, for sampler seeds) and the storage/tracking URLs (never
on a command line, where `ps` would show passwords); no thread limits unless --threads gave
them: each fit takes its fair share of the cores among the fits training at that moment
(objectives/trainers.py), so a trial left alone at a stage's tail gets every core. Worker 0
shows its progress on stderr, the others only warnings. Ctrl-C is forwarded once to every worker.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from types import FrameType

from objectives.threads import THREADS_ENV
from tuner.engine.context import WORKER_INDEX_ENV
from tuner.engine.worker_protocol import INTERRUPTED, WORKER_COMMAND, WORKER_ENV
from tuner.errors import TunerError
from tuner.options import RunOptions
from tuner.spec import StudySpec
from tuner.storage import mask
from tuner.tracking import resolve_uri

log = logging.getLogger("tuner")

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def worker_job(name: str, options: RunOptions, shown: bool) -> str:
    """TUNER_WORKER for one worker: the study, the options (progress only for the one shown)
    and its log level (debug when this process logs debug lines, else info for the one shown
    and warnings for the others)."""
    options = dataclasses.replace(options, progress=options.progress and shown, jobs=None,
                                  cluster=None)
    if logging.getLogger("tuner").isEnabledFor(logging.DEBUG):
        level = "DEBUG"
    elif shown and options.progress:
        level = "INFO"
    else:
        level = "WARNING"
    return json.dumps({"study": name, "options": options.to_dict(), "log": level})


def thread_env(threads: int) -> dict[str, str]:
    """The variables that limit a worker process's BLAS / OpenMP / torch threads."""
    return {var: str(threads) for var in (*THREAD_VARS, THREADS_ENV)}


def worker_env(base: Mapping[str, str], index: int, options: RunOptions, job: str
               ) -> dict[str, str]:
    """The environment of worker `index` of `options.jobs`: its index, the job, the storage /
    tracking URIs, and thread limits only when --threads set them. Otherwise each fit takes its
    fair share of the cores among the fits training on this machine (objectives/trainers.py):
    one core each while every worker trains, and all of them for a trial left running alone at
    a stage's tail while the other workers wait."""
    env = dict(base)
    if options.threads is not None:
        env.update(thread_env(options.threads))
    env[WORKER_INDEX_ENV] = str(index)
    env[WORKER_ENV] = job
    env["TUNER_STORAGE"] = options.storage_url
    if options.tracking:
        env["MLFLOW_TRACKING_URI"] = resolve_uri(options.tracking_uri)
    return env


def worst(codes: Sequence[int]) -> int:
    """The exit code to report for several processes: the largest, a signal death -N as 128+N."""
    return max((128 - code if code < 0 else code for code in codes), default=0)


def spawn(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start one worker in its own process group (a terminal Ctrl-C reaches only us, and we
    forward it exactly once); its stdout is discarded."""
    return subprocess.Popen(WORKER_COMMAND, env=env, stdout=subprocess.DEVNULL, process_group=0)


def wait_all(procs: Sequence[subprocess.Popen[bytes]]) -> list[int]:
    """Wait for every worker, forwarding SIGINT/SIGTERM received by this process to each one."""

    def forward(signum: int, frame: FrameType | None) -> None:
        log.warning("forwarding %s to %d workers", signal.Signals(signum).name, len(procs))
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return [proc.wait() for proc in procs]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_jobs(spec: StudySpec, options: RunOptions) -> None:
    """Run `options.jobs` worker processes on the study until every stage has its trials. The
    caller has created the storage and tracking store and stored the spec beforehand
    (preflight, open_context, store_spec). A Ctrl-C raises KeyboardInterrupt once every worker
    stopped; any other worker failure TunerError."""
    jobs = options.jobs or 1
    log.info("starting %d workers on %s", jobs, mask(options.storage_url))
    procs = [spawn(worker_env(os.environ, index, options,
                              worker_job(spec.name, options, shown=index == 0)))
             for index in range(jobs)]
    codes = wait_all(procs)
    code = worst(codes)
    if code == INTERRUPTED:
        raise KeyboardInterrupt
    if code != 0:
        raise TunerError(f"{sum(c != 0 for c in codes)} of {jobs} workers failed (exit codes "
                         f"{', '.join(str(c) for c in codes)}); their errors are above. Finished "
                         "trials are saved: fix the cause and run the same command again.")
    log.info("all %d workers finished", jobs)
