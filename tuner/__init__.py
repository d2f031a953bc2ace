"""tuner: hyperparameter studies with Optuna, tracked in MLflow, from a study file or Python.

    import tuner
    result = tuner.run_study("lambda_search", dataset="digits", final=True)
    print(result.best_params, result.final["test_accuracy"])
    tuner.train("softmax", dataset="digits", overrides={"epochs": 3}).history
    tuner.predict("lambda_search", "rows.csv", output="predictions.csv").summary()
"""

from objectives.data.given import Data
from tuner.api import final, join_study, load_study_spec, run_study, train
from tuner.errors import (
    ConfigError,
    DataError,
    DivergenceError,
    SpecError,
    StorageError,
    TrackingError,
    TunerError,
)
from tuner.options import RunOptions
from tuner.prediction import Predictions, predict
from tuner.results import FinalResult, StageResult, StudyResult, TrainResult
from tuner.spec import StudySpec

__version__ = "0.2.0"

__all__ = [
    "ConfigError", "Data", "DataError", "DivergenceError", "FinalResult", "SpecError",
    "StageResult",
    "StorageError", "StudyResult", "StudySpec", "TrackingError", "TrainResult", "TunerError",
    "Predictions", "RunOptions", "final", "join_study", "load_study_spec", "predict", "run_study",
    "train",
]
