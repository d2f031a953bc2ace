"""Time of a stage's study plots (tuner.figures.study_plots), drawn once per stage at its end.

A made-up in-memory study of `--trials` trials over three params (a log float, an int, a
categorical), 10 intermediate values each, a few pruned; `--objectives 2` makes it a
two-objective study with a companion study for its curves. Prints the best and median seconds.

    .venv/bin/python benchmarks/bench_study_plots.py [--trials 50] [--repeats 5] [--objectives 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tuner.figures.study_plots import study_plots  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)


def make_study(trials: int, objectives: int, seed: int = 0) -> tuple[optuna.Study,
                                                                      optuna.Study | None]:
    """The study and, for a multi-objective one, a companion holding its curves."""
    rng = np.random.default_rng(seed)
    directions = ["maximize", "minimize"][:objectives]
    study = optuna.create_study(directions=directions,
                                sampler=optuna.samplers.RandomSampler(seed=seed))
    if objectives > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(["val_accuracy", "seconds"])
    curves = optuna.create_study(direction="maximize") if objectives > 1 else None
    for number in range(trials):
        trial = study.ask()
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        layers = trial.suggest_int("layers", 1, 4)
        optimizer = trial.suggest_categorical("optimizer", ["sgd", "momentum", "adam"])
        watched = curves.ask() if curves is not None else trial
        score = 0.9 - 0.05 * abs(np.log10(lr) + 2) - 0.02 * layers + 0.03 * (optimizer == "adam")
        for step in range(1, 11):
            watched.report(score * step / 10 + 0.01 * rng.standard_normal(), step)
        if number % 7 == 6:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            if curves is not None:
                curves.tell(watched, state=optuna.trial.TrialState.PRUNED)
            continue
        values = [score, 1.0 + layers + rng.random()][:objectives]
        study.tell(trial, values if objectives > 1 else values[0])
        if curves is not None:
            curves.tell(watched, score)
    return study, curves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--objectives", type=int, choices=(1, 2), default=1)
    args = parser.parse_args()
    study, curves = make_study(args.trials, args.objectives)
    seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        study_plots(study, Path(tmp) / "warm", curves)  # imports and font cache out of the timing
        for i in range(args.repeats):
            start = time.perf_counter()
            written = study_plots(study, Path(tmp) / str(i), curves)
            seconds.append(time.perf_counter() - start)
        sizes = sum(p.stat().st_size for p in written)
    print(f"{args.trials} trials, {args.objectives} objective(s): {len(written)} plots, "
          f"{sizes / 1024:.0f} KiB; best {min(seconds):.3f} s, "
          f"median {statistics.median(seconds):.3f} s over {args.repeats}")


if __name__ == "__main__":
    main()
