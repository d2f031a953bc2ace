"""The torch objectives' config: the keys they share, cross-key checks, the learning-rate schedule
as a pure function of the update step, the optimizer and the device."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from objectives import schedules
from objectives.base import Param
from objectives.errors import ConfigError
from objectives.threads import THREADS_HELP, THREADS_LIMIT

SCHEDULES = ("constant", "step", "multistep", "exponential", "cyclical")
OPTIMIZERS = ("sgd", "adagrad", "adam")


def common_params(**defaults: Any) -> dict[str, Param]:
    """The config keys every torch objective shares; `defaults` overrides the default values."""
    params = {
        "epochs": Param("int", 10, "passes over the training split", low=1),
        "batch_size": Param("int", 128, "examples per gradient step", low=1),
        "optimizer": Param("str", "sgd", "update rule", choices=OPTIMIZERS),
        "lr": Param("float", 0.05, "peak learning rate (> 0)", low=0.0),
        "momentum": Param("float", 0.9, "sgd momentum", low=0.0, high=1.0),
        "nesterov": Param("bool", False, "sgd Nesterov momentum (needs momentum > 0)"),
        "beta1": Param("float", 0.9, "adam first-moment decay", low=0.0, high=1.0),
        "beta2": Param("float", 0.999, "adam second-moment decay", low=0.0, high=1.0),
        "weight_decay": Param("float", 0.0, "L2 penalty added by the optimizer", low=0.0),
        "schedule": Param("str", "constant", "lr schedule over epochs", choices=SCHEDULES),
        "milestones": Param("ints", [], "multistep: epochs after which lr *= gamma", low=1),
        "gamma": Param("float", 0.1, "step/multistep/exponential lr factor (> 0)", low=0.0),
        "step_size": Param("int", 10, "step: epochs between lr *= gamma", low=1),
        "warmup_epochs": Param("float", 0.0, "linear warm-up from ~0 to lr", low=0.0),
        "eta_min": Param("float", 0.0, "cyclical: lowest lr (the peak is lr)", low=0.0),
        "cycle_epochs": Param("float", 4.0, "cyclical: epochs per triangle (> 0)", low=0.0),
        "device": Param("str", "auto", "auto (cuda when present), cpu or cuda",
                        choices=("auto", "cpu", "cuda")),
        "threads": Param("int", 0, THREADS_HELP, low=0, high=THREADS_LIMIT),
    }
    for key, value in defaults.items():
        p = params[key]
        params[key] = Param(p.kind, value, p.help, p.choices, p.low, p.high)
    return params


def check_config(config: Mapping[str, Any]) -> None:
    """Rules that span keys or need strict bounds, which the Param table cannot say."""
    for key in ("lr", "gamma", "cycle_epochs"):
        if config[key] <= 0:
            raise ConfigError(f"The '{key}' parameter must be > 0. Got {config[key]!r} instead.")
    for key in ("momentum", "beta1", "beta2", "dropout"):
        if config.get(key, 0) >= 1:
            raise ConfigError(
                f"The '{key}' parameter must be in [0, 1). Got {config[key]!r} instead."
            )
    if config["nesterov"] and (config["optimizer"] != "sgd" or config["momentum"] <= 0):
        raise ConfigError(
            "nesterov=true needs optimizer=sgd and momentum > 0. "
            f"Got optimizer={config['optimizer']!r}, momentum={config['momentum']!r} instead."
        )
    if "widths" in config and len(config["widths"]) != 3:
        raise ConfigError("The 'widths' parameter must list 3 hidden sizes (4 linear layers). "
                          f"Got {config['widths']!r} instead.")
    milestones = list(config["milestones"])
    if milestones != sorted(set(milestones)):
        raise ConfigError(
            f"The 'milestones' parameter must be strictly increasing. Got {milestones!r} instead."
        )
    if config["schedule"] == "cyclical" and config["eta_min"] > config["lr"]:
        raise ConfigError(
            f"Cyclical schedule needs eta_min <= lr. Got eta_min={config['eta_min']!r}, "
            f"lr={config['lr']!r} instead."
        )


def lr_at(config: Mapping[str, Any], step: int, steps_per_epoch: int) -> float:
    """The learning rate for 0-based update `step`: the schedule times the linear warm-up.

    Epoch-based schedules change at epoch boundaries; cyclical is a triangle from eta_min up to
    lr and back over cycle_epochs.
    """
    lr = float(config["lr"])
    epoch = step // steps_per_epoch
    schedule = config["schedule"]
    if schedule == "step":
        lr = schedules.step_decay(epoch, lr, config["gamma"], config["step_size"])
    elif schedule == "multistep":
        lr *= config["gamma"] ** sum(1 for m in config["milestones"] if m <= epoch)
    elif schedule == "exponential":
        lr = schedules.exponential(epoch, lr, -math.log(config["gamma"]))
    elif schedule == "cyclical":
        half = max(1, round(config["cycle_epochs"] * steps_per_epoch / 2))
        lr = schedules.cyclical(step, config["eta_min"], lr, half)
    return lr * schedules.warmup(step, round(config["warmup_epochs"] * steps_per_epoch))


def make_optimizer(model: nn.Module, config: Mapping[str, Any]) -> torch.optim.Optimizer:
    """sgd (momentum, nesterov), adagrad or adam (betas), all with weight decay."""
    lr, wd = float(config["lr"]), float(config["weight_decay"])
    if config["optimizer"] == "adam":
        betas = (float(config["beta1"]), float(config["beta2"]))
        return torch.optim.Adam(model.parameters(), lr=lr, betas=betas, weight_decay=wd)
    if config["optimizer"] == "adagrad":
        return torch.optim.Adagrad(model.parameters(), lr=lr, weight_decay=wd)
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=float(config["momentum"]),
                           nesterov=bool(config["nesterov"]), weight_decay=wd)


def choose_device(name: str) -> torch.device:
    """`auto` is CUDA when present, else CPU; asking for `cuda` without one is a ConfigError."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("The 'device' parameter is 'cuda' but no CUDA device is available; "
                          "use device=auto or device=cpu.")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)
