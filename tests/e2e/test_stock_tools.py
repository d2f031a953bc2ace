"""Stock tools read our stores: the optuna CLI and optuna-dashboard our storage, `mlflow runs list`
our tracking store, with no flags."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from wsgiref.util import setup_testing_defaults

import optuna
import pytest
from paths import ROOT
from toy_studies import run_cli, study_file

from tuner.cli import main


def test_optuna_cli_and_dashboard_read_our_storage(tmp_path: Path, storage_url: str) -> None:
    assert run_cli(study_file(tmp_path), storage_url, "--trials", "2") == 0
    optuna_cli = Path(sys.executable).parent / "optuna"
    out = subprocess.run(
        [str(optuna_cli), "trials", "--study-name", "toy/coarse", "--storage", storage_url,
         "-f", "json"], capture_output=True, text=True, check=True, timeout=120, cwd=ROOT)
    rows = json.loads(out.stdout)
    assert len(rows) == 2 and {r["number"] for r in rows} == {0, 1}

    from optuna_dashboard import wsgi

    app = wsgi(storage_url)
    environ: dict = {"PATH_INFO": "/api/studies", "REQUEST_METHOD": "GET",
                     "wsgi.input": io.BytesIO()}
    setup_testing_defaults(environ)
    status: list[str] = []
    body = b"".join(app(environ, lambda s, h, *a: status.append(s)))
    assert status[0].startswith("200")
    names = {s["study_name"] for s in json.loads(body)["study_summaries"]}
    # the stages, the stored spec and the claim of the fine stage's warm start
    assert names == {"toy/coarse", "toy/fine", "toy#spec", "toy/fine#copies"}


def test_stock_tools_read_a_study_with_no_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Default stores in the study folder: `mlflow runs list` finds the runs with no flags (the
    store is MLflow's own default, sqlite:///mlflow.db, its artifacts in mlruns/) and
    optuna-dashboard gets the metric name for its axis instead of "Objective 0"."""
    monkeypatch.chdir(tmp_path)
    assert main(["-q", "study", study_file(tmp_path), "--trials", "2"]) == 0
    assert optuna.load_study(study_name="toy/coarse",
                             storage="sqlite:///tuner.db").metric_names == ["val_accuracy"]
    from mlflow import MlflowClient

    experiment = MlflowClient("sqlite:///mlflow.db").get_experiment_by_name("toy")
    assert experiment is not None
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    listed = subprocess.run([str(Path(sys.executable).parent / "mlflow"), "runs", "list",
                             "--experiment-id", experiment.experiment_id], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr
    assert "trial 0" in listed.stdout and "coarse" in listed.stdout
    # MLflow's records: mlflow.db beside an mlruns/ folder of artifacts, nothing else
    assert experiment.artifact_location == (tmp_path / "mlruns").as_uri()
    assert list((tmp_path / "mlruns").rglob("trials.csv"))
    assert not (tmp_path / "mlartifacts").exists()
