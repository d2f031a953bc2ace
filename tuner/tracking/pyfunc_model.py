"""The tuned model as an MLflow pyfunc model, logged as "models from code": MLflow copies this
file into the model and runs it at load time, so loading unpickles nothing (the weights are
the bundle's .npz or a torch state_dict read with weights_only=True).

It imports only MLflow, NumPy, pandas and `objectives` (shipped with the model as code_paths),
never the rest of tuner, so the model loads wherever those are installed.

predict(rows) -> class ids (int64; predicted values for regression). With
params={"probabilities": True}: a DataFrame with a "class" column and one "p_<class name>"
column of probabilities per class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel

from objectives.bundle import Predictor, load_bundle

PROBABILITIES = "probabilities"


class TunedModel(PythonModel):
    """Raw rows in (pixel values as the dataset files hold them, or the table's columns)."""

    predictor: Predictor

    def load_context(self, context: Any) -> None:
        self.predictor = load_bundle(Path(context.artifacts["bundle"]))

    # np.ndarray: a hint MLflow leaves to the logged signature (DataFrames come too)
    def predict(self, context: Any, model_input: np.ndarray,
                params: dict[str, Any] | None = None) -> Any:
        rows = model_input.to_numpy() if isinstance(model_input, pd.DataFrame) else model_input
        ids = self.predictor.predict(np.asarray(rows))
        if not (params or {}).get(PROBABILITIES) or not hasattr(self.predictor.model,
                                                                 "predict_proba"):
            return ids
        proba = self.predictor.predict_proba(rows)
        names = self.predictor.info.class_names
        return pd.DataFrame({"class": ids, **{f"p_{name}": proba[:, i]
                                              for i, name in enumerate(names)}})


set_model(TunedModel())
