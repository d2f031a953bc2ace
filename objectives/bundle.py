"""A trained model with everything it needs to take RAW inputs: a folder holding the weights,
the scaling statistics fitted in the final and a `tuned.json` describing both.

`save_bundle` writes one after the final; `load_bundle` reads it back as a Predictor whose
`predict` takes rows as the dataset files hold them (pixel values, flattened channel-first;
the columns of the user's table) and gives what the tuner's own evaluation gives: the same
scaling, the same network, the same class ids. Weights are .npz (no pickles) or a torch
state_dict read with weights_only=True; only the user's own function models are pickles (see
objectives.adapters.function.PICKLE_NOTE). MLflow wraps this in a pyfunc model
(tuner/tracking/pyfunc_model.py); nothing here imports MLflow.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from objectives.adapters.function import FunctionModel
from objectives.base import Model
from objectives.data.normalize import Normalizer, Standardize
from objectives.errors import DataError
from objectives.numpy_nets.softmax import SoftmaxRegression
from objectives.numpy_nets.two_layer import TwoLayerNet
from objectives.rows import InputShape, as_rows

META = "tuned.json"
SCALER = "scaler.npz"
FORMAT = 1
Scale = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Info:
    """What a bundle says about its inputs and outputs."""

    objective: str
    config: Mapping[str, Any]
    task: str
    classes: int
    class_names: Sequence[str]
    image_shape: Sequence[int]
    features: int
    pixel_max: float | None = None  # images: the largest pixel value in the dataset files
    feature_names: Sequence[str] = ()
    target: str = ""  # the user's own tables: the target column's name (dropped if given)

    def input_shape(self) -> InputShape:
        """What the model takes (objectives.rows): images only where pixels have a range."""
        c, h, w = (int(v) for v in self.image_shape)
        return InputShape(int(self.features), (c, h, w) if self.pixel_max else None,
                          self.pixel_max, tuple(self.feature_names), self.target)


def save_bundle(folder: Path, model: Model, scale: Scale, info: Info) -> Path:
    """Write `model` (weights), `scale`'s statistics and `info` into `folder`; return it."""
    folder.mkdir(parents=True, exist_ok=True)
    kind = _kind(model)
    weights = Path(model.save(folder / "weights"))
    if isinstance(scale, Normalizer):
        scaler, arrays = "normalizer", {"factor": scale.factor, "offset": scale.offset}
    elif isinstance(scale, Standardize):
        scaler, arrays = "standardize", {"mean": scale.mean, "std": scale.std}
    else:
        raise TypeError(f"Cannot store a {type(scale).__name__} scaler in a bundle.")
    np.savez(folder / SCALER, allow_pickle=False, **arrays)
    meta = {"format": FORMAT, "model": kind, "weights": weights.name, "scaler": scaler,
            **{k: list(v) if isinstance(v, tuple) else v for k, v in info.__dict__.items()}}
    meta["config"] = dict(info.config)
    (folder / META).write_text(json.dumps(meta, indent=2, default=str) + "\n")
    return folder


def can_bundle(model: Model) -> bool:
    """True for the models save_bundle can store (our networks and the user's functions)."""
    try:
        _kind(model)
    except TypeError:
        return False
    return True


def _kind(model: Model) -> str:
    if isinstance(model, SoftmaxRegression):
        return "softmax"
    if isinstance(model, TwoLayerNet):
        return "two_layer"
    if isinstance(model, FunctionModel):
        return "pickle"
    from objectives.torch_nets.model import TorchModel

    if isinstance(model, TorchModel):
        return "torch"
    raise TypeError(f"Cannot store a {type(model).__name__} in a bundle.")


class Predictor:
    """A bundle loaded: raw rows in, class ids (or probabilities, or regression values) out."""

    def __init__(self, model: Any, scale: Scale, info: Info) -> None:
        self.model = model
        self.scale = scale
        self.info = info

    def prepare(self, X: Any) -> np.ndarray:
        """Raw rows as the scaled float32 (n, features) the model was trained on: any input
        objectives.rows.as_rows takes (any real dtype, DataFrames, lists, images); DataError
        for anything else."""
        return self.scale(as_rows(X, self.info.input_shape()))

    def predict(self, X: Any) -> np.ndarray:
        """Class ids (int64) for classification, predicted values for regression."""
        return self.outputs(X)[0]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n, classes); DataError where the model has none."""
        if not hasattr(self.model, "predict_proba"):
            raise DataError(f"The {self.info.objective} model gives no class probabilities.")
        proba = self.outputs(X, probabilities=True)[1]
        assert proba is not None
        return proba

    def outputs(self, X: Any, probabilities: bool = False
                ) -> tuple[np.ndarray, np.ndarray | None]:
        """(predict's answer, class probabilities where asked and the model has them) from one
        pass over the input; one answer per row, always."""
        rows = self.prepare(X)
        answer = np.asarray(self.model.predict(rows))
        proba = (np.asarray(self.model.predict_proba(rows), dtype=np.float64)
                 if probabilities and hasattr(self.model, "predict_proba") else None)
        for out in (answer, proba):
            if out is not None and len(out) != len(rows):
                raise DataError(f"The {self.info.objective} model gave {len(out)} answers for "
                                f"{len(rows)} rows.")
        return answer, proba


def load_bundle(folder: Path) -> Predictor:
    """Read a folder written by save_bundle."""
    meta_file = Path(folder) / META
    if not meta_file.is_file():
        raise DataError(f"{folder} holds no {META}; expected a folder written by save_bundle.")
    meta = json.loads(meta_file.read_text())
    if meta.get("format") != FORMAT:
        raise DataError(f"{meta_file} has format {meta.get('format')!r}; this tuner reads "
                        f"format {FORMAT}.")
    info = Info(**{k: meta[k] for k in Info.__dataclass_fields__ if k in meta})
    with np.load(Path(folder) / SCALER, allow_pickle=False) as arrays:
        scale: Scale = (Normalizer(arrays["factor"], arrays["offset"])
                        if meta["scaler"] == "normalizer"
                        else Standardize(arrays["mean"], arrays["std"]))
    return Predictor(_load_model(meta, Path(folder) / meta["weights"], info), scale, info)


def _load_model(meta: Mapping[str, Any], weights: Path, info: Info) -> Any:
    kind = meta["model"]
    if kind == "softmax":
        return SoftmaxRegression.load(weights)
    if kind == "two_layer":
        return TwoLayerNet.load(weights)
    if kind == "torch":
        from objectives import registry

        shape = (int(info.image_shape[0]), int(info.image_shape[1]), int(info.image_shape[2]))
        objective: Any = registry.get(info.objective)
        return objective.load(weights, info.config, shape, info.classes)
    if kind == "pickle":  # the user's own model, from the user's own final run
        with weights.open("rb") as handle:
            model = pickle.load(handle)  # noqa: S301 - see PICKLE_NOTE
        return model
    raise DataError(f"Unknown model kind {kind!r} in {META}.")
