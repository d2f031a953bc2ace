"""Seconds per trial of scikit-learn estimators on small own tables, alone and with a second
tuner process beside them, by thread setting.

Writes wine (178 rows, 13 features, classes by name) and make_friedman1 (--rows rows, 10
features) as CSVs. For HistGradientBoosting and RandomForest (n_jobs=-1, as users set it) on each,
runs a `tuner study` of --trials random trials (learning rate / depth searched), once alone and
twice at once in separate folders, and reports each trial's fit seconds (as stored with the
trial) averaged: in the default environment, with OMP_NUM_THREADS=1, and with the tuner of
another checkout (`--before DIR`: what the tuner did before it chose estimator threads).

    git worktree add /tmp/tuner-before <commit> && ln -s $PWD/.venv /tmp/tuner-before/.venv
    .venv/bin/python benchmarks/bench_estimators.py --before /tmp/tuner-before
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]
THREAD_VARS = ("OMP_NUM_THREADS", "TUNER_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
CASES = {
    "HistGradientBoostingClassifier": ("wine", "learning_rate = { low = 0.01, high = 0.3, "
                                       "log = true }"),
    "RandomForestClassifier": ("wine", "max_depth = { low = 2, high = 16 }"),
    "HistGradientBoostingRegressor": ("friedman", "learning_rate = { low = 0.01, high = 0.3, "
                                      "log = true }"),
    "RandomForestRegressor": ("friedman", "max_depth = { low = 2, high = 16 }"),
}
STUDY = """
objective = "sklearn.ensemble:{estimator}"
dataset = "{csv}"
{metric}
seed = 0
cv = false  # one fit per trial: this measures fits, not cross-validation

[fixed]
{fixed}

[[stages]]
name = "only"
sampler = "random"
trials = {trials}
[stages.space]
{space}
"""


def write_tables(folder: Path, rows: int) -> dict[str, Path]:
    import pandas as pd
    from sklearn.datasets import load_wine, make_friedman1

    wine = load_wine(as_frame=True)
    frame = wine.frame.assign(target=wine.target_names[wine.target])
    X, y = make_friedman1(n_samples=rows, n_features=10, noise=1.0, random_state=0)
    friedman = pd.DataFrame(X, columns=[f"x{i}" for i in range(10)]).assign(target=y)
    paths = {"wine": folder / "wine.csv", "friedman": folder / "friedman.csv"}
    frame.to_csv(paths["wine"], index=False)
    friedman.to_csv(paths["friedman"], index=False)
    return paths


def studies_at_once(n: int, estimator: str, csv: Path, trials: int, root: Path,
                    env: dict[str, str]) -> list[float]:
    """The fit seconds of every trial of n studies run at once, each in its own folder."""
    table, space = CASES[estimator]
    fixed = 'n_jobs = -1' if "RandomForest" in estimator else ""
    metric = ('metric = "val_rmse"\ndirection = "minimize"' if "Regressor" in estimator
              else 'metric = "val_accuracy"')
    text = STUDY.format(estimator=estimator, csv=csv, metric=metric, fixed=fixed, trials=trials,
                        space=space)
    with tempfile.TemporaryDirectory() as top:
        folders = [Path(top) / str(i) for i in range(n)]
        procs = []
        for folder in folders:
            folder.mkdir()
            (folder / "bench.toml").write_text(text)
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "tuner", "-q", "study", "bench.toml", "--no-tracking"],
                cwd=folder, env={**env, "PYTHONPATH": str(root)}, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, text=True))
        for proc in procs:
            _, err = proc.communicate()
            if proc.returncode != 0:
                sys.exit(f"tuner study failed:\n{err[-3000:]}")
        seconds = []
        for folder in folders:
            study = optuna.load_study(study_name="bench/only",
                                      storage=f"sqlite:///{folder / 'tuner.db'}")
            seconds += [float(t.user_attrs["seconds"]) for t in study.trials
                        if "seconds" in t.user_attrs]
        return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1000, help="rows of the friedman table")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--before", type=Path, default=None,
                        help="a checkout of the tuner before the change (its own columns)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    clean = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    settings = [("default", ROOT, clean), ("OMP_NUM_THREADS=1", ROOT,
                                           {**clean, "OMP_NUM_THREADS": "1"})]
    if args.before:
        settings.insert(0, ("before, default", args.before.resolve(), clean))
    with tempfile.TemporaryDirectory() as folder:
        tables = write_tables(Path(folder), args.rows)
        print(f"{os.cpu_count()} cores; mean fit seconds per trial, {args.trials} trials per "
              f"study; friedman: {args.rows} rows x 10, wine: 178 x 13")
        heads = [f"{label}, {n} at once" for label, *_ in settings for n in (1, 2)]
        print("| estimator | table | " + " | ".join(heads) + " |")
        print("|---|---|" + "---|" * len(heads))
        for estimator, (table, _) in CASES.items():
            cells = [statistics.mean(studies_at_once(n, estimator, tables[table], args.trials,
                                                     root, env))
                     for _, root, env in settings for n in (1, 2)]
            print(f"| {estimator} | {table} | " + " | ".join(f"{c:.3f}" for c in cells) + " |",
                  flush=True)


if __name__ == "__main__":
    main()
