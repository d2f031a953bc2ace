"""A study on N worker processes of this machine (`--jobs N`, run_study(jobs=N)), sharing one
storage.

Processes, not threads: Python training loops hold the GIL, and a worker that crashes takes
nothing else down. Each worker is `python -m tuner worker` with the study's file and overrides,
BLAS/OpenMP/torch limited to cores // N threads (so N workers do not fight over the cores), a
TUNER_WORKER_INDEX (0..N-1, for sampler seeds) and the storage/tracking URLs through the
environment (never on the command line, where `ps` would show passwords). Worker 0 shows its
progress on stderr, the others only warnings. Ctrl-C is forwarded once to every worker.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from types import FrameType

from objectives.threads import THREADS_ENV, cores
from tuner.engine.context import WORKER_INDEX_ENV
from tuner.errors import TunerError
from tuner.options import RunOptions
from tuner.spec import StudySpec
from tuner.storage import mask

log = logging.getLogger("tuner")

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
INTERRUPTED = 130


def study_argv(spec: StudySpec, options: RunOptions, threads: int | None) -> list[str]:
    """The study file and every override the spec was loaded with, as `tuner worker` takes them
    (no storage or tracking URI)."""
    argv = [str(spec.path), "--dataset", spec.dataset, "--seed", str(spec.seed)]
    if spec.trials_override is not None:
        argv += ["--trials", str(spec.trials_override)]
    for key, value in spec.sets.items():
        shown = ",".join(str(v) for v in value) if isinstance(value, list) else value
        argv += ["--set", f"{key}={shown}"]
    if options.data_dir is not None:
        argv += ["--data-dir", options.data_dir]
    if threads is not None:
        argv += ["--threads", str(threads)]
    if options.download:
        argv.append("--download")
    if not options.tracking:
        argv.append("--no-tracking")
    if not options.checkpoints:
        argv.append("--no-checkpoints")
    if options.checkpoint_dir:
        given = options.checkpoint_dir
        argv += ["--checkpoint-dir", given if given.startswith("s3://") else
                 os.path.abspath(given)]
    return argv


def worker_argv(spec: StudySpec, options: RunOptions, threads: int | None, quiet: bool
                ) -> list[str]:
    """`python -m tuner worker ...`: -v when this process logs debug lines, else -q for a quiet
    worker or when progress is off (a worker shown shows its progress and trial lines)."""
    argv = [sys.executable, "-m", "tuner"]
    if logging.getLogger("tuner").isEnabledFor(logging.DEBUG):
        argv.append("-v")
    elif quiet or not options.progress:
        argv.append("-q")
    return [*argv, "worker", *study_argv(spec, options, threads)]


def thread_share(cores: int, slots: int) -> int:
    """Threads for each of `slots` workers on a machine with `cores`: the one rule for
    --jobs and for --cluster (per host), so workers never oversubscribe the cores."""
    return max(1, cores // max(1, slots))


def thread_env(threads: int) -> dict[str, str]:
    """The variables that limit a worker process's BLAS / OpenMP / torch threads."""
    return {var: str(threads) for var in (*THREAD_VARS, THREADS_ENV)}


def worker_env(
    base: Mapping[str, str], index: int, jobs: int, storage: str, tracking_uri: str | None
) -> dict[str, str]:
    """The environment of worker `index` of `jobs`: its share of the cores as thread limits
    (unless the user set them), its index, and the storage/tracking URIs."""
    env = dict(base)
    for var, value in thread_env(thread_share(cores(), jobs)).items():
        env.setdefault(var, value)
    env[WORKER_INDEX_ENV] = str(index)
    env["TUNER_STORAGE"] = storage
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    return env


def worst(codes: Sequence[int]) -> int:
    """The exit code to report for several processes: the largest, a signal death -N as 128+N."""
    return max((128 - code if code < 0 else code for code in codes), default=0)


def spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start one worker in its own process group (a terminal Ctrl-C reaches only us, and we
    forward it exactly once); its stdout (its own summary) is discarded."""
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, process_group=0)


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


def run_jobs(spec: StudySpec, options: RunOptions, jobs: int, threads: int | None) -> None:
    """Run `jobs` worker processes on the study until every stage has its trials. The caller
    has created the storage and tracking store (preflight, open_context) beforehand. A Ctrl-C
    raises KeyboardInterrupt once every worker stopped; any other worker failure TunerError."""
    storage = options.storage_url
    tracking_uri = options.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    log.info("starting %d workers on %s", jobs, mask(storage))
    procs = [spawn(worker_argv(spec, options, threads, quiet=index > 0),
                   worker_env(os.environ, index, jobs, storage, tracking_uri))
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
