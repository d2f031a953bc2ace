"""The tuned model as an MLflow pyfunc model, logged as "models from code": MLflow copies this
file into the model and runs it at load time, so loading unpickles nothing (the weights are
the bundle's .npz or a torch state_dict read with weights_only=True).

It imports only MLflow, NumPy, pandas and `objectives` (shipped with the model as code_paths),
never the rest of tuner, so the model loads wherever those are installed.

predict(rows) -> class ids (int64; predicted values for regression). With
params={"probabilities": True}: a DataFrame with a "class" column and one "p_<class name>"
column of probabilities per class. The rows may come in any real dtype, as an array, a
DataFrame (the user's tables: columns by name) or a list (objectives.rows checks them: the
logged signature leaves the input to the model, see model_log.signature); a refused input is
an MlflowException (HTTP 400 from `mlflow models serve`) with objectives.rows' one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import set_model
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel

from objectives.bundle import Predictor, load_bundle
from objectives.errors import DataError

PROBABILITIES = "probabilities"


class TunedModel(PythonModel):
    """Raw rows in (pixel values as the dataset files hold them, or the table's columns)."""

    predictor: Predictor

    def load_context(self, context: Any) -> None:
        self.predictor = load_bundle(Path(context.artifacts["bundle"]))

    # np.ndarray: a hint MLflow validates nothing against (arrays, DataFrames and lists come)
    def predict(self, context: Any, model_input: np.ndarray,
                params: dict[str, Any] | None = None) -> Any:
        try:
            ids, proba = self.predictor.outputs(model_input,
                                                bool((params or {}).get(PROBABILITIES)))
        except DataError as exc:
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from None
        if proba is None:
            return ids
        names = self.predictor.info.class_names
        return pd.DataFrame({"class": ids, **{f"p_{name}": proba[:, i]
                                              for i, name in enumerate(names)}})


set_model(TunedModel())
