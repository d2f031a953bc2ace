"""The `objective` of a study: a built-in name, or "module:attr" for the user's own code, looked
for in the study file's folder first, then in the installed packages. `attr` may be

- a scikit-learn-style estimator class or instance (fit and predict): its get_params() are the
  params (objectives.adapters.estimator); a class must have both;
- a plain training function fn(config, train, val, report) -> model: its params are what the
  study declares (objectives.adapters.function); its signature must take those four;
- an Objective (objectives.base.Objective: name, params, normalize, fit), checked member by
  member.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from objectives import registry
from objectives.adapters.estimator import EstimatorObjective
from objectives.adapters.function import FunctionObjective
from objectives.adapters.imports import import_attr, is_ref, refused_call
from objectives.base import Objective
from objectives.data.catalog import NORMALIZATIONS
from objectives.errors import ConfigError
from tuner.errors import SpecError

MEMBERS = {
    "name": "a str naming it",
    "params": "a mapping of param name -> objectives.base.Param",
    "normalize": f"one of {', '.join(NORMALIZATIONS)}",
    "fit": "fit(config, train, val, report, seed, image_shape) -> RunResult",
}


def resolve_objective(ref: str, where: str | None = None, folder: Path | None = None
                      ) -> Objective:
    """The objective `ref` names; SpecError (prefixed with `where`, e.g. the study file) when it
    cannot be used. `folder`: where the user's modules are looked for first."""
    prefix = f"{where}: " if where else ""
    if not is_ref(ref):
        try:
            return registry.get(ref)
        except ConfigError as exc:
            raise SpecError(f"{prefix}{exc}") from None
        except ImportError as exc:
            raise SpecError(f"{prefix}objective '{ref}' cannot be imported: {exc}.") from None
    try:
        target = import_attr(ref, folder)
        return _wrap(target, ref)
    except ConfigError as exc:
        raise SpecError(f"{prefix}{exc}.") from None


def _is_estimator(target: Any) -> bool:
    members = ("fit", "predict")
    if inspect.isclass(target):
        return all(callable(getattr(target, m, None)) for m in members)
    return all(callable(getattr(target, m, None)) for m in (*members, "get_params"))


def _wrap(target: Any, ref: str) -> Objective:
    if _is_estimator(target):
        return EstimatorObjective(target, ref)
    if inspect.isclass(target):
        lacks = " and ".join(m for m in ("fit", "predict") if not callable(getattr(target, m,
                                                                                  None)))
        raise ConfigError(f"'{ref}' is a class without {lacks}; expected an estimator class "
                          "(fit(X, y) and predict(X)), a training function fn(config, train, "
                          "val, report), or an objective instance")
    if inspect.isfunction(target) or (callable(target) and not hasattr(target, "fit")):
        return FunctionObjective(target, ref)
    missing = [f"{m} ({what})" for m, what in MEMBERS.items() if not _has(target, m)]
    if missing:
        raise ConfigError(f"'{ref}' is neither an estimator (fit and predict), a training "
                          f"function, nor an objective: it lacks {'; '.join(missing)}")
    signature = refused_call(target.fit, 6)
    if signature is not None:
        raise ConfigError(f"'{ref}'.fit takes {signature}; the tuner calls fit(config, train, "
                          "val, report, seed, image_shape)")
    obj: Objective = target
    return obj


def _has(target: Any, member: str) -> bool:
    value = getattr(target, member, None)
    if member == "fit":
        return callable(value)
    if member == "params":
        return isinstance(value, Mapping)
    if member == "normalize":
        return value in NORMALIZATIONS
    return isinstance(value, str)
