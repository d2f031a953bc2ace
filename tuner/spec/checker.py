"""Typed access to TOML tables; every failure is one SpecError naming the file and dotted key."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuner.errors import SpecError


class Checker:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, message: str) -> SpecError:
        return SpecError(f"{self.path}: {key}: {message}")

    def unknown(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail(f"{where}{key}", f"unknown key; expected one of: "
                                f"{', '.join(sorted(allowed))}.")

    def get(self, table: Mapping[str, Any], key: str, types: tuple[type, ...], where: str,
            default: Any = None, required: bool = False) -> Any:
        """table[key] checked against `types` (bool is never an int here; floats must be
        finite), `default` when absent, SpecError when absent and `required`."""
        if key not in table:
            if required:
                raise self.fail(f"{where}{key}", "missing required key.")
            return default
        value = table[key]
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            names = " or ".join(t.__name__ for t in types)
            raise self.fail(f"{where}{key}", f"must be of type {names}. Got {value!r} instead.")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(f"{where}{key}", f"must be finite. Got {value!r} instead.")
        return value
