"""Experiment tracking. `Tracker` is the no-op interface the runner calls; `MlflowTracker`
(below, the only MLflow importer in the project) records everything in MLflow.

Call order, per process:
    tracker.check()                                   # once, before any trial; TrackingError
    parent = tracker.stage_run(study, stage, info)    # parent run id of a stage (reused by id)
    trial = tracker.start_trial(parent, study, stage, number, params)
    trial.log_epoch(step, metrics)                    # each reporting point (batched, see below)
    trial.finish(state, value, info, history, config) # state in COMPLETE / PRUNED / FAIL
    tracker.end_stage(parent, optuna_study, summary)  # plots, CSV, counts, cost summary
    tracker.final_run(study, info, artifacts)         # final evaluation run
An MLflow error inside a trial is never raised: it is counted in `tracker.warnings`.
Per-epoch metrics and a trial's end (artifacts, status) are written by one background thread
in order, so a trial pays only for creating its run; `flush()` (called by end_stage, final_run
and at exit) waits for them. A reporting point is one log_batch, except that points closer than
`metrics_interval` (1 s) to the last write wait for the next write: a 20-epoch 2-second trial
makes 2 or 3 metric writes instead of 20, while a slow epoch appears in the UI as it ends.
A trial's params go with its first write (trial runs cost create, 1+ writes, artifacts, end).

Layout in MLflow: one experiment per study; per stage a parent run; per trial a child run
attached to its parent by id (tag mlflow.parentRunId), so workers in other processes attach to
the same parent; one "final" run. Trial runs carry tags study, stage, trial_number,
optuna.study_name, state, pruned_at, failure_reason and worker (host:pid). Every call names its
run id (MlflowClient), so no global active-run state is shared between threads or processes.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import logging
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tuner.errors import TrackingError
from tuner.storage import mask

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "FINISHED", "FAIL": "FAILED"}
MAX_FAILURES = 5
STAGE_RACE_MS = 120_000
_MAX_PARAM_CHARS = 500
_MAX_TAG_CHARS = 5000
T = TypeVar("T")


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
    ) -> None:
        """End the run: tags (state, pruned-at, failure reason), curves PNG, LR PNG, config JSON.

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
        self, parent_run_id: str | None, optuna_study: Any, summary: Mapping[str, Any]
    ) -> None:
        """Log best params/value, counts, cost summary, study plots PNG and trials CSV on the
        parent, and end it."""

    def end_trial_run(self, run_id: str, state: str, reason: str) -> None:
        """Give a run left open by a dead worker a terminal status (when its trial is retried)."""

    def final_run(
        self, study: str, info: Mapping[str, Any], artifacts: Sequence[Path]
    ) -> str | None:
        """Record the final evaluation: test metrics, config, confusion-matrix PNG and weights."""
        return None

    def flush(self) -> None:
        """Wait until every queued trial record (metrics, artifacts) is written."""


def resolve_uri(tracking_uri: str | None) -> str:
    """--tracking-uri, else $MLFLOW_TRACKING_URI, else the local SQLite store under mlruns/."""
    return tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def sqlite_path(uri: str) -> Path | None:
    """The database file of a sqlite:/// URI (relative or absolute), else None."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///"))


def artifact_root(uri: str) -> str | None:
    """Where artifacts of new experiments go: <db folder>/artifacts for a SQLite store; None lets
    a tracking server (or another database) decide."""
    db = sqlite_path(uri)
    return None if db is None else (db.resolve().parent / "artifacts").as_uri()


def make_tracker(tracking_uri: str | None, disabled: bool = False) -> Tracker:
    """The tracker for a command: no-op when disabled, else MLflow at tracking_uri
    (default: $MLFLOW_TRACKING_URI, then sqlite:///mlruns/mlflow.db, artifacts in mlruns/)."""
    if disabled:
        return Tracker()
    return MlflowTracker(resolve_uri(tracking_uri))


def optuna_study_name(study: str, stage: str) -> str:
    """The Optuna study of one stage, as the runner names it."""
    return f"{study}/{stage}"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _clean_key(key: str) -> str:
    """MLflow keys allow letters, digits, _ - . / and spaces; anything else becomes _."""
    return re.sub(r"[^\w\-./ ]", "_", str(key))


def _param_value(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (list, tuple, dict)) else str(value)
    return text[:_MAX_PARAM_CHARS]


def flat_params(info: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Scalars and lists of `info` as MLflow params; a nested mapping's keys get its key as a
    prefix (fixed.epochs). None values are left out."""
    out: dict[str, str] = {}
    for key, value in info.items():
        if isinstance(value, Mapping):
            out.update(flat_params(value, f"{prefix}{key}."))
        elif value is not None:
            out[_clean_key(prefix + str(key))] = _param_value(value)
    return out


def _scalars(info: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if not isinstance(v, Mapping)}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@contextlib.contextmanager
def _http_env(retries: int, timeout: int) -> Iterator[None]:
    """Temporarily lower MLflow's HTTP retries and timeout (the defaults wait minutes)."""
    names = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(retries),
             "MLFLOW_HTTP_REQUEST_TIMEOUT": str(timeout)}
    old = {name: os.environ.get(name) for name in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _first_line(exc: BaseException, limit: int) -> str:
    """The first line of an error message, shortened, with any URL password masked."""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return mask(lines[0])[:limit]


class MlflowTrialTracker(TrialTracker):
    """One trial's child run; every MLflow error becomes a warning on the owning tracker."""

    def __init__(self, tracker: MlflowTracker, run_id: str | None, artifact_uri: str | None,
                 params: Mapping[str, str]) -> None:
        from mlflow.entities import Param

        self.tracker = tracker
        self.run_id = run_id
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

        ts = _now_ms()
        self._unsent += [Metric(_clean_key(k), float(v), ts, int(step))
                         for k, v in metrics.items() if _is_number(v)]
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
    ) -> None:
        if self.run_id is None:
            return
        run_id = self.run_id
        history = [dict(row) for row in history]
        unsent, self._unsent = self._unsent, []
        unsent_params, self._unsent_params = self._unsent_params, []
        self.tracker.submit("finish the trial run", lambda: self._finish(
            run_id, state, value, info, history, config, unsent, unsent_params))

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
    ) -> None:
        from mlflow.entities import Metric, Param, RunTag

        client = self.tracker.client
        tags = {"state": state}
        if info.get("pruned_at") is not None:
            tags["pruned_at"] = str(info["pruned_at"])
        if info.get("reason"):
            tags["failure_reason"] = str(info["reason"])[:_MAX_TAG_CHARS]
        ts = _now_ms()
        metrics = unsent + [Metric(k, float(info[k]), ts, 0) for k in ("epochs", "seconds")
                            if _is_number(info.get(k))]
        if value is not None and _is_number(value) and math.isfinite(value):
            metrics.append(Metric("value", float(value), ts, 0))
        params = unsent_params + [Param(k, v) for k, v in flat_params(config).items()
                                  if k not in self._logged]
        self.tracker.log_batch(run_id, metrics=metrics, params=params,
                               tags=[RunTag(k, v) for k, v in tags.items()])
        self.tracker._safe("log trial artifacts",
                           lambda: self._artifacts(run_id, info, history, config))
        client.set_terminated(run_id, RUN_STATUS.get(state, "FINISHED"))

    def _artifacts(
        self,
        run_id: str,
        info: Mapping[str, Any],
        history: Sequence[Mapping[str, float]],
        config: Mapping[str, Any],
    ) -> None:
        from tuner import report

        with tempfile.TemporaryDirectory(prefix="tuner-trial-") as tmp:
            folder = Path(tmp)
            (folder / "config.json").write_text(json.dumps(dict(config), indent=2, default=str))
            if history:
                report.plot_learning_curves(history, folder / "learning_curves.png")
                if len({row.get("lr") for row in history}) > 1:  # a schedule moved it
                    report.plot_lr_schedule(history, folder / "lr_schedule.png",
                                            title=str(info.get("schedule") or ""))
            self.tracker.log_artifacts(run_id, self.artifact_uri, folder)


class MlflowTracker(Tracker):
    """Records a study in MLflow at `tracking_uri` (SQLite file, database or http:// server).
    background=False writes everything inline (for measuring what the queue saves);
    metrics_interval: the least seconds between two metric writes of one trial."""

    def __init__(self, tracking_uri: str, *, background: bool = True,
                 metrics_interval: float = 1.0) -> None:
        self.tracking_uri = tracking_uri
        self.background = background
        self.metrics_interval = metrics_interval
        self.warnings = 0
        self._client: MlflowClient | None = None
        self._experiments: dict[str, str] = {}
        self._stage_params: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()
        self._failures_in_row = 0
        self._queue: ThreadPoolExecutor | None = None
        self._queue_pid = 0
        self._pending: list[Future[Any]] = []
        if tracking_uri.startswith(("http://", "https://")):
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
            from mlflow import MlflowClient

            if not logging.getLogger("tuner").isEnabledFor(logging.DEBUG):
                for name in ("mlflow", "alembic"):  # MLflow resets its level on import
                    logging.getLogger(name).setLevel(logging.WARNING)
            db = sqlite_path(self.tracking_uri)
            if db is not None:
                db.parent.mkdir(parents=True, exist_ok=True)
            self._client = MlflowClient(tracking_uri=self.tracking_uri)
        return self._client

    def _safe(self, what: str, call: Callable[[], T]) -> T | None:
        """Run one MLflow call; an error is a logged, counted warning, never an exception.
        After MAX_FAILURES errors in a row (a store gone away) calls are skipped, so a dead
        server does not cost every trial its timeouts."""
        if self._failures_in_row >= MAX_FAILURES:
            with self._lock:
                self.warnings += 1
            return None
        try:
            result = call()
        except Exception as exc:  # noqa: BLE001 - tracking must never fail a trial
            with self._lock:
                self.warnings += 1
                self._failures_in_row += 1
            log.warning("MLflow: could not %s (%s: %s)", what, type(exc).__name__,
                        _first_line(exc, 300))
            if self._failures_in_row == MAX_FAILURES:
                log.warning("MLflow: %d errors in a row; not tracking the rest of this run",
                            MAX_FAILURES)
            return None
        self._failures_in_row = 0
        return result

    def submit(self, what: str, call: Callable[[], Any]) -> None:
        """Queue one MLflow call on the background thread (a fresh one after a fork)."""
        if not self.background:
            self._safe(what, call)
            return
        with self._lock:
            if self._queue is None or self._queue_pid != os.getpid():
                self._queue = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlflow")
                self._queue_pid = os.getpid()
                self._pending = []
                atexit.register(self.flush)
            self._pending = [f for f in self._pending if not f.done()]
            self._pending.append(self._queue.submit(self._safe, what, call))

    def flush(self) -> None:
        with self._lock:
            pending = self._pending if self._queue_pid == os.getpid() else []
            self._pending = []
        for future in pending:
            future.result()

    def log_batch(self, run_id: str, metrics: Sequence[Any] = (), params: Sequence[Any] = (),
                  tags: Sequence[Any] = ()) -> None:
        """MlflowClient.log_batch in chunks within MLflow's limits (1000 metrics, 100 params
        and 100 tags per call)."""
        metrics, params, tags = list(metrics), list(params), list(tags)
        while metrics or params or tags:
            self.client.log_batch(run_id, metrics=metrics[:1000], params=params[:100],
                                  tags=tags[:100])
            metrics, params, tags = metrics[1000:], params[100:], tags[100:]

    def log_artifacts(self, run_id: str, artifact_uri: str | None, folder: Path) -> None:
        """The files of `folder` as artifacts of a run. With the run's artifact URI (known since
        create_run) the upload skips the get_run that MlflowClient.log_artifacts makes first."""
        if not artifact_uri:
            self.client.log_artifacts(run_id, str(folder))
            return
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        repo = get_artifact_repository(artifact_uri, tracking_uri=self.tracking_uri)
        repo.log_artifacts(str(folder))

    def check(self) -> None:
        where = mask(self.tracking_uri)
        try:
            with _http_env(retries=0, timeout=5):
                self.client.search_experiments(max_results=1)
        except Exception as exc:
            cause = _first_line(exc, 200)
            if "Max retries exceeded" in cause or "Connection refused" in cause:
                cause = "no server answered"
            else:
                cause = f"{type(exc).__name__}: {cause}"
            raise TrackingError(
                f"MLflow tracking store {where} cannot be reached ({cause}); "
                "start it, pass another --tracking-uri, or use --no-tracking."
            ) from None

    def experiment_id(self, study: str) -> str:
        """The id of the experiment named after `study`, created (or restored) on first use."""
        if study in self._experiments:
            return self._experiments[study]
        client = self.client
        found = client.get_experiment_by_name(study)
        if found is None:
            try:
                exp_id = client.create_experiment(
                    study, artifact_location=artifact_root(self.tracking_uri),
                    tags={"tuner.study": study})
            except Exception:
                found = client.get_experiment_by_name(study)  # another worker won the race
                if found is None:
                    raise
                exp_id = found.experiment_id
        else:
            exp_id = found.experiment_id
            if found.lifecycle_stage == "deleted":
                client.restore_experiment(exp_id)
        self._experiments[study] = exp_id
        return exp_id

    def stage_run(
        self, study: str, stage: str, info: Mapping[str, Any], run_id: str | None = None
    ) -> str | None:
        params = flat_params(info)
        if run_id is not None:
            self._stage_params[run_id] = flat_params(_scalars(info))
            return run_id

        def create() -> str:
            from mlflow.entities import Param

            run = self.client.create_run(
                self.experiment_id(study), run_name=stage,
                tags={"study": study, "stage": stage, "tuner.role": "stage",
                      "optuna.study_name": optuna_study_name(study, stage)})
            self.log_batch(run.info.run_id, params=[Param(k, v) for k, v in params.items()])
            return self._first_stage_run(run.info.experiment_id, study, stage, run.info.run_id)

        new_id = self._safe("create the stage run", create)
        if new_id is not None:
            self._stage_params[new_id] = flat_params(_scalars(info))
        return new_id

    def _first_stage_run(self, exp_id: str, study: str, stage: str, mine: str) -> str:
        """Workers that start a stage together may each create its parent run: all keep the
        oldest running one created in the last STAGE_RACE_MS, and a later duplicate deletes
        itself (each sees every run created before its own)."""
        name = optuna_study_name(study, stage)
        if "'" in name:
            return mine
        since = _now_ms() - STAGE_RACE_MS
        runs = self.client.search_runs(
            [exp_id], filter_string=f"tags.`tuner.role` = 'stage' and "
            f"tags.`optuna.study_name` = '{name}' and attributes.status = 'RUNNING' and "
            f"attributes.start_time >= {since}")
        first = min(runs, key=lambda r: (r.info.start_time, r.info.run_id), default=None)
        if first is None or first.info.run_id == mine:
            return mine
        self.client.delete_run(mine)
        return str(first.info.run_id)

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
        return MlflowTrialTracker(self, run_id, artifact_uri, merged)

    def end_stage(
        self, parent_run_id: str | None, optuna_study: Any, summary: Mapping[str, Any]
    ) -> None:
        self.flush()
        if self.warnings:
            log.warning("MLflow: %d tracking writes failed so far (warnings above); the trials "
                        "themselves are unaffected", self.warnings)
        if parent_run_id is None:
            return
        self._safe("finish the stage run",
                   lambda: self._end_stage(parent_run_id, optuna_study, summary))

    def _end_stage(self, run_id: str, optuna_study: Any, summary: Mapping[str, Any]) -> None:
        from mlflow.entities import Metric, RunTag

        from tuner import report

        counts = report.state_counts(optuna_study)
        ts = _now_ms()
        numbers = {f"n_{state.lower()}": float(n) for state, n in counts.items()}
        numbers.update({_clean_key(k): float(v) for k, v in summary.items() if _is_number(v)})
        tags = {_clean_key(k): v[:_MAX_TAG_CHARS] for k, v in summary.items()
                if isinstance(v, str) and k not in ("study", "stage")}
        best = report.best_trial(optuna_study)
        if best is not None and best.value is not None:
            numbers["best_value"] = float(best.value)
            tags["best_trial"] = str(best.number)
            tags.update({f"best.{_clean_key(k)}": _param_value(v) for k, v in best.params.items()})
        self.log_batch(run_id, metrics=[Metric(k, v, ts, 0) for k, v in numbers.items()],
                       tags=[RunTag(k, v) for k, v in tags.items()])
        with tempfile.TemporaryDirectory(prefix="tuner-stage-") as tmp:
            folder = Path(tmp)
            report.trials_csv(optuna_study, folder / "trials.csv")
            if best is not None:
                (folder / "best_params.json").write_text(json.dumps(best.params, indent=2,
                                                                    default=str))
            self.client.log_artifacts(run_id, str(folder))
            plots = folder / "plots"
            plots.mkdir()
            report.study_plots(optuna_study, plots)
            self.client.log_artifacts(run_id, str(plots), artifact_path="plots")
        self.client.set_terminated(run_id, "FINISHED")

    def end_trial_run(self, run_id: str, state: str, reason: str) -> None:
        from mlflow.entities import RunTag

        def end() -> None:
            self.client.log_batch(run_id, tags=[RunTag("state", state),
                                                RunTag("failure_reason", reason[:_MAX_TAG_CHARS])])
            self.client.set_terminated(run_id, RUN_STATUS.get(state, "FAILED"))

        self._safe("end a stale trial run", end)

    def final_run(
        self, study: str, info: Mapping[str, Any], artifacts: Sequence[Path]
    ) -> str | None:
        self.flush()

        def record() -> str:
            from mlflow.entities import Metric, Param

            run = self.client.create_run(self.experiment_id(study), run_name="final",
                                         tags={"study": study, "stage": "final",
                                               "tuner.role": "final"})
            run_id = str(run.info.run_id)
            ts = _now_ms()
            history: list[Mapping[str, float]] = list(info.get("history") or [])
            config = info.get("config")
            params = flat_params({k: v for k, v in _scalars(info).items()
                                  if not _is_number(v) and k != "history"})
            params.update(flat_params(config) if isinstance(config, Mapping) else {})
            metrics = [Metric(_clean_key(k), float(v), ts, 0)
                       for k, v in info.items() if _is_number(v)]
            metrics += [Metric(_clean_key(k), float(v), ts, step)
                        for step, row in enumerate(history, start=1)
                        for k, v in row.items() if _is_number(v) and k not in info]
            self.log_batch(run_id, metrics=metrics,
                           params=[Param(k, v) for k, v in params.items()])
            for path in artifacts:
                if Path(path).exists():
                    self.client.log_artifact(run_id, str(path))
            if history:
                from tuner import report

                with tempfile.TemporaryDirectory(prefix="tuner-final-") as tmp:
                    png = report.plot_learning_curves(history, Path(tmp) / "learning_curves.png")
                    self.client.log_artifact(run_id, str(png))
            self.client.set_terminated(run_id, "FINISHED")
            return run_id

        return self._safe("record the final run", record)


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def ui_command(args: argparse.Namespace) -> int:
    """`tuner ui`: the MLflow UI on the tracking store, bound to 127.0.0.1 unless --host says."""
    uri = resolve_uri(args.tracking_uri)
    if uri.startswith(("http://", "https://")):
        print(f"The tracking server already serves the UI: open {mask(uri)}")
        return 0
    if not 0 < args.port < 65536:
        raise TrackingError(f"--port must be in [1, 65535]. Got {args.port} instead.")
    if not _port_free(args.host, args.port):
        raise TrackingError(f"Port {args.port} on {args.host} is in use; pick another with --port.")
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
           "--host", args.host, "--port", str(args.port), "--workers", "1"]
    db = sqlite_path(uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
        cmd += ["--artifacts-destination", str(db.resolve().parent / "artifacts")]
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("Serving the MLflow UI on %s: anyone who can reach it sees every run.",
                    args.host)
    print(f"MLflow UI for {mask(uri)} at http://{args.host}:{args.port}  (Ctrl+C to stop)",
          flush=True)
    server = subprocess.Popen(cmd, env={"MLFLOW_DISABLE_TELEMETRY": "true", **os.environ})
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return server.wait()
    except KeyboardInterrupt:
        server.terminate()
        server.wait(timeout=10)
        return 0


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM stops the UI like Ctrl+C, so the MLflow server is not left running."""
    raise KeyboardInterrupt
