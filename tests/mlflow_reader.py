"""An MlflowClient for a test that reads a tracking store while tuner processes may still be
creating it."""

from __future__ import annotations

from mlflow import MlflowClient

from tuner.tracking.keys import local_store


def client_if_created(tracking_uri: str) -> MlflowClient | None:
    """An MlflowClient for `tracking_uri`, or None while its SQLite file does not exist yet.
    MlflowClient() builds a missing SQLite store in place at once, which would race with the
    tuner process that is creating it (tuner.storage.sqlite.create_once renames a finished
    file into place, so an existing file is complete)."""
    db = local_store(tracking_uri)
    if db is not None and not db.exists():
        return None
    return MlflowClient(tracking_uri)
