"""Workers started at the same moment on a fresh folder: the Optuna SQLite file and the MLflow
SQLite store are each created once, whole, and every worker succeeds."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
from mlflow import MlflowClient
from optuna.trial import TrialState
from paths import ROOT

STUDY = """
objective = "tests.toy_objective:TOY"
dataset = "digits"

[fixed]
epochs = 2

[[stages]]
name = "only"
sampler = "random"
trials = 9
[stages.space]
x = { low = -5.0, high = 5.0 }
"""
LAUNCH = (
    "import sys, time\n"
    "from tuner.cli import main\n"  # imported before the wait: every worker is ready at T
    "time.sleep(max(0.0, float(sys.argv[1]) - time.time()))\n"
    "raise SystemExit(main(sys.argv[2:]))\n"
)


def test_three_workers_started_together_on_fresh_default_stores(tmp_path: Path) -> None:
    """No --storage, no --tracking-uri: tuner.db and MLflow's default mlflow.db are both new.
    Before, in 11 attempts at least two of three workers died every time, and 3 of 11 left the
    MLflow store broken for good."""
    (tmp_path / "toy.toml").write_text(STUDY)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    start = f"{time.time() + 8:.3f}"
    procs = [subprocess.Popen([sys.executable, "-c", LAUNCH, start, "-q", "worker", "toy.toml"],
                              cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    errors = [proc.communicate(timeout=300)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], errors
    assert not any("Traceback" in e or "error" in e.lower() for e in errors), errors

    trials = optuna.load_study(study_name="toy/only",
                               storage=f"sqlite:///{tmp_path / 'tuner.db'}").trials
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 9
    with sqlite3.connect(tmp_path / "mlflow.db") as conn:  # one whole MLflow schema
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "metrics", "experiments", "registered_models"} <= tables
    assert not any(name.startswith("_alembic_tmp") for name in tables)
    assert not list(tmp_path.glob(".*.tmp-*"))  # no half-made file left behind
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (experiment,) = [e for e in client.search_experiments() if e.name == "toy"]
    runs = client.search_runs([experiment.experiment_id], "tags.`tuner.role` = 'trial'")
    assert sorted(int(r.data.tags["trial_number"]) for r in runs) == sorted(
        t.number for t in trials if t.state == TrialState.COMPLETE)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


def test_jobs_three_on_fresh_default_stores(tmp_path: Path) -> None:
    (tmp_path / "toy.toml").write_text(STUDY)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "tuner", "study", "toy.toml", "--jobs", "3"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "stage only: 9 complete, 0 pruned, " in done.stdout  # + any surplus told FAIL
    assert "Traceback" not in done.stderr
