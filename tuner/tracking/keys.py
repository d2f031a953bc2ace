"""Where MLflow data goes by default, and how tuner values become MLflow keys, params and tags."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuner.errors import TrackingError
from tuner.storage import mask, sqlite_file

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
"""MLflow's own default store, so `mlflow ui` and `mlflow runs list` in the study folder read
it with no flags."""
ARTIFACTS_DIR = "mlruns"
"""Artifacts of a SQLite store go in this folder beside the database: the working folder holds
tuner.db, mlflow.db and mlruns/ (each experiment records this location, so stock `mlflow ui`
finds the artifacts with no flags)."""
RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
"""MLflow run status per trial state: pruned trials show as stopped early, not as green."""
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
"""The experiment tag MLflow 3's UI reads to open an experiment on its runs table (without it,
an experiment with no traces opens on the GenAI overview)."""
MAX_PARAM_CHARS = 500
MAX_TAG_CHARS = 5000


def resolve_uri(tracking_uri: str | None) -> str:
    """tracking_uri, else $MLFLOW_TRACKING_URI, else MLflow's default sqlite:///mlflow.db; a
    relative SQLite path made absolute against the current folder. (MLflow caches one store per
    URI in a process: a relative one would keep writing to the folder of its first use after
    a notebook or a test changes folder.)"""
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    db = sqlite_file(uri)
    if db is None or db.is_absolute():
        return uri
    query = uri.partition("?")[2]
    return f"sqlite:///{db.resolve()}" + (f"?{query}" if query else "")


def artifact_root(uri: str) -> str | None:
    """Where artifacts of new experiments go: mlruns/ beside a SQLite database; None lets
    a tracking server (or another database) decide."""
    db = sqlite_file(uri)
    return None if db is None else (db.resolve().parent / ARTIFACTS_DIR).as_uri()


def optuna_study_name(study: str, stage: str) -> str:
    """The Optuna study of one stage, as the engine names it."""
    return f"{study}/{stage}"


def now_ms() -> int:
    return int(time.time() * 1000)


def clean_key(key: str) -> str:
    """MLflow keys allow letters, digits, _ - . / and spaces; anything else becomes _."""
    return re.sub(r"[^\w\-./ ]", "_", str(key))


def param_value(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (list, tuple, dict)) else str(value)
    return text[:MAX_PARAM_CHARS]


def flat_params(info: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Scalars and lists of `info` as MLflow params; a nested mapping's keys get its key as a
    prefix (fixed.epochs). None values are left out."""
    out: dict[str, str] = {}
    for key, value in info.items():
        if isinstance(value, Mapping):
            out.update(flat_params(value, f"{prefix}{key}."))
        elif value is not None:
            out[clean_key(prefix + str(key))] = param_value(value)
    return out


def scalars(info: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if not isinstance(v, Mapping)}


def answer_tags(answer: Mapping[str, Any]) -> dict[str, str]:
    """The study's answer as MLflow tags: answer.trial ("fine:7"), answer.rule, answer.value
    (its confirmed mean, else its one measurement), answer.stderr, answer.evaluations and
    answer.param.NAME."""
    value = answer["mean"] if answer.get("mean") is not None else answer["value"]
    tags = {"answer.trial": f"{answer['stage']}:{answer['trial']}",
            "answer.rule": str(answer["rule"]), "answer.metric": str(answer["metric"]),
            "answer.value": f"{value:.6g}", "answer.evaluations": str(answer["evaluations"])}
    if answer.get("stderr") is not None:
        tags["answer.stderr"] = f"{answer['stderr']:.6g}"
    tags.update({f"answer.param.{clean_key(k)}": param_value(v)
                 for k, v in answer["params"].items()})
    return {k: v[:MAX_TAG_CHARS] for k, v in tags.items()}


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def first_line(exc: BaseException, limit: int) -> str:
    """The first line of an error message, shortened, with any URL password masked."""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return mask(lines[0])[:limit]


def local_store(uri: str) -> Path | None:
    """The database file of a SQLite tracking URI, else None."""
    return sqlite_file(uri)


STORE_SCHEMES = ("", "file", "sqlite", "postgresql", "mysql", "mssql", "http", "https",
                 "databricks", "databricks-uc", "uc")


def check_scheme(uri: str, flag: str = "--tracking-uri") -> str:
    """`uri` when MLflow has a store for its scheme, else one TrackingError line."""
    scheme = uri.partition("://")[0].split("+")[0].lower() if "://" in uri else ""
    if scheme not in STORE_SCHEMES:
        raise TrackingError(f"{flag} {mask(uri)}: MLflow has no tracking store for scheme "
                            f"'{scheme}'; expected sqlite:///PATH, http(s)://HOST:PORT, "
                            f"postgresql://..., or a folder.")
    return uri


def require_store(uri: str, missing: str) -> Path | None:
    """The database file of a SQLite tracking URI, which must exist (TrackingError `missing`
    otherwise: MLflow would create it, empty) and be a database SQLite can read (one
    TrackingError line: MLflow would stop with a traceback); None for other stores."""
    db = local_store(uri)
    if db is None:
        return None
    if not db.is_file():
        raise TrackingError(missing)
    try:
        with contextlib.closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro",
                                                uri=True)) as conn:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise TrackingError(f"--tracking-uri {mask(uri)} cannot be opened ({exc}); expected an "
                            f"MLflow SQLite database.") from None
    return db
