"""The examples, each run as a user would: copied to a folder outside the checkout with only its
data file, study file and code, `python -m tuner study ./study.toml --final`, then again."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import mlflow.sklearn
import numpy as np
import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState
from paths import ROOT

EXAMPLES = ROOT / "examples"


def prepare(name: str, tmp_path: Path) -> Path:
    """A copy of examples/NAME outside the checkout, with its data file written."""
    folder = tmp_path / name
    shutil.copytree(EXAMPLES / name, folder)
    spec = importlib.util.spec_from_file_location(f"make_data_{name}", folder / "make_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write(folder)
    (folder / "make_data.py").unlink()
    return folder


def tuner(folder: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "tuner", *argv], cwd=folder,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    return done


def trials(folder: Path, study: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=f"sqlite:///{folder / 'tuner.db'}").trials


def final_run(folder: Path, study: str) -> object:
    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(study)
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id], "tags.`tuner.role` = 'final'")
    return run


def test_ridge_regression_on_a_csv(tmp_path: Path) -> None:
    folder = prepare("ridge_regression", tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "diabetes.csv", "study.toml"]
    out = tuner(folder, "study", "./study.toml", "--final").stdout
    assert "study ridge_diabetes: minimize val_rmse" in out
    assert "stage coarse: 12 complete" in out and "stage fine: 12 complete" in out
    printed = re.search(r"final ridge_diabetes: test_mae (\S+), test_r2 (\S+), test_rmse (\S+)",
                        out)
    assert printed is not None and 40 < float(printed.group(3)) < 70
    fine = trials(folder, "ridge_diabetes/fine")
    assert all(t.state == TrialState.COMPLETE and t.value and 40 < t.value < 80 for t in fine)
    show = tuner(folder, "show", "ridge_diabetes").stdout
    assert f"final: test_mae {float(printed.group(1)):.4g}" in show
    run = final_run(folder, "ridge_diabetes")
    assert run.data.metrics["test_rmse"] == pytest.approx(float(printed.group(3)), rel=1e-3)
    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    version = client.get_model_version("ridge_diabetes", "1")  # registered, sklearn flavour
    assert version.run_id == run.info.run_id and version.tags["test_rmse"]
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    try:
        model = mlflow.sklearn.load_model("models:/ridge_diabetes/latest")
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    rows = np.loadtxt(folder / "diabetes.csv", delimiter=",", skiprows=1)
    predicted = model.predict(rows[:, :-1])  # raw columns in: the Pipeline scales them
    rmse = float(np.sqrt(np.mean((predicted - rows[:, -1]) ** 2)))
    assert 40 < rmse < 70
    np.savetxt(folder / "new.csv", rows[:8, :-1], delimiter=",")
    tuner(folder, "predict", "ridge_diabetes", "--input", "new.csv", "--output", "out.csv")
    table = np.genfromtxt(folder / "out.csv", delimiter=",", names=True)
    np.testing.assert_allclose(table["value"], predicted[:8])
    again = tuner(folder, "study", "./study.toml", "--final").stdout  # resumes: no new trial
    assert len(trials(folder, "ridge_diabetes/fine")) == len(fine)
    assert printed.group(0) in again


def test_partial_fit_classifier_is_pruned_mid_training(tmp_path: Path) -> None:
    folder = prepare("sgd_partial_fit", tmp_path)
    out = tuner(folder, "study", "./study.toml", "--final").stdout
    assert "study sgd_digits: maximize val_f1" in out
    coarse = trials(folder, "sgd_digits/coarse")
    pruned = [t for t in coarse if t.state == TrialState.PRUNED]
    assert pruned and all(1 <= t.user_attrs["pruned_at"] < 15 for t in pruned)
    complete = [t for t in coarse if t.state == TrialState.COMPLETE]
    assert complete and all(len(t.intermediate_values) == 15 for t in complete)
    assert re.search(r"final sgd_digits: test_accuracy 0\.9\d*, test_f1 0\.9\d*, test_loss", out)
    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    run_id = complete[0].user_attrs["mlflow_run_id"]
    assert len(client.get_metric_history(run_id, "val_f1")) == 15  # a point per epoch
    show = tuner(folder, "show", "sgd_digits").stdout
    assert "PRUNED" in show and "final: test_accuracy" in show
    run = final_run(folder, "sgd_digits")
    assert {"test_accuracy", "test_f1", "test_loss"} <= set(run.data.metrics)


def test_plain_training_function_from_the_study_folder(tmp_path: Path) -> None:
    folder = prepare("torch_function", tmp_path)
    out = tuner(folder, "study", "./study.toml", "--final").stdout
    assert "study wine_torch: maximize val_accuracy" in out
    assert re.search(r"final wine_torch: test_accuracy 0\.9\d*, test_f1 \S+, test_loss", out)
    done = [t for t in trials(folder, "wine_torch/coarse") if t.state == TrialState.COMPLETE]
    assert done and all(len(t.intermediate_values) == 30 for t in done)
    assert {"val_f1", "val_loss", "train_accuracy"} <= set(done[0].user_attrs["metrics"])
    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    history = client.get_metric_history(done[0].user_attrs["mlflow_run_id"], "val_loss")
    assert len(history) == 30
    run = final_run(folder, "wine_torch")
    names = {Path(f.path).name for f in client.list_artifacts(run.info.run_id)}
    assert {"model.pkl", "model_README.txt", "confusion_matrix.png"} <= names
    once = tuner(folder, "run", "train:train", "--dataset", "wine.csv", "--set", "lr=0.01",
                 "--set", "hidden=8", "--set", "epochs=3", "--set", "batch_size=16",
                 "--set", "seed=0").stdout
    assert re.match(r"train:train on wine\.csv: val_loss \S+, val_accuracy 0\.\d+", once)
