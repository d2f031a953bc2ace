"""Training configs: a Param table's defaults overlaid with user values, each one checked and
converted to its param's kind (--set gives strings), with scikit-learn-style messages."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from objectives.base import Param
from objectives.errors import ConfigError

_BOOL_WORDS = ("true", "false", "1", "0", "yes", "no")
SCALARS = (bool, int, float, str)


def _numbers(kind: str, value: Any) -> list[Any]:
    if isinstance(value, str):
        parts = [p for p in value.replace("[", "").replace("]", "").split(",") if p.strip()]
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        raise ValueError
    if kind == "ints" and any(isinstance(p, float) and not float(p).is_integer() for p in parts):
        raise ValueError
    cast = int if kind == "ints" else float
    return [cast(p) for p in parts]


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _BOOL_WORDS:
        return value.lower() in ("true", "1", "yes")
    raise ValueError


def _int(value: Any) -> int:
    if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
        raise ValueError
    scientific = isinstance(value, str) and "e" in value.lower()
    return int(float(value)) if scientific else int(value)


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError
    return float(value)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError
    return value


def literal(text: str) -> Any:
    """A --set value for a param of any kind: none/null, true/false, an int, a float, else the
    text itself."""
    word = text.strip()
    if word.lower() in ("none", "null"):
        return None
    if word.lower() in ("true", "false"):
        return word.lower() == "true"
    for cast in (int, float):
        try:
            return cast(word)
        except ValueError:
            pass
    return word


def _any(value: Any) -> Any:
    """kind "any" (a param whose default says nothing of its type, e.g. None): a scalar, None
    or a list of scalars; text is read as a literal."""
    if isinstance(value, str):
        return literal(value)
    if value is None or isinstance(value, SCALARS):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, SCALARS) for v in value):
        return list(value)
    raise ValueError


CONVERTERS = {"ints": lambda v: _numbers("ints", v), "floats": lambda v: _numbers("floats", v),
              "bool": _bool, "int": _int, "float": _float, "str": _str, "any": _any}


def _coerce(name: str, param: Param, value: Any) -> Any:
    """Convert `value` (possibly a string from --set) to the param's kind, or raise ConfigError."""
    kind = param.kind
    try:
        out = CONVERTERS[kind](value)
    except (KeyError, TypeError, ValueError, OverflowError):
        raise ConfigError(
            f"The '{name}' parameter must be of type {kind}. Got {value!r} instead."
        ) from None
    numbers = out if isinstance(out, list) else [out]
    if not all(math.isfinite(v) for v in numbers if isinstance(v, float)):
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
