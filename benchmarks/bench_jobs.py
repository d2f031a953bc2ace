"""Where the time of `tuner study ... --jobs N` goes, against the same command without --jobs.

Runs the study command (default: `lambda_search --data-dir ../shared/data --final`, the main job
on CIFAR-10) once per --jobs value, back to back, each in a fresh folder with fresh SQLite
storage and MLflow store, in the default environment (no thread variables). Prints per run the
wall time and test accuracy, and per stage (from the storage): its span (first trial start to
last trial end), the worker-seconds busy in trials and idle (workers x span - busy), the epochs
trained, and the trials pruned; plus the time outside the stages (start-up, the final).

    .venv/bin/python benchmarks/bench_jobs.py --jobs 1 2
    .venv/bin/python benchmarks/bench_jobs.py --jobs 1 2 --repeats 2 --keep /tmp/bench_jobs
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]
TEST = re.compile(r"test accuracy ([0-9.]+)")


@dataclass
class Stage:
    name: str
    span: float
    busy: float
    epochs: float
    trials: int
    pruned: int


def stages(folder: Path) -> list[Stage]:
    """Every stage of the study in folder/tuner.db, in the order its trials started."""
    storage = f"sqlite:///{folder / 'tuner.db'}"
    found = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        if "/" not in summary.study_name or "#" in summary.study_name:
            continue  # the stored spec and the stage's MLflow record
        trials = [t for t in optuna.load_study(study_name=summary.study_name, storage=storage)
                  .get_trials(deepcopy=False) if t.datetime_start and t.datetime_complete]
        if not trials:
            continue
        start = min(t.datetime_start for t in trials)  # type: ignore[type-var]
        end = max(t.datetime_complete for t in trials)  # type: ignore[type-var]
        found.append((start, Stage(
            name=summary.study_name.split("/", 1)[1],
            span=(end - start).total_seconds(),
            busy=sum((t.datetime_complete - t.datetime_start).total_seconds()  # type: ignore[operator]
                     for t in trials),
            epochs=sum(float(t.user_attrs.get("epochs") or 0) for t in trials),
            trials=len(trials),
            pruned=sum(t.state == optuna.trial.TrialState.PRUNED for t in trials))))
    return [stage for _, stage in sorted(found, key=lambda pair: pair[0])]


def run(argv: list[str], jobs: int, folder: Path) -> tuple[float, str, list[Stage]]:
    """One run of the command in `folder`: wall seconds, test accuracy, its stages."""
    command = [sys.executable, "-m", "tuner", "-q", "study", *argv]
    if jobs > 1:
        command += ["--jobs", str(jobs)]
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    wall = time.perf_counter() - started
    (folder / "output.txt").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{proc.stderr[-3000:]}")
    found = TEST.findall(proc.stdout + proc.stderr)
    return wall, found[-1] if found else "-", stages(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--study", default="lambda_search")
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-final", action="store_true")
    parser.add_argument("--keep", type=Path, default=None, help="keep each run's folder here")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    argv = [args.study, "--data-dir", str(Path(args.data_dir).resolve())]
    if not args.no_final:
        argv.append("--final")
    rows = []
    for repeat in range(args.repeats):
        for jobs in args.jobs:
            folder = Path(tempfile.mkdtemp(prefix=f"bench_jobs_{jobs}_"))
            wall, test, found = run(argv, jobs, folder)
            rows.append((repeat, jobs, wall, test, found))
            print(f"repeat {repeat} jobs {jobs}: {wall:.0f} s, test accuracy {test}", flush=True)
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                shutil.move(str(folder), args.keep / f"r{repeat}_jobs{jobs}")
            else:
                shutil.rmtree(folder)
    print()
    print("| run | wall s | test acc | stage | span s | busy worker-s | idle worker-s "
          "| epochs | trials (pruned) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for repeat, jobs, wall, test, found in rows:
        outside = wall - sum(stage.span for stage in found)
        for index, stage in enumerate(found):
            head = (f"| r{repeat} --jobs {jobs} | {wall:.0f} | {test} " if index == 0
                    else "| | | ")
            print(f"{head}| {stage.name} | {stage.span:.0f} | {stage.busy:.0f} "
                  f"| {max(0.0, jobs * stage.span - stage.busy):.0f} | {stage.epochs:.0f} "
                  f"| {stage.trials} ({stage.pruned}) |")
        print(f"| | | | outside the stages (start-up, final) | {outside:.0f} | | | | |")
    for jobs in args.jobs[1:]:
        ratios = [wall / base for (r, j, wall, *_), (r0, j0, base, *_) in
                  ((row, base_row) for row in rows for base_row in rows)
                  if j == jobs and j0 == args.jobs[0] and r == r0]
        print(f"\n--jobs {jobs} / --jobs {args.jobs[0]} wall: "
              + ", ".join(f"{ratio:.2f}x" for ratio in ratios))


if __name__ == "__main__":
    main()
