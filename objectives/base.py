"""The contract between training code and the tuner: params, reporter, splits and results.

An objective knows nothing of Optuna or MLflow. The tuner hands it a config (a plain dict), the
train and val splits, a seed and a `report(step, metrics)` callable; the reporter may raise any
exception (the tuner raises optuna.TrialPruned from it), which the objective must let through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

Metrics = Mapping[str, float]
Reporter = Callable[[int, Metrics], None]
"""report(step, metrics): step counts reporting points from 1; metrics hold at least
`epoch` (may be fractional), train_loss, train_accuracy, val_loss, val_accuracy, lr, seconds."""

METRIC_NAMES = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")


def no_report(step: int, metrics: Metrics) -> None:
    """A reporter that ignores everything."""


@dataclass(frozen=True)
class Split:
    """Features as C-contiguous float32 (n, d) and labels as int64 (n,)."""

    X: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True)
class Param:
    """One training parameter: its type, default and allowed values.

    kind is one of "float", "int", "str", "bool", "ints" (a list of ints, e.g. milestones),
    "floats" (a list of floats, e.g. betas), or "any" (a scalar, None or a list of scalars: the
    params of the user's own estimators and functions whose defaults say nothing of a type).
    """

    kind: str
    default: Any
    help: str = ""
    choices: Sequence[Any] | None = None
    low: float | None = None
    high: float | None = None


class Model(Protocol):
    """A trained model, as returned in RunResult."""

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """Return {"loss": mean cross-entropy (no regulariser), "accuracy": fraction correct}."""
        ...

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Return predicted class indices (int64, shape (n,))."""
        ...

    def save(self, path: Path) -> Path:
        """Write the weights (NumPy .npz or torch state_dict .pt) under `path` (a file stem);
        return the file written."""
        ...


def class_count(*splits: Split) -> int:
    """Number of output classes: one past the largest label in any of the splits."""
    return max((int(s.y.max()) + 1 for s in splits if len(s)), default=1)


@dataclass
class RunResult:
    """What one training run returns: the model and one history row per reporting point."""

    model: Model
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def val_accuracy(self) -> float:
        """The last val_accuracy reported (NaN without one, e.g. for regression)."""
        return float(self.history[-1].get("val_accuracy", "nan")) if self.history else \
            float("nan")


class Objective(Protocol):
    """A trainable model family: `params` declares every config key; `fit` trains once."""

    name: str
    params: Mapping[str, Param]
    normalize: str  # data-layer normalisation: "feature" (per-feature) or "channel" (per-channel)
    mutable: frozenset[str]
    """The params whose new values a fit continuing from a checkpoint takes up (Population Based
    Training changes them between intervals): the config in force wins over whatever the saved
    state holds. Every other param must keep the value the state was trained with. Empty for an
    objective that is not resumable."""

    def fit(
        self,
        config: Mapping[str, Any],
        train: Split,
        val: Split,
        report: Reporter,
        seed: int,
        image_shape: tuple[int, int, int],
    ) -> RunResult: ...
