"""A stage's MLflow parent run: exactly one however many workers start the stage together
(the claim through the storage), and never left RUNNING when the stage stops."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from toy_studies import TWO_STAGES, study_file

import tuner
from tuner.cli import main
from tuner.engine import stage_run
from tuner.engine.context import Context, open_context
from tuner.engine.interrupts import Interrupted
from tuner.engine.preflight import preflight
from tuner.engine.stage import open_stage_study
from tuner.errors import TunerError
from tuner.options import RunOptions
from tuner.search.trials import RUN_SUFFIX
from tuner.spec import Stage


def _context(tmp_path: Path, storage_url: str, tracking_uri: str) -> Context:
    spec = tuner.load_study_spec(study_file(tmp_path))
    options = RunOptions(storage=storage_url, tracking_uri=tracking_uri, progress=False)
    return open_context(spec, options, preflight(spec, options), role="worker")


def _stage_runs(tracking_uri: str) -> list[str]:
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("toy")
    if experiment is None:
        return []
    runs = client.search_runs([experiment.experiment_id], "tags.`tuner.role` = 'stage'")
    return [r.info.run_id for r in runs]


def _parent(ctx: Context) -> tuple[optuna.Study, Stage, str | None]:
    stage = ctx.spec.stages[0]
    study = open_stage_study(ctx, stage)
    return study, stage, stage_run.parent_run(ctx, study, stage, stage.space)


def test_workers_starting_a_stage_together_create_one_parent_run(
    tmp_path: Path, storage_url: str, tracking_uri: str
) -> None:
    contexts = [_context(tmp_path, storage_url, tracking_uri) for _ in range(4)]
    studies = [open_stage_study(ctx, ctx.spec.stages[0]) for ctx in contexts]
    start = threading.Barrier(len(contexts))
    got: list[str | None] = []

    def worker(ctx: Context, study: optuna.Study) -> None:
        start.wait()
        stage = ctx.spec.stages[0]
        got.append(stage_run.parent_run(ctx, study, stage, stage.space))

    threads = [threading.Thread(target=worker, args=pair) for pair in zip(contexts, studies,
                                                                          strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 4 and got[0] is not None and set(got) == {got[0]}
    assert _stage_runs(tracking_uri) == [got[0]]


def test_the_worker_that_lost_the_claim_waits_for_the_winners_run(
    tmp_path: Path, storage_url: str, tracking_uri: str
) -> None:
    ctx = _context(tmp_path, storage_url, tracking_uri)
    stage = ctx.spec.stages[0]
    study = open_stage_study(ctx, stage)
    ctx.storage.create_new_study([optuna.study.StudyDirection.MINIMIZE],
                                 study.study_name + RUN_SUFFIX)  # another worker claimed it
    winner = ctx.tracker.stage_run("toy", stage.name, {})
    timer = threading.Timer(0.5, lambda: study.set_user_attr(stage_run.ATTR, winner))
    timer.start()
    try:
        assert stage_run.parent_run(ctx, study, stage, stage.space) == winner
    finally:
        timer.join()
    assert _stage_runs(tracking_uri) == [winner]  # the waiter created none


def test_a_claimer_that_died_is_replaced_after_the_wait(
    tmp_path: Path, storage_url: str, tracking_uri: str, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(stage_run, "CLAIM_WAIT_SECONDS", 0.3)
    ctx = _context(tmp_path, storage_url, tracking_uri)
    stage = ctx.spec.stages[0]
    study = open_stage_study(ctx, stage)
    ctx.storage.create_new_study([optuna.study.StudyDirection.MINIMIZE],
                                 study.study_name + RUN_SUFFIX)
    with caplog.at_level(logging.WARNING, logger="tuner"):
        parent = stage_run.parent_run(ctx, study, stage, stage.space)
    assert parent is not None and study.user_attrs[stage_run.ATTR] == parent
    assert "did not finish in 0 s; creating it here" in caplog.text
    assert _stage_runs(tracking_uri) == [parent]


def test_no_claim_and_no_run_without_tracking(tmp_path: Path, storage_url: str) -> None:
    spec = tuner.load_study_spec(study_file(tmp_path))
    options = RunOptions(storage=storage_url, tracking=False, progress=False)
    ctx = open_context(spec, options, preflight(spec, options), role="worker")
    study, _, parent = _parent(ctx)
    assert parent is None
    assert optuna.get_all_study_names(storage_url) == [study.study_name]


@pytest.mark.parametrize(("cause", "status"), [(Interrupted(), "KILLED"),
                                               (KeyboardInterrupt(), "KILLED"),
                                               (TunerError("5 trials in a row failed"),
                                                "FAILED")])
def test_a_stopped_stage_ends_its_run(tmp_path: Path, storage_url: str, tracking_uri: str,
                                      cause: BaseException, status: str) -> None:
    ctx = _context(tmp_path, storage_url, tracking_uri)
    study, _, parent = _parent(ctx)
    assert parent is not None
    stage_run.close_stopped(ctx, study, parent, cause)
    run = MlflowClient(tracking_uri).get_run(parent)
    assert run.info.status == status
    assert run.data.tags["stopped_because"] in ("interrupted", "TunerError: 5 trials in a row "
                                                "failed")


def test_a_stage_still_run_by_another_worker_stays_open(
    tmp_path: Path, storage_url: str, tracking_uri: str
) -> None:
    ctx = _context(tmp_path, storage_url, tracking_uri)
    study, _, parent = _parent(ctx)
    assert parent is not None
    study.ask()  # another worker's trial, RUNNING
    stage_run.close_stopped(ctx, study, parent, Interrupted())
    assert MlflowClient(tracking_uri).get_run(parent).info.status == "RUNNING"


def test_the_run_record_is_no_study_in_listings(
    tmp_path: Path, storage_url: str, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = study_file(tmp_path, TWO_STAGES)
    assert main(["-q", "study", path, "--storage", storage_url, "--tracking-uri", tracking_uri,
                 "--trials", "1"]) == 0
    assert "toy/coarse" + RUN_SUFFIX in optuna.get_all_study_names(storage_url)
    capsys.readouterr()
    assert main(["list", "--storage", storage_url]) == 0
    assert RUN_SUFFIX not in capsys.readouterr().out


def test_a_run_that_could_not_be_created_is_created_by_the_next_run(
    tmp_path: Path, storage_url: str, tracking_uri: str
) -> None:
    """MLflow was unreachable when the claimer tried (attr stored as None): a later process
    creates the stage run instead of running the stage without one for good."""
    ctx = _context(tmp_path, storage_url, tracking_uri)
    stage = ctx.spec.stages[0]
    study = open_stage_study(ctx, stage)
    ctx.storage.create_new_study([optuna.study.StudyDirection.MINIMIZE],
                                 study.study_name + RUN_SUFFIX)
    study.set_user_attr(stage_run.ATTR, None)
    parent = stage_run.parent_run(ctx, study, stage, stage.space)
    assert parent is not None and _stage_runs(tracking_uri) == [parent]
    assert study.user_attrs[stage_run.ATTR] == parent
