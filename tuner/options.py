"""How a study runs, as one typed object: the CLI builds it from its flags, the API takes it (or
builds it from keyword settings), the engine reads nothing else (no argparse, no environment
beyond these defaults), and worker processes receive it as data."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from objectives.threads import cores
from tuner.errors import SpecError
from tuner.storage import resolve_url

CLUSTER_ENV = "TUNER_CLUSTER"
PER_CORE_LIMIT = 4
"""The most worker processes (--jobs), or threads per training run (--threads), per core of this
machine: beyond that they only queue for the cores (and each process holds its own memory)."""
CLUSTER_LIMIT = 1024
"""The most tuner workers, or threads per training run, on a Dask cluster (--cluster), whose
cores this machine cannot count."""


def check_limit(name: str, value: int | None, cluster: str | None) -> None:
    """jobs or threads (`name`) at most PER_CORE_LIMIT per core of this machine, or
    CLUSTER_LIMIT with a cluster (`cluster`, else $TUNER_CLUSTER); SpecError otherwise."""
    if value is None:
        return
    if cluster or os.environ.get(CLUSTER_ENV):
        if value > CLUSTER_LIMIT:
            raise SpecError(f"{name} must be at most {CLUSTER_LIMIT} on a Dask cluster. Got "
                            f"{value} instead.")
        return
    count = cores()
    if value > PER_CORE_LIMIT * count:
        raise SpecError(f"{name} must be at most {PER_CORE_LIMIT * count} ({PER_CORE_LIMIT} per "
                        f"core; this machine has {count}). Got {value} instead.")


@dataclass(frozen=True)
class RunOptions:
    """storage: an Optuna storage URL (default $TUNER_STORAGE, then sqlite:///tuner.db);
    tracking_uri: MLflow (default $MLFLOW_TRACKING_URI, then sqlite:///mlflow.db); tracking:
    record in MLflow at all; data_dir / download: where datasets come from; progress: show
    progress bars; register: register the final's model in the MLflow Model Registry;
    checkpoints / checkpoint_dir: trial checkpoints of resumable objectives, and where
    (engine/checkpoints.py); jobs: worker processes on this machine, or tuner workers on the
    Dask cluster at `cluster` ("tcp://host:8786", default $TUNER_CLUSTER); threads: CPU threads
    per training run (default: all cores, cores // jobs with jobs > 1); final_trial: the trial
    the final retrains, N (of the last stage) or STAGE:N, instead of the pick rule's."""

    storage: str | None = None
    tracking_uri: str | None = None
    tracking: bool = True
    data_dir: str | None = None
    download: bool = False
    progress: bool = True
    register: bool = True
    checkpoints: bool = True
    checkpoint_dir: str | None = None
    jobs: int | None = None
    cluster: str | None = None
    threads: int | None = None
    final_trial: str | None = None

    def __post_init__(self) -> None:
        for name in ("jobs", "threads"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                what = "processes" if name == "jobs" else "threads"
                raise SpecError(f"{name} must be a positive number of {what}. Got {value!r} "
                                "instead.")
            check_limit(name, value, self.cluster)

    @property
    def storage_url(self) -> str:
        return resolve_url(self.storage)

    @classmethod
    def build(cls, options: RunOptions | None, caller: str, settings: Mapping[str, Any]
              ) -> RunOptions:
        """`options` (default: all defaults) with `settings` (keyword shortcuts such as
        storage="...") replacing its fields; an unknown keyword is a TypeError, as Python gives
        for any function."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(settings) - names)
        if unknown:
            raise TypeError(f"{caller}() got an unexpected keyword argument '{unknown[0]}'")
        return dataclasses.replace(options or cls(), **settings)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form, handed to worker processes (without the storage and tracking
        URIs, which travel in their environment, never where `ps` shows them)."""
        out = dataclasses.asdict(self)
        del out["storage"], out["tracking_uri"]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], storage: str | None,
                  tracking_uri: str | None) -> RunOptions:
        """The options to_dict gave, with the URLs from the worker's environment."""
        names = {f.name for f in dataclasses.fields(cls)}
        fields: dict[str, Any] = {k: v for k, v in data.items() if k in names}
        return cls(**fields, storage=storage, tracking_uri=tracking_uri)
