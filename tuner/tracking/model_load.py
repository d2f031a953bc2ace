"""Loads a tuned model from MLflow (models:/STUDY/latest by default) for `tuner predict`: its
pyfunc model and, from the metadata the final logged with it, what inputs it takes (features,
image shape, pixel range, a table's column names and target), its task and its class names.
Models logged before the signature lost its input schema (float64 (-1, features)) load the
same way: `tuner predict` hands every model float64 rows."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from objectives.rows import InputShape
from tuner.errors import DataError, TrackingError
from tuner.storage import mask
from tuner.tracking.keys import check_scheme, first_line, local_store, require_store
from tuner.tracking.model_log import fluent_uri
from tuner.tracking.store import MlflowStore


@dataclass
class LoadedModel:
    uri: str
    tracking_uri: str
    pyfunc: Any
    shape: InputShape
    task: str
    class_names: list[str]

    def predict(self, rows: np.ndarray) -> pd.DataFrame:
        """Classification: class (the id), label (its name), p_<name> where the model gives
        probabilities; regression: value."""
        if self.task != "classification":
            predicted = np.asarray(self.pyfunc.predict(rows)).reshape(len(rows), -1)[:, 0]
            return pd.DataFrame({"value": predicted})
        ids, proba = self._classes(rows)
        names = self.class_names or [str(i) for i in range(int(ids.max(initial=0)) + 1)]
        table = pd.DataFrame({"class": ids, "label": [names[int(i)] for i in ids]})
        if proba is not None:
            for i, name in enumerate(names[:proba.shape[1]]):
                table[f"p_{name}"] = proba[:, i]
        return table

    def _classes(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(class ids, probabilities or None), in one prediction where the model allows."""
        if "sklearn" in self.pyfunc.metadata.flavors:
            import mlflow.sklearn

            with fluent_uri(self.tracking_uri):
                estimator = mlflow.sklearn.load_model(self.uri)
            ids = np.asarray(estimator.predict(rows)).astype(np.int64)
            return ids, (np.asarray(estimator.predict_proba(rows))
                         if hasattr(estimator, "predict_proba") else None)
        out = self.pyfunc.predict(rows, params={"probabilities": True})
        if not isinstance(out, pd.DataFrame):  # a model without probabilities: the ids
            return np.asarray(out).reshape(len(rows)).astype(np.int64), None
        proba = out[[c for c in out.columns if c.startswith("p_")]].to_numpy()
        return out["class"].to_numpy(dtype=np.int64), proba


def default_uri(study: str) -> str:
    return f"models:/{study}/latest"


def _check_store(tracking_uri: str) -> None:
    """The tracking store a models:/ or runs:/ URI is looked up in, checked in seconds: a known
    scheme, a SQLite file that exists (never created empty just to find no model in it), a
    server that answers (MLflow's own retries would wait minutes)."""
    check_scheme(tracking_uri)
    require_store(tracking_uri, f"No MLflow tracking store at {local_store(tracking_uri)} "
                  f"({mask(tracking_uri)}); pass the --tracking-uri the study ran with (default "
                  f"sqlite:///mlflow.db in the folder it ran in).")
    if tracking_uri.startswith(("http://", "https://")):
        MlflowStore(tracking_uri).check(hint="start it, or pass another --tracking-uri")


def load_model(uri: str, tracking_uri: str) -> LoadedModel:
    """The model at `uri` (models:/..., runs:/..., or a local folder); one-line errors."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if uri.startswith("runs:") or uri.startswith("models:") and not os.environ.get(
            "MLFLOW_REGISTRY_URI"):  # a registry elsewhere is MLflow's to look up
        _check_store(tracking_uri)
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        with fluent_uri(tracking_uri):
            model = mlflow.pyfunc.load_model(uri)
    except MlflowException as exc:
        raise TrackingError(f"Cannot load model {uri} from {mask(tracking_uri)}: "
                            f"{first_line(exc, 300)}") from None
    except OSError as exc:
        raise DataError(f"Cannot load model {uri}: {first_line(exc, 300)}") from None
    except Exception as exc:  # noqa: BLE001 - a store or model MLflow itself cannot read
        raise TrackingError(f"Cannot load model {uri} from {mask(tracking_uri)} "
                            f"({type(exc).__name__}: {first_line(exc, 300)}).") from None
    meta: dict[str, Any] = model.metadata.metadata or {}
    schema = model.metadata.get_input_schema()
    spec: Any = schema.inputs[0] if schema is not None and schema.inputs else None
    features = int(meta.get("features") or (spec.shape[-1] if getattr(spec, "shape", None)
                                            else 0))
    image = meta.get("image_shape")
    pixel_max = meta.get("pixel_max")
    shape = InputShape(features, (int(image[0]), int(image[1]), int(image[2]))
                       if image and pixel_max else None, pixel_max,
                       tuple(str(n) for n in meta.get("feature_names") or ()),
                       str(meta.get("target") or ""))
    return LoadedModel(uri, tracking_uri, model, shape, str(meta.get("task", "classification")),
                       [str(n) for n in meta.get("class_names", [])])
