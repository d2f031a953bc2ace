"""Tuned models of real (small, fast) studies, registered in MLflow once per test session:
lambda_search on digits (the pyfunc flavour, images 8x8 with pixel values 0..16) and a
scikit-learn Pipeline on the wine table (the sklearn flavour; named columns and a target)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tuner

WINE_MODEL = """from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

PIPELINE = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
"""
WINE_STUDY = """name = "wine_study"
objective = "wine_model:PIPELINE"
dataset = "wine.csv"
metric = "val_accuracy"
[[stages]]
name = "only"
sampler = "random"
trials = 2
[stages.space]
logisticregression__C = { low = 0.01, high = 10.0, log = true }
"""


def pyfunc(tracking: str, uri: str) -> Any:
    import mlflow

    mlflow.set_tracking_uri(tracking)
    try:
        return mlflow.pyfunc.load_model(uri)
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]


def _final(folder: Path, study: str | Path, **settings: Any) -> dict[str, Any]:
    """`study` with its final, in `folder` (its storage and MLflow store, the default places)."""
    tracking = f"sqlite:///{folder / 'mlflow.db'}"
    old = os.getcwd()
    os.chdir(folder)  # the default stores: ./mlflow.db, artifacts in ./mlruns
    try:
        result = tuner.run_study(study, final=True, progress=False,
                                 storage=f"sqlite:///{folder / 'tuner.db'}",
                                 tracking_uri=tracking, **settings)
    finally:
        os.chdir(old)
    return {"folder": folder, "tracking": tracking, "result": result}


@pytest.fixture(scope="session")
def digits_final(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """lambda_search on digits with --final, in a folder of its own (storage and MLflow)."""
    yield _final(tmp_path_factory.mktemp("digits_final"), "lambda_search", dataset="digits")


@pytest.fixture(scope="session")
def wine_final(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A StandardScaler + LogisticRegression Pipeline on wine.csv (13 named feature columns,
    then the target "cultivar"), final and registered as wine_study; "table" is the CSV's
    DataFrame."""
    from sklearn.datasets import load_wine

    folder = tmp_path_factory.mktemp("wine_final")
    wine = load_wine(as_frame=True)
    table = wine.data.assign(cultivar=wine.target)
    table.to_csv(folder / "wine.csv", index=False)
    (folder / "wine_model.py").write_text(WINE_MODEL)
    (folder / "wine_study.toml").write_text(WINE_STUDY)
    yield {**_final(folder, folder / "wine_study.toml"), "table": table}


def own_predictions(run: dict[str, Any], X: np.ndarray) -> np.ndarray:
    """What the tuner's own evaluation gives on raw digits rows X: the final's weights from its
    MLflow run behind the final's scaling."""
    from mlflow import MlflowClient

    from objectives.data import load
    from objectives.numpy_nets.two_layer import TwoLayerNet
    from tuner.engine.preflight import monitor_size

    spec = tuner.load_study_spec("lambda_search", dataset="digits")
    data = load("digits", seed=spec.seed, val_size=spec.val_size)
    scale = data.final_scale(monitor_size(spec, data))
    client = MlflowClient(run["tracking"])
    weights = client.download_artifacts(run["result"].final.mlflow_run_id, "weights.npz",
                                        str(run["folder"] / "dl"))
    return TwoLayerNet.load(Path(weights)).predict(scale(np.asarray(X, dtype=np.float64)))


def wine_features(run: dict[str, Any]) -> Any:
    """The wine table without its target: the model's 13 columns, in its order."""
    return run["table"].drop(columns="cultivar")
