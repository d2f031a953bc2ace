"""The tracker interface the engine calls, as no-ops (what --no-tracking and tracking=False use).

Call order, per process:
    tracker.check()                                   # once, before any trial; TrackingError
    parent = tracker.stage_run(study, stage, info)    # parent run id of a stage (reused by id)
    trial = tracker.start_trial(parent, study, stage, number, params)
    trial.log_epoch(step, metrics)                    # each reporting point
    trial.finish(state, value, info, history, config, error)  # COMPLETE / PRUNED / FAIL
    tracker.end_stage(parent, optuna_study, summary)  # plots, CSV, counts, cost summary
    tracker.final_run(study, info, artifacts)         # final evaluation run
    tracker.log_model(run_id, study, model)            # the tuned model, registered
tuner/tracking/mlflow_tracker.py records all of it in MLflow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tuner.tracking.model_log import LoggedModel, ModelToLog

ERROR_ARTIFACT = "error.txt"
"""A failed trial's traceback, as an artifact of its run."""


class TrialTracker:
    """Per-trial handle; the no-op version."""

    run_id: str | None = None

    def log_epoch(self, step: int, metrics: Mapping[str, float]) -> None:
        """Log one reporting point's metrics with step=step (one batched call)."""

    def finish(
        self,
        state: str,
        value: float | None,
        info: Mapping[str, Any],
        history: Sequence[Mapping[str, float]],
        config: Mapping[str, Any],
        error: str | None = None,
    ) -> None:
        """End the run: tags (state, pruned-at, failure reason), curves PNG, LR PNG, config JSON,
        and `error` (the traceback of a trial failed by an exception) as ERROR_ARTIFACT.

        info holds: epochs (float), seconds (float), pruned_at (int|None), reason (str|None),
        schedule (str|None: the LR schedule name when one is used).
        """


class Tracker:
    """No-op tracker, used with --no-tracking; MlflowTracker overrides every method."""

    warnings: int = 0

    def check(self) -> None:
        """Raise TrackingError (one clear line) when the tracking store cannot be reached."""

    def stage_run(
        self, study: str, stage: str, info: Mapping[str, Any], run_id: str | None = None
    ) -> str | None:
        """Return the parent run id of a stage. With run_id (read back from the Optuna study's
        user attrs by another worker) reuse that run; else create one in the experiment named
        after `study`, logging `info` (objective, dataset, sampler, pruner, fixed params...)."""
        return None

    def start_trial(
        self,
        parent_run_id: str | None,
        study: str,
        stage: str,
        number: int,
        params: Mapping[str, Any],
    ) -> TrialTracker:
        """Start a child run under `parent_run_id` with params; tags study name and trial number."""
        return TrialTracker()

    def end_stage(
        self, parent_run_id: str | None, optuna_study: Any, summary: Mapping[str, Any],
        curves: Any = None,
    ) -> None:
        """Log best params/value (a multi-objective stage: its Pareto front), counts, cost
        summary, study plots PNG and trials CSV on the parent, and end it. `curves`: a
        multi-objective stage's pruning study (its learning curves are plotted)."""

    def run_is_open(self, run_id: str) -> bool:
        """True when the run is still RUNNING (e.g. a stage run whose process stopped between
        the stage's last trial and its end)."""
        return False

    def end_trial_run(self, run_id: str, state: str, reason: str) -> None:
        """Give a run left open by a dead worker a terminal status (when its trial is retried)."""

    def end_run(self, run_id: str, status: str, reason: str) -> None:
        """End a stage run that stopped early with MLflow status `status` (KILLED, FAILED) and
        tag stopped_because=`reason`; a later end_stage still finishes it."""

    def final_run(
        self, study: str, info: Mapping[str, Any], artifacts: Sequence[Path]
    ) -> str | None:
        """Record the final evaluation: test metrics, config, confusion-matrix PNG and weights;
        return its run id."""
        return None

    def log_model(self, run_id: str, study: str, model: ModelToLog) -> LoggedModel | None:
        """Log the final's model in run `run_id` as an MLflow Model (artifact "model") and
        register it under the study's name unless model.register is False."""
        return None

    def record_answer(self, study: str, answer: Mapping[str, Any], run_ids: Sequence[str]
                      ) -> None:
        """Tag the study's experiment and the given runs (the stage runs the answer came
        from) with the study's answer (Answer.record())."""

    def flush(self) -> None:
        """Wait until every queued trial record (metrics, artifacts) is written."""
