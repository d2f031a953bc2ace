"""Experiment tracking: the interface the engine calls (base.py, no-ops) and its MLflow
implementation (mlflow_tracker.py, with store.py the only MLflow importers); `tuner ui` (ui.py)."""

from __future__ import annotations

from tuner.tracking.base import ERROR_ARTIFACT, Tracker, TrialTracker
from tuner.tracking.keys import DEFAULT_TRACKING_URI, artifact_root, flat_params, resolve_uri
from tuner.tracking.mlflow_tracker import MlflowTracker
from tuner.tracking.store import MAX_FAILURES
from tuner.tracking.ui import serve_ui


def make_tracker(tracking_uri: str | None, disabled: bool = False) -> Tracker:
    """The tracker for a run: no-op when disabled, else MLflow at tracking_uri (default:
    $MLFLOW_TRACKING_URI, then MLflow's own sqlite:///mlflow.db, artifacts in mlruns/)."""
    if disabled:
        return Tracker()
    return MlflowTracker(resolve_uri(tracking_uri))


__all__ = ["DEFAULT_TRACKING_URI", "ERROR_ARTIFACT", "MAX_FAILURES", "MlflowTracker", "Tracker",
           "TrialTracker", "artifact_root", "flat_params", "make_tracker", "resolve_uri",
           "serve_ui"]
