"""Training time per process when several tuner processes train on one machine at once, in the
default environment (no thread variables): each `tuner run` fit takes its fair share of the cores
(objectives/trainers.py) instead of every core, so they do not spin against each other.

For 1, 2 and 4 processes started together, and for one process alone with OMP_NUM_THREADS=1 (the
reference: the issue's "at most 1.3x of one process alone with one thread"), the training seconds
each process prints ("..., 3.2s training"), mean and worst, over --repeats rounds:

    .venv/bin/python benchmarks/bench_processes.py --data-dir ../shared/data
    .venv/bin/python benchmarks/bench_processes.py --objective lenet --dataset mnist \\
        --data-dir ../shared/data --set epochs=1 --set batch_size=64

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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TWO_LAYER = ["hidden=50", "lambda=0.01", "eta_min=1e-5", "eta_max=0.1", "n_s=450", "cycles=4",
             "batch_size=100"]
TRAINED = re.compile(r", ([0-9.]+)s training")


def run_together(n: int, argv: list[str], env: dict[str, str], root: Path) -> list[float]:
    """Start n `tuner run` processes at once (the tuner of `root`); the training seconds each
    printed."""
    procs = [subprocess.Popen([sys.executable, "-m", "tuner", "-q", "run", *argv], cwd=root,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for _ in range(n)]
    seconds = []
    for proc in procs:
        out, _ = proc.communicate()
        found = TRAINED.findall(out)
        if proc.returncode != 0 or not found:
            sys.exit(f"tuner run failed:\n{out[-2000:]}")
        seconds.append(float(found[-1]))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objective", default="two_layer")
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--set", action="append", default=None, metavar="KEY=VALUE")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose tuner runs")
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
    print("| processes | mean s | worst s | worst / alone at 1 thread |")
    print("|---|---|---|---|")
    for label, n, env in rows:
        seconds = [s for _ in range(args.repeats) for s in run_together(n, argv, env, args.root)]
        mean, worst = statistics.mean(seconds), max(seconds)
        reference = reference or mean
        print(f"| {label} | {mean:.2f} | {worst:.2f} | {worst / reference:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
