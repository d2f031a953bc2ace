"""Loads a tuned model from MLflow (models:/STUDY/latest by default) for `tuner predict`: its
pyfunc model, what inputs it takes (from its signature, and for our bundles their image shape
and pixel range) and its class names."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tuner.errors import DataError, TrackingError
from tuner.inputs import InputShape
from tuner.tracking.model_log import fluent_uri
from tuner.tracking.values import first_line


@dataclass
class LoadedModel:
    uri: str
    tracking_uri: str
    pyfunc: Any
    shape: InputShape
    class_names: list[str]

    def predict(self, rows: np.ndarray) -> pd.DataFrame:
        """A table: class (the id), then p_<class name> columns where the model has them."""
        bundle = _predictor(self.pyfunc)
        if bundle is not None and bundle.info.task == "classification":
            table = self.pyfunc.predict(rows, params={"probabilities": True})
            return pd.DataFrame(table)
        values = np.asarray(self.pyfunc.predict(rows)).reshape(len(rows), -1)[:, 0]
        out = pd.DataFrame({"class" if bundle is None or bundle.info.classes else "value":
                            values})
        proba = _sklearn_proba(self.uri, self.tracking_uri, rows)
        if proba is not None:
            names = self.class_names or [str(i) for i in range(proba.shape[1])]
            for i, name in enumerate(names[:proba.shape[1]]):
                out[f"p_{name}"] = proba[:, i]
        return out


def default_uri(study: str) -> str:
    return f"models:/{study}/latest"


def load_model(uri: str, tracking_uri: str) -> LoadedModel:
    """The model at `uri` (models:/..., runs:/..., or a local folder); one-line errors."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        with fluent_uri(tracking_uri):
            model = mlflow.pyfunc.load_model(uri)
    except MlflowException as exc:
        raise TrackingError(f"Cannot load model {uri} from {tracking_uri}: "
                            f"{first_line(exc, 300)}") from None
    except OSError as exc:
        raise DataError(f"Cannot load model {uri}: {first_line(exc, 300)}") from None
    schema = model.metadata.get_input_schema()
    spec: Any = schema.inputs[0] if schema is not None and schema.inputs else None
    features = int(spec.shape[-1]) if getattr(spec, "shape", None) else 0
    bundle = _predictor(model)
    if bundle is None:
        return LoadedModel(uri, tracking_uri, model, InputShape(features), [])
    info = bundle.info
    c, h, w = (int(s) for s in info.image_shape)
    shape = InputShape(info.features, (c, h, w) if info.pixel_max else None, info.pixel_max)
    return LoadedModel(uri, tracking_uri, model, shape, list(info.class_names))


def _predictor(model: Any) -> Any:
    """The objectives.bundle.Predictor inside a TunedModel pyfunc, else None."""
    try:
        inner = model.unwrap_python_model()
    except Exception:  # noqa: BLE001 - a flavour without a python model (sklearn)
        return None
    return getattr(inner, "predictor", None)


def _sklearn_proba(uri: str, tracking_uri: str, rows: np.ndarray) -> np.ndarray | None:
    """Class probabilities of a model logged with MLflow's sklearn flavour, where it has them."""
    import mlflow.sklearn

    try:
        with fluent_uri(tracking_uri):
            estimator = mlflow.sklearn.load_model(uri)
    except Exception:  # noqa: BLE001 - not an sklearn model
        return None
    if not hasattr(estimator, "predict_proba"):
        return None
    return np.asarray(estimator.predict_proba(rows))
