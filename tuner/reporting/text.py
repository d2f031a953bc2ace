"""Plain-text formatting shared by every command's output: values and aligned tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def fmt(value: Any, digits: int = 4) -> str:
    """A value for a table or a log line: floats to `digits` significant digits, None as '-'."""
    if value is None:
        return "-"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces (the first row is the header)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)
