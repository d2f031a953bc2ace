"""One param of a stage's search space: `{ low, high, log, step }`, `{ choices = [...] }`, and
`when` conditions on earlier categorical params."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from objectives.base import Objective
from objectives.config import check_param
from objectives.errors import ConfigError
from tuner.spec.checker import Checker
from tuner.spec.model import PARAM_TYPES, ParamSpace

PARAM_KEYS = {"type", "low", "high", "log", "step", "choices", "when"}


def parse_param(c: Checker, name: str, raw: Any, where: str, objective: Objective,
                earlier: Mapping[str, ParamSpace]) -> ParamSpace:
    """The ParamSpace of `name` from its table `raw` (at dotted key `where`)."""
    if name not in objective.params:
        raise c.fail(where, f"unknown param for objective '{objective.name}'; valid keys: "
                     f"{', '.join(sorted(objective.params))}.")
    if not isinstance(raw, dict):
        raise c.fail(where, f"must be a table like {{ low = 0.1, high = 1.0 }}. Got {raw!r}.")
    c.unknown(raw, PARAM_KEYS, f"{where}.")
    param_kind = objective.params[name].kind
    if param_kind == "any":  # the user's own params: the space says what they are
        param_kind = _kind_of(raw)
    if "choices" not in raw and param_kind not in ("int", "float"):
        raise c.fail(where, f"a {param_kind} param can only be searched over choices = [...].")
    kind = c.get(raw, "type", (str,), f"{where}.",
                 default="categorical" if "choices" in raw else param_kind)
    if kind not in PARAM_TYPES:
        raise c.fail(f"{where}.type", f"must be one of: {', '.join(PARAM_TYPES)}. "
                     f"Got {kind!r} instead.")
    when = parse_when(c, raw, where, earlier)
    if kind == "categorical":
        return _categorical(c, name, raw, where, objective, when)
    if kind != param_kind:
        raise c.fail(f"{where}.type", f"a {param_kind} param cannot be searched as {kind}; "
                     f"use type = \"{param_kind}\" or choices = [...].")
    return _numeric(c, name, raw, where, objective, kind, when)


def _kind_of(raw: Mapping[str, Any]) -> str:
    """The kind of a param of no declared type: its `type`, else int when low and high are
    both ints, else float."""
    if isinstance(raw.get("type"), str):
        return str(raw["type"])
    bounds = [raw.get("low"), raw.get("high")]
    return "int" if all(isinstance(b, int) and not isinstance(b, bool) for b in bounds) \
        else "float"


def _checked(c: Checker, objective: Objective, name: str, where: str, value: Any) -> Any:
    try:
        return check_param(objective.name, objective.params, name, value)
    except ConfigError as exc:
        raise c.fail(where, str(exc)) from None


def _categorical(c: Checker, name: str, raw: Mapping[str, Any], where: str,
                 objective: Objective, when: tuple[tuple[str, tuple[Any, ...]], ...]
                 ) -> ParamSpace:
    choices = c.get(raw, "choices", (list,), f"{where}.", required=True)
    if not choices:
        raise c.fail(f"{where}.choices", "must not be empty.")
    extra = set(raw) - {"type", "choices", "when"}
    if extra:
        raise c.fail(f"{where}.{sorted(extra)[0]}", "not allowed for a categorical param.")
    for value in choices:
        if not isinstance(value, (str, int, float, bool)):
            raise c.fail(f"{where}.choices", f"choices must be strings, numbers or booleans. "
                         f"Got {value!r}.")
        _checked(c, objective, name, f"{where}.choices", value)
    return ParamSpace(name=name, kind="categorical", choices=tuple(choices), when=when)


def _numeric(c: Checker, name: str, raw: Mapping[str, Any], where: str, objective: Objective,
             kind: str, when: tuple[tuple[str, tuple[Any, ...]], ...]) -> ParamSpace:
    number = (int,) if kind == "int" else (int, float)
    low = c.get(raw, "low", number, f"{where}.", required=True)
    high = c.get(raw, "high", number, f"{where}.", required=True)
    log = c.get(raw, "log", (bool,), f"{where}.", default=False)
    step = c.get(raw, "step", number, f"{where}.")
    for key, value in (("low", low), ("high", high)):
        if not math.isfinite(value):
            raise c.fail(f"{where}.{key}", f"must be finite. Got {value!r} instead.")
    if low > high:
        raise c.fail(where, f"`low <= high` must hold, but got (low={low}, high={high}).")
    if log and low <= 0:
        raise c.fail(f"{where}.low", f"must be > 0 for a log-scale param. Got {low} instead.")
    if step is not None and step <= 0:
        raise c.fail(f"{where}.step", f"must be > 0. Got {step} instead.")
    if step is not None and log:
        raise c.fail(f"{where}.step", "cannot be combined with log = true.")
    if step is not None and (Decimal(str(high)) - Decimal(str(low))) % Decimal(str(step)):
        raise c.fail(f"{where}.step", f"`high - low` must be a multiple of step (else Optuna "
                     f"lowers high without a word), but got (low={low}, high={high}, "
                     f"step={step}).")
    _checked(c, objective, name, f"{where}.low", low)
    _checked(c, objective, name, f"{where}.high", high)
    return ParamSpace(name=name, kind=kind, low=low, high=high, log=log, step=step, when=when)


def parse_when(c: Checker, raw: Mapping[str, Any], where: str,
               earlier: Mapping[str, ParamSpace]) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    when_raw = c.get(raw, "when", (dict,), f"{where}.", default={})
    when = []
    for key, values in when_raw.items():
        parent = earlier.get(key)
        if parent is None or parent.kind != "categorical":
            raise c.fail(f"{where}.when.{key}", "must name a categorical param listed before it "
                         "in the same space.")
        values = values if isinstance(values, list) else [values]
        for v in values:
            if v not in (parent.choices or ()):
                raise c.fail(f"{where}.when.{key}", f"{v!r} is not one of {key}'s choices "
                             f"{list(parent.choices or ())}.")
        when.append((key, tuple(values)))
    return tuple(when)
