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

from objectives.errors import ConfigError

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
    "floats" (a list of floats, e.g. betas).
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


@dataclass
class RunResult:
    """What one training run returns: the model and one history row per reporting point."""

    model: Model
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def val_accuracy(self) -> float:
        return float(self.history[-1]["val_accuracy"]) if self.history else float("nan")


class Objective(Protocol):
    """A trainable model family: `params` declares every config key; `fit` trains once."""

    name: str
    params: Mapping[str, Param]
    normalize: str  # data-layer normalisation: "feature" (per-feature) or "channel" (per-channel)

    def fit(
        self,
        config: Mapping[str, Any],
        train: Split,
        val: Split,
        report: Reporter,
        seed: int,
        image_shape: tuple[int, int, int],
    ) -> RunResult: ...


_BOOL_WORDS = ("true", "false", "1", "0", "yes", "no")


def _coerce(name: str, param: Param, value: Any) -> Any:
    """Convert `value` (possibly a string from --set) to the param's kind, or raise ConfigError."""
    kind = param.kind
    try:
        if kind in ("ints", "floats"):
            if isinstance(value, str):
                parts = [p for p in value.replace("[", "").replace("]", "").split(",") if p.strip()]
            elif isinstance(value, (list, tuple)):
                parts = list(value)
            else:
                raise ValueError
            cast = int if kind == "ints" else float
            out: Any = [cast(p) for p in parts]
            if kind == "ints" and any(isinstance(p, float) and not float(p).is_integer()
                                      for p in parts):
                raise ValueError
        elif kind == "bool":
            if isinstance(value, bool):
                out = value
            elif isinstance(value, str) and value.lower() in _BOOL_WORDS:
                out = value.lower() in ("true", "1", "yes")
            else:
                raise ValueError
        elif kind == "int":
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            scientific = isinstance(value, str) and "e" in value.lower()
            out = int(float(value)) if scientific else int(value)
        elif kind == "float":
            if isinstance(value, bool):
                raise ValueError
            out = float(value)
        elif kind == "str":
            if not isinstance(value, str):
                raise ValueError
            out = value
        else:
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(
            f"The '{name}' parameter must be of type {kind}. Got {value!r} instead."
        ) from None
    if param.choices is not None and out not in param.choices:
        choices = ", ".join(str(c) for c in param.choices)
        raise ConfigError(f"The '{name}' parameter must be one of: {choices}. Got {out!r} instead.")
    for bound, ok in ((param.low, lambda v, b: v >= b), (param.high, lambda v, b: v <= b)):
        values = out if isinstance(out, list) else [out]
        if bound is not None and kind in ("int", "float", "ints", "floats"):
            if not all(ok(v, bound) for v in values):
                lo = "-inf" if param.low is None else param.low
                hi = "inf" if param.high is None else param.high
                raise ConfigError(
                    f"The '{name}' parameter must be in [{lo}, {hi}]. Got {out!r} instead."
                )
    return out


def resolve_config(
    objective_name: str, params: Mapping[str, Param], overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """Defaults overlaid with `overrides`, each value checked and converted, else ConfigError."""
    unknown = sorted(set(overrides) - set(params))
    if unknown:
        valid = ", ".join(sorted(params))
        raise ConfigError(
            f"Unknown parameter '{unknown[0]}' for objective '{objective_name}'; "
            f"valid keys: {valid}."
        )
    config = {name: p.default for name, p in params.items()}
    for name, value in overrides.items():
        config[name] = _coerce(name, params[name], value)
    return config


def check_param(objective_name: str, params: Mapping[str, Param], name: str, value: Any) -> Any:
    """Check one value for one key (used by the tuner for sampled values)."""
    return resolve_config(objective_name, params, {name: value})[name]
