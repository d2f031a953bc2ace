"""The user's code at run time and at load: a sys.exit() in it fails a trial, never the tuner;
five failures in a row end the stage's MLflow run FAILED; functions that take the four
arguments load; a CSV as Excel writes it loads; `tuner run` refuses what `study` refuses."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from bad_studies import stored_args
from mlflow import MlflowClient
from optuna.trial import TrialState
from own_studies import LOGREG, module, study, wine_csv

from tuner.cli import main


def test_an_objective_failing_every_trial_ends_the_stage_run_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A function that calls sys.exit(3) in every trial: each trial FAILs with that as its
    reason (the tuner goes on), the stage stops after 5, exit 1, and the stage's MLflow run is
    FAILED, not RUNNING."""
    module(tmp_path, "exits_in_fit", "import sys\ndef train(config, train, val, report):\n"
           "    sys.exit(3)\n")
    path = study(tmp_path, objective="exits_in_fit:train", space="x = { low = 0.0, high = 1.0 }")
    assert main(["-q", "study", path, *stored_args(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "error: Stage 'only': 5 trials in a row failed; last error: UserExit: " \
        "exits_in_fit:train: it called sys.exit(3)." in err
    stage = optuna.load_study(study_name="bad/only", storage=stored_args(tmp_path)[1])
    assert [t.state for t in stage.trials] == [TrialState.FAIL] * 5
    parent = stage.user_attrs["mlflow_parent_run_id"]
    run = MlflowClient(stored_args(tmp_path)[3]).get_run(parent)
    assert run.info.status == "FAILED"
    assert run.data.tags["stopped_because"].startswith(
        "TunerError: Stage 'only': 5 trials in a row failed; last error: UserExit: ")


def test_an_objective_instance_calling_sys_exit_fails_its_trials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Objective protocol (tests.toy_objective) has no adapter around its fit: the trial
    itself counts a SystemExit as a failure."""
    from bad_studies import study as toy_study

    from tests.toy_objective import Toy

    def exits(self: Toy, *args: object, **kwargs: object) -> None:
        raise SystemExit(4)

    monkeypatch.setattr(Toy, "fit", exits)
    db = f"sqlite:///{tmp_path / 'tuner.db'}"
    assert main(["-q", "study", toy_study(tmp_path), "--storage", db, "--no-tracking",
                 "--trials", "8"]) == 1
    assert "5 trials in a row failed; last error: SystemExit: 4." in capsys.readouterr().err
    trials = optuna.load_study(study_name="bad/coarse", storage=db).trials
    assert [t.state for t in trials] == [TrialState.FAIL] * 5


@pytest.mark.parametrize("signature", ["config, train, val, report", "config, *splits",
                                       "*args, **kwargs",
                                       "config, train, val, report, seed=0"])
def test_training_functions_that_take_the_four_arguments_load(
    signature: str, tmp_path: Path
) -> None:
    from tuner.spec.objectives import resolve_objective

    name = f"sig_{abs(hash(signature))}"
    module(tmp_path, name, f"def train({signature}):\n    return None\n")
    assert resolve_objective(f"{name}:train", folder=tmp_path).name == f"{name}:train"


def test_a_csv_with_a_byte_order_mark_and_blank_lines_loads(tmp_path: Path) -> None:
    from objectives.data import load_dataset

    text = wine_csv(tmp_path / "wine.csv").read_text()
    (tmp_path / "excel.csv").write_text(text.replace("\n", "\n\n", 3) + "\n\n",
                                        encoding="utf-8-sig")
    data = load_dataset("excel.csv", folder=tmp_path, normalize="none")
    assert data.feature_names[0] == "alcohol" and data.target_name == "y"
    assert len(data.train) + len(data.val) + len(data.final_splits(1)[2]) == 178


def test_tuner_run_refuses_a_function_it_cannot_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    wine_csv(tmp_path / "wine.csv")
    assert main(["run", "os:system", "--dataset", "wine.csv"]) == 1
    assert capsys.readouterr().err == (
        "error: 'os:system' takes (command); a training function is called as "
        "fn(config, train, val, report).\n")


def test_tuner_run_refuses_a_value_the_estimator_rejects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    wine_csv(tmp_path / "wine.csv")
    assert main(["run", LOGREG, "--dataset", "wine.csv", "--set", "C=-1"]) == 1
    assert capsys.readouterr().err == (
        f"error: {LOGREG} rejects this value: The 'C' parameter of LogisticRegression must be a "
        "float in the range (0.0, inf]. Got -1.0 instead.\n")


EPOCHS_FN = '''
import time
from sklearn.linear_model import LogisticRegression


def train(config, train, val, report):
    model = LogisticRegression(max_iter=50)
    for epoch in range(5):
        time.sleep(0.02)
        model.fit(train.X, train.y)
        report(epoch + 1, {"val_accuracy": model.score(val.X, val.y)})
    return model
'''


def test_tuner_run_counts_a_functions_epochs_and_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A function that reports per epoch without `epoch` / `seconds` keys: its steps are its
    epochs and the time between reports its training seconds (it printed "after 0.00 epochs,
    0.0s training" after five)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    wine_csv(tmp_path / "wine.csv")
    module(tmp_path, "epochs_fn", EPOCHS_FN)
    assert main(["run", "epochs_fn:train", "--dataset", "wine.csv"]) == 0
    out = capsys.readouterr().out
    assert "after 5.00 epochs, " in out
    seconds = float(out.rsplit(", ", 1)[1].split("s training")[0])
    assert seconds >= 0.1  # five sleeps of 0.02 s at least


def test_tuner_run_takes_the_target_column_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A target that is not the last column: `--target` names it (it was "unrecognized
    arguments"); a wrong name is one line."""
    monkeypatch.chdir(tmp_path)
    wine_csv(tmp_path / "wine.csv", target="cultivar",
             edit=lambda lines: [",".join([*row.split(",")[-1:], *row.split(",")[:-1]])
                                 for row in lines])  # the target first
    assert main(["-q", "run", LOGREG, "--dataset", "wine.csv", "--target", "cultivar",
                 "--task", "classification"]) == 0
    out = capsys.readouterr().out  # the last column (a feature) would be a regression target
    assert float(out.split("val_accuracy ")[1].split(",")[0]) > 0.8
    assert main(["-q", "run", LOGREG, "--dataset", "wine.csv", "--target", "nope"]) == 1
    assert "has no column 'nope' (the target)" in capsys.readouterr().err
