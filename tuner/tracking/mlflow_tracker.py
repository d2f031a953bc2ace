"""Records a study in MLflow (the only part of tuner, with store.py, that imports mlflow).

Layout: one experiment per study (tagged so MLflow 3's UI opens it on the runs table); per stage
a parent run; per trial a child run attached to its parent by id (tag mlflow.parentRunId), so
workers in other processes attach to the same parent; one "final" run. Trial runs carry tags
study, stage, trial_number, optuna.study_name, state, pruned_at, failure_reason and worker
(host:pid); a trial failed by an exception keeps its traceback as artifact error.txt. Every
call names its run id (MlflowClient), so no global active-run state is shared between threads or
processes.

Per-epoch metrics and a trial's end (artifacts, status) are written by one background thread in
order, so a trial pays only for creating its run; `flush()` (called by end_stage, final_run and
at exit) waits for them. A reporting point is one log_batch, except that points closer than
`metrics_interval` (1 s) to the last write wait for the next write: a 20-epoch 2-second trial
makes 2 or 3 metric writes instead of 20, while a slow epoch appears in the UI as it ends.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tuner.figures.charts import plot_learning_curves
from tuner.figures.study_plots import study_plots
from tuner.figures.tables import front_csv, trials_csv
from tuner.search.pareto import front, is_multi
from tuner.search.trials import best_trial, state_counts
from tuner.tracking.base import Tracker, TrialTracker
from tuner.tracking.keys import (
    MAX_TAG_CHARS,
    RUN_STATUS,
    answer_tags,
    clean_key,
    flat_params,
    is_number,
    now_ms,
    optuna_study_name,
    param_value,
    scalars,
)
from tuner.tracking.model_log import LoggedModel, ModelToLog, log_tuned_model
from tuner.tracking.store import MlflowStore
from tuner.tracking.trial_run import MlflowTrialTracker

log = logging.getLogger(__name__)


class MlflowTracker(MlflowStore, Tracker):
    """Records a study in MLflow at `tracking_uri` (SQLite file, database or http:// server)."""

    def __init__(self, tracking_uri: str, *, background: bool = True,
                 metrics_interval: float = 1.0) -> None:
        super().__init__(tracking_uri, background=background, metrics_interval=metrics_interval)
        self._stage_params: dict[str, dict[str, str]] = {}

    def stage_run(
        self, study: str, stage: str, info: Mapping[str, Any], run_id: str | None = None
    ) -> str | None:
        params = flat_params(info)
        if run_id is not None:
            self._stage_params[run_id] = flat_params(scalars(info))
            return run_id

        def create() -> str:
            from mlflow.entities import Param

            run = self.client.create_run(
                self.experiment_id(study), run_name=stage,
                tags={"study": study, "stage": stage, "tuner.role": "stage",
                      "optuna.study_name": optuna_study_name(study, stage)})
            self.log_batch(run.info.run_id, params=[Param(k, v) for k, v in params.items()])
            return str(run.info.run_id)

        new_id = self._safe("create the stage run", create)
        if new_id is not None:
            self._stage_params[new_id] = flat_params(scalars(info))
        return new_id

    def start_trial(
        self,
        parent_run_id: str | None,
        study: str,
        stage: str,
        number: int,
        params: Mapping[str, Any],
    ) -> TrialTracker:
        merged = {**self._stage_params.get(parent_run_id or "", {}), **flat_params(params)}
        tags = {"study": study, "stage": stage, "trial_number": str(number),
                "optuna.study_name": optuna_study_name(study, stage), "state": "RUNNING",
                "tuner.role": "trial", "worker": f"{socket.gethostname()}:{os.getpid()}"}
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id

        def create() -> tuple[str, str]:
            run = self.client.create_run(self.experiment_id(study), run_name=f"trial {number}",
                                         tags=tags)
            return str(run.info.run_id), str(run.info.artifact_uri)

        run_id, artifact_uri = self._safe("create the trial run", create) or (None, None)
        return MlflowTrialTracker(self, run_id, artifact_uri, merged, f"trial {number}")

    def end_stage(
        self, parent_run_id: str | None, optuna_study: Any, summary: Mapping[str, Any],
        curves: Any = None,
    ) -> None:
        self.flush()
        if self.warnings:
            log.warning("MLflow: %d tracking writes failed so far (warnings above); the trials "
                        "themselves are unaffected", self.warnings)
        if parent_run_id is None:
            return
        self._safe("finish the stage run",
                   lambda: self._end_stage(parent_run_id, optuna_study, summary, curves))

    def _end_stage(self, run_id: str, optuna_study: Any, summary: Mapping[str, Any],
                   curves: Any) -> None:
        from mlflow.entities import Metric, RunTag

        counts = state_counts(optuna_study)
        ts = now_ms()
        numbers = {f"n_{state.lower()}": float(n) for state, n in counts.items()}
        numbers.update({clean_key(k): float(v) for k, v in summary.items() if is_number(v)})
        tags = {clean_key(k): v[:MAX_TAG_CHARS] for k, v in summary.items()
                if isinstance(v, str) and k not in ("study", "stage")}
        best = best_trial(optuna_study)
        if best is not None and best.value is not None:
            numbers["best_value"] = float(best.value)
            tags["best_trial"] = str(best.number)
            tags.update({f"best.{clean_key(k)}": param_value(v) for k, v in best.params.items()})
        if is_multi(optuna_study):
            on_front = front(optuna_study)
            numbers["pareto_front_size"] = float(len(on_front))
            tags["pareto_front"] = ",".join(str(t.number) for t in on_front)[:MAX_TAG_CHARS]
            self._tag_front(optuna_study, {t.number for t in on_front})
        self.log_batch(run_id, metrics=[Metric(k, v, ts, 0) for k, v in numbers.items()],
                       tags=[RunTag(k, v) for k, v in tags.items()])
        with tempfile.TemporaryDirectory(prefix="tuner-stage-") as tmp:
            folder = Path(tmp)
            trials_csv(optuna_study, folder / "trials.csv")
            if is_multi(optuna_study):
                front_csv(optuna_study, folder / "pareto_front.csv")
            if best is not None:
                (folder / "best_params.json").write_text(json.dumps(best.params, indent=2,
                                                                    default=str))
            self.client.log_artifacts(run_id, str(folder))
            plots = folder / "plots"
            plots.mkdir()
            study_plots(optuna_study, plots, curves)
            self.client.log_artifacts(run_id, str(plots), artifact_path="plots")
        self._close_trial_runs(run_id, optuna_study)
        self.client.set_terminated(run_id, "FINISHED")

    def _close_trial_runs(self, parent: str, optuna_study: Any) -> None:
        """Trial runs of the stage still RUNNING although their trial ended (their end could
        not be written: a full disk, a lost store) get the trial's state now."""
        from mlflow.entities import RunTag

        name = optuna_study.study_name
        ended = {t.user_attrs.get("mlflow_run_id"): t.state.name
                 for t in optuna_study.get_trials(deepcopy=False) if t.state.is_finished()}
        if "'" in name or not ended:
            return
        runs = self.client.search_runs(
            [self.client.get_run(parent).info.experiment_id],
            filter_string=f"tags.`tuner.role` = 'trial' and tags.`optuna.study_name` = "
            f"'{name}' and attributes.status = 'RUNNING'")
        for run in runs:
            state = ended.get(run.info.run_id)
            if state is not None:
                self.client.log_batch(run.info.run_id, tags=[RunTag("state", state)])
                self.client.set_terminated(run.info.run_id, RUN_STATUS.get(state, "FAILED"))

    def _tag_front(self, optuna_study: Any, on_front: set[int]) -> None:
        """Tag each finished trial's run pareto_front=true/false."""
        from mlflow.entities import RunTag

        for trial in optuna_study.get_trials(deepcopy=False):
            run_id = trial.user_attrs.get("mlflow_run_id")
            if run_id and trial.state.is_finished():
                value = "true" if trial.number in on_front else "false"
                self.log_batch(run_id, tags=[RunTag("pareto_front", value)])

    def record_answer(self, study: str, answer: Mapping[str, Any], run_ids: Sequence[str]
                      ) -> None:
        tags = answer_tags(answer)

        def write() -> None:
            experiment = self.experiment_id(study)
            for key, value in tags.items():
                self.client.set_experiment_tag(experiment, key, value)
            for run_id in run_ids:
                for key, value in tags.items():
                    self.client.set_tag(run_id, key, value)

        self._safe("record the study's answer", write)

    def run_is_open(self, run_id: str) -> bool:
        status = self._safe("read a run's status",
                            lambda: self.client.get_run(run_id).info.status)
        return status == "RUNNING"

    def end_trial_run(self, run_id: str, state: str, reason: str) -> None:
        from mlflow.entities import RunTag

        def end() -> None:
            self.client.log_batch(run_id, tags=[RunTag("state", state),
                                                RunTag("failure_reason", reason[:MAX_TAG_CHARS])])
            self.client.set_terminated(run_id, RUN_STATUS.get(state, "FAILED"))

        self._safe("end a stale trial run", end)

    def end_run(self, run_id: str, status: str, reason: str) -> None:
        from mlflow.entities import RunTag

        self.flush()

        def end() -> None:
            self.client.log_batch(run_id, tags=[RunTag("stopped_because",
                                                       reason[:MAX_TAG_CHARS])])
            self.client.set_terminated(run_id, status)

        self._safe("end the stage run", end)

    def final_run(
        self, study: str, info: Mapping[str, Any], artifacts: Sequence[Path],
    ) -> str | None:
        self.flush()

        def record() -> str:
            from mlflow.entities import Metric, Param

            run = self.client.create_run(self.experiment_id(study), run_name="final",
                                         tags={"study": study, "stage": "final",
                                               "tuner.role": "final"})
            run_id = str(run.info.run_id)
            ts = now_ms()
            history: list[Mapping[str, float]] = list(info.get("history") or [])
            config = info.get("config")
            params = flat_params({k: v for k, v in scalars(info).items()
                                  if not is_number(v) and k != "history"})
            params.update(flat_params(config) if isinstance(config, Mapping) else {})
            metrics = [Metric(clean_key(k), float(v), ts, 0)
                       for k, v in info.items() if is_number(v)]
            metrics += [Metric(clean_key(k), float(v), ts, step)
                        for step, row in enumerate(history, start=1)
                        for k, v in row.items() if is_number(v) and k not in info]
            self.log_batch(run_id, metrics=metrics,
                           params=[Param(k, v) for k, v in params.items()])
            for path in artifacts:
                if Path(path).exists():
                    self.client.log_artifact(run_id, str(path))
            if history:
                with tempfile.TemporaryDirectory(prefix="tuner-final-") as tmp:
                    png = plot_learning_curves(history, Path(tmp) / "learning_curves.png")
                    self.client.log_artifact(run_id, str(png))
            self.client.set_terminated(run_id, "FINISHED")
            return run_id

        return self._safe("record the final run", record)

    def log_model(self, run_id: str, study: str, model: ModelToLog) -> LoggedModel | None:
        self.flush()
        return self._safe("log the tuned model",
                          lambda: log_tuned_model(self.tracking_uri, run_id, study, model))
