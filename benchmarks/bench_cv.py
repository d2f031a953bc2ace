"""Cross-validation on a small table: wine (178 rows: 36 test, 114 train, 28 val) tuned with
one 28-row val split vs 5-fold cross-validation of train+val, over several study seeds.

For each estimator and setting, runs `tuner study` (a random coarse stage, then a TPE fine
stage refined from it, then --final) once per seed, in the default environment, and reports:
how many fine trials tie at the stage's best value (the pick among them is arbitrary), how
many distinct values the fine trials have, the final's test accuracy (mean and spread over the
seeds; each seed carves its own test split) and the wall seconds of a study.

    .venv/bin/python benchmarks/bench_cv.py --seeds 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

ROOT = Path(__file__).resolve().parents[1]
SPACES = {
    "HistGradientBoostingClassifier": (
        "learning_rate = { low = 0.01, high = 0.5, log = true }\n"
        "max_depth = { low = 2, high = 8 }\nmin_samples_leaf = { low = 2, high = 30 }\n"
        "l2_regularization = { low = 1e-6, high = 1.0, log = true }"),
    "RandomForestClassifier": (
        "max_depth = { low = 2, high = 16 }\nmin_samples_leaf = { low = 1, high = 10 }\n"
        'max_features = { choices = ["sqrt", "log2"] }'),
}
STUDY = """
name = "bench"
objective = "sklearn.ensemble:{estimator}"
dataset = "wine.csv"
target = "target"
metric = "val_accuracy"
cv = {cv}

[[stages]]
name = "coarse"
sampler = "random"
trials = {trials}
[stages.space]
{space}

[[stages]]
name = "fine"
sampler = "tpe"
trials = {trials}
refine = {{ from = "coarse", params = [{params}], top_k = 3 }}
"""


def write_wine(path: Path) -> None:
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True)
    wine.frame.assign(target=wine.target_names[wine.target]).to_csv(path, index=False)


def one_study(estimator: str, cv: str, seed: int, trials: int, folder: Path
              ) -> tuple[int, int, float, float]:
    """(fine trials tied at the best value, distinct fine values, test accuracy, seconds)."""
    space = SPACES[estimator]
    params = ", ".join(f'"{line.split(" = ")[0]}"' for line in space.splitlines()
                       if "choices" not in line)
    (folder / "bench.toml").write_text(STUDY.format(estimator=estimator, cv=cv, trials=trials,
                                                    space=space, params=params))
    storage = f"sqlite:///{folder / f'{estimator}-{cv}-{seed}.db'}"
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "tuner", "-q", "study", "bench.toml", "--no-tracking", "--final",
         "--seed", str(seed), "--storage", storage],
        cwd=folder, env=None, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"tuner study failed:\n{proc.stderr[-3000:]}")
    fine = optuna.load_study(study_name="bench/fine", storage=storage)
    values = [t.value for t in fine.trials if t.state == TrialState.COMPLETE]
    best = max(values)
    final = fine.user_attrs.get("final") or optuna.load_study(
        study_name="bench/coarse", storage=storage).user_attrs["final"]
    return (sum(v == best for v in values), len(set(values)), float(final["test_accuracy"]),
            seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=10, help="trials per stage")
    args = parser.parse_args()
    print(f"wine, {args.trials} coarse + {args.trials} fine trials, seeds 0..{args.seeds - 1}; "
          "per setting the mean over seeds (test accuracy: mean +- sd)")
    print("| estimator | validation | fine trials tied at best | distinct fine values | "
          "test accuracy | s per study |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as top:
        folder = Path(top)
        write_wine(folder / "wine.csv")
        for estimator in SPACES:
            for cv, label in (("false", "one val split (28 rows)"),
                              ("5", "cv = 5 (142 rows)")):
                rows = [one_study(estimator, cv, seed, args.trials, folder)
                        for seed in range(args.seeds)]
                ties, distinct, tests, secs = (list(col) for col in zip(*rows, strict=True))
                print(f"| {estimator} | {label} | {statistics.mean(ties):.1f} of "
                      f"{args.trials} | {statistics.mean(distinct):.1f} | "
                      f"{statistics.mean(tests):.4f} +- {statistics.stdev(tests):.4f} | "
                      f"{statistics.mean(secs):.1f} |", flush=True)
                print(f"|  | per seed: ties {ties}, test {[round(t, 4) for t in tests]} |"
                      "  |  |  |  |", flush=True)


if __name__ == "__main__":
    main()
