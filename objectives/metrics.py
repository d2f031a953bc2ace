"""The metrics the tuner computes from a model it did not write, with scikit-learn's functions:
per task a family (classification: accuracy, macro F1, log loss and binary ROC AUC, the last two
from predict_proba; regression: RMSE, MAE, R^2), named val_*, train_* or test_* by the split."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

CLASSIFICATION_METRICS = ("accuracy", "f1", "loss", "roc_auc")
REGRESSION_METRICS = ("rmse", "mae", "r2")
FAMILIES = {"classification": CLASSIFICATION_METRICS, "regression": REGRESSION_METRICS}
NEEDS_PROBA = ("loss", "roc_auc")
HIGHER_IS_BETTER = ("accuracy", "f1", "roc_auc", "r2")
SPLITS = ("val", "train", "test")


def base_name(metric: str) -> str:
    """"val_rmse" -> "rmse"."""
    split, sep, rest = metric.partition("_")
    return rest if sep and split in SPLITS else metric


def direction_of(metric: str) -> str:
    """maximize for accuracy, F1, ROC AUC and R^2 (and any *accuracy), else minimize."""
    name = base_name(metric)
    return "maximize" if name in HIGHER_IS_BETTER or name.endswith("accuracy") else "minimize"


def task_of(y: np.ndarray) -> str:
    """Float targets are regression, integer class indices classification."""
    return "regression" if np.asarray(y).dtype.kind == "f" else "classification"


def _proba(model: Any, X: np.ndarray, classes: int) -> np.ndarray | None:
    """predict_proba with one column per class 0..classes-1 (a model trained without some
    class has no column for it: those are zeros)."""
    if not hasattr(model, "predict_proba"):
        return None
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    columns = getattr(model, "classes_", None)
    if columns is None or proba.shape[1] == classes:
        return proba
    full = np.zeros((len(X), classes))
    full[:, np.asarray(columns, dtype=np.int64)] = proba
    return full


def scores(model: Any, X: np.ndarray, y: np.ndarray, classes: int = 0) -> dict[str, float]:
    """The task's metrics (unprefixed) of `model` on (X, y); `classes`: how many classes the
    labels index (classification)."""
    from sklearn import metrics

    if not len(y):
        return {}
    predicted = np.asarray(model.predict(X))
    if task_of(y) == "regression":
        predicted = predicted.astype(np.float64).reshape(len(y))
        return {"rmse": math.sqrt(metrics.mean_squared_error(y, predicted)),
                "mae": float(metrics.mean_absolute_error(y, predicted)),
                "r2": float(metrics.r2_score(y, predicted)) if len(y) > 1 else math.nan}
    classes = max(classes, int(y.max()) + 1)
    out = {"accuracy": float(metrics.accuracy_score(y, predicted)),
           "f1": float(metrics.f1_score(y, predicted, average="macro",
                                        labels=np.arange(classes), zero_division=0))}
    proba = _proba(model, X, classes)
    if proba is not None:
        clipped = np.clip(proba, 1e-15, 1.0)
        clipped /= clipped.sum(axis=1, keepdims=True)
        out["loss"] = float(metrics.log_loss(y, clipped, labels=np.arange(classes)))
        if classes == 2 and len(set(y.tolist())) == 2:
            out["roc_auc"] = float(metrics.roc_auc_score(y, proba[:, 1]))
    return out


def prefixed(values: Mapping[str, float], split: str) -> dict[str, float]:
    return {f"{split}_{k}": v for k, v in values.items()}
