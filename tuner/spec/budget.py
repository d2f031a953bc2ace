"""A study's wall-time budget (`budget = "2h"`, `--budget 90m`): a duration, spread at run time
over the stages still to run (engine/study.py)."""

from __future__ import annotations

import math
import re
from typing import Any

from tuner.errors import SpecError

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_duration(value: Any, where: str) -> float:
    """Seconds of `value`: a positive number of seconds, or text such as "2h", "90m", "45s",
    "1h30m"; SpecError naming `where` otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and value.strip() and \
            re.fullmatch(rf"(?:{PART.pattern})+", value.strip().lower()):
        seconds = sum(float(n) * UNITS[u] for n, u in PART.findall(value.strip().lower()))
    else:
        raise SpecError(f"{where} must be a duration such as \"2h\", \"90m\", \"45s\" or "
                        f"\"1h30m\", or a number of seconds. Got {value!r} instead.")
    if not (math.isfinite(seconds) and seconds > 0):
        raise SpecError(f"{where} must be more than 0 seconds. Got {value!r} instead.")
    return seconds


def duration_text(seconds: float) -> str:
    """2h, 90m, 45s, 1h30m: the shortest exact form (seconds as given otherwise)."""
    whole = int(seconds)
    if whole != seconds:
        return f"{seconds:g}s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, whole = divmod(whole, int(UNITS[unit]))
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
