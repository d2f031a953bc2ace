"""Trials per hour with 1 vs 2 worker processes on one study in PostgreSQL.

Each trial is single-threaded and CPU-bound (softmax regression on sklearn digits, batch 1,
40 epochs, ~1.4 s, BLAS threads = 1), so two workers on two cores should come close to twice the
rate. Every epoch is one trial.report write to PostgreSQL, whose server shares the same two cores:
at a very high report rate (--epochs 100 --batch-size 4: ~77 writes/s per worker) the database's
own CPU is what keeps two workers from 2x.
Each worker count runs `tuner study bench --jobs N` on a fresh study in a fresh database.
Two rates are printed: over the whole command (process start-up included) and over the trials
alone (first trial start to last trial end, from storage); speed-up is of the latter. CPU s is
the CPU time all processes of the run used: equal for 1 and 2 workers means parallel runs add
no work, so the speed-up is bounded only by the cores free (the load average is printed).

    source .ci/postgres.sh && start_postgres      # sets TUNER_TEST_POSTGRES_URL
    .venv/bin/python benchmarks/bench_workers.py --trials 24
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import optuna
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]

STUDY = """
objective = "softmax"
dataset = "digits"
metric = "val_accuracy"
direction = "maximize"
seed = 0

[fixed]
epochs = {epochs}
batch_size = {batch_size}
optimizer = "sgd"

[[stages]]
name = "only"
sampler = "random"
trials = {trials}
[stages.space]
lr = {{ low = 1e-4, high = 1e-1, log = true }}
lambda = {{ low = 1e-6, high = 1e-1, log = true }}
"""


def _admin(admin_url: str, sql: str) -> None:
    import psycopg

    url = make_url(admin_url)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                         dbname=url.database, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def _children_cpu() -> float:
    """CPU seconds (user + system) of every finished child process and its descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(admin_url: str, jobs: int, trials: int, epochs: int, batch_size: int,
        folder: Path) -> dict[str, float]:
    """One `tuner study --jobs N` on a fresh database; its wall time and trial-span rate."""
    name = f"tuner_bench_{uuid.uuid4().hex[:8]}"
    _admin(admin_url, f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        study_file = folder / "bench.toml"
        study_file.write_text(STUDY.format(trials=trials, epochs=epochs,
                                            batch_size=batch_size))
        env = {**os.environ, "TUNER_STORAGE": url, "OMP_NUM_THREADS": "1",
               "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        start = time.perf_counter()
        cpu_before = _children_cpu()
        subprocess.run([sys.executable, "-m", "tuner", "-q", "study", str(study_file),
                        "--jobs", str(jobs), "--no-tracking"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        cpu = _children_cpu() - cpu_before
        done = [t for t in optuna.load_study(study_name="bench/only", storage=url).trials
                if t.state == optuna.trial.TrialState.COMPLETE]
        assert len(done) == trials, f"expected {trials} complete trials, got {len(done)}"
        first = min(t.datetime_start for t in done if t.datetime_start is not None)
        last = max(t.datetime_complete for t in done if t.datetime_complete is not None)
        span = (last - first).total_seconds()
        mean = sum(t.duration.total_seconds() for t in done if t.duration) / len(done)
        return {"wall": wall, "span": span, "mean_trial": mean, "cpu": cpu}
    finally:
        _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default=os.environ.get("TUNER_TEST_POSTGRES_URL"),
                        help="PostgreSQL URL of a role that may CREATE DATABASE "
                             "(default: $TUNER_TEST_POSTGRES_URL)")
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=40, help="epochs per trial (trial length)")
    parser.add_argument("--batch-size", type=int, default=1,
                        help="mini-batch size (smaller: more work per reported epoch)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    args = parser.parse_args()
    if not args.admin_url:
        parser.error("no PostgreSQL: pass --admin-url or source .ci/postgres.sh && start_postgres")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    counts = [int(n) for n in args.workers.split(",")]
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; "
          f"{args.trials} trials of softmax on digits ({args.epochs} epochs, batch "
          f"{args.batch_size}, 1 thread)")
    header = (f"{'workers':>7} {'wall s':>7} {'trials s':>8} {'s/trial':>7} {'CPU s':>6} "
              f"{'trials/h (wall)':>15} {'trials/h (trials)':>17} {'speed-up':>8}")
    print(header)
    base = None
    with tempfile.TemporaryDirectory(prefix="tuner-bench-") as tmp:
        for jobs in counts:
            r = run(args.admin_url, jobs, args.trials, args.epochs, args.batch_size, Path(tmp))
            rate_wall = args.trials * 3600 / r["wall"]
            rate = args.trials * 3600 / r["span"]
            base = base or rate
            print(f"{jobs:>7} {r['wall']:>7.1f} {r['span']:>8.1f} {r['mean_trial']:>7.2f} "
                  f"{r['cpu']:>6.1f} "
                  f"{rate_wall:>15.0f} {rate:>17.0f} {rate / base:>7.2f}x")
    print(f"load average {os.getloadavg()[0]:.1f} at end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
