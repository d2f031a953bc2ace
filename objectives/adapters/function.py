"""A plain training function as an objective: fn(config, train, val, report) -> model, where
`train` and `val` are the splits (.X, .y), `report(step, metrics)` may be called (per epoch, for
pruning and curves) and the model has predict(X), optionally predict_proba(X).

Its params are whatever the study declares ([fixed], the spaces, `set` tables, --set), with any
value kind. When it returns, the tuner's metrics are computed from the model on both splits and
added to its last reported row (or reported once at step 1 when it reported nothing).

Its signature is checked when the study loads (a function that cannot take those four arguments,
such as os:system, is refused before any trial); it is not called until the first trial.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from objectives.adapters.imports import refused_call, user_code
from objectives.base import Param, Reporter, RunResult, Split, class_count
from objectives.errors import ConfigError
from objectives.metrics import prefixed, scores, task_of
from objectives.threads import limited

TrainingFunction = Callable[[dict[str, Any], Split, Split, Reporter], Any]

PICKLE_NOTE = ("model.pkl is a pickle of the model your training function returned; loading "
               "it imports your code and runs pickle: load it only where you trust both.")


class FunctionModel:
    """The returned model as the tuner's Model: scores from objectives.metrics, pickled saves."""

    def __init__(self, model: Any, classes: int) -> None:
        self.model = model
        self.classes = classes

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict(X))

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
        return scores(self.model, X, y, self.classes)

    def __getattr__(self, name: str) -> Any:
        if name == "predict_proba" and hasattr(self.__dict__.get("model"), "predict_proba"):
            return self.model.predict_proba
        raise AttributeError(name)

    def save(self, path: Path) -> Path:
        """A pickle of the model at `path`.pkl (see PICKLE_NOTE)."""
        target = Path(path).with_suffix(".pkl")
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as handle:
            pickle.dump(self.model, handle)
        return target


class FunctionObjective:
    """The objective of one training function, named by its "module:attr" ref."""

    normalize = "none"
    mutable: frozenset[str] = frozenset()  # not resumable: nothing to continue

    def __init__(self, fn: TrainingFunction, name: str,
                 params: Mapping[str, Param] | None = None) -> None:
        check_signature(fn, name)
        self.fn = fn
        self.name = name
        self.params: Mapping[str, Param] = dict(params or {})

    def declaring(self, defaults: Mapping[str, Any]) -> FunctionObjective:
        """The same function with params `defaults` (name -> default value), kind "any"."""
        table = {k: Param("any", v, "declared by the study") for k, v in defaults.items()}
        return FunctionObjective(self.fn, self.name, table)

    def fit(self, config: Mapping[str, Any], train: Split, val: Split, report: Reporter,
            seed: int, image_shape: tuple[int, int, int]) -> RunResult:
        history: list[dict[str, float]] = []
        start = time.perf_counter()
        with user_code(self.name), limited(0) as pool:  # its fair share of the cores
            rebalanced = pool.reporting(report)

            last = [start]

            def forward(step: int, metrics: Mapping[str, float]) -> None:
                """The function's row, with the step as its epoch and the seconds since the
                previous report unless it reports its own `epoch` / `seconds`."""
                now = time.perf_counter()
                row = {"epoch": float(step), **{k: float(v) for k, v in metrics.items()}}
                row.setdefault("seconds", now - last[0])
                last[0] = now
                history.append(row)
                rebalanced(step, row)

            returned = self.fn(dict(config), train, val, forward)
        seconds = time.perf_counter() - start
        if not hasattr(returned, "predict"):
            raise ConfigError(f"{self.name} returned {type(returned).__name__}; expected a "
                              "model with predict(X).")
        classes = class_count(train, val) if task_of(train.y) == "classification" else 0
        model = FunctionModel(returned, classes)
        with user_code(self.name):
            computed = {**prefixed(model.evaluate(train.X, train.y), "train"),
                        **prefixed(model.evaluate(val.X, val.y), "val")}
        if history:
            history[-1] = {**history[-1], **computed}
        else:
            history.append({"epoch": 1.0, **computed, "seconds": seconds})
            report(1, history[-1])
        return RunResult(model=model, history=history)


def check_signature(fn: Any, name: str) -> None:
    """ConfigError unless `fn` can be called as fn(config, train, val, report)."""
    signature = refused_call(fn, 4)
    if signature is not None:
        raise ConfigError(f"'{name}' takes {signature}; a training function is called as "
                          "fn(config, train, val, report)")
