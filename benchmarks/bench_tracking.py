"""Per-trial overhead of Optuna storage + MLflow tracking on a ~2-second trial; prints a table.

The trial is the real NumPy softmax objective on sklearn digits, reporting 20 epochs through
the same path as the stage loop (trial.report, tracker.log_epoch, should_prune). Each mode runs a
block of trials and its flush (queued MLflow writes) is timed inside the block, so deferred work
is charged to the mode that caused it. Blocks alternate over rounds to spread machine noise.

    .venv/bin/python benchmarks/bench_tracking.py [--trials 5] [--rounds 2] [--epochs 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from objectives import data, registry  # noqa: E402
from objectives.base import Split  # noqa: E402
from tuner.figures.charts import plot_learning_curves  # noqa: E402
from tuner.tracking import MlflowTracker, Tracker  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass(frozen=True)
class Dataset:
    train: Split
    val: Split
    image_shape: tuple[int, int, int]


def digits(repeat: int) -> Dataset:
    """sklearn digits with the train split tiled `repeat` times, to set the trial length."""
    loaded = data.load("digits")
    train = Split(np.ascontiguousarray(np.tile(loaded.train.X, (repeat, 1))),
                  np.tile(loaded.train.y, repeat))
    return Dataset(train, loaded.val, loaded.image_shape)


def run_trial(study: optuna.Study, tracker: Tracker, parent: str | None, epochs: int,
              batch_size: int, dataset: Dataset) -> None:
    """One trial along the stage loop's path: suggest, train, report each epoch, tell, finish."""
    trial = study.ask()
    config = {"epochs": epochs, "batch_size": batch_size, "schedule": "exponential",
              "lr": trial.suggest_float("lr", 1e-3, 1e-1, log=True),
              "lambda": trial.suggest_float("lambda", 1e-6, 1e-2, log=True)}
    handle = tracker.start_trial(parent, "bench", "coarse", trial.number, config)
    history: list[dict[str, float]] = []

    def report(step: int, metrics: Mapping[str, float]) -> None:
        history.append(dict(metrics))
        trial.report(float(metrics["val_accuracy"]), step)
        handle.log_epoch(step, metrics)
        if trial.should_prune():
            raise optuna.TrialPruned()

    result = registry.get("softmax").fit(config, dataset.train, dataset.val, report, 0,
                                         dataset.image_shape)
    study.tell(trial, result.val_accuracy)
    handle.finish("COMPLETE", result.val_accuracy,
                  {"epochs": float(epochs), "seconds": 0.0, "schedule": "exponential"},
                  history, config)


def run_block(study: optuna.Study, tracker: Tracker, trials: int, epochs: int, batch_size: int,
              dataset: Dataset) -> tuple[float, float]:
    """Run `trials` trials and flush the tracker; return (wall, CPU) seconds per trial. CPU
    time counts every thread of this process and is barely moved by other processes' load."""
    parent = tracker.stage_run("bench", "coarse", {"objective": "softmax", "dataset": "digits"})
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(trials):
        run_trial(study, tracker, parent, epochs, batch_size, dataset)
    tracker.flush()
    return (time.perf_counter() - wall) / trials, (time.process_time() - cpu) / trials


def tracker_cost(tracking_uri: str, epochs: int, trials: int = 20) -> tuple[float, float]:
    """(wall, CPU) ms per trial of the MLflow calls alone, written inline, without training:
    create the run, report `epochs` points, finish (tags, curves + LR PNGs, config JSON)."""
    tracker = MlflowTracker(tracking_uri, background=False)
    parent = tracker.stage_run("bench_calls", "coarse", {"objective": "softmax"})
    history = [{"epoch": float(e), "train_loss": 1 / e, "val_loss": 1.1 / e,
                "train_accuracy": 1 - 1 / e, "val_accuracy": 1 - 1.1 / e, "lr": 0.1 / e,
                "seconds": 0.2} for e in range(1, epochs + 1)]
    wall, cpu = time.perf_counter(), time.process_time()
    for number in range(trials):
        handle = tracker.start_trial(parent, "bench_calls", "coarse", number, {"lr": 0.1})
        for step, row in enumerate(history, start=1):
            handle.log_epoch(step, row)
        handle.finish("COMPLETE", 0.9, {"epochs": float(epochs), "seconds": 2.0}, history,
                      {"lr": 0.1})
    return ((time.perf_counter() - wall) / trials * 1000,
            (time.process_time() - cpu) / trials * 1000)


def print_table(times: Mapping[str, list[tuple[float, float]]], args: argparse.Namespace) -> None:
    """Median wall and CPU seconds per trial of each mode, and the overhead over the first."""
    base = times["in-memory Optuna, no tracking"]
    base_wall = statistics.median(w for w, _ in base)
    base_cpu = statistics.median(c for _, c in base)
    print(f"\nsoftmax on digits (train x{args.repeat}), {args.epochs} epochs, batch "
          f"{args.batch_size}; {args.trials} trials x {args.rounds} rounds per mode, medians")
    print(f"{'mode':<34} {'wall s':>7} {'overhead':>9} {'CPU s':>7} {'overhead':>9}")
    for name, values in times.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        print(f"{name:<34} {wall:>7.3f} {100 * (wall / base_wall - 1):>8.1f}% "
              f"{cpu:>7.3f} {100 * (cpu / base_cpu - 1):>8.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4, help="trials per block")
    parser.add_argument("--rounds", type=int, default=3, help="blocks per mode (0: only the "
                        "cost of the MLflow calls)")
    parser.add_argument("--epochs", type=int, default=10, help="reporting points per trial")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=6, help="digits train split tiled N times "
                        "(sets the trial length: ~2 s on an idle core with the defaults)")
    args = parser.parse_args()

    dataset = digits(args.repeat)
    tmp = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
    tracking_uri = f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}"
    MlflowTracker(tracking_uri).check()  # create the MLflow tables outside the timings
    storage = f"sqlite:///{tmp / 'tuner.db'}"

    def study(name: str, rdb: bool) -> optuna.Study:
        return optuna.create_study(study_name=name, storage=storage if rdb else None,
                                   direction="maximize", load_if_exists=True)

    modes: dict[str, Callable[[int], tuple[optuna.Study, Tracker]]] = {
        "in-memory Optuna, no tracking": lambda r: (study(f"a{r}", False), Tracker()),
        "SQLite Optuna, no tracking": lambda r: (study(f"b{r}", True), Tracker()),
        "SQLite Optuna + MLflow (sync)": lambda r: (
            study(f"c{r}", True), MlflowTracker(tracking_uri, background=False)),
        "SQLite Optuna + MLflow (default)": lambda r: (
            study(f"d{r}", True), MlflowTracker(tracking_uri)),
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in modes}
    for r in range(args.rounds):
        for name, make in modes.items():
            optuna_study, tracker = make(r)
            times[name].append(run_block(optuna_study, tracker, args.trials, args.epochs,
                                         args.batch_size, dataset))
            wall, cpu = times[name][-1]
            print(f"round {r + 1} {name}: {wall:.3f} s wall, {cpu:.3f} s CPU per trial",
                  file=sys.stderr)

    history = [{"epoch": float(e), "train_loss": 1 / e, "val_loss": 1 / e, "train_accuracy": 0.5,
                "val_accuracy": 0.5, "lr": 0.1 / e} for e in range(1, 11)]
    png_start = time.perf_counter()
    for i in range(5):
        plot_learning_curves(history, tmp / f"curves{i}.png")
    png_ms = (time.perf_counter() - png_start) / 5 * 1000

    base = times["in-memory Optuna, no tracking"]
    if base:
        print_table(times, args)
    print(f"learning-curves PNG: {png_ms:.0f} ms each")
    calls_wall, calls_cpu = tracker_cost(tracking_uri, args.epochs)
    print(f"MLflow calls alone (sync, no training): {calls_wall:.0f} ms wall, "
          f"{calls_cpu:.0f} ms CPU per trial = {calls_wall / 20:.1f} % wall, "
          f"{calls_cpu / 20:.1f} % CPU of a 2-second trial")


if __name__ == "__main__":
    main()
