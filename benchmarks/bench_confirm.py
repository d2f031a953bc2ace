"""What confirming the answer buys on real data: lambda_search with and without its confirm stage,
over several study seeds, as a user runs it (tracking on, default threads).

    .venv/bin/python benchmarks/bench_confirm.py [--datasets digits cifar10] [--seeds 0 1 2]
        [--data-dir ../shared/data] [--top-k 5] [--repeats 2]

Each run is `tuner.run_study("lambda_search", dataset=..., seed=..., confirm=..., final=True)` in
a fresh folder (its own tuner.db and mlflow.db). Prints, per run, the answer (its lambda, the
validation loss it was chosen by, +- its standard error when confirmed), the test accuracy of the
final retrain, the evaluations spent and the wall time; then the means per dataset and variant.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import tuner


@dataclass(frozen=True)
class Run:
    dataset: str
    seed: int
    confirmed: bool
    lam: float
    value: float
    stderr: float | None
    test_accuracy: float
    evaluations: int
    seconds: float


def run_once(dataset: str, seed: int, confirm: bool | dict[str, int], data_dir: str | None
             ) -> Run:
    """One study in a fresh folder, as `tuner study lambda_search --final` runs it."""
    here = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="tuner-bench-confirm-") as tmp:
        os.chdir(tmp)
        try:
            start = time.perf_counter()
            result = tuner.run_study("lambda_search", dataset=dataset, seed=seed, final=True,
                                     confirm=confirm, data_dir=data_dir, progress=False)
            seconds = time.perf_counter() - start
        finally:
            os.chdir(here)
    answer = result.answer
    assert answer is not None and result.final is not None
    spent = sum(s.complete + s.pruned + s.failed for s in result.stages.values())
    return Run(dataset, seed, bool(confirm), float(answer.params["lambda"]), answer.best_value,
               answer.stderr, result.final["test_accuracy"], spent, seconds)


def table(runs: Sequence[Run]) -> str:
    lines = ["| dataset | seed | confirm | lambda | val_loss (answer) | test accuracy | "
             "evaluations | wall s |", "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        spread = f" +- {r.stderr:.4f}" if r.stderr is not None else ""
        lines.append(f"| {r.dataset} | {r.seed} | {'yes' if r.confirmed else 'no'} | "
                     f"{r.lam:.3g} | {r.value:.4f}{spread} | {r.test_accuracy:.4f} | "
                     f"{r.evaluations} | {r.seconds:.0f} |")
    lines += ["", "| dataset | confirm | mean test accuracy | min | max | mean wall s |",
              "|---|---|---|---|---|---|"]
    for dataset in dict.fromkeys(r.dataset for r in runs):
        for confirmed in (False, True):
            mine = [r for r in runs if r.dataset == dataset and r.confirmed == confirmed]
            if mine:
                accuracy = [r.test_accuracy for r in mine]
                lines.append(f"| {dataset} | {'yes' if confirmed else 'no'} | "
                             f"{statistics.mean(accuracy):.4f} | {min(accuracy):.4f} | "
                             f"{max(accuracy):.4f} | "
                             f"{statistics.mean(r.seconds for r in mine):.0f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "cifar10"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    data_dir = str(Path(args.data_dir).resolve()) if args.data_dir else None
    confirm = {"top_k": args.top_k, "repeats": args.repeats}
    runs = []
    for dataset in args.datasets:
        for seed in args.seeds:
            for variant in (False, confirm):
                run = run_once(dataset, seed, variant, data_dir)
                print(f"{dataset} seed {seed} confirm {bool(variant)}: lambda {run.lam:.3g}, "
                      f"test {run.test_accuracy:.4f}, {run.seconds:.0f} s", flush=True)
                runs.append(run)
    print()
    print(table(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
