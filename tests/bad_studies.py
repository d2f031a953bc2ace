"""Shared by the bad-input tables (tests/unit/cli/test_bad_inputs*.py): a small toy study file
with one part made bad, the storage and tracking arguments of a run, and the check that a refused
run wrote nothing: no trial row in the storage, no MLflow run."""

from __future__ import annotations

import sqlite3
from pathlib import Path

HEAD = """
objective = "tests.toy_objective:TOY"
dataset = "digits"
{top}
[fixed]
epochs = 2

[[stages]]
name = "coarse"
sampler = {sampler}
pruner = {pruner}
trials = 3
{stage}
[stages.space]
x = {{ low = -10.0, high = 10.0 }}
{space}
{final}
"""


def study(tmp_path: Path, *, top: str = "", sampler: str = '"random"', pruner: str = '"none"',
          stage: str = "", space: str = "", final: str = "") -> str:
    path = tmp_path / "bad.toml"
    path.write_text(HEAD.format(top=top, sampler=sampler, pruner=pruner, stage=stage,
                                space=space, final=final))
    return str(path)


def trial_rows(db: Path) -> int:
    """Trials stored in the SQLite file `db` (0 when it was never created)."""
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        return conn.execute("SELECT count(*) FROM trials").fetchone()[0] if "trials" in tables \
            else 0



def stored_args(tmp_path: Path) -> list[str]:
    """--storage and --tracking-uri into `tmp_path` (tuner.db, mlflow.db)."""
    return ["--storage", f"sqlite:///{tmp_path / 'tuner.db'}",
            "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"]


def mlflow_runs(db: Path) -> int:
    """MLflow runs in the tracking database `db` (0 when it was never created)."""
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        return conn.execute("SELECT count(*) FROM runs").fetchone()[0] if "runs" in tables \
            else 0


def nothing_written(tmp_path: Path) -> None:
    """Neither a trial in tmp_path/tuner.db nor an MLflow run in tmp_path/mlflow.db."""
    assert trial_rows(tmp_path / "tuner.db") == 0
    assert mlflow_runs(tmp_path / "mlflow.db") == 0
