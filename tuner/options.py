"""How a study runs, as typed options: the API fills them from its arguments, the CLI from its
flags, and the engine reads nothing else (no argparse, no environment beyond these defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from tuner.storage import resolve_url


@dataclass(frozen=True)
class RunOptions:
    """storage: an Optuna storage URL (default $TUNER_STORAGE, then sqlite:///tuner.db);
    tracking_uri: MLflow (default $MLFLOW_TRACKING_URI, then sqlite:///mlflow.db);
    data_dir / download: where datasets come from; progress: show progress bars;
    register: register the final's model in the MLflow Model Registry; checkpoints /
    checkpoint_dir: trial checkpoints of resumable objectives, and where (engine/checkpoints)."""

    storage: str | None = None
    tracking_uri: str | None = None
    tracking: bool = True
    data_dir: str | None = None
    download: bool = False
    progress: bool = True
    register: bool = True
    checkpoints: bool = True
    checkpoint_dir: str | None = None
    final_trial: str | None = None
    """The trial the final retrains, N (of the last stage) or STAGE:N, instead of the one the
    study's pick rule chooses."""

    @property
    def storage_url(self) -> str:
        return resolve_url(self.storage)
