"""Objectives by name. Imports are lazy so NumPy-only runs never pay for importing torch."""

from __future__ import annotations

import importlib

from objectives.base import Objective
from objectives.errors import ConfigError

_OBJECTIVES = {
    "softmax": "objectives.numpy_nets.softmax:SOFTMAX",
    "two_layer": "objectives.numpy_nets.two_layer:TWO_LAYER",
    "mlp": "objectives.torch_nets.objective:MLP",
    "lenet": "objectives.torch_nets.objective:LENET",
    "cifar_cnn": "objectives.torch_nets.objective:CIFAR_CNN",
}


def names() -> list[str]:
    return list(_OBJECTIVES)


def get(name: str) -> Objective:
    """Return the objective called `name`, or raise ConfigError naming the valid choices."""
    if name not in _OBJECTIVES:
        raise ConfigError(
            f"Unknown objective '{name}'; valid objectives: {', '.join(_OBJECTIVES)}."
        )
    module, attr = _OBJECTIVES[name].split(":")
    obj: Objective = getattr(importlib.import_module(module), attr)
    return obj
