"""Study storage: URL resolution, opening Optuna storages, masking secrets.

(Skeleton; the distributed-workers work extends it with heartbeats, journal files and errors.)
"""

from __future__ import annotations

import os
import re
from typing import Any

import optuna

DEFAULT_STORAGE = "sqlite:///tuner.db"


def resolve_url(url: str | None) -> str:
    """--storage, else $TUNER_STORAGE, else the local SQLite file tuner.db."""
    return url or os.environ.get("TUNER_STORAGE") or DEFAULT_STORAGE


def mask(url: str) -> str:
    """The URL with any password replaced by ***, safe to log."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def open_storage(url: str) -> Any:
    """An Optuna storage for `url`."""
    return optuna.storages.get_storage(url)
