"""The final's model as an MLflow Model: registered under the study's name with tags, loadable with
mlflow.pyfunc on RAW rows giving exactly the tuner's own class ids, servable over HTTP, and
`tuner predict` on files and image folders."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_digits
from tuned_models import own_predictions, pyfunc

import tuner
from objectives.data import load
from objectives.data.sources import _digits_part
from tuner.engine.preflight import monitor_size


def test_registered_model_gives_the_tuners_own_predictions_on_raw_rows(
        digits_final: dict[str, Any]) -> None:
    final = digits_final["result"].final
    assert final.model_uri == "models:/lambda_search/1"
    assert digits_final["result"].tracking_warnings == 0
    model = pyfunc(digits_final["tracking"], "models:/lambda_search/latest")
    X = load_digits().data  # float64 pixel values 0..16, as scikit-learn gives them
    ids = model.predict(X)
    assert ids.dtype == np.int64
    np.testing.assert_array_equal(ids, own_predictions(digits_final, X))
    X_test, y_test = _digits_part("test")
    assert np.mean(model.predict(X_test.astype(np.float64)) == y_test) == final["test_accuracy"]
    table = model.predict(X[:4], params={"probabilities": True})
    assert list(table.columns) == ["class"] + [f"p_{i}" for i in range(10)]
    np.testing.assert_array_equal(table["class"], ids[:4])
    np.testing.assert_allclose(table.iloc[:, 1:].sum(axis=1), 1.0)
    # no input schema (MLflow would refuse every dtype but float64); the width is metadata
    assert model.metadata.get_input_schema() is None
    assert [p.name for p in model.metadata.get_params_schema().params] == ["probabilities"]
    assert model.metadata.metadata["features"] == 64
    assert model.metadata.metadata["image_shape"] == [1, 8, 8]


def test_bad_rows_are_refused_by_the_model(digits_final: dict[str, Any]) -> None:
    from mlflow.exceptions import MlflowException

    model = pyfunc(digits_final["tracking"], "models:/lambda_search/latest")
    with pytest.raises(MlflowException, match=r"shape \(2, 63\); the model takes rows of 64 "):
        model.predict(np.zeros((2, 63)))


def test_no_register_logs_the_model_in_the_run_only(tmp_path: Path, storage_url: str,
                                                    tracking_uri: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    tuner.run_study("lambda_search", dataset="digits", trials=2, progress=False,
                    storage=storage_url, tracking_uri=tracking_uri)
    final = tuner.final("lambda_search", dataset="digits", storage=storage_url,
                        tracking_uri=tracking_uri, register=False)
    assert final.model_uri == f"runs:/{final.mlflow_run_id}/model"
    assert MlflowClient(tracking_uri).search_registered_models() == []
    model = pyfunc(tracking_uri, final.model_uri)
    assert model.predict(load_digits().data[:3]).shape == (3,)


def _image_study(folder: Path, objective: str, fixed: str, limits: str) -> Path:
    path = folder / f"{objective}_model.toml"
    path.write_text(f"""
name = "{objective}_model"
objective = "{objective}"
dataset = "mnist"
metric = "val_accuracy"
{limits}
[fixed]
{fixed}
[[stages]]
name = "search"
sampler = "random"
trials = 2
[stages.space]
lr = {{ low = 0.01, high = 0.05, log = true }}
[final]
monitor = 100
""")
    return path


def _check_image_final(folder: Path, study: Path, data_dir: Path, name: str) -> None:
    """The registered pyfunc on the raw MNIST test images: the test accuracy the final printed,
    and the class ids of the tuner's own model (rebuilt from the run's weights)."""
    from mlflow import MlflowClient

    from objectives import registry
    from objectives.data.sources import source

    tracking = f"sqlite:///{folder / 'mlflow.db'}"
    os.chdir(folder)
    result = tuner.run_study(study, data_dir=str(data_dir), final=True, progress=False,
                             storage=f"sqlite:///{folder / 'tuner.db'}", tracking_uri=tracking)
    final = result.final
    assert final is not None and final.model_uri == f"models:/{name}/1"
    assert result.tracking_warnings == 0
    X_test, y_test = source("mnist", data_dir, False)[1]()
    model = pyfunc(tracking, f"models:/{name}/latest")
    ids = model.predict(X_test.astype(np.float64))
    assert np.mean(ids == y_test) == final["test_accuracy"]
    spec = tuner.load_study_spec(study)
    data = load("mnist", data_dir=data_dir, seed=spec.seed, val_size=spec.val_size,
                train_limit=spec.train_limit, normalize=spec.objective.normalize)
    scale = data.final_scale(monitor_size(spec, data))
    run_id = final.mlflow_run_id
    objective: Any = registry.get(spec.objective.name)
    if spec.objective.name == "softmax":
        from objectives.numpy_nets.softmax import SoftmaxRegression

        file = MlflowClient(tracking).download_artifacts(run_id, "weights.npz", str(folder))
        own = SoftmaxRegression.load(Path(file)).predict(scale(X_test))
    else:
        import mlflow.pytorch
        import torch

        file = MlflowClient(tracking).download_artifacts(run_id, "weights.pt", str(folder))
        net = objective.load(Path(file), final.config, (1, 28, 28), 10)
        own = net.predict(scale(X_test))
        mlflow.set_tracking_uri(tracking)  # the pytorch flavour: raw pixels in, logits out
        try:
            network = mlflow.pytorch.load_model(f"runs:/{run_id}/network")
        finally:
            mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
        with torch.no_grad():
            logits = network(torch.from_numpy(X_test[:500].astype(np.float64)))
        np.testing.assert_array_equal(logits.argmax(1).numpy(), own[:500])
    np.testing.assert_array_equal(ids, own)


def test_lenet_on_a_small_mnist_subset(shared_data: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    study = _image_study(tmp_path, "lenet", "epochs = 1\nbatch_size = 64",
                         "train_limit = 600\nval_size = 300")
    _check_image_final(tmp_path, study, shared_data, "lenet_model")


@pytest.mark.slow
@pytest.mark.parametrize("objective, fixed", [("lenet", "epochs = 2\nbatch_size = 128"),
                                              ("softmax", "epochs = 3\nbatch_size = 100")])
def test_full_mnist(shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    objective: str, fixed: str) -> None:
    monkeypatch.chdir(tmp_path)
    study = _image_study(tmp_path, objective, fixed, "")
    _check_image_final(tmp_path, study, shared_data, f"{objective}_model")
