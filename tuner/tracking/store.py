"""The MLflow side of tracking that is not about runs: the client, one background writer thread,
error containment, batched writes, the reachability check and one experiment per study.

A SQLite store is created once for all processes (tuner.storage.sqlite.create_once), because
workers started together on a fresh store would race on its schema and could break it for good.
An MLflow error is never raised into a trial: it is counted in `warnings` and logged.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tuner.errors import TrackingError, chain
from tuner.storage import mask
from tuner.storage.sqlite import create_once
from tuner.tracking.keys import (
    EXPERIMENT_KIND,
    artifact_root,
    check_scheme,
    first_line,
    local_store,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

MAX_FAILURES = 5
T = TypeVar("T")


@contextlib.contextmanager
def http_env(retries: int, timeout: int) -> Iterator[None]:
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


def _create_store(db: Path, tracking_uri: str) -> None:
    """Build MLflow's tables in `db` (a temporary file that create_once renames into place)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(f"sqlite:///{db}", artifact_root(tracking_uri))
    store.engine.dispose()


class MlflowStore:
    """Talks to the MLflow store at `tracking_uri`. background=False writes everything inline
    (for measuring what the queue saves); metrics_interval: the least seconds between two metric
    writes of one trial."""

    def __init__(self, tracking_uri: str, *, background: bool = True,
                 metrics_interval: float = 1.0) -> None:
        self.tracking_uri = tracking_uri
        self.background = background
        self.metrics_interval = metrics_interval
        self.warnings = 0
        self._client: MlflowClient | None = None
        self._experiments: dict[str, str] = {}
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
                # It logs each database error's whole traceback before raising it; _safe
                # reports the error in one line.
                logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
            db = local_store(self.tracking_uri)
            if db is not None:
                create_once(db, lambda tmp: _create_store(tmp, self.tracking_uri))
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
            *_, cause = chain(exc)
            log.warning("MLflow: could not %s (%s: %s)", what, type(cause).__name__,
                        first_line(cause, 300))
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

    def check(self, hint: str = "start it, pass another --tracking-uri, or use --no-tracking"
              ) -> None:
        """One quick call (no retries, 5 s timeout); TrackingError (one line ending in `hint`)
        when the store does not answer, or is of a scheme MLflow has no store for."""
        check_scheme(self.tracking_uri)
        where = mask(self.tracking_uri)
        try:
            with http_env(retries=0, timeout=5):
                self.client.search_experiments(max_results=1)
        except Exception as exc:
            cause = first_line(exc, 200)
            if "Max retries exceeded" in cause or "Connection refused" in cause:
                cause = "no server answered"
            else:
                cause = f"{type(exc).__name__}: {cause}"
            raise TrackingError(
                f"MLflow tracking store {where} cannot be reached ({cause}); {hint}."
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
                    tags={"tuner.study": study, **EXPERIMENT_KIND})
            except Exception:
                found = client.get_experiment_by_name(study)  # another worker won the race
                if found is None:
                    raise
                exp_id = found.experiment_id
        else:
            exp_id = found.experiment_id
            if found.lifecycle_stage == "deleted":
                client.restore_experiment(exp_id)
            for key, value in EXPERIMENT_KIND.items():  # experiments made by older versions
                if found.tags.get(key) != value:
                    client.set_experiment_tag(exp_id, key, value)
        self._experiments[study] = exp_id
        return exp_id
