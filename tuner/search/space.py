"""Search spaces: the one place calling trial.suggest_*, and the pure space -> distribution map."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from tuner.spec.model import ParamSpace


def is_active(param: ParamSpace, values: Mapping[str, Any]) -> bool:
    """True when every `when` condition holds for the values sampled so far."""
    return all(values.get(key) in allowed for key, allowed in param.when)


def distribution(param: ParamSpace) -> BaseDistribution:
    """The Optuna distribution of one param."""
    if param.kind == "categorical":
        return CategoricalDistribution(list(param.choices or ()))
    assert param.low is not None and param.high is not None
    if param.kind == "int":
        step = 1 if param.step is None else int(param.step)
        return IntDistribution(int(param.low), int(param.high), log=param.log, step=step)
    return FloatDistribution(float(param.low), float(param.high), log=param.log, step=param.step)


def distributions(space: Sequence[ParamSpace]) -> dict[str, BaseDistribution]:
    """Every param's distribution, conditional ones included (for enqueueing and display)."""
    return {p.name: distribution(p) for p in space}


def suggest(trial: optuna.Trial, space: Sequence[ParamSpace]) -> dict[str, Any]:
    """Sample the active params of `space` in order; inactive conditional params are skipped."""
    values: dict[str, Any] = {}
    for param in space:
        if not is_active(param, values):
            continue
        if param.kind == "categorical":
            values[param.name] = trial.suggest_categorical(param.name, list(param.choices or ()))
        elif param.kind == "int":
            assert param.low is not None and param.high is not None
            step = 1 if param.step is None else int(param.step)
            values[param.name] = trial.suggest_int(param.name, int(param.low), int(param.high),
                                                   step=step, log=param.log)
        else:
            assert param.low is not None and param.high is not None
            values[param.name] = trial.suggest_float(param.name, float(param.low),
                                                     float(param.high), step=param.step,
                                                     log=param.log)
    return values


def params_text(params: Mapping[str, Any]) -> str:
    """k=v, k=v with floats to 4 significant digits (log lines, tables, summaries)."""
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in params.items())
