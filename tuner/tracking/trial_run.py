"""One trial's MLflow child run: per-epoch metrics batched on the tracker's background thread,
then the end (state tags, curves, config, a failed trial's traceback, status). Pruned trials end
KILLED and are named "trial N (pruned)", so the runs list tells them from complete ones."""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tuner.figures.charts import plot_learning_curves, plot_lr_schedule
from tuner.tracking.base import ERROR_ARTIFACT, TrialTracker
from tuner.tracking.keys import (
    MAX_TAG_CHARS,
    RUN_STATUS,
    clean_key,
    flat_params,
    is_number,
    now_ms,
)
from tuner.tracking.store import MlflowStore


class MlflowTrialTracker(TrialTracker):
    """One trial's child run; every MLflow error becomes a warning on the owning tracker."""

    def __init__(self, tracker: MlflowStore, run_id: str | None, artifact_uri: str | None,
                 params: Mapping[str, str], name: str) -> None:
        from mlflow.entities import Param

        self.tracker = tracker
        self.run_id = run_id
        self.name = name
        self.artifact_uri = artifact_uri
        self._logged = set(params)
        self._unsent_params = [Param(k, v) for k, v in params.items()]  # go with the 1st write
        self._unsent: list[Any] = []
        self._sent_at = time.monotonic()

    def log_epoch(self, step: int, metrics: Mapping[str, float]) -> None:
        """Queue one reporting point; it is sent in one log_batch at once when the last send is
        `metrics_interval` seconds old (so slow epochs show live), else with the next one."""
        if self.run_id is None:
            return
        from mlflow.entities import Metric

        ts = now_ms()
        self._unsent += [Metric(clean_key(k), float(v), ts, int(step))
                         for k, v in metrics.items() if is_number(v)]
        if time.monotonic() - self._sent_at >= self.tracker.metrics_interval:
            batch, self._unsent, self._sent_at = self._unsent, [], time.monotonic()
            params, self._unsent_params = self._unsent_params, []
            run_id = self.run_id
            self.tracker.submit("log metrics",
                                lambda: self.tracker.log_batch(run_id, batch, params))

    def finish(
        self,
        state: str,
        value: float | None,
        info: Mapping[str, Any],
        history: Sequence[Mapping[str, float]],
        config: Mapping[str, Any],
        error: str | None = None,
    ) -> None:
        if self.run_id is None:
            return
        run_id = self.run_id
        history = [dict(row) for row in history]
        unsent, self._unsent = self._unsent, []
        unsent_params, self._unsent_params = self._unsent_params, []
        self.tracker.submit("finish the trial run", lambda: self._finish(
            run_id, state, value, info, history, config, unsent, unsent_params, error))

    def _finish(
        self,
        run_id: str,
        state: str,
        value: float | None,
        info: Mapping[str, Any],
        history: Sequence[Mapping[str, float]],
        config: Mapping[str, Any],
        unsent: list[Any],
        unsent_params: list[Any],
        error: str | None,
    ) -> None:
        from mlflow.entities import Metric, Param, RunTag

        client = self.tracker.client
        tags = {"state": state}
        if state == "PRUNED":  # told apart from complete trials in the runs list by name too
            tags["mlflow.runName"] = f"{self.name} (pruned)"
        if info.get("pruned_at") is not None:
            tags["pruned_at"] = str(info["pruned_at"])
        if info.get("reason"):
            tags["failure_reason"] = str(info["reason"])[:MAX_TAG_CHARS]
        ts = now_ms()
        metrics = unsent + [Metric(k, float(info[k]), ts, 0) for k in ("epochs", "seconds")
                            if is_number(info.get(k))]
        if value is not None and is_number(value) and math.isfinite(value):
            metrics.append(Metric("value", float(value), ts, 0))
        params = unsent_params + [Param(k, v) for k, v in flat_params(config).items()
                                  if k not in self._logged]
        self.tracker.log_batch(run_id, metrics=metrics, params=params,
                               tags=[RunTag(k, v) for k, v in tags.items()])
        self.tracker._safe("log trial artifacts",
                           lambda: self._artifacts(run_id, info, history, config, error))
        client.set_terminated(run_id, RUN_STATUS.get(state, "FINISHED"))

    def _artifacts(
        self,
        run_id: str,
        info: Mapping[str, Any],
        history: Sequence[Mapping[str, float]],
        config: Mapping[str, Any],
        error: str | None,
    ) -> None:
        with tempfile.TemporaryDirectory(prefix="tuner-trial-") as tmp:
            folder = Path(tmp)
            (folder / "config.json").write_text(json.dumps(dict(config), indent=2, default=str))
            if error:
                (folder / ERROR_ARTIFACT).write_text(error)
            if history:
                plot_learning_curves(history, folder / "learning_curves.png")
                if len({row.get("lr") for row in history}) > 1:  # a schedule moved it
                    plot_lr_schedule(history, folder / "lr_schedule.png",
                                            title=str(info.get("schedule") or ""))
            self.tracker.log_artifacts(run_id, self.artifact_uri, folder)
