"""A storage or MLflow store that fails mid-study (a full disk, a lost database), simulated in
process: the worker stops with one line, the trial it ran is not failed for it (it stays
RUNNING, to be retried), no MLflow run is left RUNNING, no traceback reaches the console, and
the rerun ends the stage at its exact count."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy
from mlflow import MlflowClient
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from tuner.cli import main
from tuner.engine.trial import STORAGE_LOST
from tuner.storage import from_storage
from tuner.tracking import MlflowTracker

STUDY = """
objective = "tests.toy_objective:TOY"
dataset = "digits"

[fixed]
epochs = 3

[[stages]]
name = "only"
sampler = "random"
trials = 3
[stages.space]
x = { low = -5.0, high = 5.0 }
"""


def disk_full() -> optuna.exceptions.StorageInternalError:
    """What Optuna raises when SQLite's disk is full during a commit."""
    cause = sqlalchemy.exc.OperationalError(
        "INSERT INTO trial_intermediate_values ...", {},
        sqlite3.OperationalError("database or disk is full"))
    error = optuna.exceptions.StorageInternalError(
        "An exception is raised during the commit. This typically happens due to invalid data "
        "in the commit, e.g. exceeding max length. ")
    error.__cause__ = cause
    return error


def test_a_full_disk_mid_trial_stops_the_study_with_one_line_and_keeps_the_trial(
    tmp_path: Path, storage_url: str, tracking_uri: str, monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TUNER_HEARTBEAT_SECONDS", "1")
    (tmp_path / "toy.toml").write_text(STUDY)
    argv = ["-q", "study", str(tmp_path / "toy.toml"), "--storage", storage_url,
            "--tracking-uri", tracking_uri]
    real = RDBStorage.set_trial_intermediate_value
    calls: list[int] = []

    def fills_up(self: RDBStorage, *args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 5:  # the second trial's second report
            raise disk_full()
        real(self, *args, **kwargs)

    monkeypatch.setattr(RDBStorage, "set_trial_intermediate_value", fills_up)
    assert main(argv) == 1
    err = capfd.readouterr().err
    assert "Traceback" not in err and "exceeding max length" not in err, err
    assert err.strip().splitlines()[-1] == (
        f"error: The disk of the storage '{storage_url}' is full (database or disk is full); "
        "finished trials are saved. Free some space and run the same command again.")

    study = optuna.load_study(study_name="toy/only", storage=storage_url)
    stopped = study.trials[1]
    assert stopped.state == TrialState.RUNNING  # not FAIL: the trial did nothing wrong
    client = MlflowClient(tracking_uri)
    run = client.get_run(stopped.user_attrs["mlflow_run_id"])
    assert run.info.status == "FAILED" and run.data.tags["failure_reason"] == STORAGE_LOST
    parent = client.get_run(study.user_attrs["mlflow_parent_run_id"])
    assert parent.info.status == "FAILED"
    assert "database or disk is full" in parent.data.tags["stopped_because"]

    monkeypatch.setattr(RDBStorage, "set_trial_intermediate_value", real)
    assert main(argv) == 0
    trials = optuna.load_study(study_name="toy/only", storage=storage_url).trials
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 3
    assert [t.number for t in trials if t.state == TrialState.FAIL] == [stopped.number]
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    experiment = client.get_experiment_by_name("toy")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.run_name for r in runs if r.info.status == "RUNNING"] == []
    assert client.get_run(parent.info.run_id).info.status == "FINISHED"  # the same run


def test_a_database_error_of_the_objective_itself_is_the_trials() -> None:
    """Only errors raised inside Optuna's storage are the storage's: an objective that reads
    its own database and fails there fails its trial, as any other exception."""
    assert from_storage(disk_full())
    try:
        sqlite3.connect(":memory:").execute("SELECT * FROM no_such_table")
    except sqlite3.Error as own:
        assert not from_storage(own)
    with sqlalchemy.create_engine("sqlite:///:memory:").connect() as conn:
        try:
            conn.execute(sqlalchemy.text("SELECT * FROM no_such_table"))
        except sqlalchemy.exc.OperationalError as own:
            assert not from_storage(own)


def test_a_full_mlflow_store_is_one_warning_line_without_mlflows_traceback(
    tracking_uri: str, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The MLflow store's SQLite file cannot grow (max_page_count: SQLite's own "database or
    disk is full"): each failed write is one warning naming the cause; MLflow's logged
    traceback (90 lines per error) stays off the console."""
    tracker = MlflowTracker(tracking_uri, background=False, metrics_interval=0.0)
    parent = tracker.stage_run("full", "only", {})
    engine = tracker.client._tracking_client.store.engine
    sqlalchemy.event.listen(engine, "connect",
                            lambda conn, record: conn.execute("PRAGMA max_page_count = 1"))
    engine.dispose()
    trial = tracker.start_trial(parent, "full", "only", 0, {"x": 1.0})
    with caplog.at_level(logging.WARNING, logger="tuner.tracking"):
        for step in range(1, 4):
            trial.log_epoch(step, {f"m{i}": float(i) for i in range(900)})
    assert tracker.warnings >= 1
    assert "(OperationalError: database or disk is full)" in caplog.text
    err = capfd.readouterr().err
    assert "Traceback" not in err and "SQLAlchemy database error" not in err, err
