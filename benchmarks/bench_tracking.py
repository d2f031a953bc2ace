"""Per-trial overhead of Optuna storage + MLflow tracking on a ~2-second trial; prints a table.

The trial is the real NumPy softmax objective on sklearn digits, reporting 20 epochs through
the same path as the runner (trial.report, tracker.log_epoch, should_prune). Each mode runs a
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
from pathlib import Path

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from objectives import data, registry  # noqa: E402
from tuner.report import plot_learning_curves  # noqa: E402
from tuner.tracking import MlflowTracker, Tracker  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)


def run_trial(study: optuna.Study, tracker: Tracker, parent: str | None, epochs: int,
              batch_size: int, dataset: data.Dataset) -> None:
    """One trial along the runner's path: suggest, train, report each epoch, tell, finish."""
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
              dataset: data.Dataset) -> float:
    """Run `trials` trials and flush the tracker; return the mean wall seconds per trial."""
    parent = tracker.stage_run("bench", "coarse", {"objective": "softmax", "dataset": "digits"})
    start = time.perf_counter()
    for _ in range(trials):
        run_trial(study, tracker, parent, epochs, batch_size, dataset)
    tracker.flush()
    return (time.perf_counter() - start) / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5, help="trials per block")
    parser.add_argument("--rounds", type=int, default=2, help="blocks per mode")
    parser.add_argument("--epochs", type=int, default=20, help="reporting points per trial")
    parser.add_argument("--batch-size", type=int, default=1, help="sets the trial length")
    args = parser.parse_args()

    dataset = data.load("digits")
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
    times: dict[str, list[float]] = {name: [] for name in modes}
    for r in range(args.rounds):
        for name, make in modes.items():
            optuna_study, tracker = make(r)
            times[name].append(run_block(optuna_study, tracker, args.trials, args.epochs,
                                         args.batch_size, dataset))
            print(f"round {r + 1} {name}: {times[name][-1]:.3f} s/trial", file=sys.stderr)

    history = [{"epoch": float(e), "train_loss": 1 / e, "val_loss": 1 / e, "train_accuracy": 0.5,
                "val_accuracy": 0.5, "lr": 0.1 / e} for e in range(1, 11)]
    png_start = time.perf_counter()
    for i in range(5):
        plot_learning_curves(history, tmp / f"curves{i}.png")
    png_ms = (time.perf_counter() - png_start) / 5 * 1000

    base = statistics.median(times["in-memory Optuna, no tracking"])
    print(f"\nsoftmax on digits, {args.epochs} epochs, batch {args.batch_size}, "
          f"{args.trials} trials x {args.rounds} rounds per mode (median of rounds)")
    print(f"{'mode':<34} {'s/trial':>8} {'overhead':>9}")
    for name, values in times.items():
        mid = statistics.median(values)
        print(f"{name:<34} {mid:>8.3f} {100 * (mid / base - 1):>8.1f}%")
    print(f"learning-curves PNG: {png_ms:.0f} ms each")


if __name__ == "__main__":
    main()
