"""Training time per process when several tuner processes train on one machine at once, in the
default environment (no thread variables): each `tuner run` fit takes its fair share of the cores
(objectives/trainers.py) instead of every core, so they do not spin against each other.

For 1, 2 and 4 processes started together, and for one process alone with OMP_NUM_THREADS=1 (the
reference: the issue's "at most 1.3x of one process alone with one thread"), the training seconds
each process prints ("..., 3.2s training"), mean and worst, over --repeats rounds:

    .venv/bin/python benchmarks/bench_processes.py --data-dir ../shared/data
    .venv/bin/python benchmarks/bench_processes.py --objective lenet --dataset mnist \\
        --data-dir ../shared/data --set lr=0.05 --set epochs=1 --set batch_size=64
    .venv/bin/python benchmarks/bench_processes.py --workers --data-dir ../shared/data

`--workers`: N `tuner worker` processes (the way docs/many-machines.md adds workers by hand)
started together on one study in SQLite, 3 trials each, the first --set searched within +-1%
of its value; each trial's training seconds from the storage, counting only the trials that
trained while another process trained. Every table also gives the seconds per epoch and the
runs per hour on the machine (N processes x rounds / the rounds' wall time, start-up and data
loading included).

Defaults: the two-layer net on CIFAR-10 of docs/performance.md (hidden 50, n_s 450, 4 cycles,
batch 100).
`--root` runs another checkout's tuner (a baseline: `--root ../main-before`).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TWO_LAYER = ["lambda=0.01", "hidden=50", "eta_min=1e-5", "eta_max=0.1", "n_s=450", "cycles=4",
             "batch_size=100"]
TRAINED = re.compile(r"after ([0-9.]+) epochs, ([0-9.]+)s training")


def run_together(n: int, argv: list[str], env: dict[str, str], root: Path
                 ) -> tuple[list[float], list[float], float]:
    """Start n `tuner run` processes at once (the tuner of `root`): the training seconds each
    printed, its seconds per epoch, and the wall seconds until the last one ended (process
    start-up and data loading included)."""
    started = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "tuner", "-q", "run", *argv], cwd=root,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for _ in range(n)]
    seconds, per_epoch = [], []
    for proc in procs:
        out, _ = proc.communicate()
        found = TRAINED.findall(out)
        if proc.returncode != 0 or not found:
            sys.exit(f"tuner run failed:\n{out[-2000:]}")
        epochs, trained = (float(x) for x in found[-1])
        seconds.append(trained)
        per_epoch.append(trained / max(epochs, 1e-9))
    return seconds, per_epoch, time.perf_counter() - started


STUDY = """
objective = "{objective}"
dataset = "{dataset}"
seed = 0

[fixed]
{fixed}

[[stages]]
name = "only"
sampler = "random"
trials = {trials}
[stages.space]
{param} = {{ low = {low}, high = {high} }}
"""


def workers_together(n: int, sets: list[str], args: argparse.Namespace, env: dict[str, str]
                     ) -> tuple[list[float], list[float], float]:
    """Start n `tuner worker STUDY.toml` processes at once on one SQLite study (the first to
    arrive stores it), 3 trials each, the first --set param searched within +-1% of its value:
    the training seconds of each trial that trained while another process trained (at least
    90% of its span), its seconds per epoch, and the wall seconds until the last one ended."""
    import optuna

    param, value = sets[0].split("=", 1)
    fixed = "\n".join(f"{k} = {v}" for k, v in (item.split("=", 1) for item in sets[1:]))
    data_dir = ["--data-dir", os.path.abspath(args.data_dir)] if args.data_dir else []
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "bench.toml").write_text(STUDY.format(
            objective=args.objective, dataset=args.dataset, fixed=fixed, trials=3 * n,
            param=param, low=float(value) * 0.99, high=float(value) * 1.01))
        started = time.perf_counter()
        procs = [subprocess.Popen(
            [sys.executable, "-m", "tuner", "-q", "worker", "bench.toml", *data_dir],
            cwd=folder, env={**env, "PYTHONPATH": str(args.root)}, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True) for _ in range(n)]
        for proc in procs:
            out, _ = proc.communicate()
            if proc.returncode != 0:
                sys.exit(f"tuner worker failed:\n{out[-2000:]}")
        wall = time.perf_counter() - started
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        trials = [t for t in optuna.load_study(
            study_name="bench/only", storage=f"sqlite:///{folder}/tuner.db").trials
            if t.datetime_start and t.datetime_complete]
    spans = [(t.datetime_start.timestamp(), t.datetime_complete.timestamp())  # type: ignore[union-attr]
             for t in trials]
    seconds, per_epoch = [], []
    for trial, (start, end) in zip(trials, spans, strict=True):
        covered = _covered(start, end, [span for span in spans if span != (start, end)])
        if n == 1 or covered >= 0.9 * (end - start):
            seconds.append(float(trial.user_attrs["seconds"]))
            per_epoch.append(seconds[-1] / max(float(trial.user_attrs["epochs"]), 1e-9))
    return seconds, per_epoch, wall


def _covered(start: float, end: float, others: list[tuple[float, float]]) -> float:
    """How many seconds of [start, end] the union of `others` covers."""
    total, reached = 0.0, start
    for low, high in sorted(others):
        low, high = max(low, reached), min(high, end)
        if high > low:
            total += high - low
            reached = high
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objective", default="two_layer")
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--set", action="append", default=None, metavar="KEY=VALUE")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose tuner runs")
    parser.add_argument("--workers", action="store_true",
                        help="N `tuner worker` processes on one study instead of `tuner run`")
    args = parser.parse_args()
    sets = args.set if args.set is not None else (TWO_LAYER if args.objective == "two_layer"
                                                  else [])
    argv = [args.objective, "--dataset", args.dataset]
    argv += ["--data-dir", os.path.abspath(args.data_dir)] if args.data_dir else []
    for item in sets:
        argv += ["--set", item]
    clean = {k: v for k, v in os.environ.items()
             if k not in ("OMP_NUM_THREADS", "TUNER_THREADS", "OPENBLAS_NUM_THREADS",
                          "MKL_NUM_THREADS")}
    print(f"{args.objective} on {args.dataset} ({' '.join(sets)}), {os.cpu_count()} cores, "
          f"{args.repeats} rounds; training seconds per process")
    rows = [("1 alone, OMP_NUM_THREADS=1", 1, {**clean, "OMP_NUM_THREADS": "1"})]
    rows += [(f"{n} at once, default environment", n, clean) for n in args.processes]
    reference = None
    print("| processes | mean s | worst s | worst / alone at 1 thread | s per epoch (mean) "
          "| runs per hour (machine) |")
    print("|---|---|---|---|---|---|")
    for label, n, env in rows:
        rounds = [workers_together(n, sets, args, env) if args.workers
                  else run_together(n, argv, env, args.root) for _ in range(args.repeats)]
        seconds = [s for round_ in rounds for s in round_[0]]
        per_epoch = [s for round_ in rounds for s in round_[1]]
        per_hour = 3600 * n * len(rounds) / sum(round_[2] for round_ in rounds)
        mean, worst = statistics.mean(seconds), max(seconds)
        reference = reference or mean
        print(f"| {label} | {mean:.2f} | {worst:.2f} | {worst / reference:.2f}x "
              f"| {statistics.mean(per_epoch):.3f} | {per_hour:.0f} |", flush=True)


if __name__ == "__main__":
    main()
