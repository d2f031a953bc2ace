"""Training configs: a Param table's defaults overlaid with user values, each one checked and
converted to its param's kind (--set gives strings), with scikit-learn-style messages."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from objectives.base import Param
from objectives.errors import ConfigError

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
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(
            f"The '{name}' parameter must be of type {kind}. Got {value!r} instead."
        ) from None
    numbers = out if isinstance(out, list) else [out]
    if kind in ("float", "floats") and not all(math.isfinite(v) for v in numbers):
        raise ConfigError(f"The '{name}' parameter must be finite. Got {value!r} instead.")
    if param.choices is not None and out not in param.choices:
        choices = ", ".join(str(c) for c in param.choices)
        raise ConfigError(f"The '{name}' parameter must be one of: {choices}. Got {out!r} instead.")
    for bound, ok in ((param.low, lambda v, b: v >= b), (param.high, lambda v, b: v <= b)):
        if bound is not None and kind in ("int", "float", "ints", "floats"):
            if not all(ok(v, bound) for v in numbers):
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
