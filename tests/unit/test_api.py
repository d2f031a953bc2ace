"""The Python API does what the CLI does: run, resume, final, train, and one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import optuna
import pytest

import tuner
from tuner.cli import main


def _trials(storage: str) -> int:
    return sum(len(optuna.load_study(study_name=f"lambda_search/{s}", storage=storage).trials)
               for s in ("coarse", "fine"))


def test_run_study_from_python_resumes_and_matches_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    kwargs = {"dataset": "digits", "storage": "sqlite:///s.db", "tracking_uri": "sqlite:///ml.db",
              "final": True, "progress": False}
    r = tuner.run_study("lambda_search", **kwargs)
    assert isinstance(r, tuner.StudyResult) and set(r.stages) == {"coarse", "fine"}
    fine = r.stages["fine"]
    assert fine.complete + fine.pruned == 16 and r.stages["coarse"].complete > 0
    assert r.best_stage == "fine" and r.best_params["lambda"] == fine.best_params["lambda"]
    assert r.best_value == fine.best_value == min(s.best_value for s in r.stages.values()
                                                  if s.best_value is not None)
    assert r.final is not None and 0.8 < r.final["test_accuracy"] <= 1.0
    assert r.final.stage == "lambda_search/fine" and r.final.train_size == 1408

    trials = _trials("sqlite:///s.db")
    again = tuner.run_study("lambda_search", **kwargs)  # resumes: every stage has its trials
    assert _trials("sqlite:///s.db") == trials
    assert again.best_params == r.best_params and all(s.ran_here == 0
                                                     for s in again.stages.values())

    assert main(["-q", "study", "lambda_search", "--dataset", "digits", "--storage",
                 "sqlite:///s.db", "--tracking-uri", "sqlite:///ml.db", "--final"]) == 0
    printed = re.search(r"test accuracy (\d\.\d{4})", capsys.readouterr().out)
    assert printed is not None and printed.group(1) == f"{r.final['test_accuracy']:.4f}"


def test_bad_study_name_raises_the_cli_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(tuner.TunerError) as info:
        tuner.run_study("no_such_study", dataset="digits")
    assert isinstance(info.value, tuner.SpecError)
    assert main(["study", "no_such_study", "--dataset", "digits"]) == 1
    assert capsys.readouterr().err == f"error: {info.value}\n"
    assert "\n" not in str(info.value)


def test_bad_inputs_are_tuner_errors_never_system_exit(tmp_path: Path) -> None:
    with pytest.raises(tuner.DataError, match="Unknown dataset 'imagenet'"):
        tuner.train("softmax", dataset="imagenet")
    with pytest.raises(tuner.ConfigError, match="Unknown parameter 'epoch'"):
        tuner.train("softmax", dataset="digits", overrides={"epoch": 3})
    with pytest.raises(tuner.SpecError, match=r"^jobs must be a positive number"):
        tuner.run_study("lambda_search", jobs=0)
    with pytest.raises(tuner.SpecError, match=r"^threads must be a positive number"):
        tuner.train("softmax", dataset="digits", threads=0)
    with pytest.raises(tuner.SpecError, match=r"seed must be an int in \[0, 4294967295\]"):
        tuner.train("softmax", dataset="digits", seed=-1)


def test_train_returns_per_epoch_history() -> None:
    seen: list[int] = []
    result = tuner.train("softmax", dataset="digits", overrides={"epochs": 3},
                         report=lambda step, metrics: seen.append(step))
    assert isinstance(result, tuner.TrainResult)
    assert [row["epoch"] for row in result.history] == [1.0, 2.0, 3.0]
    assert seen == [1, 2, 3]
    assert set(result.history[0]) == {"epoch", "train_loss", "train_accuracy", "val_loss",
                                      "val_accuracy", "lr", "seconds"}
    assert result.metrics == result.history[-1] and result.config["epochs"] == 3
    assert result.model is not None


def test_load_study_spec_and_a_spec_object(tmp_path: Path) -> None:
    spec = tuner.load_study_spec("lambda_search", dataset="digits", trials=2,
                                 overrides={"cycles": 1})
    assert spec.dataset == "digits" and all(s.trials == 2 for s in spec.stages)
    result = tuner.run_study(spec, storage=f"sqlite:///{tmp_path / 's.db'}", tracking=False,
                             progress=False)
    assert result.stages["coarse"].complete + result.stages["coarse"].pruned == 2
    assert result.final is None
    with pytest.raises(tuner.SpecError, match="already a StudySpec"):
        tuner.run_study(spec, trials=3)
