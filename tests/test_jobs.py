"""`tuner study NAME --jobs N`: worker command lines, environments, exit codes, Ctrl-C forwarding,
and N processes on the default SQLite storage."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tuner import parallel
from tuner.cli import build_parser
from tuner.errors import SpecError


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["study", *argv])


def test_worker_argv_repeats_study_arguments_but_no_urls() -> None:
    args = _args("toy", "--dataset", "digits", "--set", "lr=0.1", "--set", "epochs=2",
                 "--trials", "6", "--seed", "3", "--storage", "postgresql://u:pw@h/db",
                 "--tracking-uri", "http://127.0.0.1:5000", "--no-tracking", "--jobs", "2")
    argv = parallel.worker_argv(args)
    assert argv[:3] == [sys.executable, "-m", "tuner"]
    assert argv[3:] == ["worker", "toy", "--dataset", "digits", "--trials", "6", "--seed", "3",
                        "--set", "lr=0.1", "--set", "epochs=2", "--no-tracking"]
    assert not any("pw" in a or "5000" in a for a in argv)


def test_worker_argv_quiet_and_final() -> None:
    args = _args("toy")
    assert parallel.worker_argv(args, quiet=True)[3:5] == ["-q", "worker"]
    assert parallel.worker_argv(args, command="final")[3:] == ["final", "toy"]
    verbose = build_parser().parse_args(["-v", "study", "toy"])
    assert parallel.worker_argv(verbose, quiet=True)[3] == "-v"


def test_worker_env_splits_cores_and_carries_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    env = parallel.worker_env({"PATH": "/bin"}, 2, 4, "sqlite:///x.db", "http://127.0.0.1:1")
    assert all(env[var] == "2" for var in parallel.THREAD_VARS)
    assert env["TUNER_WORKER_INDEX"] == "2"
    assert env["TUNER_STORAGE"] == "sqlite:///x.db"
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:1"
    many = parallel.worker_env({"OMP_NUM_THREADS": "3"}, 0, 16, "sqlite:///x.db", None)
    assert many["OMP_NUM_THREADS"] == "3"  # the user's own setting wins
    assert many["MKL_NUM_THREADS"] == "1"
    assert "MLFLOW_TRACKING_URI" not in many


@pytest.mark.parametrize(
    ("codes", "expected"), [([0, 0], 0), ([0, 1], 1), ([130, 1, 0], 130), ([0, -9], 137), ([], 0)]
)
def test_worst_exit_code(codes: list[int], expected: int) -> None:
    assert parallel.worst(codes) == expected


def test_jobs_must_be_positive() -> None:
    with pytest.raises(SpecError, match=r"^--jobs must be a positive number of processes\. "
                       r"Got 0 instead\.$"):
        parallel.run_jobs(_args("toy", "--jobs", "0"))


CHILD = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGINT, lambda *a: sys.exit(130))\n"
    "print('ready', flush=True)\n"
    "time.sleep(30)\n"
    "sys.exit(0)\n"
)


def test_ctrl_c_is_forwarded_once_to_every_worker() -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, process_group=0)
        for _ in range(2)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
    start = time.monotonic()
    codes = parallel._wait_all(procs)
    assert codes == [130, 130]
    assert time.monotonic() - start < 10
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
