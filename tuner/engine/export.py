"""What the final hands MLflow as the tuned model: the trained model with the scaling fitted in
the final (so it takes raw rows), a few raw rows as its example, and the registry's tags and
description (tuner/tracking/model_log.py logs and registers it)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from objectives.adapters.estimator import EstimatorModel
from objectives.base import Model
from objectives.bundle import Info, can_bundle, save_bundle
from objectives.data import Dataset
from objectives.data.catalog import DATASETS, MAX_VALUE
from objectives.data.normalize import Normalizer, Standardize
from tuner.results import FinalResult
from tuner.spec import StudySpec
from tuner.tracking.model_log import ModelToLog

EXAMPLE_ROWS = 5
log = logging.getLogger("tuner")


def model_to_log(spec: StudySpec, data: Dataset, model: Model, monitor: int,
                 outcome: FinalResult, folder: Path, register: bool) -> ModelToLog | None:
    """The final's model on raw rows, written under `folder` where it needs files; None for a
    model of a kind the tuner cannot package (its weights are still among the artifacts)."""
    if not isinstance(model, EstimatorModel) and not can_bundle(model):
        log.warning("final: a %s cannot be logged as an MLflow Model; its saved weights are in "
                    "the final run's artifacts", type(model).__name__)
        return None
    scale = data.final_scale(monitor)
    example = data.raw_rows(EXAMPLE_ROWS)
    tags = {"study": spec.name, "stage": outcome.stage, "trial": str(outcome.trial),
            "dataset": outcome.dataset, "objective": spec.objective.name,
            "config": json.dumps(dict(outcome.config), sort_keys=True, default=str),
            **{k: f"{v:.6g}" for k, v in outcome.metrics.items()}}
    info = Info(objective=spec.objective.name, config=_plain(outcome.config), task=data.task,
                classes=data.classes, class_names=data.class_names,
                image_shape=data.image_shape, features=int(data.train.X.shape[1]),
                pixel_max=MAX_VALUE[data.name] if data.name in DATASETS else None,
                feature_names=data.feature_names, target=data.target_name)
    metadata = {k: v for k, v in _plain(info.__dict__).items() if k != "config"}
    common: dict[str, Any] = {"example": example, "register": register, "tags": tags,
                              "description": description(spec, outcome), "metadata": metadata}
    if isinstance(model, EstimatorModel):
        return ModelToLog(sklearn=model.on_raw_rows(scale, info.input_shape()), **common)
    bundle = save_bundle(folder / "bundle", model, scale, info)
    network = _raw_network(model, scale)
    return ModelToLog(bundle=bundle, torch_network=network, **common)


def description(spec: StudySpec, outcome: FinalResult) -> str:
    """How the model was found, in a sentence or three (the registered version's description)."""
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in outcome.metrics.items())
    values = ", ".join(f"{m} {v:.4g}" for m, v in outcome.search_values.items()) or \
        f"{spec.metric} {outcome.search_value:.4f}"
    chosen = f", chosen by {outcome.rule}" if outcome.rule else ""
    answer = outcome.answer
    if answer is not None and answer.mean is not None:
        spread = "" if answer.stderr is None else f" +- {answer.stderr:.4f}"
        values = (f"{answer.metric} {answer.mean:.4f}{spread} as the mean of "
                  f"{answer.evaluations} evaluations")
    return (f"Study '{spec.name}' ({spec.objective.name} on {outcome.dataset}): trial "
            f"{outcome.trial} of {outcome.stage}{chosen} ({values} on the validation split). "
            f"Retrained with that "
            f"configuration on train+val ({outcome.train_size} rows), then evaluated once on "
            f"the test split ({outcome.test_size} rows): {metrics}. Takes raw rows as the "
            f"dataset files hold them; predict gives class ids, "
            f"params={{'probabilities': True}} a table with probabilities.")


def _raw_network(model: Model, scale: Any) -> Any:
    """A torch network behind its scaling (for MLflow's pytorch flavour), else None."""
    network = getattr(model, "module", None)
    if network is None:
        return None
    from objectives.torch_nets.model import RawInputNetwork

    if isinstance(scale, Normalizer):
        factor, offset = scale.factor, scale.offset
    elif isinstance(scale, Standardize):
        factor, offset = 1.0 / scale.std, scale.mean / scale.std
    else:
        return None
    import copy

    shape = model.image_shape  # type: ignore[attr-defined]
    return RawInputNetwork(copy.deepcopy(network).cpu(), shape, np.asarray(factor),
                           np.asarray(offset))


def _plain(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config as JSON keeps it (tuples as lists)."""
    return dict(json.loads(json.dumps(dict(config), default=str)))
