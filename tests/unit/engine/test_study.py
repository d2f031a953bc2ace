"""`tuner study` end to end on the tiny toy objective: stages, exact counts, resume, failures,
and real Optuna clients (the optuna CLI, optuna-dashboard) reading our storage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from toy_studies import TWO_STAGES, run_cli, study_file

from tuner import tracking
from tuner.cli import main
from tuner.engine.slots import is_surplus, slots_taken
from tuner.engine.stage import sampler_seed
from tuner.search.trials import is_copy, own_trials
from tuner.spec import load_spec


def trials_of(storage_url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=storage_url).get_trials()


def finished(trials: list[optuna.trial.FrozenTrial]) -> int:
    """The finished trials a stage ran itself (its copies of the source's trials left out)."""
    return sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in own_trials(trials))


def test_study_runs_every_stage_to_its_target(
    tmp_path: Path, storage_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(study_file(tmp_path), storage_url) == 0
    coarse, fine = trials_of(storage_url, "toy/coarse"), trials_of(storage_url, "toy/fine")
    assert finished(coarse) == 6 and finished(fine) == 4
    copied, fine = [t for t in fine if is_copy(t)], own_trials(fine)
    for t in coarse + fine:
        assert set(t.user_attrs) >= {"epochs", "seconds", "pruned_at", "steps", "reason"}
        if t.state == TrialState.PRUNED:
            assert t.user_attrs["pruned_at"] == t.user_attrs["steps"] < 3
        else:
            assert t.user_attrs["epochs"] == 3.0 and t.user_attrs["pruned_at"] is None
            assert t.user_attrs["metrics"]["val_accuracy"] == t.value  # last report, all metrics
            assert set(t.user_attrs["metrics"]) >= {"train_loss", "val_loss", "epoch"}
        assert ("momentum" in t.params) == (t.params["optimizer"] == "momentum")
    # the fine stage searches the stored, refined space and starts with the best coarse configs
    fine_study = optuna.load_study(study_name="toy/fine", storage=storage_url)
    space = {d["name"]: d for d in fine_study.user_attrs["space"]}
    best = sorted((t for t in coarse if t.state == TrialState.COMPLETE),
                  key=lambda t: -float(t.value or 0))[:2]
    assert space["x"]["low"] <= min(t.params["x"] for t in best)
    assert space["x"]["high"] - space["x"]["low"] < 20.0
    # the two it enqueues are already in the stage as copies (warm start): not run again
    assert all(b.params in [t.params for t in copied] for b in best)
    assert all(space["x"]["low"] <= t.params["x"] <= space["x"]["high"] for t in fine)
    # the fine stage started with the coarse trials inside its box: copied, not trained
    inside = [t for t in coarse if t.state == TrialState.COMPLETE
              and space["x"]["low"] <= t.params["x"] <= space["x"]["high"]
              and space["y"]["low"] <= t.params["y"] <= space["y"]["high"]]
    assert len(copied) == len(inside) >= 2  # the top 2 at least
    for copy, original in zip(copied, inside, strict=True):
        assert copy.user_attrs["copied_from"] == f"coarse:{original.number}"
        assert (copy.value, copy.params) == (original.value, original.params)
        assert copy.intermediate_values == original.intermediate_values
        assert "mlflow_run_id" not in copy.user_attrs and "epochs" not in copy.user_attrs
    out = capsys.readouterr().out
    assert "stage coarse: " in out and "epochs trained" in out and "best val_accuracy" in out
    assert "MLflow" not in out  # no tracking warnings, no line about them


def test_stage_set_applies_to_that_stage_trials_only(tmp_path: Path, storage_url: str) -> None:
    text = TWO_STAGES.replace("enqueue = 2 }\n", "enqueue = 2 }\nset = { epochs = 5 }\n")
    assert run_cli(study_file(tmp_path, text), storage_url) == 0
    for name, epochs in (("toy/coarse", 3), ("toy/fine", 5)):
        done = [t for t in trials_of(storage_url, name) if t.state == TrialState.COMPLETE]
        assert done and all(len(t.intermediate_values) == epochs for t in done)


class FlakyTracker(tracking.Tracker):
    """A no-op tracker whose every trial start counts as one failed MLflow write."""

    def start_trial(self, *args: Any, **kwargs: Any) -> tracking.TrialTracker:
        self.warnings += 1
        return super().start_trial(*args, **kwargs)


def test_summary_counts_mlflow_warnings(
    tmp_path: Path, storage_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(tracking, "make_tracker", lambda *args, **kwargs: FlakyTracker())
    assert run_cli(study_file(tmp_path), storage_url, "--trials", "2") == 0
    out = capsys.readouterr().out
    assert "  MLflow: 4 tracking warnings (failed writes, logged above); the trials are " \
        "unaffected" in out


def test_rerun_skips_finished_stages_and_trials_override_continues(
    tmp_path: Path, storage_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = study_file(tmp_path)
    assert run_cli(path, storage_url, "--trials", "2") == 0
    caplog.set_level("INFO", logger="tuner")
    assert main(["study", path, "--storage", storage_url, "--no-tracking", "--trials", "2"]) == 0
    assert "stage coarse: already has its trials; skipped" in caplog.text
    assert len(trials_of(storage_url, "toy/coarse")) == 2
    assert run_cli(path, storage_url, "--trials", "5") == 0
    for name in ("toy/coarse", "toy/fine"):
        trials = trials_of(storage_url, name)
        assert finished(trials) == 5
        assert sorted(t.number for t in trials) == list(range(len(trials)))


def test_failed_and_diverged_trials_do_not_stop_the_study(tmp_path: Path, storage_url: str) -> None:
    text = TWO_STAGES.replace("epochs = 3", "epochs = 3\nfail_above = 6.0\ndiverge_above = 2.5")
    text = text.replace("trials = 6", "trials = 12")
    assert run_cli(study_file(tmp_path, text), storage_url, "--trials", "12") == 0
    coarse = trials_of(storage_url, "toy/coarse")
    assert finished(coarse) == 12
    failed = [t for t in coarse if t.state == TrialState.FAIL]
    diverged = [t for t in coarse if str(t.user_attrs.get("reason", "")).startswith("diverged")]
    assert failed and all(t.params["x"] > 6.0 for t in failed)
    assert failed[0].user_attrs["reason"].startswith("RuntimeError: toy failure at x=")
    assert diverged and all(t.state == TrialState.PRUNED and 2.5 < t.params["x"] <= 6.0
                            for t in diverged)
    assert diverged[0].user_attrs["reason"] == "diverged: loss is nan"


def test_too_many_failures_stop_with_one_line(
    tmp_path: Path, storage_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = TWO_STAGES.replace("epochs = 3", "epochs = 3\nfail_above = -100.0")
    assert run_cli(study_file(tmp_path, text), storage_url) == 1
    err = capsys.readouterr().err
    assert "error: Stage 'coarse': 5 trials in a row failed; last error: RuntimeError: toy " \
        "failure at x=" in err


def test_surplus_and_slots_follow_trial_numbers() -> None:
    study = optuna.create_study()
    first, second = study.ask(), study.ask()
    third = study.ask()
    assert not is_surplus(study, second, 2) and is_surplus(study, third, 2)
    assert slots_taken(study.get_trials(), 3)
    study.tell(first, state=TrialState.FAIL)
    assert not is_surplus(study, third, 2)
    assert not slots_taken(study.get_trials(), 3)


def test_sampler_seeds_differ_per_worker_and_resume(tmp_path: Path) -> None:
    spec = load_spec(study_file(tmp_path))
    coarse = spec.stage("coarse")
    assert sampler_seed(spec, coarse, 0, 0) == 3
    seeds = {sampler_seed(spec, coarse, i, n) for i in range(3) for n in (0, 4)}
    assert len(seeds) == 6
    assert sampler_seed(spec, coarse, None, 0) is None
    qmc = load_spec(study_file(tmp_path, TWO_STAGES.replace('"random"', '"qmc"'))).stage("coarse")
    assert sampler_seed(spec, qmc, 5, 7) == 3


def test_timeout_only_stage_ends_and_is_skipped_on_rerun(tmp_path: Path, storage_url: str) -> None:
    text = TWO_STAGES.replace("trials = 6", "timeout = 0.5").replace("epochs = 3",
                                                                  "epochs = 3\nsleep = 0.05")
    path = study_file(tmp_path, text)
    assert run_cli(path, storage_url) == 0
    study = optuna.load_study(study_name="toy/coarse", storage=storage_url)
    count = len(study.trials)
    assert study.user_attrs["timed_out"] is True and 1 <= count
    assert run_cli(path, storage_url) == 0
    assert len(trials_of(storage_url, "toy/coarse")) == count


def test_rerun_closes_a_stage_run_left_running(tmp_path: Path, storage_url: str,
                                               tracking_uri: str) -> None:
    """A process that stopped between a stage's last trial and the stage's end left its MLflow
    parent run RUNNING; the rerun skips the finished stage and closes that run."""
    from mlflow import MlflowClient

    path = study_file(tmp_path)
    argv = ["-q", "study", path, "--storage", storage_url, "--tracking-uri", tracking_uri,
            "--trials", "2"]
    assert main(argv) == 0
    parent = optuna.load_study(study_name="toy/coarse",
                               storage=storage_url).user_attrs["mlflow_parent_run_id"]
    client = MlflowClient(tracking_uri)
    assert client.get_run(parent).info.status == "FINISHED"
    client.update_run(parent, status="RUNNING")  # as if the stage's end never came
    assert main(argv) == 0
    run = client.get_run(parent)
    assert run.info.status == "FINISHED" and run.data.metrics["n_complete"] >= 1


def test_a_trial_ended_by_another_worker_is_dropped_not_a_crash(
    tmp_path: Path, storage_url: str, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A worker whose heartbeat came late finds its trial already FAILed by another worker
    (who queued a retry): it drops its result with a warning and the study goes on. The first
    trial is failed in storage at its first report (no timing involved), so that report raises
    UpdateFinishedTrialError inside the fit: not the objective's failure, no traceback."""
    from tests.toy_objective import Toy

    original = Toy.fit
    ended: list[int] = []

    def fit(self: Toy, config: Any, train: Any, val: Any, report: Any, *args: Any) -> Any:
        def late_report(step: int, metrics: Any) -> None:
            if not ended:  # the first trial: "another worker" fails it as stale now
                storage = optuna.storages.get_storage(storage_url)
                study_id = storage.get_study_id_from_name("toy/coarse")
                running = storage.get_all_trials(study_id, states=(TrialState.RUNNING,))
                storage.set_trial_state_values(running[0]._trial_id, TrialState.FAIL)
                ended.append(running[0].number)
            report(step, metrics)
        return original(self, config, train, val, late_report, *args)

    monkeypatch.setattr(Toy, "fit", fit)
    with caplog.at_level("WARNING", logger="tuner"):
        assert run_cli(study_file(tmp_path), storage_url) == 0
    coarse = trials_of(storage_url, "toy/coarse")
    assert coarse[ended[0]].state == TrialState.FAIL
    assert finished(coarse) == 6
    assert f"trial {ended[0]} was already ended by another worker" in caplog.text
    assert not [r for r in caplog.records if r.exc_info]
