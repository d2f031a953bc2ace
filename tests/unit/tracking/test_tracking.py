"""MlflowTracker against a temporary SQLite MLflow store: runs, metrics, tags, artifacts, errors."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from ports import free_port

from tuner.errors import TrackingError
from tuner.tracking import (
    DEFAULT_TRACKING_URI,
    MAX_FAILURES,
    MlflowTracker,
    Tracker,
    artifact_root,
    flat_params,
    make_tracker,
    resolve_uri,
)

STAGE_INFO = {"objective": "softmax", "dataset": "digits", "seed": 0, "sampler": "tpe",
              "pruner": "median", "fixed": {"epochs": 3, "batch_size": 64}}


@pytest.fixture(scope="module")
def shared_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One MLflow store per module (its tables take seconds to create); one study per test."""
    folder = tmp_path_factory.mktemp("mlruns")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    MlflowTracker(uri).check()
    return uri


def _history(epochs: int) -> list[dict[str, float]]:
    return [{"epoch": float(e), "train_loss": 1.0 / e, "val_loss": 1.2 / e,
             "train_accuracy": 1 - 0.5 / e, "val_accuracy": 1 - 0.6 / e, "lr": 0.1 * 0.5**e,
             "seconds": 0.01} for e in range(1, epochs + 1)]


def _run_trial(tracker: Tracker, parent: str | None, study: str, number: int, state: str,
               epochs: int, schedule: str | None = None) -> str | None:
    trial = tracker.start_trial(parent, study, "coarse", number, {"lr": 0.1, "reg": 1e-3})
    history = _history(epochs)
    for step, row in enumerate(history, start=1):
        trial.log_epoch(step, row)
    info = {"epochs": float(epochs), "seconds": 0.03,
            "pruned_at": epochs if state == "PRUNED" else None,
            "reason": "DivergenceError: loss is nan" if state == "FAIL" else None,
            "schedule": schedule}
    value = history[-1]["val_accuracy"] if state == "COMPLETE" else None
    trial.finish(state, value, info, history,
                 {"lr": 0.1, "reg": 1e-3, "epochs": 3, "batch_size": 64})
    return trial.run_id


def _children(uri: str, parent: str) -> list[Any]:
    client = MlflowClient(uri)
    exp = client.get_run(parent).info.experiment_id
    return client.search_runs([exp], filter_string=f"tags.mlflow.parentRunId = '{parent}'")


def _artifacts(uri: str, run_id: str, path: str | None = None) -> set[str]:
    return {Path(f.path).name for f in MlflowClient(uri).list_artifacts(run_id, path)}


def test_children_metrics_tags_and_artifacts(shared_uri: str) -> None:
    tracker = MlflowTracker(shared_uri)
    parent = tracker.stage_run("study_a", "coarse", STAGE_INFO)
    assert parent is not None
    ids = {
        "COMPLETE": _run_trial(tracker, parent, "study_a", 0, "COMPLETE", 3, schedule="step"),
        "PRUNED": _run_trial(tracker, parent, "study_a", 1, "PRUNED", 2),
        "FAIL": _run_trial(tracker, parent, "study_a", 2, "FAIL", 1),
    }
    tracker.flush()
    client = MlflowClient(shared_uri)

    assert len(_children(shared_uri, parent)) == 3
    parent_run = client.get_run(parent)
    assert client.get_experiment(parent_run.info.experiment_id).name == "study_a"
    assert parent_run.data.params["fixed.epochs"] == "3"
    for state, epochs in (("COMPLETE", 3), ("PRUNED", 2), ("FAIL", 1)):
        run_id = ids[state]
        assert run_id is not None
        history = client.get_metric_history(run_id, "val_loss")
        assert [m.step for m in history] == list(range(1, epochs + 1))
        run = client.get_run(run_id)
        assert run.data.tags["state"] == state
        assert run.data.tags["trial_number"] == str(list(ids).index(state))
        assert run.data.tags["optuna.study_name"] == "study_a/coarse"
        assert run.data.params["objective"] == "softmax"
        assert run.data.params["batch_size"] == "64"
        assert run.data.params["lr"] == "0.1"
        assert run.info.status == {"COMPLETE": "FINISHED", "PRUNED": "KILLED",
                                   "FAIL": "FAILED"}[state]
        assert run.info.run_name == ("trial 1 (pruned)" if state == "PRUNED"
                                     else f"trial {list(ids).index(state)}")
    assert client.get_run(ids["PRUNED"] or "").data.tags["pruned_at"] == "2"
    assert "nan" in client.get_run(ids["FAIL"] or "").data.tags["failure_reason"]
    assert _artifacts(shared_uri, ids["COMPLETE"] or "") == {
        "learning_curves.png", "lr_schedule.png", "config.json"}
    assert "lr_schedule.png" in _artifacts(shared_uri, ids["PRUNED"] or "")  # lr varies
    assert "lr_schedule.png" not in _artifacts(shared_uri, ids["FAIL"] or "")  # one lr
    assert tracker.warnings == 0


def test_end_stage_logs_best_counts_plots_and_csv(shared_uri: str) -> None:
    tracker = MlflowTracker(shared_uri)
    parent = tracker.stage_run("study_b", "coarse", STAGE_INFO)
    assert parent is not None
    study = optuna.create_study(direction="maximize")
    for _ in range(4):
        trial = study.ask()
        x = trial.suggest_float("x", -1, 1)
        y = trial.suggest_int("y", 0, 3)
        trial.report(x, 1)
        study.tell(trial, x + y)
    tracker.end_stage(parent, study, {"trial_seconds": 12.5, "cost": "4 trials x 3 epochs"})
    run = MlflowClient(shared_uri).get_run(parent)
    assert run.data.metrics["best_value"] == pytest.approx(study.best_value)
    assert run.data.metrics["n_complete"] == 4
    assert run.data.metrics["trial_seconds"] == 12.5
    assert run.data.tags["best.y"] == str(study.best_params["y"])
    assert run.info.status == "FINISHED"
    assert {"trials.csv", "best_params.json", "plots"} <= _artifacts(shared_uri, parent)
    assert {"optimization_history.png", "contour.png", "slice.png"} <= _artifacts(
        shared_uri, parent, "plots")


def test_final_run_records_metrics_and_files(shared_uri: str, tmp_path: Path) -> None:
    weights = tmp_path / "weights.npz"
    weights.write_bytes(b"not really weights")
    info = {"test_accuracy": 0.93, "test_loss": 0.25, "stage": "study_c/fine",
            "config": {"lr": 0.05}, "history": _history(4)}
    run_id = MlflowTracker(shared_uri).final_run("study_c", info, [weights])
    assert run_id is not None
    client = MlflowClient(shared_uri)
    run = client.get_run(run_id)
    assert run.data.metrics["test_accuracy"] == 0.93
    assert run.data.params["lr"] == "0.05"
    assert run.data.params["stage"] == "study_c/fine"
    assert "history" not in run.data.params
    assert len(client.get_metric_history(run_id, "val_accuracy")) == 4
    assert run.data.tags["tuner.role"] == "final"
    assert _artifacts(shared_uri, run_id) == {"weights.npz", "learning_curves.png"}


def test_stage_run_reuses_the_given_id_and_merges_stage_params(shared_uri: str) -> None:
    first = MlflowTracker(shared_uri)
    parent = first.stage_run("study_d", "fine", STAGE_INFO)
    assert parent is not None
    second = MlflowTracker(shared_uri)
    assert second.stage_run("study_d", "fine", STAGE_INFO, run_id=parent) == parent
    run_id = _run_trial(second, parent, "study_d", 0, "COMPLETE", 1)
    second.flush()
    assert [r.info.run_id for r in _children(shared_uri, parent)] == [run_id]
    assert MlflowClient(shared_uri).get_run(run_id or "").data.params["sampler"] == "tpe"


def test_mlflow_error_in_a_trial_is_a_counted_warning(
    shared_uri: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    tracker = MlflowTracker(shared_uri, metrics_interval=0.0)
    parent = tracker.stage_run("study_f", "coarse", STAGE_INFO)
    trial = tracker.start_trial(parent, "study_f", "coarse", 0, {"lr": 0.1})

    def broken(*args: Any, **kwargs: Any) -> None:
        raise MlflowException("database is locked")

    monkeypatch.setattr(tracker.client, "log_batch", broken)
    with caplog.at_level(logging.WARNING, logger="tuner.tracking"):
        trial.log_epoch(1, {"val_accuracy": 0.5})
        trial.finish("COMPLETE", 0.5, {}, [], {})
        tracker.flush()
    assert tracker.warnings == 2
    assert "could not log metrics (MlflowException: database is locked)" in caplog.text


def test_tracking_stops_after_errors_in_a_row(
    shared_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = MlflowTracker(shared_uri, background=False, metrics_interval=0.0)
    trial = tracker.start_trial(None, "study_i", "coarse", 0, {"lr": 0.1})
    calls: list[str] = []

    def broken(run_id: str, **kwargs: Any) -> None:
        calls.append(run_id)
        raise MlflowException("connection refused")

    monkeypatch.setattr(tracker.client, "log_batch", broken)
    for step in range(1, 9):
        trial.log_epoch(step, {"val_accuracy": 0.5})
    assert len(calls) == MAX_FAILURES
    assert tracker.warnings == 8


def test_check_unreachable_server_is_one_clear_line_without_password() -> None:
    uri = f"http://alice:s3cret@127.0.0.1:{free_port()}"
    with pytest.raises(TrackingError, match=r"^MLflow tracking store http://alice:\*\*\*@127\.0\.0"
                       r"\.1:\d+ cannot be reached \(no server answered\); start it, pass another "
                       r"--tracking-uri, or use --no-tracking\.$") as err:
        MlflowTracker(uri).check()
    assert "s3cret" not in str(err.value)
    assert "\n" not in str(err.value)


def test_make_tracker_uri_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert type(make_tracker(None, disabled=True)) is Tracker
    monkeypatch.chdir(tmp_path)
    assert DEFAULT_TRACKING_URI == "sqlite:///mlflow.db"  # MLflow's own default
    assert resolve_uri(None) == f"sqlite:///{tmp_path / 'mlflow.db'}"  # made absolute
    assert resolve_uri("sqlite:///sub/x.db?mode=ro") == f"sqlite:///{tmp_path / 'sub/x.db'}?mode=ro"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert resolve_uri(None) == "http://127.0.0.1:5999"
    assert resolve_uri("sqlite:////abs/x.db") == "sqlite:////abs/x.db"
    tracker = make_tracker(None)
    assert isinstance(tracker, MlflowTracker)
    assert tracker.tracking_uri == "http://127.0.0.1:5999"
    db = tmp_path / "m" / "mlflow.db"
    assert artifact_root(f"sqlite:///{db}") == (tmp_path / "m" / "mlruns").as_uri()
    assert artifact_root("http://127.0.0.1:5000") is None


def test_flat_params_merges_nested_and_drops_none() -> None:
    assert flat_params({"objective": "mlp", "fixed": {"milestones": [3, 6], "epochs": 5},
                        "pruner": None, "bad key!": 1}) == {
        "objective": "mlp", "fixed.milestones": "[3, 6]", "fixed.epochs": "5", "bad key_": "1"}


def test_one_log_batch_per_reporting_point_when_epochs_are_slow(
    shared_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = MlflowTracker(shared_uri, background=False, metrics_interval=0.0)
    trial = tracker.start_trial(None, "study_g", "coarse", 0, {"lr": 0.1})
    calls: list[int] = []
    real = tracker.client.log_batch

    def counting(run_id: str, metrics: Any = (), **kwargs: Any) -> Any:
        calls.append(len(metrics))
        return real(run_id, metrics=metrics, **kwargs)

    monkeypatch.setattr(tracker.client, "log_batch", counting)
    for step, row in enumerate(_history(3), start=1):
        trial.log_epoch(step, row)
    assert calls == [7, 7, 7]  # one call per point, all seven metrics in it


def test_fast_points_are_sent_together_and_none_is_lost(shared_uri: str) -> None:
    tracker = MlflowTracker(shared_uri, background=False, metrics_interval=3600.0)
    run_id = _run_trial(tracker, None, "study_h", 0, "PRUNED", 5)
    history = MlflowClient(shared_uri).get_metric_history(run_id or "", "train_loss")
    assert sorted(m.step for m in history) == [1, 2, 3, 4, 5]
