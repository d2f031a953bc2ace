"""Logs the final's model as an MLflow Model in the final run and registers it under the study's
name: the pyfunc TunedModel (pyfunc_model.py) for our networks and the user's training
functions, MLflow's sklearn flavour for the user's estimators (a Pipeline that scales raw rows
first), and for torch networks also MLflow's pytorch flavour (artifact "network": the network
alone, on scaled (n, C, H, W) inputs, for fine-tuning).

Every variant takes RAW rows (see objectives.bundle) in any real dtype, checked by the model
itself (objectives.rows); its signature has outputs and params but no input schema (see
`model_signature` for why); a few raw training rows are the input example.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stderr
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

import objectives
from objectives.bundle import load_bundle
from tuner.tracking.keys import MAX_TAG_CHARS

MODEL_NAME = "model"
CODE = str(Path(__file__).with_name("pyfunc_model.py"))
_fluent = threading.Lock()


@dataclass(frozen=True)
class ModelToLog:
    """What the final hands the tracker: a bundle folder (objectives.bundle) or a fitted
    scikit-learn pipeline on raw rows, raw example rows, and how to register it."""

    example: np.ndarray
    bundle: Path | None = None
    sklearn: Any = None
    torch_network: Any = None
    register: bool = True
    metadata: Mapping[str, Any] = field(default_factory=dict)  # MLmodel's metadata: inputs
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class LoggedModel:
    uri: str  # models:/NAME/VERSION when registered, else runs:/RUN/model
    version: str | None


def log_tuned_model(tracking_uri: str, run_id: str, study: str, model: ModelToLog
                    ) -> LoggedModel:
    """Log `model` in run `run_id` (reopened for it), register it as `study` unless told not."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    example = np.asarray(model.example, dtype=np.float64)
    name = study if model.register else None
    common: dict[str, Any] = {"name": MODEL_NAME, "input_example": example,
                              "registered_model_name": name, "metadata": dict(model.metadata),
                              "code_paths": [str(Path(objectives.__file__).parent)]}
    # MLflow prints "Successfully registered model ..." on stderr; tuner says it in one line
    with fluent_uri(tracking_uri), redirect_stderr(io.StringIO()), \
            mlflow.start_run(run_id=run_id):
        if model.sklearn is not None:
            import mlflow.sklearn
            import skops.io

            signature = model_signature(example, model.sklearn.predict(example))
            # MLflow stores it with skops (no pickle); the types skops does not know are our
            # scaling and the user's own estimator classes, which this run just trained
            ours = skops.io.get_untrusted_types(data=skops.io.dumps(model.sklearn))
            info = mlflow.sklearn.log_model(
                model.sklearn, signature=signature, skops_trusted_types=ours,
                pip_requirements=_requirements("scikit-learn", "skops"), **common)
        else:
            assert model.bundle is not None
            predicted = load_bundle(model.bundle).predict(example)
            signature = model_signature(example, predicted, {"probabilities": False})
            torch = ("torch",) if model.torch_network is not None else ()
            info = mlflow.pyfunc.log_model(
                python_model=CODE, artifacts={"bundle": str(model.bundle)},
                signature=signature, pip_requirements=_requirements(*torch), **common)
        if model.torch_network is not None:
            import mlflow.pytorch

            mlflow.pytorch.log_model(model.torch_network, name="network",
                                     input_example=example,
                                     pip_requirements=_requirements("torch"))
    if not model.register:
        return LoggedModel(f"runs:/{run_id}/{MODEL_NAME}", None)
    number = str(info.registered_model_version)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    for key, value in model.tags.items():
        client.set_model_version_tag(study, number, key, str(value)[:MAX_TAG_CHARS])
    if model.description:
        client.update_model_version(study, number, description=model.description)
    return LoggedModel(f"models:/{study}/{number}", number)


def model_signature(example: np.ndarray, predicted: Any,
                    params: dict[str, Any] | None = None) -> Any:
    """The logged signature: outputs and params, NO input schema, so that the model's own check
    (objectives.rows: any real dtype, DataFrames by column name, lists, images; NaN, text and
    wrong widths refused in one line) decides what it takes, the same way for
    mlflow.pyfunc.load_model, `mlflow models serve` and `tuner predict`. MLflow 3.17's schema
    enforcement would refuse what users hold: a tensor spec float64 (-1, n) takes float64
    only ("dtype of input float32 does not match expected dtype float64", and so for uint8,
    every int, float16 and bool); n unnamed double columns take (u)int8-32 and float16/32 but
    refuse int64 (NumPy's default int), uint64 and bool, and silently drop columns past n;
    named double columns refuse every NumPy array. The width stays documented: the metadata
    holds features, image_shape, feature_names and target, and the input example a few rows.
    """
    from mlflow.models import ModelSignature, infer_signature

    inferred = infer_signature(example, predicted, params=params)
    return ModelSignature(outputs=inferred.outputs, params=inferred.params)


@contextmanager
def fluent_uri(uri: str) -> Iterator[None]:
    """MLflow's fluent API (log_model) on `uri`, the global URI restored after (unset again if
    it was: set_tracking_uri also sets $MLFLOW_TRACKING_URI). The registry follows the tracking
    URI unless $MLFLOW_REGISTRY_URI says otherwise, for MLflow's calls and ours alike."""
    import mlflow

    with _fluent:
        before = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
        mlflow.set_tracking_uri(uri)
        try:
            yield
        finally:
            mlflow.set_tracking_uri(before)  # type: ignore[arg-type]  # None: unset


def _requirements(*extra: str) -> list[str]:
    """Pinned requirements of the logged model (not inferred: that would run the model again
    in a subprocess)."""
    names = ("mlflow", "numpy", "pandas", *extra)
    return [f"{n}=={_version(n)}" if _version(n) else n for n in names]


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None
