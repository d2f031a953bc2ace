"""`tuner study NAME --jobs N`: N `tuner worker` processes on this machine sharing one study.

Processes, not threads: Python training loops hold the GIL, and a worker that crashes takes
nothing else down. Each worker gets the same arguments, BLAS/OpenMP/torch limited to
cores // N threads (so N workers do not fight over the cores), a TUNER_WORKER_INDEX (0..N-1, for
sampler seeds) and the storage/tracking URLs through the environment (never on the command line,
where `ps` would show passwords). Ctrl-C is forwarded once to every worker; the exit code is the
worst worker's.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from types import FrameType

from objectives.threads import THREADS_ENV, cores
from tuner.errors import SpecError
from tuner.storage import mask, open_storage, resolve_url
from tuner.tracking import make_tracker

log = logging.getLogger("tuner")

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
WORKER_INDEX_ENV = "TUNER_WORKER_INDEX"
INTERRUPTED = 130


def study_argv(args: argparse.Namespace) -> list[str]:
    """NAME and the study arguments of `args`, as typed (no storage or tracking URI, no -q/-v)."""
    argv = [args.name]
    for flag, value in (
        ("--dataset", args.dataset),
        ("--data-dir", args.data_dir),
        ("--trials", args.trials),
        ("--seed", args.seed),
        ("--threads", args.threads),
    ):
        if value is not None:
            argv += [flag, str(value)]
    for key, value in args.sets or []:
        argv += ["--set", f"{key}={value}"]
    if args.download:
        argv.append("--download")
    if args.no_tracking:
        argv.append("--no-tracking")
    return argv


def worker_argv(
    args: argparse.Namespace, command: str = "worker", quiet: bool = False
) -> list[str]:
    """`python -m tuner <command> NAME ...` with the study arguments of `args` (storage and
    tracking URIs excluded: they travel in the environment)."""
    argv = [sys.executable, "-m", "tuner"]
    if getattr(args, "verbose", False):
        argv.append("-v")
    elif quiet or getattr(args, "quiet", False):
        argv.append("-q")
    return [*argv, command, *study_argv(args)]


def resume_hint(args: argparse.Namespace, command: str = "study") -> str:
    """The command line (URLs masked) that continues this run: `tuner study` or `tuner worker`
    with the same arguments, --jobs N included."""
    argv = ["python", "-m", "tuner", command, *study_argv(args)]
    if getattr(args, "jobs", 1) != 1:
        argv += ["--jobs", str(args.jobs)]
    if args.storage:
        argv += ["--storage", mask(args.storage)]
    if args.tracking_uri:
        argv += ["--tracking-uri", mask(args.tracking_uri)]
    if getattr(args, "final", False):
        argv.append("--final")
    return shlex.join(argv)


def worker_env(
    base: Mapping[str, str], index: int, jobs: int, storage: str, tracking_uri: str | None
) -> dict[str, str]:
    """The environment of worker `index` of `jobs`: its share of the cores as thread limits
    (unless the user set them), its index, and the storage/tracking URIs."""
    env = dict(base)
    threads = str(max(1, cores() // jobs))
    for var in (*THREAD_VARS, THREADS_ENV):
        env.setdefault(var, threads)
    env[WORKER_INDEX_ENV] = str(index)
    env["TUNER_STORAGE"] = storage
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    return env


def worst(codes: Sequence[int]) -> int:
    """The exit code to report for several processes: the largest, a signal death -N as 128+N."""
    return max((128 - code if code < 0 else code for code in codes), default=0)


def spawn(argv: list[str], env: dict[str, str], quiet: bool) -> subprocess.Popen[bytes]:
    """Start one worker in its own process group (a terminal Ctrl-C reaches only us, and we
    forward it exactly once); a quiet worker's stdout is discarded."""
    stdout = subprocess.DEVNULL if quiet else None
    return subprocess.Popen(argv, env=env, stdout=stdout, process_group=0)


def _wait_all(procs: Sequence[subprocess.Popen[bytes]]) -> list[int]:
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


def run_jobs(args: argparse.Namespace) -> int:
    """Run args.jobs `tuner worker` processes on one study, then `final` if asked; return the
    worst exit code."""
    jobs = int(args.jobs)
    if jobs < 1:
        raise SpecError(f"--jobs must be a positive number of processes. Got {jobs} instead.")
    storage = resolve_url(args.storage)
    # Fail fast with one line, and create the storage and tracking tables once, here: N workers
    # creating them at the same moment race ("table already exists").
    open_storage(storage)
    make_tracker(args.tracking_uri, args.no_tracking).check()
    tracking_uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    log.info("starting %d workers on %s", jobs, mask(storage))
    procs = []
    for index in range(jobs):
        env = worker_env(os.environ, index, jobs, storage, tracking_uri)
        # Worker 0 shows progress and the summary; the others only warnings and errors (stderr).
        procs.append(spawn(worker_argv(args, quiet=index > 0), env, quiet=index > 0))
    codes = _wait_all(procs)
    code = worst(codes)
    if code != 0:
        log.warning("workers exited with codes %s", ", ".join(str(c) for c in codes))
        if code == INTERRUPTED:
            print(f"to resume, run the same command again: {resume_hint(args)}")
        return code
    log.info("all %d workers finished; `tuner list` and `tuner show` read the results", jobs)
    if getattr(args, "final", False):
        env = worker_env(os.environ, 0, 1, storage, tracking_uri)
        final = spawn(worker_argv(args, command="final"), env, quiet=False)
        return worst(_wait_all([final]))
    return 0
