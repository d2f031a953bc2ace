"""The Dask cluster path (`tuner study --cluster`) against `tuner worker` processes, and the
storage overhead per trial with 1, 4 and 16 Dask workers.

    source .ci/postgres.sh && start_postgres      # sets TUNER_TEST_POSTGRES_URL
    .venv/bin/python benchmarks/bench_cluster.py

Table 1, same study, same trial count, same 2 workers: 24 single-threaded trials of softmax on
digits (40 epochs at batch 1, ~1.4 s each; bench_workers.py's study) run by `tuner study --jobs 2`
(two `tuner worker` processes) and by `tuner study --cluster` on a `dask scheduler` with two
`dask worker --nthreads 1` processes started beforehand (an existing cluster: their start-up is
not counted). Table 2: a no-op objective that sleeps 0.1 s per trial, random sampler, no
tracking, 10 trials per Dask worker: how far the rate falls short of workers / 0.1 s, and where
the time goes (inside the trial: reports and tell; between trials: ask, the sampler reading the
trials, the stage's checks). Every run gets a fresh PostgreSQL database; rates are over the
trials (first trial start to last trial end, from storage).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import optuna
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_workers import STUDY, _admin  # noqa: E402

NOOP_STUDY = """
name = "noop"
objective = "noop:train"
dataset = "digits"
metric = "val_accuracy"

[fixed]
sleep = {sleep}

[[stages]]
name = "only"
sampler = "random"
trials = {trials}
[stages.space]
x = {{ low = 0.0, high = 1.0 }}
"""

NOOP = '''"""Sleeps, reports once, returns a model that predicts class 0."""
import time

import numpy as np


class Zero:
    def predict(self, X):
        return np.zeros(len(X), dtype=np.int64)


def train(config, train, val, report):
    time.sleep(config["sleep"])
    report(1, {"x": config["x"]})
    return Zero()
'''


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """A `dask scheduler` and `workers` x `dask worker --nthreads 1` on 127.0.0.1."""

    def __init__(self, workers: int, folder: Path) -> None:
        port = _free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        kw = {"cwd": folder, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL,
              "process_group": 0}
        self.procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1",
                                        "--port", str(port), "--no-dashboard"], **kw)]
        time.sleep(3)
        self.procs += [subprocess.Popen([str(BIN / "dask"), "worker", self.address,
                                         "--nthreads", "1", "--no-dashboard", "--host",
                                         "127.0.0.1"], **kw) for _ in range(workers)]
        from distributed import Client

        with Client(self.address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=300)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _run(admin_url: str, study_file: Path, name: str, extra: list[str]) -> dict[str, float]:
    """`tuner study` on a fresh database; wall time, trial span, mean trial duration."""
    db = f"tuner_bench_{uuid.uuid4().hex[:8]}"
    _admin(admin_url, f'CREATE DATABASE "{db}"')
    url = make_url(admin_url).set(database=db).render_as_string(hide_password=False)
    try:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tuner", "-q", "study", str(study_file),
                        "--storage", url, "--no-tracking", *extra], cwd=study_file.parent,
                       check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        done = [t for t in optuna.load_study(study_name=name, storage=url).trials
                if t.state == optuna.trial.TrialState.COMPLETE]
        first = min(t.datetime_start for t in done if t.datetime_start is not None)
        last = max(t.datetime_complete for t in done if t.datetime_complete is not None)
        mean = sum(t.duration.total_seconds() for t in done if t.duration) / len(done)
        return {"wall": wall, "span": (last - first).total_seconds(), "mean": mean,
                "n": len(done)}
    finally:
        _admin(admin_url, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def same_study(admin_url: str, folder: Path, trials: int) -> None:
    study = folder / "bench.toml"
    study.write_text(STUDY.format(trials=trials, epochs=40, batch_size=1))
    print(f"\n{trials} trials of softmax on digits (40 epochs, batch 1, 1 thread), 2 workers")
    print(f"{'path':<34} {'wall s':>7} {'trials s':>8} {'s/trial':>7} {'trials/h':>9}")
    rows = [("tuner study --jobs 2 (processes)", ["--jobs", "2"], 0)]
    rows.append(("tuner study --cluster (2 Dask)", ["--cluster"], 2))
    for label, extra, dask_workers in rows:
        cluster = Cluster(dask_workers, folder) if dask_workers else None
        try:
            if cluster is not None:
                extra = [*extra, cluster.address]
            r = _run(admin_url, study, "bench/only", extra)
        finally:
            if cluster is not None:
                cluster.stop()
        print(f"{label:<34} {r['wall']:>7.1f} {r['span']:>8.1f} {r['mean']:>7.2f} "
              f"{r['n'] * 3600 / r['span']:>9.0f}")


def overhead(admin_url: str, folder: Path, counts: list[int], per_worker: int,
             sleep: float) -> None:
    (folder / "noop.py").write_text(NOOP)
    print(f"\nno-op objective: {sleep} s per trial, random sampler, no tracking, "
          f"{per_worker} trials per Dask worker")
    print(f"{'Dask workers':>12} {'trials':>6} {'trials/s':>8} {'ideal':>6} "
          f"{'overhead s/trial':>16} {'in trial':>8} {'between':>8}")
    for workers in counts:
        trials = per_worker * workers
        study = folder / "noop.toml"
        study.write_text(NOOP_STUDY.format(sleep=sleep, trials=trials))
        cluster = Cluster(workers, folder)
        try:
            r = _run(admin_url, study, "noop/only", ["--cluster", cluster.address])
        finally:
            cluster.stop()
        per_trial = workers * r["span"] / r["n"]  # one worker's time per trial
        inside = r["mean"] - sleep
        print(f"{workers:>12} {r['n']:>6} {r['n'] / r['span']:>8.1f} {workers / sleep:>6.0f} "
              f"{per_trial - sleep:>16.3f} {inside:>8.3f} {per_trial - r['mean']:>8.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default=os.environ.get("TUNER_TEST_POSTGRES_URL"),
                        help="PostgreSQL URL of a role that may CREATE DATABASE "
                             "(default: $TUNER_TEST_POSTGRES_URL)")
    parser.add_argument("--trials", type=int, default=24, help="trials in table 1")
    parser.add_argument("--workers", default="1,4,16", help="Dask worker counts, table 2")
    parser.add_argument("--per-worker", type=int, default=10, help="no-op trials per worker")
    parser.add_argument("--sleep", type=float, default=0.1, help="no-op trial length (s)")
    parser.add_argument("--only", choices=("same", "overhead"), help="one table only")
    args = parser.parse_args()
    if not args.admin_url:
        parser.error("no PostgreSQL: pass --admin-url or source .ci/postgres.sh && start_postgres")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory(prefix="tuner-bench-") as tmp:
        if args.only in (None, "same"):
            same_study(args.admin_url, Path(tmp), args.trials)
        if args.only in (None, "overhead"):
            overhead(args.admin_url, Path(tmp), [int(n) for n in args.workers.split(",")],
                     args.per_worker, args.sleep)
    print(f"load average {os.getloadavg()[0]:.1f} at end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
