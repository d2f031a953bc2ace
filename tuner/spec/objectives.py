"""The `objective` of a study: a built-in name, or "package.module:ATTR" for your own."""

from __future__ import annotations

import importlib

from objectives import registry
from objectives.base import Objective
from objectives.errors import ConfigError
from tuner.errors import SpecError


def resolve_objective(ref: str, where: str | None = None) -> Objective:
    """The objective `ref` names; SpecError (prefixed with `where`, e.g. the study file) when it
    cannot be used."""
    prefix = f"{where}: " if where else ""
    if ":" in ref:
        module_name, _, attr = ref.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise SpecError(f"{prefix}cannot import module '{module_name}': {exc}.") from None
        if not hasattr(module, attr):
            raise SpecError(f"{prefix}module '{module_name}' has no attribute '{attr}'.")
        obj: Objective = getattr(module, attr)
        if not hasattr(obj, "params") or not hasattr(obj, "fit"):
            raise SpecError(f"{prefix}'{ref}' is not an objective (needs params and fit).")
        return obj
    try:
        return registry.get(ref)
    except ConfigError as exc:
        raise SpecError(f"{prefix}{exc}") from None
    except ImportError as exc:
        raise SpecError(f"{prefix}objective '{ref}' cannot be imported: {exc}.") from None
